//! Unit tests of the snapshot checks on synthetic profiles shaped like the e2e/fleet programs'
//! real stacks (see e2e/fleet/README.md), with the negative cases that matter.

use crate::finding::{CheckId, Confidence, Finding, Severity, TargetRef};
use crate::snapshot::Snapshot;
use gohealth_pprof::model::{
    ContentionKind, ContentionProfile, ContentionSite, Frame, GoroutineGroup, GoroutineProfile, Labels, MemStats,
};

use super::config::ChecksConfig;
use super::diagnose;
use super::history::TargetHistoryRing;

const T0: i64 = 1_764_150_000;

fn target() -> TargetRef {
    TargetRef { namespace: "fleet".into(), pod: "p".into(), container: None }
}

fn fr(function: &str, file: &str, line: u32) -> Frame {
    Frame::new(function, file, line)
}

fn group(count: u64, state: Option<&str>, frames: Vec<Frame>) -> GoroutineGroup {
    GoroutineGroup { count, state: state.map(str::to_string), frames: frames.into(), ..Default::default() }
}

fn created(mut g: GoroutineGroup, by: &str, file: &str, line: u32, parent: u64) -> GoroutineGroup {
    g.created_by = Some(fr(by, file, line));
    g.parent_goid = Some(parent);
    g
}

fn minutes(mut g: GoroutineGroup, m: u64) -> GoroutineGroup {
    g.wait_minutes_max = Some(m);
    g.wait_minutes_min = Some(m);
    g
}

/// A growing group: the older goroutines print minutes, the younger ones do not.
fn some_minutes(mut g: GoroutineGroup, m: u64) -> GoroutineGroup {
    g.wait_minutes_max = Some(m);
    g.wait_minutes_min = Some(0);
    g
}

fn profile(groups: Vec<GoroutineGroup>) -> GoroutineProfile {
    let total = groups.iter().map(|g| g.count).sum::<u64>() + 3;
    GoroutineProfile { total, groups: groups.into(), leak_profile: false }
}

const LEAKY: &str = "gohealth.dev/e2e/fleet/cmd/leaky/main.go";
const TICKER: &str = "gohealth.dev/e2e/fleet/cmd/ticker/main.go";
const HEALTHY: &str = "gohealth.dev/e2e/fleet/cmd/healthy/main.go";
const GOEXIT: &str = "gohealth.dev/e2e/fleet/cmd/goexit/main.go";

fn leaky_sender(n: u64, mins: Option<u64>) -> GoroutineGroup {
    let g = created(
        group(n, Some("chan send"), vec![fr("main.fetchWithTimeout.func1", LEAKY, 47)]),
        "main.fetchWithTimeout",
        LEAKY,
        46,
        57,
    );
    match mins {
        Some(m) => some_minutes(g, m),
        None => g,
    }
}

fn wait_forever(n: u64, mins: Option<u64>) -> GoroutineGroup {
    let g = created(
        group(n, Some("chan receive"), vec![fr("main.waitForever", LEAKY, 70)]),
        "main.startSubscription",
        LEAKY,
        74,
        1,
    );
    match mins {
        Some(m) => some_minutes(g, m),
        None => g,
    }
}

fn poll_loop(n: u64) -> GoroutineGroup {
    created(group(n, Some("chan receive"), vec![fr("main.pollLoop", TICKER, 26)]), "main.startPoller", TICKER, 36, 1)
}

/// healthy: 1000 consumers in select, split by labels into 500 + 250 + 250 groups.
fn healthy_groups() -> Vec<GoroutineGroup> {
    let mk = |n: u64, shard: Option<&str>, creator: &str| {
        let mut g = created(
            group(n, Some("select"), vec![fr("main.consumeQueue", HEALTHY, 32), fr("main.main.func1.1", HEALTHY, 73)]),
            creator,
            HEALTHY,
            73,
            1,
        );
        if let Some(s) = shard {
            g.labels = Labels::from([("worker", "consumer".to_string()), ("queue shard", s.to_string())]);
        }
        g
    };
    vec![
        mk(500, None, "main.main.func2"),
        mk(250, Some("0"), "main.main.func1.1"),
        mk(250, Some("2"), "main.main.func1.1"),
    ]
}

