//! The checks on real captured profiles (crates/pprof/fixtures, Go 1.21 / 1.26 / 1.26 with the
//! goroutineleak experiment / 1.27), parsed by the real parsers.

use std::collections::BTreeSet;
use std::path::PathBuf;

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::diagnose;
use gohealth_core::diagnose::history::TargetHistoryRing;
use gohealth_core::finding::{CheckId, Confidence, Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionProfile, GoroutineProfile, MemStats, Profile};

const VERSIONS: [&str; 4] = ["go1.21", "go1.26", "go1.26-goroutineleakprofile", "go1.27"];
const LEAK_VERSIONS: [&str; 2] = ["go1.26-goroutineleakprofile", "go1.27"];

fn path(version: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pprof/fixtures").join(version).join(file)
}

fn parse(version: &str, file: &str) -> Profile {
    let data = std::fs::read(path(version, file)).unwrap();
    gohealth_pprof::parse(&data, 64 << 20).unwrap_or_else(|e| panic!("{version}/{file}: {e}"))
}

fn goroutines(version: &str, file: &str) -> GoroutineProfile {
    match parse(version, file) {
        Profile::Goroutine(p) => p,
        other => panic!("{version}/{file}: not a goroutine profile: {other:?}"),
    }
}

fn contention(version: &str, file: &str) -> ContentionProfile {
    match parse(version, file) {
        Profile::Contention(p) => p,
        other => panic!("{version}/{file}: not a contention profile: {other:?}"),
    }
}

fn mem_stats(version: &str) -> MemStats {
    match parse(version, "heap-debug1.txt") {
        Profile::Heap(h) => h.mem_stats.expect("MemStats trailer"),
        other => panic!("{version}: not heap: {other:?}"),
    }
}

fn target() -> TargetRef {
    TargetRef { namespace: "fixtures".into(), pod: "capture".into(), container: None }
}

/// Thresholds lowered to the capture program's small counts (1–3 goroutines per site).
fn low_thresholds() -> ChecksConfig {
    let mut c = ChecksConfig::default();
    c.goroutine_leak.min_goroutines = 1;
    c.goexit_in_defer.min_goroutines = 1;
    c.ticker_loop_growth.min_goroutines = 1;
    c.lock_contention.min_delay_ms = 0;
    c
}

fn run(s: &Snapshot, checks: &ChecksConfig) -> Vec<Finding> {
    diagnose(&target(), s, &TargetHistoryRing::default(), checks)
}

