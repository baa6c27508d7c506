//! The checks on the real-world reference corpus (crates/core/fixtures/realworld, captured by
//! e2e/upstream/capture.sh from unmodified upstream programs run here: kube-apiserver, etcd,
//! kube-controller-manager, kube-scheduler, Prometheus, Alertmanager, CoreDNS and Karpenter (a
//! controller-runtime operator, ~3,900 goroutines), idle and under load). These are healthy
//! baselines: no warning or critical finding in any audit replayed through the history ring, nor
//! from any single dump in any format; and one moment's debug=1, debug=2 and proto agree on sites.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::diagnose;
use gohealth_core::diagnose::history::History;
use gohealth_core::diagnose::site::blocked_sites;
use gohealth_core::finding::{Finding, Severity, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionProfile, GoroutineProfile, MemStats, Profile};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/realworld")
}

fn programs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("times.txt").exists())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    if path.to_string_lossy().ends_with(".txt.gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut out).unwrap();
        Some(out)
    } else {
        Some(data)
    }
}

fn parse(path: &Path) -> Option<Profile> {
    let data = read(path)?;
    Some(gohealth_pprof::parse(&data, 256 << 20).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn goroutines(path: &Path) -> Option<GoroutineProfile> {
    match parse(path)? {
        Profile::Goroutine(p) => Some(p),
        other => panic!("{}: not a goroutine profile: {other:?}", path.display()),
    }
}

fn contention(path: &Path) -> Option<ContentionProfile> {
    match parse(path)? {
        Profile::Contention(p) => Some(p),
        other => panic!("{}: not a contention profile: {other:?}", path.display()),
    }
}

fn mem_stats(path: &Path) -> Option<MemStats> {
    match parse(path)? {
        Profile::Heap(h) => h.mem_stats,
        other => panic!("{}: not heap: {other:?}", path.display()),
    }
}

/// Round `n` as the operator's snapshot: debug=2 + MemStats, and the mutex/block profiles when the
/// round has them.
fn snapshot(dir: &Path, n: usize, at: i64) -> Snapshot {
    let full = goroutines(&dir.join(format!("{n}-goroutine-debug2.txt.gz"))).expect("debug=2 every round");
    Snapshot {
        at,
        goroutines: Some(GoroutineProfile { total: full.total, groups: Default::default(), leak_profile: false }),
        goroutines_full: Some(full),
        mem_stats: mem_stats(&dir.join(format!("{n}-heap-debug1.txt.gz"))),
        mutex: contention(&dir.join(format!("{n}-mutex-debug1.txt.gz"))),
        block: contention(&dir.join(format!("{n}-block-debug1.txt.gz"))),
        ..Default::default()
    }
}

fn times(dir: &Path) -> Vec<i64> {
    String::from_utf8(read(&dir.join("times.txt")).unwrap())
        .unwrap()
        .lines()
        .map(|t| t.trim().parse().unwrap())
        .collect()
}

fn target(dir: &Path) -> TargetRef {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    TargetRef { namespace: "upstream".into(), pod: name, container: None }
}

fn loud(f: &[Finding]) -> Vec<String> {
    f.iter()
        .filter(|x| x.severity >= Severity::Warning)
        .map(|x| format!("{} {:?} {:?}: {}", x.check, x.function, x.count, x.message))
        .collect()
}

#[test]
fn corpus_is_present_and_described() {
    let progs = programs();
    let names: BTreeSet<String> = progs.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    let required = [
        "kube-apiserver",
        "etcd",
        "kube-controller-manager",
        "kube-scheduler",
        "prometheus",
        "alertmanager",
        "coredns",
        "karpenter",
    ];
    for required in required {
        assert!(names.contains(required), "{required} missing from {names:?}");
    }
    for p in &progs {
        let manifest = std::fs::read_to_string(p.join("manifest.txt")).unwrap();
        assert!(manifest.contains("version:") && manifest.contains("load:"), "{}", p.display());
    }
}

#[test]
fn healthy_upstream_programs_get_no_warning_in_any_audit() {
    let checks = ChecksConfig::default();
    for dir in programs() {
        let mut history = History::default();
        let t = target(&dir);
        for (n, at) in times(&dir).into_iter().enumerate() {
            let s = snapshot(&dir, n, at);
            history.record(&t.key(), &s);
            let f = diagnose(&t, &s, history.ring(&t.key()).unwrap(), &checks);
            assert!(loud(&f).is_empty(), "{} audit {n}: {:#?}", dir.display(), loud(&f));
        }
    }
}

#[test]
fn healthy_upstream_dumps_get_no_warning_in_any_format_on_their_own() {
    let checks = ChecksConfig::default();
    for dir in programs() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.contains("-goroutine") {
                continue;
            }
            let p = goroutines(&path).unwrap();
            let s = if name.contains("debug2") {
                Snapshot { at: 1, goroutines_full: Some(p), ..Default::default() }
            } else {
                Snapshot { at: 1, goroutines: Some(p), ..Default::default() }
            };
            let f = diagnose(&target(&dir), &s, &Default::default(), &checks);
            assert!(loud(&f).is_empty(), "{}: {:#?}", path.display(), loud(&f));
        }
    }
}

#[test]
fn one_moment_gives_the_same_sites_in_every_format() {
    for dir in programs() {
        let last = times(&dir).len() - 1;
        for n in [0, last] {
            let files = ["goroutine-debug1.txt.gz", "goroutine-debug2.txt.gz", "goroutine.pb.gz"];
            let mut per_format = Vec::new();
            for file in files {
                let Some(p) = goroutines(&dir.join(format!("{n}-{file}"))) else { continue };
                // The largest sites (the ones a check could ever name), by function and line.
                let big: BTreeSet<(String, u32)> =
                    blocked_sites(&p).into_iter().filter(|s| s.count >= 20).map(|s| (s.function, s.line)).collect();
                per_format.push((file, big));
            }
            for w in per_format.windows(2) {
                let (a, b) = (&w[0], &w[1]);
                let only_a: Vec<_> = a.1.difference(&b.1).collect();
                let only_b: Vec<_> = b.1.difference(&a.1).collect();
                // The captures are a few milliseconds apart: a site at the threshold may cross it.
                assert!(
                    only_a.len() + only_b.len() <= 2,
                    "{} round {n}: {} vs {}: {only_a:?} / {only_b:?}",
                    dir.display(),
                    a.0,
                    b.0
                );
            }
            if let Some((_, sites)) = per_format.first() {
                assert!(
                    sites.iter().all(|(f, _)| !f.contains("go.shape")),
                    "{}: generic shapes are normalized: {sites:?}",
                    dir.display()
                );
            }
        }
    }
}

/// The controller-runtime case the corpus is for: Karpenter keeps ~3,500 priority-queue workers
/// parked for work, in every round, and the audits above stay quiet about them. Guards against a
/// re-capture in which the operator did not really start its controllers.
#[test]
fn karpenter_corpus_holds_its_idle_controller_worker_pool() {
    let dir = corpus().join("karpenter");
    for n in 0..times(&dir).len() {
        let p = goroutines(&dir.join(format!("{n}-goroutine-debug2.txt.gz"))).expect("debug=2 every round");
        assert!(p.total >= 3_000, "round {n}: {} goroutines", p.total);
        let pool = blocked_sites(&p).into_iter().max_by_key(|s| s.count).expect("sites");
        assert!(
            pool.function.contains("priorityqueue") && pool.count >= 3_000,
            "round {n}: largest site {} x{}",
            pool.function,
            pool.count
        );
    }
}