fn goexit_groups(workers: u64, fails: u64) -> Vec<GoroutineGroup> {
    vec![
        created(
            group(
                workers,
                Some("sync.WaitGroup.Wait"),
                vec![
                    fr("sync.runtime_SemacquireWaitGroup", "runtime/sema.go", 114),
                    fr("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 206),
                    fr("main.cleanupAfterExit", GOEXIT, 27),
                    fr("runtime.Goexit", "runtime/panic.go", 694),
                    fr("main.abortWithGoexit", GOEXIT, 32),
                    fr("main.workerWithGoexit", GOEXIT, 45),
                ],
            ),
            "main.main",
            GOEXIT,
            81,
            1,
        ),
        created(
            group(
                fails,
                Some("chan receive"),
                vec![
                    fr("main.releaseOnExit", GOEXIT, 54),
                    fr("runtime.Goexit", "runtime/panic.go", 694),
                    fr("main.taskFailNow", GOEXIT, 62),
                ],
            ),
            "main.main",
            GOEXIT,
            85,
            1,
        ),
    ]
}

fn snap_full(at: i64, groups: Vec<GoroutineGroup>, num_gc: Option<u64>) -> Snapshot {
    let p = profile(groups);
    Snapshot {
        at,
        goroutines: Some(GoroutineProfile { groups: Default::default(), ..p.clone() }),
        goroutines_full: Some(p),
        mem_stats: num_gc.map(|n| MemStats {
            num_gc: Some(n),
            num_forced_gc: Some(0),
            gc_cpu_fraction: Some(0.001),
            heap_alloc: Some(8 << 20),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// debug=1 only (no states, no minutes).
fn snap_debug1(at: i64, mut groups: Vec<GoroutineGroup>) -> Snapshot {
    for g in &mut groups {
        g.state = None;
        g.wait_minutes_max = None;
        g.wait_minutes_min = None;
        g.created_by = None;
        g.parent_goid = None;
    }
    Snapshot { at, goroutines: Some(profile(groups)), ..Default::default() }
}

/// Records `snaps` into a ring, then diagnoses the last one.
fn run(snaps: &[Snapshot], checks: &ChecksConfig) -> Vec<Finding> {
    let mut ring = TargetHistoryRing::default();
    for s in snaps {
        ring.push(super::history::Sample::from_snapshot(s));
    }
    let last = snaps.last().expect("a snapshot");
    diagnose(&target(), last, &ring, checks)
}

fn of(findings: &[Finding], check: CheckId) -> Vec<&Finding> {
    findings.iter().filter(|f| f.check == check).collect()
}

#[test]
fn leaky_sender_is_suspected_from_one_snapshot() {
    let f = run(&[snap_full(T0, vec![leaky_sender(500, None)], None)], &ChecksConfig::default());
    let leaks = of(&f, CheckId::GoroutineLeak);
    assert_eq!(leaks.len(), 1, "{f:#?}");
    let l = leaks[0];
    assert_eq!(l.confidence, Some(Confidence::Suspected));
    assert_eq!(l.severity, Severity::Warning);
    assert_eq!(l.function.as_deref(), Some("main.fetchWithTimeout.func1"));
    assert_eq!(l.file.as_deref(), Some(LEAKY));
    assert_eq!(l.line, Some(47));
    assert_eq!(l.count, Some(500));
    assert_eq!(l.evidence["createdBy"], "main.fetchWithTimeout");
    assert_eq!(l.evidence["state"], "chan send");
    assert!(l.message.contains("main.fetchWithTimeout.func1"), "{}", l.message);
    assert!(l.message.contains("main.go:47"));
    assert!(l.message.contains("buffer of 1"));
    // Nothing else fires on one snapshot.
    assert_eq!(f.len(), 1, "{f:#?}");
}

#[test]
fn below_threshold_is_not_raised() {
    let f = run(&[snap_full(T0, vec![leaky_sender(99, None)], None)], &ChecksConfig::default());
    assert!(of(&f, CheckId::GoroutineLeak).is_empty());
}

#[test]
fn growing_leak_with_minutes_is_likely_and_critical() {
    let snaps: Vec<Snapshot> = (0..5)
        .map(|i| {
            snap_full(
                T0 + i * 30,
                vec![
                    leaky_sender(200 + i as u64 * 600, if i >= 3 { Some(1) } else { None }),
                    wait_forever(100 + i as u64 * 60, if i >= 3 { Some(1) } else { None }),
                ],
                Some(10 + i as u64 * 15),
            )
        })
        .collect();
    let f = run(&snaps, &ChecksConfig::default());
    let leaks = of(&f, CheckId::GoroutineLeak);
    assert_eq!(leaks.len(), 2, "{f:#?}");
    for l in &leaks {
        assert_eq!(l.confidence, Some(Confidence::Likely));
        assert_eq!(l.severity, Severity::Critical);
        let g: f64 = l.evidence["growthPerHour"].parse().unwrap();
        assert!(g > 1000.0);
        assert_eq!(l.evidence["longestWaitMinutes"], "1");
    }
    let names: Vec<_> = leaks.iter().map(|l| l.function.as_deref().unwrap()).collect();
    assert!(names.contains(&"main.waitForever"));
    assert!(of(&f, CheckId::TickerLoopGrowth).is_empty());
    // Total rises steadily across 5 samples: GoroutineGrowth names the top site.
    let g = of(&f, CheckId::GoroutineGrowth);
    assert_eq!(g.len(), 1);
    assert!(g[0].message.contains("main.fetchWithTimeout.func1"), "{}", g[0].message);
}

#[test]
fn long_wait_alone_makes_likely() {
    let f = run(&[snap_full(T0, vec![wait_forever(150, Some(45))], None)], &ChecksConfig::default());
    let l = of(&f, CheckId::GoroutineLeak);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].confidence, Some(Confidence::Likely));
    assert_eq!(l[0].severity, Severity::Warning);
    // And LongBlockedGoroutines reports the same site.
    let lb = of(&f, CheckId::LongBlockedGoroutines);
    assert_eq!(lb.len(), 1);
    assert_eq!(lb[0].function.as_deref(), Some("main.waitForever"));
    assert_eq!(lb[0].evidence["longestWaitMinutes"], "45");
}

#[test]
fn healthy_per_object_loops_are_not_flagged() {
    let checks = ChecksConfig::default();
    // No history: 1000 goroutines in select at one site, consumer-shaped.
    let one = run(&[snap_full(T0, healthy_groups(), Some(5))], &checks);
    assert!(one.is_empty(), "{one:#?}");
    // History flat across the window.
    let snaps: Vec<Snapshot> = (0..8).map(|i| snap_full(T0 + i * 30, healthy_groups(), Some(5 + i as u64))).collect();
    let flat = run(&snaps, &checks);
    assert!(flat.is_empty(), "{flat:#?}");
    // debug=1 only: still nothing.
    let d1: Vec<Snapshot> = (0..8).map(|i| snap_debug1(T0 + i * 30, healthy_groups())).collect();
    assert!(run(&d1[..1], &checks).is_empty());
    assert!(run(&d1, &checks).is_empty());
}

#[test]
fn stable_sender_pool_is_not_flagged() {
    // 300 senders blocked on a full queue, the same count every audit: a bounded pool.
    let snaps: Vec<Snapshot> =
        (0..6).map(|i| snap_full(T0 + i * 60, vec![leaky_sender(300, None)], Some(i as u64))).collect();
    let f = run(&snaps, &ChecksConfig::default());
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
}

#[test]
fn http_keepalive_loops_are_not_leaks_unless_they_grow() {
    let ka = |n: u64, m: Option<u64>| {
        let mut g = created(
            group(n, Some("select"), vec![fr("net/http.(*persistConn).writeLoop", "net/http/transport.go", 2668)]),
            "net/http.(*Transport).dialConn",
            "net/http/transport.go",
            1944,
            40,
        );
        g.wait_minutes_max = m;
        g
    };
    let f = run(&[snap_full(T0, vec![ka(400, None)], Some(1))], &ChecksConfig::default());
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    // Growing for longer than a start-up, and staying blocked: raised, with the stdlib site kept.
    let snaps: Vec<Snapshot> =
        (0..12).map(|i| snap_full(T0 + i * 60, vec![ka(400 + i as u64 * 50, Some(2))], Some(i as u64))).collect();
    let f = run(&snaps, &ChecksConfig::default());
    let l = of(&f, CheckId::GoroutineLeak);
    assert_eq!(l.len(), 1, "{f:#?}");
    assert_eq!(l[0].function.as_deref(), Some("net/http.(*persistConn).writeLoop"));
    assert_eq!(l[0].evidence["createdBy"], "net/http.(*Transport).dialConn");
    assert!(l[0].message.contains("standard library"));
}

/// The ticker program: pollLoop grows by 2/s, wakes every second (never shows minutes).
fn ticker_snaps(n: usize, gcs: impl Fn(i64) -> u64) -> Vec<Snapshot> {
    (0..n as i64).map(|i| snap_full(T0 + i * 30, vec![poll_loop(20 + i as u64 * 60)], Some(gcs(i)))).collect()
}

#[test]
fn ticker_loop_growth_once_a_gc_witnessed_the_site() {
    // A GC between samples 0 and 1 (60+ s before the last sample at +150 s).
    let snaps = ticker_snaps(6, |i| if i == 0 { 1 } else { 2 });
    let f = run(&snaps, &ChecksConfig::default());
    let t = of(&f, CheckId::TickerLoopGrowth);
    assert_eq!(t.len(), 1, "{f:#?}");
    assert_eq!(t[0].function.as_deref(), Some("main.pollLoop"));
    assert_eq!(t[0].line, Some(26));
    assert_eq!(t[0].evidence["createdBy"], "main.startPoller");
    assert!(t[0].message.contains("main.startPoller"));
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    assert!(of(&f, CheckId::LongBlockedGoroutines).is_empty());
    assert_eq!(of(&f, CheckId::GoroutineGrowth).len(), 1);
}

#[test]
fn ticker_loop_undecided_before_a_gc_is_not_reported_as_leak() {
    // No GC at all yet: debug=2 cannot tell yet, so neither check fires.
    let snaps = ticker_snaps(6, |_| 1);
    let f = run(&snaps, &ChecksConfig::default());
    assert!(of(&f, CheckId::TickerLoopGrowth).is_empty(), "{f:#?}");
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
}

#[test]
fn ticker_loop_version_note() {
    let mut snaps = ticker_snaps(6, |i| i as u64);
    snaps.last_mut().unwrap().go_version = Some("go1.21.13".into());
    let f = run(&snaps, &ChecksConfig::default());
    let t = of(&f, CheckId::TickerLoopGrowth);
    assert!(t[0].message.contains("< 1.23"), "{}", t[0].message);
    assert_eq!(t[0].evidence["goVersion"], "go1.21.13");
}

#[test]
fn growing_receive_site_without_debug2_is_an_ambiguous_leak() {
    let snaps: Vec<Snapshot> = (0..5).map(|i| snap_debug1(T0 + i * 30, vec![poll_loop(100 + i as u64 * 60)])).collect();
    let f = run(&snaps, &ChecksConfig::default());
    let l = of(&f, CheckId::GoroutineLeak);
    assert_eq!(l.len(), 1, "{f:#?}");
    assert_eq!(l[0].confidence, Some(Confidence::Likely));
    assert!(l[0].evidence["ambiguity"].contains("ticker"));
    assert!(of(&f, CheckId::TickerLoopGrowth).is_empty());
}

#[test]
fn leaked_mark_means_not_a_ticker() {
    // go1.27 after a goroutineleak scrape: `[chan receive (leaked)]`, never minutes.
    let snaps: Vec<Snapshot> = (0..5)
        .map(|i| {
            let mut g = wait_forever(100 + i as u64 * 60, None);
            g.state = Some("chan receive (leaked)".into());
            g.leaked = true;
            snap_full(T0 + i * 30, vec![g], Some(i as u64))
        })
        .collect();
    let f = run(&snaps, &ChecksConfig::default());
    assert!(of(&f, CheckId::TickerLoopGrowth).is_empty());
    assert_eq!(of(&f, CheckId::GoroutineLeak).len(), 1, "{f:#?}");
    let p = of(&f, CheckId::ProvenGoroutineLeak);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].evidence["source"], "(leaked) marks in goroutine?debug=2");
}

#[test]
fn goexit_in_defer_names_the_blocked_deferred_call() {
    let f = run(&[snap_full(T0, goexit_groups(150, 40), None)], &ChecksConfig::default());
    let g = of(&f, CheckId::GoexitInDefer);
    assert_eq!(g.len(), 2, "{f:#?}");
    let w = g.iter().find(|x| x.function.as_deref() == Some("main.cleanupAfterExit")).unwrap();
    assert_eq!(w.line, Some(27));
    assert_eq!(w.count, Some(150));
    assert_eq!(w.evidence["goexitCalledFrom"], "main.abortWithGoexit");
    assert!(w.message.contains("main.abortWithGoexit"));
    assert!(w.message.contains("sync.WaitGroup.Wait"), "{}", w.message);
    let t = g.iter().find(|x| x.function.as_deref() == Some("main.releaseOnExit")).unwrap();
    assert_eq!(t.evidence["goexitCalledFrom"], "main.taskFailNow");
    // The more precise check wins over GoroutineLeak for the same site.
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    // debug=1 shows the same frames (runtime.Goexit is not a leading frame).
    let f1 = run(&[snap_debug1(T0, goexit_groups(150, 40))], &ChecksConfig::default());
    assert_eq!(of(&f1, CheckId::GoexitInDefer).len(), 2, "{f1:#?}");
    // Below min_goroutines: nothing.
    let few = run(&[snap_full(T0, goexit_groups(5, 2), None)], &ChecksConfig::default());
    assert!(of(&few, CheckId::GoexitInDefer).is_empty());
}

#[test]
fn long_blocked_thresholds_and_skipped_note() {
    let mut checks = ChecksConfig::default();
    checks.long_blocked_goroutines.min_wait_minutes = 1;
    // The process's main goroutine has waited 40 minutes: the senders got stuck later.
    let main_wait = || minutes(group(1, Some("select"), vec![fr("main.main", HEALTHY, 30)]), 40);
    let f = run(&[snap_full(T0, vec![leaky_sender(50, Some(1)), main_wait()], None)], &checks);
    let lb = of(&f, CheckId::LongBlockedGoroutines);
    assert_eq!(lb.len(), 1, "{f:#?}");
    assert_eq!(lb[0].function.as_deref(), Some("main.fetchWithTimeout.func1"));
    // Minutes below the threshold, or not blocked (IO wait): nothing.
    let io = minutes(group(50, Some("IO wait"), vec![fr("main.serve", "m.go", 1)]), 90);
    let f = run(&[snap_full(T0, vec![leaky_sender(50, None), io], None)], &checks);
    assert!(of(&f, CheckId::LongBlockedGoroutines).is_empty());
    // debug=2 skipped by the collector: an info finding carries the note.
    let mut s = snap_debug1(T0, vec![leaky_sender(20_000, None)]);
    s.notes = vec!["debug=2 skipped: 25000 goroutines > cap 10000".into()];
    let f = run(&[s], &checks);
    let lb = of(&f, CheckId::LongBlockedGoroutines);
    assert_eq!(lb.len(), 1);
    assert_eq!(lb[0].severity, Severity::Info);
    assert_eq!(lb[0].evidence["reason"], "debug2Skipped");
    assert!(lb[0].message.contains("25000 goroutines > cap 10000"));
}

#[test]
fn long_blocked_spares_goroutines_parked_since_start_up() {
    // kube-controller-manager v1.37.2, 31 minutes after start (bench/soak-upstream): every
    // informer's stop watcher has waited since start-up, as long as the longest wait of the process.
    let informers = |n, min, max| {
        let mut g = created(
            group(n, Some("chan receive"), vec![fr(STOP_WATCHER, "k8s.io/client-go/tools/cache/controller.go", 175)]),
            "k8s.io/client-go/tools/cache.(*controller).RunWithContext",
            "k8s.io/client-go/tools/cache/controller.go",
            174,
            2,
        );
        g.wait_minutes_min = Some(min);
        g.wait_minutes_max = Some(max);
        g
    };
    const STOP_WATCHER: &str = "example.com/lib/cache.(*controller).RunWithContext.func1";
    let main_wait = |m| minutes(group(1, Some("select"), vec![fr("main.main", HEALTHY, 30)]), m);
    let f = run(&[snap_full(T0, vec![informers(72, 30, 31), main_wait(31)], None)], &ChecksConfig::default());
    assert!(of(&f, CheckId::LongBlockedGoroutines).is_empty(), "{f:#?}");
    // Days later, parts started lazily within the slack (5% of the age) are still start-up.
    let f = run(&[snap_full(T0, vec![informers(72, 2_900, 2_950), main_wait(3_000)], None)], &ChecksConfig::default());
    assert!(of(&f, CheckId::LongBlockedGoroutines).is_empty(), "{f:#?}");
    // Stuck later than start-up: reported, and so is a site of which some goroutines are younger.
    let f = run(&[snap_full(T0, vec![informers(72, 40, 45), main_wait(120)], None)], &ChecksConfig::default());
    assert_eq!(of(&f, CheckId::LongBlockedGoroutines).len(), 1, "{f:#?}");
    let mut mixed = informers(72, 31, 31);
    mixed.wait_minutes_min = None;
    let f = run(&[snap_full(T0, vec![mixed, main_wait(31)], None)], &ChecksConfig::default());
    assert_eq!(of(&f, CheckId::LongBlockedGoroutines).len(), 1, "{f:#?}");
}

#[test]
fn proven_leaks_from_goroutineleak_profile() {
    let mut s = Snapshot { at: T0, ..Default::default() };
    s.leaks = Some(GoroutineProfile {
        total: 66,
        groups: vec![
            group(60, None, vec![fr("main.fetchWithTimeout.func1", LEAKY, 47)]),
            group(6, None, vec![fr("main.waitForever", LEAKY, 70)]),
        ]
        .into(),
        leak_profile: true,
    });
    let f = run(&[s], &ChecksConfig::default());
    let p = of(&f, CheckId::ProvenGoroutineLeak);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|x| x.severity == Severity::Critical && x.confidence == Some(Confidence::Proven)));
    assert_eq!(p[0].function.as_deref(), Some("main.fetchWithTimeout.func1"));
    assert_eq!(p[0].count, Some(60));
    // Disabled: nothing.
    let mut checks = ChecksConfig::default();
    checks.proven_goroutine_leak.enabled = false;
    let s2 = Snapshot { leaks: Some(GoroutineProfile::default()), ..Default::default() };
    assert!(run(&[s2], &checks).is_empty());
}

