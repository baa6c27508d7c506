use std::time::Duration;

use gohealth_pprof::model::{Frame, GoroutineGroup, GoroutineProfile};

use super::*;
use crate::finding::Severity;
use crate::snapshot::Snapshot;

const T0: i64 = 1_764_150_000;
const APP: &str = "example.com/app/main.go";

/// debug=1 shape: no state, the runtime's blocking frame first.
fn parked(count: u64, function: &str, line: u32) -> GoroutineGroup {
    GoroutineGroup {
        count,
        frames: vec![Frame::new("runtime.chanrecv1", "runtime/chan.go", 489), Frame::new(function, APP, line)].into(),
        ..Default::default()
    }
}

/// debug=2 shape: the wait reason and minutes.
fn waiting(count: u64, function: &str, line: u32, minutes: Option<u64>) -> GoroutineGroup {
    GoroutineGroup {
        count,
        state: Some("chan receive".into()),
        frames: vec![Frame::new(function, APP, line)].into(),
        wait_minutes_min: minutes,
        wait_minutes_max: minutes,
        ..Default::default()
    }
}

fn profile(groups: Vec<GoroutineGroup>) -> GoroutineProfile {
    let total = groups.iter().map(|g| g.count).sum::<u64>();
    GoroutineProfile { total, groups: groups.into(), leak_profile: false }
}

/// A quiet program: 50 workers that waited `minutes`, and 3 goroutines at a small site.
fn snapshot(at: i64, workers: u64, minutes: Option<u64>) -> Snapshot {
    Snapshot {
        at,
        goroutines: Some(profile(vec![parked(workers, "main.worker", 10), parked(3, "main.small", 20)])),
        goroutines_full: Some(profile(vec![
            waiting(workers, "main.worker", 10, minutes),
            waiting(3, "main.small", 20, minutes),
        ])),
        ..Default::default()
    }
}

fn debug1(workers: u64, small: u64) -> GoroutineProfile {
    profile(vec![parked(workers, "main.worker", 10), parked(small, "main.small", 20)])
}

#[test]
fn a_quiet_dump_defers_the_next_until_something_grows_or_it_ages() {
    let checks = ChecksConfig::default();
    let b = DumpBaseline::after(&snapshot(T0, 50, None), &[], &checks).expect("a quiet dump leaves a baseline");
    assert_eq!(b.at, T0);
    assert_eq!(b.due_by, T0 + 1800, "fullDumpMaxAge 30m, as far as the 30-minute wait threshold");
    assert!(b.fresh_at(T0 + 1799));
    assert!(!b.fresh_at(T0 + 1800));
    assert!(b.covers(&debug1(50, 3)), "nothing changed");
    assert!(b.covers(&debug1(40, 3)), "a site that shrank cannot raise a finding");
    assert!(b.covers(&debug1(50, 9)), "sites under every check's minGoroutines (10) do not count");
    assert!(!b.covers(&debug1(51, 3)), "one more goroutine at a counted site");
    assert!(!b.covers(&debug1(50, 10)), "a site that reached minGoroutines is new");
}

#[test]
fn a_wait_near_the_threshold_brings_the_next_dump_forward() {
    let checks = ChecksConfig::default();
    // 28 minutes at the dump: the 30-minute threshold is 2 minutes away.
    let b = DumpBaseline::after(&snapshot(T0, 50, Some(28)), &[], &checks).unwrap();
    assert_eq!(b.due_by, T0 + 120);
    // Waits already past the threshold cannot cross it again.
    let b = DumpBaseline::after(&snapshot(T0, 50, Some(45)), &[], &checks).unwrap();
    assert_eq!(b.due_by, T0 + 1800);
    // Minutes still short of the threshold: due when they reach it.
    let b = DumpBaseline::after(&snapshot(T0, 50, Some(10)), &[], &checks).unwrap();
    assert_eq!(b.due_by, T0 + 1200);
    let mut shorter = ChecksConfig::default();
    shorter.long_blocked_goroutines.min_wait_minutes = 10;
    let b = DumpBaseline::after(&snapshot(T0, 50, None), &[], &shorter).unwrap();
    assert_eq!(b.due_by, T0 + 600, "no minutes yet: the threshold is its whole length away");
}

#[test]
fn a_wait_threshold_of_a_few_minutes_takes_a_dump_every_audit() {
    // Minutes that short can be the runtime's artifact; the checks need every dump to tell.
    for minutes in [1, 4] {
        let mut checks = ChecksConfig::default();
        checks.long_blocked_goroutines.min_wait_minutes = minutes;
        assert_eq!(DumpBaseline::after(&snapshot(T0, 50, None), &[], &checks), None, "{minutes}");
    }
    let mut five = ChecksConfig::default();
    five.goroutine_leak.min_wait_minutes = MIN_DEFERRING_WAIT_MINUTES;
    assert!(DumpBaseline::after(&snapshot(T0, 50, None), &[], &five).is_some());
}

#[test]
fn a_dump_check_finding_or_a_missing_profile_takes_a_dump_next_time() {
    let checks = ChecksConfig::default();
    for check in DUMP_CHECKS {
        let f = Finding::new(check, Severity::Warning, "x");
        assert_eq!(DumpBaseline::after(&snapshot(T0, 50, None), &[f], &checks), None, "{check:?}");
    }
    let other = Finding::new(CheckId::GcPressure, Severity::Warning, "x");
    assert!(DumpBaseline::after(&snapshot(T0, 50, None), &[other], &checks).is_some());

    let mut no_dump = snapshot(T0, 50, None);
    no_dump.goroutines_full = None;
    assert_eq!(DumpBaseline::after(&no_dump, &[], &checks), None);
    let mut no_debug1 = snapshot(T0, 50, None);
    no_debug1.goroutines = None;
    assert_eq!(DumpBaseline::after(&no_debug1, &[], &checks), None);

    let every_audit = ChecksConfig { full_dump_max_age: Duration::ZERO, ..Default::default() };
    assert_eq!(DumpBaseline::after(&snapshot(T0, 50, None), &[], &every_audit), None);
}

#[test]
fn min_goroutines_of_the_enabled_checks_sets_the_counted_sites() {
    let mut checks = ChecksConfig::default();
    checks.long_blocked_goroutines.enabled = false;
    checks.ticker_loop_growth.enabled = false;
    checks.goexit_in_defer.enabled = false;
    // Only GoroutineLeak (100) is left: a site of 50 does not count.
    let b = DumpBaseline::after(&snapshot(T0, 50, None), &[], &checks).unwrap();
    assert!(b.covers(&debug1(99, 3)));
    assert!(!b.covers(&debug1(100, 3)));
}

#[test]
fn a_baseline_holds_only_the_sites_it_counts() {
    // 60 blocked sites, 2 of them with 10 goroutines or more.
    let mut groups: Vec<GoroutineGroup> = (0..58).map(|i| parked(2, &format!("main.idle{i}"), 100 + i)).collect();
    groups.push(parked(50, "main.worker", 10));
    groups.push(parked(12, "main.small", 20));
    let d1 = profile(groups);
    let s = Snapshot { at: T0, goroutines: Some(d1.clone()), goroutines_full: Some(d1), ..Default::default() };
    let b = DumpBaseline::after(&s, &[], &ChecksConfig::default()).unwrap();
    assert_eq!(b.sites.len(), 2);
    assert!(b.sites.capacity() <= 2, "capacity {}", b.sites.capacity());
}