fn functions(f: &[Finding], check: CheckId) -> BTreeSet<String> {
    f.iter().filter(|x| x.check == check).filter_map(|x| x.function.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn debug2_and_proto_flag_definite_waits_only() {
    for v in VERSIONS {
        for file in ["goroutine-debug2.txt", "goroutine.pb.gz"] {
            let p = goroutines(v, file);
            let mut s = Snapshot { at: 1, ..Default::default() };
            if file.ends_with(".txt") {
                s.goroutines_full = Some(p);
            } else {
                s.goroutines = Some(p);
            }
            let f = run(&s, &low_thresholds());
            // chan send, sync.Mutex.Lock, WaitGroup.Wait (semacquire on 1.21) — not the receive,
            // select, ticker, sleep or IO waits, which a healthy loop shows too.
            assert_eq!(
                functions(&f, CheckId::GoroutineLeak),
                set(&["main.blockedSender", "main.mutexWaiter", "main.waitGroupWaiter"]),
                "{v}/{file}: {f:#?}"
            );
            let sender = f.iter().find(|x| x.function.as_deref() == Some("main.blockedSender")).unwrap();
            assert_eq!(sender.count, Some(3), "{v}/{file}");
            assert_eq!(sender.confidence, Some(Confidence::Suspected));
            assert!(sender.file.as_deref().unwrap().ends_with("cmd/capture/main.go"));
            assert_eq!(sender.line, Some(45), "{v}/{file}");
            assert!(functions(&f, CheckId::TickerLoopGrowth).is_empty());
            assert!(functions(&f, CheckId::GoexitInDefer).is_empty());
        }
    }
}

#[test]
fn debug1_hides_the_wait_reason_so_only_sync_waits_are_suspected() {
    for v in VERSIONS {
        let s = Snapshot { at: 1, goroutines: Some(goroutines(v, "goroutine-debug1.txt")), ..Default::default() };
        let f = run(&s, &low_thresholds());
        assert_eq!(
            functions(&f, CheckId::GoroutineLeak),
            set(&["main.mutexWaiter", "main.waitGroupWaiter"]),
            "{v}: {f:#?}"
        );
    }
}

#[test]
fn default_thresholds_raise_nothing_on_the_capture_program() {
    for v in VERSIONS {
        let s = Snapshot {
            at: 1,
            goroutines: Some(goroutines(v, "goroutine-debug1.txt")),
            goroutines_full: Some(goroutines(v, "goroutine-debug2.txt")),
            mem_stats: Some(mem_stats(v)),
            mutex: Some(contention(v, "mutex-debug1.txt")),
            block: Some(contention(v, "block-debug1.txt")),
            ..Default::default()
        };
        let f = run(&s, &ChecksConfig::default());
        // Only the 300 ms mutex burst may be reported; no goroutine check fires at 1–3 goroutines
        // per site, and the MemStats are calm.
        for x in &f {
            assert!(matches!(x.check, CheckId::LockContention), "{v}: unexpected {:?}: {}", x.check, x.message);
        }
    }
}

#[test]
fn goroutineleak_profile_is_proven() {
    for v in LEAK_VERSIONS {
        for file in ["goroutineleak-debug1.txt", "goroutineleak.pb.gz"] {
            let mut p = goroutines(v, file);
            p.leak_profile = true;
            let s = Snapshot { at: 1, leaks: Some(p), ..Default::default() };
            let f = run(&s, &ChecksConfig::default());
            let proven: Vec<&Finding> = f.iter().filter(|x| x.check == CheckId::ProvenGoroutineLeak).collect();
            let total: u64 = proven.iter().filter_map(|x| x.count).sum();
            assert_eq!(total, 10, "{v}/{file}: {proven:#?}");
            let fns = functions(&f, CheckId::ProvenGoroutineLeak);
            for expected in ["main.blockedSender", "main.mutexWaiter", "main.waitGroupWaiter", "main.spawnedChild"] {
                assert!(fns.contains(expected), "{v}/{file}: {fns:?}");
            }
            for not in ["main.tickerLoop", "main.sleeper", "main.labelledWorker"] {
                assert!(!fns.contains(not), "{v}/{file}: {fns:?}");
            }
            assert!(proven.iter().all(|x| x.confidence == Some(Confidence::Proven)));
        }
        // The (leaked) marks persist in a later plain debug=2 dump.
        let s = Snapshot {
            at: 1,
            goroutines_full: Some(goroutines(v, "goroutine-debug2-after-leak.txt")),
            ..Default::default()
        };
        let f = run(&s, &ChecksConfig::default());
        let total: u64 = f.iter().filter(|x| x.check == CheckId::ProvenGoroutineLeak).filter_map(|x| x.count).sum();
        assert_eq!(total, 10, "{v}: {f:#?}");
    }
}

#[test]
fn contention_fixtures() {
    for v in VERSIONS {
        let s = Snapshot {
            at: 1,
            mutex: Some(contention(v, "mutex-debug1.txt")),
            block: Some(contention(v, "block-debug1.txt")),
            ..Default::default()
        };
        let f = run(&s, &low_thresholds());
        assert!(functions(&f, CheckId::LockContention).contains("main.contendedCounter"), "{v}: {f:#?}");
        // The block profile's WaitGroup/channel waits (contentionBurst's wg.Wait, the ticker loop) are
        // not lock contention.
        let s = Snapshot { at: 1, block: Some(contention(v, "block-debug1.txt")), ..Default::default() };
        assert_eq!(
            functions(&run(&s, &low_thresholds()), CheckId::LockContention),
            set(&["main.contendedCounter"]),
            "{v}"
        );
        assert!(f.iter().all(|x| x.check != CheckId::ContentionProfilingDisabled));
        for file in ["mutex-disabled-debug1.txt", "mutex.pb.gz"] {
            let p = contention(v, file);
            let s = Snapshot { at: 1, mutex: Some(p.clone()), ..Default::default() };
            let f = run(&s, &ChecksConfig::default());
            let disabled = f.iter().any(|x| x.check == CheckId::ContentionProfilingDisabled);
            assert_eq!(disabled, p.sampling_period == Some(0) && p.sites.is_empty(), "{v}/{file}");
        }
        // The disabled mutex text says `sampling period=0`: reported.
        let s = Snapshot { at: 1, mutex: Some(contention(v, "mutex-disabled-debug1.txt")), ..Default::default() };
        assert!(
            run(&s, &ChecksConfig::default()).iter().any(|x| x.check == CheckId::ContentionProfilingDisabled),
            "{v}"
        );
        // The disabled block text has no sampling-period line: no claim either way.
        let s = Snapshot { at: 1, block: Some(contention(v, "block-disabled-debug1.txt")), ..Default::default() };
        assert!(run(&s, &ChecksConfig::default()).is_empty(), "{v}");
    }
}

#[test]
fn heap_fixture_is_no_gc_pressure() {
    for v in VERSIONS {
        let s = Snapshot { at: 1, mem_stats: Some(mem_stats(v)), ..Default::default() };
        assert!(run(&s, &ChecksConfig::default()).is_empty(), "{v}");
    }
}