fn contention(kind: ContentionKind, period: Option<u64>, sites: Vec<ContentionSite>) -> ContentionProfile {
    ContentionProfile { kind, sampling_period: period, sites }
}

#[test]
fn contention_top_sites_and_disabled_profiling() {
    let c = "gohealth.dev/e2e/fleet/cmd/contention/main.go";
    let site = |delay_ms: u64, count: u64, frames: Vec<Frame>| ContentionSite {
        count,
        delay_ns: delay_ms * 1_000_000,
        frames: frames.into(),
    };
    let mut s = Snapshot { at: T0, ..Default::default() };
    s.mutex = Some(contention(
        ContentionKind::Mutex,
        Some(1),
        vec![
            site(
                9935,
                1850,
                vec![
                    fr("sync.(*Mutex).Unlock", "sync/mutex.go", 65),
                    fr("main.contendedCounter", c, 38),
                    fr("main.worker", c, 52),
                ],
            ),
            site(
                400,
                90,
                vec![
                    fr("internal/sync.(*HashTrieMap[...]).Swap", "internal/sync/hashtriemap.go", 200),
                    fr("sync.(*Map).Swap", "sync/hashtriemap.go", 100),
                    fr("main.syncMapChurn", c, 42),
                ],
            ),
            site(5, 3, vec![fr("main.rare", c, 99)]),
        ],
    ));
    s.block = Some(contention(ContentionKind::Block, None, vec![]));
    let f = run(&[s.clone()], &ChecksConfig::default());
    let lc = of(&f, CheckId::LockContention);
    assert_eq!(lc.len(), 2, "{f:#?}");
    assert_eq!(lc[0].function.as_deref(), Some("main.contendedCounter"));
    assert_eq!(lc[0].line, Some(38));
    assert_eq!(lc[0].evidence["delayMs"], "9935.0");
    assert_eq!(lc[1].function.as_deref(), Some("main.syncMapChurn"));
    // An empty block profile without a sampling period says nothing either way.
    assert!(of(&f, CheckId::ContentionProfilingDisabled).is_empty());
    // top = 1.
    let mut checks = ChecksConfig::default();
    checks.lock_contention.top = 1;
    assert_eq!(of(&run(&[s.clone()], &checks), CheckId::LockContention).len(), 1);

    // Sampling period 0 and empty: disabled, not "no contention".
    let mut off = Snapshot { at: T0, ..Default::default() };
    off.mutex = Some(contention(ContentionKind::Mutex, Some(0), vec![]));
    let f = run(&[off.clone()], &ChecksConfig::default());
    let d = of(&f, CheckId::ContentionProfilingDisabled);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].evidence["reason"], "mutex");
    assert!(of(&f, CheckId::LockContention).is_empty());
    // Profiling on (period 1) but no records: nothing at all.
    off.mutex = Some(contention(ContentionKind::Mutex, Some(1), vec![]));
    assert!(run(&[off.clone()], &ChecksConfig::default()).is_empty());
    // Opt-out of the disabled report.
    off.mutex = Some(contention(ContentionKind::Mutex, Some(0), vec![]));
    let mut quiet = ChecksConfig::default();
    quiet.lock_contention.report_disabled_profiling = false;
    assert!(run(&[off], &quiet).is_empty());
}

