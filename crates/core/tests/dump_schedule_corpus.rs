//! The debug=2 dump schedule (`diagnose::dump_schedule`) on captures of programs we did not write:
//! the upstream baselines (crates/core/fixtures/realworld/*) and the reproduced upstream leaks
//! (realworld/leaks, 25 s apart, and realworld/leaks-60s). Every series is replayed twice through
//! the history ring: with a dump every audit, and with the dump deferred as the operator defers it.
//! The findings must be the same in every audit; the test prints how many dumps were taken.
//!
//! debug=1 of each moment stands in as the round's own dump (captures take debug=1 only at some
//! rounds); its blocked sites are the ones debug=1 shows (`diagnose_realworld` checks that).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::diagnose;
use gohealth_core::diagnose::dump_schedule::DumpBaseline;
use gohealth_core::diagnose::history::History;
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::Profile;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/realworld")
}

/// Every captured series: directories with times.txt, upstream programs and leak reproductions.
fn series() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        if dir.join("times.txt").exists() {
            out.push(dir);
            continue;
        }
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut out).unwrap();
    Some(out)
}

fn parse(path: &Path) -> Option<Profile> {
    Some(gohealth_pprof::parse(&read(path)?, 256 << 20).unwrap())
}

fn snapshot(dir: &Path, n: usize, at: i64) -> Snapshot {
    let Some(Profile::Goroutine(full)) = parse(&dir.join(format!("{n}-goroutine-debug2.txt.gz"))) else {
        panic!("{}: round {n} has no dump", dir.display())
    };
    let contention = |name: &str| match parse(&dir.join(format!("{n}-{name}-debug1.txt.gz"))) {
        Some(Profile::Contention(c)) => Some(c),
        _ => None,
    };
    Snapshot {
        at,
        goroutines: Some(full.clone()),
        goroutines_full: Some(full),
        mem_stats: match parse(&dir.join(format!("{n}-heap-debug1.txt.gz"))) {
            Some(Profile::Heap(h)) => h.mem_stats,
            _ => None,
        },
        mutex: contention("mutex"),
        block: contention("block"),
        ..Default::default()
    }
}

fn times(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("times.txt")).unwrap().lines().map(|t| t.trim().parse().unwrap()).collect()
}

fn keys(f: &[Finding]) -> Vec<String> {
    let mut k: Vec<String> = f
        .iter()
        .map(|x| format!("{} {:?} {:?} {:?} {:?}", x.check, x.severity, x.function, x.count, x.confidence))
        .collect();
    k.sort();
    k
}

/// Replays one series; returns (audits, dumps taken) and asserts equal findings in every audit.
fn replay(dir: &Path, checks: &ChecksConfig, scale: i64) -> (usize, usize) {
    let name = dir.strip_prefix(root()).unwrap().display().to_string();
    let t = TargetRef { namespace: "corpus".into(), pod: name.clone(), container: None };
    let (mut every, mut scheduled) = (History::default(), History::default());
    let times = times(dir);
    let first = times.first().copied().unwrap_or(0);
    let mut dumps = 0;
    for (n, at) in times.iter().enumerate() {
        // `scale` stretches the series in time (audits further apart), keeping its order.
        let at = first + (at - first) * scale;
        let full = snapshot(dir, n, at);
        every.record(&t.key(), &full);
        let want = diagnose(&t, &full, every.ring(&t.key()).unwrap(), checks);

        let baseline = scheduled.ring(&t.key()).and_then(|r| r.dump_baseline()).cloned();
        let defer = baseline.filter(|b| b.fresh_at(at) && full.goroutines.as_ref().is_some_and(|g| b.covers(g)));
        let s = match &defer {
            Some(b) => Snapshot { goroutines_full: None, full_dump_deferred: Some(b.at), ..full.clone() },
            None => full.clone(),
        };
        scheduled.record(&t.key(), &s);
        let got = diagnose(&t, &s, scheduled.ring(&t.key()).unwrap(), checks);
        if defer.is_none() {
            dumps += 1;
        }
        let next = DumpBaseline::next(scheduled.ring(&t.key()).and_then(|r| r.dump_baseline()), &s, &got, checks);
        scheduled.set_dump_baseline(&t.key(), next);
        assert_eq!(
            keys(&got),
            keys(&want),
            "{name} audit {n} (dump {})",
            if defer.is_some() { "deferred" } else { "taken" }
        );
    }
    println!("{name}: {} audits, {dumps} dumps", times.len());
    (times.len(), dumps)
}

#[test]
fn deferred_dumps_change_no_verdict_on_upstream_programs_and_leaks() {
    for (label, max_age, scale) in [
        ("fullDumpMaxAge 30m", 1800, 1),
        ("fullDumpMaxAge 30m, audits 5x further apart", 1800, 5),
        ("fullDumpMaxAge 5m", 300, 1),
    ] {
        let checks = ChecksConfig { full_dump_max_age: Duration::from_secs(max_age), ..Default::default() };
        let (mut audits, mut dumps, mut quiet_audits, mut quiet_dumps) = (0, 0, 0, 0);
        for dir in series() {
            let (a, d) = replay(&dir, &checks, scale);
            audits += a;
            dumps += d;
            if !dir.to_string_lossy().contains("/leaks") {
                quiet_audits += a;
                quiet_dumps += d;
            }
        }
        println!(
            "{label}: {dumps} dumps in {audits} audits; upstream programs without leaks: {quiet_dumps} in {quiet_audits}"
        );
        assert!(quiet_dumps < quiet_audits, "{label}: no dump was deferred on a quiet program");
    }
}
