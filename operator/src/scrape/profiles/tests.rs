//! Scrape logic against the in-process server serving captured fixtures.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::scrape::endpoint::EndpointSource;
use crate::scrape::http::CollectorOptions;
use crate::scrape::test_server::{Reply, ok, serve, status};

fn fixture(version: &str, name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/pprof/fixtures").join(version).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Serves a fixture directory the way net/http/pprof would.
fn pprof_route(version: &'static str) -> impl Fn(&str, usize) -> Reply + Send + Sync + 'static {
    move |path, _| {
        let file = match path {
            "/debug/pprof/" => "index.html",
            "/debug/pprof/goroutine?debug=1" => "goroutine-debug1.txt",
            "/debug/pprof/goroutine?debug=2" => "goroutine-debug2.txt",
            "/debug/pprof/goroutineleak?debug=1" => "goroutineleak-debug1.txt",
            "/debug/pprof/heap?debug=1" => "heap-debug1.txt",
            "/debug/pprof/mutex?debug=1" => "mutex-debug1.txt",
            "/debug/pprof/block?debug=1" => "block-debug1.txt",
            "/debug/pprof/goroutine" => "goroutine.pb.gz",
            _ => return status(404),
        };
        ok(fixture(version, file))
    }
}

fn endpoint(addr: std::net::SocketAddr) -> Endpoint {
    Endpoint {
        base_url: format!("http://{addr}/debug/pprof"),
        container: None,
        source: EndpointSource::NamedPort,
        notes: vec![],
    }
}

fn collector() -> Collector {
    Collector::new(&CollectorOptions {
        timeout: Duration::from_secs(2),
        retry_backoff: Duration::from_millis(10),
        ..CollectorOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn full_plan_on_go127_fetches_everything_in_order() {
    let s = serve(pprof_route("go1.27")).await;
    let snap = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert_eq!(
        s.paths(),
        [
            "/debug/pprof/",
            "/debug/pprof/goroutine?debug=1",
            "/debug/pprof/goroutine?debug=2",
            "/debug/pprof/goroutineleak?debug=1",
            "/debug/pprof/heap?debug=1",
            "/debug/pprof/mutex?debug=1",
            "/debug/pprof/block?debug=1",
        ]
    );
    assert!(snap.available.contains(&"goroutineleak".to_string()));
    let g = snap.goroutines.as_ref().unwrap();
    assert_eq!(g.total, 21);
    assert_eq!(g.sum_of_groups(), 21);
    assert!(!g.leak_profile);
    assert!(snap.goroutines_full.as_ref().unwrap().total > 0);
    assert!(snap.leaks.as_ref().unwrap().leak_profile);
    assert_eq!(snap.forced_gcs, 1);
    assert!(snap.mem_stats.as_ref().unwrap().num_gc.is_some());
    assert_eq!(snap.mutex.as_ref().unwrap().kind, ContentionKind::Mutex);
    assert_eq!(snap.block.as_ref().unwrap().kind, ContentionKind::Block);
    assert!(snap.notes.is_empty(), "{:?}", snap.notes);
    assert!(snap.at > 0);
}

#[tokio::test]
async fn debug2_skipped_at_the_cap_with_a_note() {
    let s = serve(pprof_route("go1.27")).await;
    let plan = ScrapePlan { full_dump_cap: 21, ..ScrapePlan::everything(0) };
    let snap = collector().scrape(&endpoint(s.addr), &plan).await.unwrap();
    assert!(snap.goroutines_full.is_none());
    assert!(!s.paths().iter().any(|p| p.contains("goroutine?debug=2")));
    assert!(snap.notes.iter().any(|n| n.contains("debug=2 skipped: 21 goroutines >= cap 21")), "{:?}", snap.notes);
}

#[tokio::test]
async fn default_checks_do_not_force_a_gc_unless_due() {
    let s = serve(pprof_route("go1.27")).await;
    let plan = ScrapePlan::from_checks(&ChecksConfig::default(), false);
    let snap = collector().scrape(&endpoint(s.addr), &plan).await.unwrap();
    assert!(!s.paths().iter().any(|p| p.contains("goroutineleak")));
    assert_eq!(snap.forced_gcs, 0);
    assert!(snap.leaks.is_none());
    assert!(snap.goroutines_full.is_some());
}

#[tokio::test]
async fn go121_has_no_leak_profile_and_none_is_requested() {
    let s = serve(pprof_route("go1.21")).await;
    let snap = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(!s.paths().iter().any(|p| p.contains("goroutineleak")));
    assert!(snap.leaks.is_none());
    assert_eq!(snap.forced_gcs, 0);
    assert!(snap.notes.iter().any(|n| n.contains("goroutineleak not served")), "{:?}", snap.notes);
    assert!(snap.goroutines.is_some() && snap.mem_stats.is_some());
}

#[tokio::test]
async fn missing_index_is_a_note_when_goroutines_answer() {
    let route = pprof_route("go1.26");
    let s = serve(move |path, n| if path == "/debug/pprof/" { status(404) } else { route(path, n) }).await;
    let snap = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(snap.available.is_empty());
    assert!(snap.goroutines.is_some());
    assert!(snap.notes.iter().any(|n| n.contains("pprof index")));
    // without an index, the GC-forcing profile is not probed blindly
    assert!(!s.paths().iter().any(|p| p.contains("goroutineleak")));
    assert!(snap.mem_stats.is_some());
}

#[tokio::test]
async fn html_everywhere_is_not_a_profile() {
    let page = b"<!DOCTYPE html><html><head><title>Login</title></head></html>".to_vec();
    let s = serve(move |_, _| ok(page.clone())).await;
    let err = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap_err();
    assert_eq!(err.reason(), "NotAProfile");
    let msg = err.to_string();
    assert!(msg.contains("index") && msg.contains("Login"), "{msg}");
    assert_eq!(s.paths().len(), 2);
}

#[tokio::test]
async fn status_500_everywhere_is_http_status() {
    let s = serve(|_, _| status(500)).await;
    let err = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap_err();
    assert_eq!(err, ScrapeError::HttpStatus(500));
}

#[tokio::test]
async fn not_found_everywhere_is_not_a_profile() {
    let s = serve(|_, _| status(404)).await;
    let err = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap_err();
    assert_eq!(err.reason(), "NotAProfile", "{err}");
}

#[tokio::test]
async fn transport_failure_on_the_index_fails_fast() {
    let s = serve(|_, _| Reply::Silent).await;
    let c = Collector::new(&CollectorOptions { timeout: Duration::from_millis(300), ..CollectorOptions::default() })
        .unwrap();
    let t = std::time::Instant::now();
    let err = c.scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap_err();
    assert_eq!(err, ScrapeError::Timeout(300));
    assert!(t.elapsed() < Duration::from_millis(900), "{:?}", t.elapsed());
    assert_eq!(s.paths().len(), 1);
}

#[tokio::test]
async fn secondary_failures_are_notes() {
    let route = pprof_route("go1.27");
    let s = serve(move |path, n| match path {
        "/debug/pprof/heap?debug=1" => status(500),
        "/debug/pprof/mutex?debug=1" => ok(b"<html>nope</html>".to_vec()),
        _ => route(path, n),
    })
    .await;
    let snap = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(snap.goroutines.is_some());
    assert!(snap.mem_stats.is_none());
    assert!(snap.mutex.is_none());
    assert!(snap.block.is_some());
    assert!(snap.notes.iter().any(|n| n.contains("heap?debug=1 failed: HTTP status 500")), "{:?}", snap.notes);
    assert!(snap.notes.iter().any(|n| n.starts_with("mutex?debug=1 failed")), "{:?}", snap.notes);
}

#[tokio::test]
async fn endpoint_notes_are_carried() {
    let s = serve(pprof_route("go1.27")).await;
    let mut e = endpoint(s.addr);
    e.notes.push("ignored profiles.grafana.com/goroutine.port".into());
    let plan = ScrapePlan {
        full_dump: false,
        heap: false,
        mutex: false,
        block: false,
        leak_profile: false,
        ..ScrapePlan::everything(0)
    };
    let snap = collector().scrape(&e, &plan).await.unwrap();
    assert_eq!(snap.notes, ["ignored profiles.grafana.com/goroutine.port"]);
    assert_eq!(s.paths().len(), 2);
}

#[test]
fn plan_from_checks() {
    let mut checks = ChecksConfig::default();
    let p = ScrapePlan::from_checks(&checks, true);
    assert_eq!(p, ScrapePlan::everything(10_000));
    assert!(!ScrapePlan::from_checks(&checks, false).leak_profile);

    checks.proven_goroutine_leak.enabled = false;
    checks.gc_pressure.enabled = false;
    checks.lock_contention.enabled = false;
    checks.long_blocked_goroutines.max_goroutines_for_full_dump = 500;
    let p = ScrapePlan::from_checks(&checks, true);
    assert!(!p.leak_profile && !p.heap && !p.mutex && !p.block);
    assert!(p.goroutine_debug1 && p.full_dump);
    assert_eq!(p.full_dump_cap, 500);

    checks.long_blocked_goroutines.enabled = false;
    checks.goroutine_leak.enabled = false;
    checks.ticker_loop_growth.enabled = false;
    assert!(!ScrapePlan::from_checks(&checks, true).full_dump);
}

#[tokio::test]
async fn after_one_secondary_timeout_the_rest_are_skipped() {
    let route = pprof_route("go1.27");
    let s =
        serve(move |path, n| if path == "/debug/pprof/heap?debug=1" { Reply::Silent } else { route(path, n) }).await;
    let c = Collector::new(&CollectorOptions { timeout: Duration::from_millis(300), ..CollectorOptions::default() })
        .unwrap();
    let t = std::time::Instant::now();
    let snap = c.scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(900), "{:?}", t.elapsed());
    assert!(snap.goroutines.is_some() && snap.goroutines_full.is_some() && snap.leaks.is_some());
    assert!(snap.mem_stats.is_none() && snap.mutex.is_none() && snap.block.is_none());
    assert!(!s.paths().iter().any(|p| p.contains("mutex") || p.contains("block")));
    assert_eq!(
        snap.notes,
        [
            "heap?debug=1 failed: request timed out after 300 ms",
            "mutex?debug=1 skipped: the target timed out earlier in this scrape",
            "block?debug=1 skipped: the target timed out earlier in this scrape",
        ]
    );
}

#[tokio::test]
async fn leak_profile_failure_still_counts_the_forced_gc() {
    let route = pprof_route("go1.27");
    let s =
        serve(
            move |path, n| {
                if path.starts_with("/debug/pprof/goroutineleak") { ok(b"garbage".to_vec()) } else { route(path, n) }
            },
        )
        .await;
    let snap = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(snap.leaks.is_none());
    assert_eq!(snap.forced_gcs, 1);
    assert!(
        snap.notes.iter().any(|n| n.starts_with("goroutineleak?debug=1 failed: not a Go profile")),
        "{:?}",
        snap.notes
    );
}

#[tokio::test]
async fn debug2_deferred_while_debug1_shows_nothing_new_since_a_quiet_dump() {
    let mut checks = ChecksConfig::default();
    for min in [
        &mut checks.goroutine_leak.min_goroutines,
        &mut checks.long_blocked_goroutines.min_goroutines,
        &mut checks.ticker_loop_growth.min_goroutines,
        &mut checks.goexit_in_defer.min_goroutines,
    ] {
        *min = 1;
    }
    let s = serve(pprof_route("go1.27")).await;
    let first = collector().scrape(&endpoint(s.addr), &ScrapePlan::everything(10_000)).await.unwrap();
    let baseline = DumpBaseline::after(&first, &[], &checks).expect("a dump without findings");

    let s = serve(pprof_route("go1.27")).await;
    let plan = ScrapePlan { defer_dump: Some(baseline.clone()), ..ScrapePlan::everything(10_000) };
    let snap = collector().scrape(&endpoint(s.addr), &plan).await.unwrap();
    assert!(!s.paths().iter().any(|p| p.contains("goroutine?debug=2")), "{:?}", s.paths());
    assert_eq!(snap.full_dump_deferred, Some(baseline.at));
    assert!(snap.goroutines_full.is_none() && snap.goroutines.is_some());
    assert!(snap.notes.is_empty(), "{:?}", snap.notes);

    // A baseline from a moment with no blocked goroutines: every blocked site now is new.
    let empty = Snapshot {
        goroutines: Some(GoroutineProfile { total: 0, groups: Default::default(), leak_profile: false }),
        ..first.clone()
    };
    let stale = DumpBaseline::after(&empty, &[], &checks).unwrap();
    let s = serve(pprof_route("go1.27")).await;
    let plan = ScrapePlan { defer_dump: Some(stale), ..ScrapePlan::everything(10_000) };
    let snap = collector().scrape(&endpoint(s.addr), &plan).await.unwrap();
    assert!(s.paths().iter().any(|p| p.contains("goroutine?debug=2")));
    assert!(snap.goroutines_full.is_some() && snap.full_dump_deferred.is_none());
}