fn gc_snap(at: i64, num_gc: u64, forced: u64, frac: f64, scrape_forced: u64) -> Snapshot {
    Snapshot {
        at,
        mem_stats: Some(MemStats {
            num_gc: Some(num_gc),
            num_forced_gc: Some(forced),
            gc_cpu_fraction: Some(frac),
            heap_alloc: Some(4 << 20),
            ..Default::default()
        }),
        forced_gcs: scrape_forced,
        ..Default::default()
    }
}

#[test]
fn gc_pressure_fraction_frequency_and_forced_discount() {
    let checks = ChecksConfig::default();
    // gcchurn: GCCPUFraction 0.08 from a single snapshot: reported, as an info (not sustained yet).
    let f = run(&[gc_snap(T0, 3300, 0, 0.08, 0)], &checks);
    let g = of(&f, CheckId::GcPressure);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].severity, Severity::Info);
    assert!(g[0].message.contains("8.0% of the CPU"), "{}", g[0].message);
    // Held (not falling) over three minutes: the GC took at least 8% in that window.
    let f = run(&[gc_snap(T0, 3300, 0, 0.08, 0), gc_snap(T0 + 180, 3400, 0, 0.081, 0)], &checks);
    assert_eq!(of(&f, CheckId::GcPressure)[0].severity, Severity::Warning, "{f:#?}");
    // Rising over 50 s only (a start-up under load): still an info.
    let f = run(&[gc_snap(T0, 30, 0, 0.05, 0), gc_snap(T0 + 50, 90, 0, 0.07, 0)], &checks);
    assert_eq!(of(&f, CheckId::GcPressure)[0].severity, Severity::Info, "{f:#?}");
    // Falling over three minutes: an info.
    let f = run(&[gc_snap(T0, 3300, 0, 0.09, 0), gc_snap(T0 + 180, 3400, 0, 0.08, 0)], &checks);
    assert_eq!(of(&f, CheckId::GcPressure)[0].severity, Severity::Info, "{f:#?}");
    // Low fraction, but 1,100 GCs/s across two samples three minutes apart.
    let f = run(&[gc_snap(T0, 1000, 0, 0.01, 0), gc_snap(T0 + 180, 199_000, 0, 0.01, 0)], &checks);
    let g = of(&f, CheckId::GcPressure);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].severity, Severity::Warning);
    assert_eq!(g[0].evidence["gcsPerMinute"], "66000.0");
    // The same rate over 60 s only is a burst: nothing.
    let f = run(&[gc_snap(T0, 1000, 0, 0.01, 0), gc_snap(T0 + 60, 67_000, 0, 0.01, 0)], &checks);
    assert!(of(&f, CheckId::GcPressure).is_empty(), "{f:#?}");
    // 300 GCs in three minutes, all forced (runtime.GC / goroutineleak scrapes): discounted.
    let f = run(&[gc_snap(T0, 10, 5, 0.01, 0), gc_snap(T0 + 180, 310, 305, 0.01, 0)], &checks);
    assert!(of(&f, CheckId::GcPressure).is_empty(), "{f:#?}");
    let f = run(&[gc_snap(T0, 10, 0, 0.01, 0), gc_snap(T0 + 180, 310, 0, 0.01, 300)], &checks);
    assert!(of(&f, CheckId::GcPressure).is_empty(), "{f:#?}");
    // Healthy numbers, no MemStats: nothing.
    assert!(run(&[gc_snap(T0, 10, 0, 0.001, 0)], &checks).is_empty());
    assert!(run(&[Snapshot::default()], &checks).is_empty());
}

