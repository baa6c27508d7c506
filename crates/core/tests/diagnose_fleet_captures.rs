//! The checks on real dumps of the fleet programs (crates/core/fixtures/diagnose, captured by its
//! capture.sh: goexit, leaky, ticker and healthy side by side, one goroutine?debug=2 + heap?debug=1
//! every 30 s for 3 minutes), replayed through the history ring as the operator would see them.

use std::io::Read;
use std::path::PathBuf;

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::diagnose;
use gohealth_core::diagnose::history::History;
use gohealth_core::finding::{CheckId, Confidence, Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{GoroutineProfile, Profile};

fn dir(program: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/diagnose").join(program)
}

fn read(path: PathBuf) -> Vec<u8> {
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") && !path.to_string_lossy().ends_with(".pb.gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        data
    }
}

fn parse(path: PathBuf) -> Profile {
    let name = path.display().to_string();
    gohealth_pprof::parse(&read(path), 256 << 20).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn goroutines(path: PathBuf) -> GoroutineProfile {
    match parse(path) {
        Profile::Goroutine(p) => p,
        other => panic!("not a goroutine profile: {other:?}"),
    }
}

/// The program's rounds as the operator's snapshots (debug=2 + MemStats, at the capture times).
fn snapshots(program: &str) -> Vec<Snapshot> {
    let times = String::from_utf8(read(dir(program).join("times.txt"))).unwrap();
    times
        .lines()
        .enumerate()
        .map(|(n, t)| {
            let full = goroutines(dir(program).join(format!("{n}-goroutine-debug2.txt.gz")));
            let mem_stats = match parse(dir(program).join(format!("{n}-heap-debug1.txt.gz"))) {
                Profile::Heap(h) => h.mem_stats,
                other => panic!("not heap: {other:?}"),
            };
            Snapshot {
                at: t.trim().parse().unwrap(),
                goroutines: Some(GoroutineProfile {
                    total: full.total,
                    groups: Default::default(),
                    leak_profile: false,
                }),
                goroutines_full: Some(full),
                mem_stats,
                ..Default::default()
            }
        })
        .collect()
}

fn target(program: &str) -> TargetRef {
    TargetRef { namespace: "fleet".into(), pod: program.into(), container: None }
}

fn checks() -> ChecksConfig {
    let mut c = ChecksConfig::default();
    // The captures last 3 minutes: minutes appear after a GC plus one minute.
    c.long_blocked_goroutines.min_wait_minutes = 1;
    c
}

/// Replays every round through the history ring; returns the findings of each audit.
fn replay(program: &str, checks: &ChecksConfig) -> Vec<Vec<Finding>> {
    let mut history = History::default();
    let key = target(program).key();
    snapshots(program)
        .iter()
        .map(|s| {
            history.record(&key, s);
            diagnose(&target(program), s, history.ring(&key).unwrap(), checks)
        })
        .collect()
}

fn has(f: &[Finding], check: CheckId, function: Option<&str>) -> bool {
    f.iter().any(|x| x.check == check && (function.is_none() || x.function.as_deref() == function))
}

fn summary(f: &[Finding]) -> Vec<String> {
    f.iter().map(|x| format!("{} {:?} {:?} {:?}", x.check, x.function, x.count, x.confidence)).collect()
}

#[test]
fn healthy_gets_nothing_in_any_audit() {
    for (n, f) in replay("healthy", &checks()).iter().enumerate() {
        assert!(f.is_empty(), "audit {n}: {:?}", summary(f));
    }
    // The same program's debug=1 and proto, on their own: nothing either.
    for file in ["last-goroutine-debug1.txt.gz", "last-goroutine.pb.gz"] {
        let s = Snapshot { at: 1, goroutines: Some(goroutines(dir("healthy").join(file))), ..Default::default() };
        let f = diagnose(&target("healthy"), &s, &Default::default(), &checks());
        assert!(f.is_empty(), "{file}: {:?}", summary(&f));
    }
}

#[test]
fn leaky_is_a_growing_likely_leak_at_both_sites() {
    let audits = replay("leaky", &checks());
    // From the first audit with 100 of them (the second; 20/s), the senders are suspected at once.
    let first = &audits[1];
    assert!(has(first, CheckId::GoroutineLeak, Some("main.fetchWithTimeout.func1")), "{:?}", summary(first));
    let last = audits.last().unwrap();
    for site in ["main.fetchWithTimeout.func1", "main.waitForever"] {
        let leak = last
            .iter()
            .find(|x| x.check == CheckId::GoroutineLeak && x.function.as_deref() == Some(site))
            .unwrap_or_else(|| panic!("{site}: {:?}", summary(last)));
        assert_eq!(leak.confidence, Some(Confidence::Likely), "{site}");
        assert!(leak.evidence["growthPerHour"].parse::<f64>().unwrap() > 1000.0);
        assert!(has(last, CheckId::LongBlockedGoroutines, Some(site)), "{site}: {:?}", summary(last));
    }
    let send = last.iter().find(|x| x.function.as_deref() == Some("main.fetchWithTimeout.func1")).unwrap();
    assert_eq!(send.line, Some(47));
    assert_eq!(send.evidence["createdBy"], "main.fetchWithTimeout");
    assert!(has(last, CheckId::GoroutineGrowth, None));
    assert!(!has(last, CheckId::TickerLoopGrowth, None), "{:?}", summary(last));
}

#[test]
fn ticker_is_a_ticker_loop_not_a_leak() {
    let audits = replay("ticker", &checks());
    for (n, f) in audits.iter().enumerate() {
        assert!(!has(f, CheckId::GoroutineLeak, None), "audit {n}: {:?}", summary(f));
        assert!(!has(f, CheckId::LongBlockedGoroutines, None), "audit {n}: {:?}", summary(f));
    }
    let last = audits.last().unwrap();
    let t = last
        .iter()
        .find(|x| x.check == CheckId::TickerLoopGrowth)
        .unwrap_or_else(|| panic!("no TickerLoopGrowth: {:?}", summary(last)));
    assert_eq!(t.function.as_deref(), Some("main.pollLoop"));
    assert_eq!(t.line, Some(26));
    assert_eq!(t.evidence["createdBy"], "main.startPoller");
    assert!(has(last, CheckId::GoroutineGrowth, None));
}

#[test]
fn goexit_is_goexit_in_defer_in_every_format() {
    let audits = replay("goexit", &checks());
    let last = audits.last().unwrap();
    for (site, caller) in
        [("main.cleanupAfterExit", "main.abortWithGoexit"), ("main.releaseOnExit", "main.taskFailNow")]
    {
        let g = last
            .iter()
            .find(|x| x.check == CheckId::GoexitInDefer && x.function.as_deref() == Some(site))
            .unwrap_or_else(|| panic!("{site}: {:?}", summary(last)));
        assert_eq!(g.evidence["goexitCalledFrom"], caller);
        assert!(has(last, CheckId::LongBlockedGoroutines, Some(site)), "{site}: {:?}", summary(last));
    }
    assert!(!has(last, CheckId::GoroutineLeak, None), "{:?}", summary(last));
    assert!(has(last, CheckId::GoroutineGrowth, None));
    for file in ["last-goroutine-debug1.txt.gz", "last-goroutine.pb.gz"] {
        let s = Snapshot { at: 1, goroutines: Some(goroutines(dir("goexit").join(file))), ..Default::default() };
        let f = diagnose(&target("goexit"), &s, &Default::default(), &checks());
        assert!(has(&f, CheckId::GoexitInDefer, Some("main.cleanupAfterExit")), "{file}: {:?}", summary(&f));
        assert!(has(&f, CheckId::GoexitInDefer, Some("main.releaseOnExit")), "{file}: {:?}", summary(&f));
    }
}