#[test]
fn goroutine_growth_needs_a_steady_slope_over_min_samples() {
    let checks = ChecksConfig::default();
    let tot = |at: i64, n: u64| Snapshot {
        at,
        goroutines: Some(GoroutineProfile { total: n, groups: vec![].into(), leak_profile: false }),
        ..Default::default()
    };
    let rising: Vec<Snapshot> = (0..4).map(|i| tot(T0 + i * 300, 100 + i as u64 * 50)).collect();
    let g = run(&rising, &checks);
    let g = of(&g, CheckId::GoroutineGrowth);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].evidence["growthPerHour"], "600");
    assert_eq!(g[0].count, Some(250));
    // Three samples are not enough (minSamples 4).
    assert!(run(&rising[..3], &checks).is_empty());
    // Noise: one spike is not a trend.
    let noisy: Vec<Snapshot> =
        [100, 400, 90, 110, 105].iter().enumerate().map(|(i, n)| tot(T0 + i as i64 * 300, *n)).collect();
    assert!(run(&noisy, &checks).is_empty());
    // Samples outside the trend window are ignored.
    let mut old = vec![tot(T0 - 100_000, 10), tot(T0 - 90_000, 20), tot(T0 - 80_000, 30)];
    old.push(tot(T0, 40));
    assert!(run(&old, &checks).is_empty());
    // A start-up ramp seen over 90 s (Prometheus, bench/soak-upstream: 27 → 44) fits ~600/h, but 17
    // goroutines are not growth (minIncrease 50); the same slope continued past 50 is.
    let ramp: Vec<Snapshot> =
        [27u64, 33, 38, 44].iter().enumerate().map(|(i, n)| tot(T0 + i as i64 * 30, *n)).collect();
    assert!(run(&ramp, &checks).is_empty(), "{:#?}", run(&ramp, &checks));
    let steep: Vec<Snapshot> =
        [27u64, 45, 62, 80].iter().enumerate().map(|(i, n)| tot(T0 + i as i64 * 30, *n)).collect();
    assert_eq!(of(&run(&steep, &checks), CheckId::GoroutineGrowth).len(), 1);
}

#[test]
fn disabled_checks_stay_silent() {
    let mut checks = ChecksConfig::default();
    checks.goroutine_leak.enabled = false;
    checks.goexit_in_defer.enabled = false;
    let f = run(&[snap_full(T0, vec![leaky_sender(500, None)], None)], &checks);
    assert!(f.is_empty());
    let f = run(&[snap_full(T0, goexit_groups(150, 40), None)], &checks);
    // GoexitInDefer off: the site is a plain GoroutineLeak candidate (if that check were on).
    assert!(f.is_empty());
}

#[test]
fn history_restored_from_status_keeps_the_trend() {
    // A trend recorded by one operator, encoded to status, restored by the next one.
    let snaps = ticker_snaps(6, |i| if i == 0 { 1 } else { 2 });
    let mut h = super::History::default();
    for s in &snaps[..5] {
        h.record("fleet/p", s);
    }
    let status = h.to_status(super::history::DEFAULT_STATUS_HISTORY_BYTES);
    let (restored, errors) = super::History::from_status(&status);
    assert!(errors.is_empty());
    let ring = restored.ring("fleet/p").unwrap();
    let f = diagnose(&target(), &snaps[5], ring, &ChecksConfig::default());
    assert_eq!(of(&f, CheckId::TickerLoopGrowth).len(), 1, "{f:#?}");
    assert_eq!(of(&f, CheckId::GoroutineGrowth).len(), 1);
}

#[test]
fn stale_minutes_on_a_ticker_loop_are_not_evidence() {
    // go1.26.8: right after a GC that followed two idle minutes, every goroutine of the ticker
    // program printed `[chan receive, 1 minutes]`, even seconds-old ones (captured fixture
    // diagnose/ticker round 4). The site grew over that minute, so the minutes are an artifact.
    let mut checks = ChecksConfig::default();
    checks.long_blocked_goroutines.min_wait_minutes = 1;
    let gcs = [0, 0, 1, 1, 2];
    let snaps: Vec<Snapshot> = (0..5)
        .map(|i| {
            let mut g = poll_loop(20 + i as u64 * 300);
            if i == 4 {
                g = minutes(g, 1);
            }
            snap_full(T0 + i * 30, vec![g], Some(gcs[i as usize]))
        })
        .collect();
    let f = run(&snaps, &checks);
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    assert!(of(&f, CheckId::LongBlockedGoroutines).is_empty(), "{f:#?}");
    // Next audit: no minutes although a GC saw them 90 s ago: they wake up, a ticker loop.
    let mut more = snaps.clone();
    more.push(snap_full(T0 + 150, vec![poll_loop(1520)], Some(2)));
    let f = run(&more, &checks);
    assert_eq!(of(&f, CheckId::TickerLoopGrowth).len(), 1, "{f:#?}");
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    // And one more audit showing the stale minutes again changes nothing: the site woke before.
    let mut again = more.clone();
    again.push(snap_full(T0 + 180, vec![minutes(poll_loop(1820), 1)], Some(3)));
    let f = run(&again, &checks);
    assert_eq!(of(&f, CheckId::TickerLoopGrowth).len(), 1, "{f:#?}");
    assert!(of(&f, CheckId::GoroutineLeak).is_empty() && of(&f, CheckId::LongBlockedGoroutines).is_empty(), "{f:#?}");
}

#[test]
fn a_startup_step_is_not_growth() {
    // healthy starts serving pprof before it starts its 1,000 consumers: the first audit may see 4.
    let snaps: Vec<Snapshot> = [4u64, 1004, 1004, 1004, 1004]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let groups = if *n > 4 { healthy_groups() } else { vec![] };
            let mut s = snap_full(T0 + i as i64 * 10, groups, Some(1));
            if let Some(p) = s.goroutines.as_mut() {
                p.total = *n;
            }
            s
        })
        .collect();
    for k in 2..=snaps.len() {
        let f = run(&snaps[..k], &ChecksConfig::default());
        assert!(f.is_empty(), "after {k} audits: {f:#?}");
    }
}

#[test]
fn block_profile_counts_lock_waits_only() {
    let c = "main.go";
    let site = |delay_ms: u64, frames: Vec<Frame>| ContentionSite {
        count: 5,
        delay_ns: delay_ms * 1_000_000,
        frames: frames.into(),
    };
    let s = Snapshot {
        at: T0,
        block: Some(contention(
            ContentionKind::Block,
            Some(1),
            vec![
                // An idle consumer and a WaitGroup: blocking, not contention.
                site(90_000, vec![fr("runtime.selectgo", "runtime/select.go", 1), fr("main.consume", c, 10)]),
                site(5_000, vec![fr("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 206), fr("main.run", c, 20)]),
                site(
                    700,
                    vec![
                        fr("internal/sync.(*Mutex).Lock", "internal/sync/mutex.go", 70),
                        fr("sync.(*Mutex).Lock", "sync/mutex.go", 46),
                        fr("main.update", c, 30),
                    ],
                ),
                site(300, vec![fr("sync.(*RWMutex).RLock", "sync/rwmutex.go", 70), fr("main.read", c, 40)]),
            ],
        )),
        ..Default::default()
    };
    let f = run(&[s], &ChecksConfig::default());
    let fns: Vec<_> = of(&f, CheckId::LockContention).iter().map(|x| x.function.clone().unwrap()).collect();
    assert_eq!(fns, ["main.update", "main.read"], "{f:#?}");
}

#[test]
fn earlier_debug2_dumps_decide_when_debug2_is_skipped() {
    // A ticker loop proven periodic while debug=2 was fetched stays a ticker loop once the count
    // passes the debug=2 cap and only debug=1 comes.
    let mut snaps = ticker_snaps(6, |i| if i == 0 { 1 } else { 2 });
    let mut d1 = snap_debug1(T0 + 180, vec![poll_loop(400)]);
    d1.mem_stats = snaps[5].mem_stats.clone();
    snaps.push(d1);
    let f = run(&snaps, &ChecksConfig::default());
    assert_eq!(of(&f, CheckId::TickerLoopGrowth).len(), 1, "{f:#?}");
    assert!(of(&f, CheckId::GoroutineLeak).is_empty(), "{f:#?}");
    // A receive-side leak seen with minutes stays a (likely) leak, without an ambiguity note.
    let mut snaps: Vec<Snapshot> = (0..5)
        .map(|i| snap_full(T0 + i * 30, vec![wait_forever(100 + i as u64 * 60, Some(1))], Some(i as u64)))
        .collect();
    let mut d1 = snap_debug1(T0 + 150, vec![wait_forever(400, None)]);
    d1.mem_stats = snaps[4].mem_stats.clone();
    snaps.push(d1);
    let f = run(&snaps, &ChecksConfig::default());
    let l = of(&f, CheckId::GoroutineLeak);
    assert_eq!(l.len(), 1, "{f:#?}");
    assert!(!l[0].evidence.contains_key("ambiguity"), "{:#?}", l[0]);
}

#[test]
fn two_sites_in_one_function_stay_two_findings() {
    let send = created(group(300, Some("chan send"), vec![fr("main.park", "m.go", 66)]), "main.start", "m.go", 1, 1);
    let wg = created(
        group(
            200,
            Some("sync.WaitGroup.Wait"),
            vec![fr("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 206), fr("main.park", "m.go", 75)],
        ),
        "main.start",
        "m.go",
        1,
        1,
    );
    let f = run(&[snap_full(T0, vec![send, wg], None)], &ChecksConfig::default());
    let merged = super::merge_seen(&[], f, "2026-11-26T10:00:00Z");
    let lines: Vec<_> = of(&merged, CheckId::GoroutineLeak).iter().map(|x| x.line.unwrap()).collect();
    assert_eq!(lines, [66, 75], "{merged:#?}");
}

#[test]
fn one_lock_in_both_profiles_is_one_finding() {
    let c = "main.go";
    let lock = |kind, line, frame: &str| {
        contention(
            kind,
            Some(1),
            vec![ContentionSite {
                count: 100,
                delay_ns: 500_000_000,
                frames: vec![fr(frame, "sync/mutex.go", 1), fr("main.contendedCounter", c, line)].into(),
            }],
        )
    };
    let s = Snapshot {
        at: T0,
        mutex: Some(lock(ContentionKind::Mutex, 38, "sync.(*Mutex).Unlock")),
        block: Some(lock(ContentionKind::Block, 36, "sync.(*Mutex).Lock")),
        ..Default::default()
    };
    let f = run(&[s], &ChecksConfig::default());
    let lc = of(&f, CheckId::LockContention);
    assert_eq!(lc.len(), 1, "{f:#?}");
    assert_eq!(lc[0].line, Some(38));
    assert_eq!(lc[0].evidence["blockedAt"], "main.go:36");
    assert_eq!(lc[0].evidence["blockDelayMs"], "500.0");
}

const WORKQUEUE: &str = "k8s.io/client-go@v0.37.2/util/workqueue/queue.go";

/// Idle workqueue workers as kube-controller-manager shows them (debug=2 form; proto names the shape).
fn idle_workers(n: u64, function: &str, mins: Option<u64>) -> GoroutineGroup {
    let g = created(
        group(
            n,
            Some("sync.Cond.Wait"),
            vec![
                fr("sync.runtime_notifyListWait", "runtime/sema.go", 606),
                fr("sync.(*Cond).Wait", "sync/cond.go", 71),
                fr(function, WORKQUEUE, 269),
                fr("k8s.io/kubernetes/pkg/controller/garbagecollector.(*GraphBuilder).processGraphChanges", "g.go", 1),
            ],
        ),
        "k8s.io/apimachinery/pkg/util/wait.(*Group).Start",
        "wait.go",
        72,
        1,
    );
    match mins {
        Some(m) => minutes(g, m),
        None => g,
    }
}

#[test]
fn idle_workqueue_workers_are_benign_in_every_format_until_they_grow() {
    let d1 = "k8s.io/client-go/util/workqueue.(*Typed[...]).Get";
    let shape = "k8s.io/client-go/util/workqueue.(*Typed[go.shape.string]).Get";
    // debug=2 with long waits, debug=1, and the proto's shape-named frames: one site, no finding.
    let full = snap_full(T0, vec![idle_workers(284, d1, Some(45))], None);
    assert!(run(&[full], &ChecksConfig::default()).is_empty());
    let d1_snap = snap_debug1(T0, vec![idle_workers(200, d1, None), idle_workers(84, d1, None)]);
    assert!(run(&[d1_snap], &ChecksConfig::default()).is_empty());
    let proto =
        snap_debug1(T0, vec![idle_workers(202, shape, None), idle_workers(82, "x.(*Typed[go.shape.int]).Get", None)]);
    assert!(run(&[proto], &ChecksConfig::default()).is_empty());
    // The same site growing audit after audit (workers started per reconcile, never stopped) is still a
    // leak, once the growth outlasts a start-up (10 minutes).
    let snaps: Vec<Snapshot> =
        (0..12).map(|i| snap_debug1(T0 + i * 60, vec![idle_workers(300 + 200 * i as u64, shape, None)])).collect();
    assert!(
        of(&run(&snaps[..5], &ChecksConfig::default()), CheckId::GoroutineLeak).is_empty(),
        "4 minutes: a start-up"
    );
    let f = run(&snaps, &ChecksConfig::default());
    let leaks = of(&f, CheckId::GoroutineLeak);
    assert_eq!(leaks.len(), 1, "{f:#?}");
    assert_eq!(leaks[0].function.as_deref(), Some(d1));
    assert_eq!(leaks[0].confidence, Some(Confidence::Likely));
}

#[test]
fn user_entries_extend_the_knowledge_base() {
    let mut checks = ChecksConfig::default();
    let f = run(&[snap_full(T0, vec![leaky_sender(500, None)], None)], &checks);
    assert_eq!(of(&f, CheckId::GoroutineLeak).len(), 1);
    checks.goroutine_leak.benign_sites = super::benign::parse(
        "sites: [{function: 'main.fetchWithTimeout.*', owner: o, source: 'https://example.invalid/x'}]",
    )
    .unwrap();
    assert!(
        of(&run(&[snap_full(T0, vec![leaky_sender(500, None)], None)], &checks), CheckId::GoroutineLeak).is_empty()
    );
}

fn receivers(n: u64, function: &str, line: u32) -> GoroutineGroup {
    group(n, Some("chan receive"), vec![fr(function, "svc/main.go", line)])
}

#[test]
fn one_site_holding_most_goroutines_is_suspected_from_one_dump() {
    let checks = ChecksConfig::default();
    // 5,000 of ~5,050 goroutines in one receive: LeakProf's egregious site, in debug=2 and debug=1.
    for s in [
        snap_full(T0, vec![receivers(5000, "main.recvLoop", 10), receivers(50, "main.other", 20)], None),
        snap_debug1(T0, vec![receivers(5000, "main.recvLoop", 10), receivers(50, "main.other", 20)]),
    ] {
        let f = run(&[s], &checks);
        let leaks = of(&f, CheckId::GoroutineLeak);
        assert_eq!(leaks.len(), 1, "{f:#?}");
        assert_eq!(leaks[0].function.as_deref(), Some("main.recvLoop"));
        assert_eq!(leaks[0].confidence, Some(Confidence::Suspected));
        assert_eq!(leaks[0].evidence["siblingSites"], "0");
        assert!(leaks[0].evidence["share"].starts_with("0.9"));
    }
    // A family: read and write loop per connection, equal counts: per-object loops.
    let pair = snap_full(T0, vec![receivers(3000, "main.readLoop", 10), receivers(3000, "main.writeLoop", 20)], None);
    assert!(run(&[pair], &checks).is_empty());
    // Under the share or the count: a healthy consumer pool (1,000 loops) stays quiet.
    let pool = snap_full(T0, vec![receivers(1000, "main.consumeQueue", 32)], None);
    assert!(run(&[pool], &checks).is_empty());
    let spread = snap_full(
        T0,
        vec![receivers(2500, "main.recvLoop", 10), receivers(2300, "main.other", 20), receivers(500, "main.third", 30)],
        None,
    );
    assert!(run(&[spread], &checks).is_empty());
}

#[test]
fn keep_alive_loops_above_the_pool_limit_are_suspected() {
    let loops = |n| {
        vec![
            created(
                group(n, Some("select"), vec![fr("net/http.(*persistConn).readLoop", "net/http/transport.go", 2291)]),
                "net/http.(*Transport).dialConn",
                "net/http/transport.go",
                1944,
                77,
            ),
            created(
                group(n, Some("select"), vec![fr("net/http.(*persistConn).writeLoop", "net/http/transport.go", 2649)]),
                "net/http.(*Transport).dialConn",
                "net/http/transport.go",
                1945,
                77,
            ),
        ]
    };
    assert!(run(&[snap_full(T0, loops(300), None)], &ChecksConfig::default()).is_empty());
    let f = run(&[snap_full(T0, loops(1500), None)], &ChecksConfig::default());
    let leaks = of(&f, CheckId::GoroutineLeak);
    assert_eq!(leaks.len(), 2, "{f:#?}");
    assert!(leaks.iter().all(|l| l.evidence["benignLimit"] == "1000" && l.confidence == Some(Confidence::Suspected)));
}

#[test]
fn contention_is_a_rate_between_audits() {
    let lock = |delay_ms: u64| ContentionSite {
        count: 50,
        delay_ns: delay_ms * 1_000_000,
        frames: vec![
            fr("sync.(*Mutex).Unlock", "sync/mutex.go", 1),
            fr("k8s.io/apimachinery/pkg/watch.(*Broadcaster).Action", "mux.go", 240),
        ]
        .into(),
    };
    let at = |t: i64, delay_ms: u64| Snapshot {
        at: t,
        mutex: Some(contention(ContentionKind::Mutex, Some(1), vec![lock(delay_ms)])),
        ..Default::default()
    };
    // The scheduler's start-up: 2,348 ms since start, +60 ms over the next 5 minutes: 12 ms/min.
    let f = run(&[at(T0, 2348)], &ChecksConfig::default());
    let lc = of(&f, CheckId::LockContention);
    assert_eq!(lc.len(), 1);
    assert_eq!(lc[0].severity, Severity::Info, "no rate yet: the total is an info");
    assert!(run(&[at(T0, 2348), at(T0 + 300, 2408)], &ChecksConfig::default()).is_empty());
    // 30 s of waits per minute: a warning with the rate as evidence.
    let f = run(&[at(T0, 2348), at(T0 + 300, 2348 + 150_000)], &ChecksConfig::default());
    let lc = of(&f, CheckId::LockContention);
    assert_eq!(lc.len(), 1, "{f:#?}");
    assert_eq!(lc[0].severity, Severity::Warning);
    assert_eq!(lc[0].evidence["delayMsPerMinute"], "30000.0");
    // A restart (the total went down): no rate, the total again.
    let f = run(&[at(T0, 90_000), at(T0 + 300, 2348)], &ChecksConfig::default());
    assert_eq!(of(&f, CheckId::LockContention)[0].severity, Severity::Info);
}
