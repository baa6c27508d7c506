//! Live collection against real Go programs (e2e/fleet) on 127.0.0.0/8: every format checked against
//! what the Go runtime itself reports, hostile targets failing with their typed reason in bounded
//! time and memory while good targets in the same batch complete.
//!
//! Run: `cargo test --features e2e --test e2e_scrape -- --nocapture` (prints timings and memory).
#![cfg(feature = "e2e")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::GoProgram;
use gohealth::crd::PprofSpec;
use gohealth::scrape::endpoint::{Endpoint, EndpointSource, resolve};
use gohealth::scrape::http::{Collector, CollectorOptions, DEFAULT_MAX_BODY_BYTES};
use gohealth::scrape::profiles::ScrapePlan;
use gohealth_core::scrape_error::ScrapeError;
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionKind, GoroutineProfile, Group};
use gohealth_pprof::{parse_goroutine_debug1, parse_goroutine_debug2, parse_goroutine_proto};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec, PodStatus};
use tokio::sync::Mutex;

/// Tests in this file run one at a time: the memory test reads the process-wide peak RSS, and the
/// timing test must not compete with the others for the two cores.
/// (tokio's Mutex: the guard is held across awaits; it works across the per-test runtimes.)
static SERIAL: Mutex<()> = Mutex::const_new(());

const LIMIT: usize = DEFAULT_MAX_BODY_BYTES as usize;

/// A Pod object as the kubelet would report it for `prog`: podIP = its loopback address, a
/// container port named `pprof`. Resolution then goes through the real `endpoint::resolve`.
fn pod_for(ip: &str, port: u16) -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("pprof".into()),
                    container_port: i32::from(port),
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus { pod_ip: Some(ip.into()), ..Default::default() }),
        ..Default::default()
    }
}

fn endpoint_of(prog: &GoProgram) -> Endpoint {
    let e = resolve(&pod_for(&prog.ip, prog.port), &gohealth::validate::pprof(&PprofSpec::default()).unwrap()).unwrap();
    assert_eq!(e.source, EndpointSource::NamedPort);
    assert_eq!(e.base_url, format!("http://{}:{}/debug/pprof", prog.ip, prog.port));
    e
}

fn collector(timeout: Duration) -> Collector {
    Collector::new(&CollectorOptions { timeout, ..CollectorOptions::default() }).unwrap()
}

fn has_frame(g: &Group<'_>, function: &str, file_suffix: &str, line: u32) -> bool {
    g.frames().iter().any(|f| f.function == function && f.file.ends_with(file_suffix) && f.line == line)
}

fn count_at(p: &GoroutineProfile, function: &str, file_suffix: &str, line: u32) -> u64 {
    p.groups.iter().filter(|g| has_frame(g, function, file_suffix, line)).map(|g| g.count()).sum()
}

/// Goroutines not belonging to the HTTP server that answers the scrape: its per-connection goroutines
/// come and go between requests. A just-created, not yet started goroutine (seen: the connection's
/// background reader) is recorded with an empty stack in debug=0/1 and is not counted either.
fn app_goroutines(p: &GoroutineProfile) -> u64 {
    p.groups
        .iter()
        .filter(|g| !g.frames().is_empty())
        .filter(|g| !g.frames().iter().chain(g.created_by()).any(|f| f.function.starts_with("net/http.")))
        .map(|g| g.count())
        .sum()
}

/// `goroutine profile: total N` as the runtime printed it (first line of debug=1).
fn header_total(body: &[u8]) -> u64 {
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    let s = String::from_utf8_lossy(first);
    s.strip_prefix("goroutine profile: total ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no header in {s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_every_format_agrees_with_the_runtime() {
    let _g = SERIAL.lock().await;
    // -rps 0: no short-lived goroutines, so separate requests see the same population.
    let prog = GoProgram::start("healthy", "127.0.3.1", &["-consumers", "1000", "-rps", "0"]);
    let ep = endpoint_of(&prog);
    let c = collector(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let d1 = c.fetch(&ep.url("goroutine?debug=1")).await.unwrap();
    let d0 = c.fetch(&ep.url("goroutine")).await.unwrap();
    let d2 = c.fetch(&ep.url("goroutine?debug=2")).await.unwrap();

    let header = header_total(&d1);
    let p1 = parse_goroutine_debug1(&d1).unwrap();
    let p0 = parse_goroutine_proto(&d0, LIMIT, None).unwrap();
    let p2 = parse_goroutine_debug2(&d2).unwrap();
    let (a1, a0, a2) = (app_goroutines(&p1), app_goroutines(&p0), app_goroutines(&p2));
    println!(
        "healthy: debug=1 header {header}, debug=1 groups sum {} ({} groups), proto samples sum {} ({} samples), \
         debug=2 goroutines {} ({} groups); outside net/http: {a1} / {a0} / {a2}",
        p1.sum_of_groups(),
        p1.groups.len(),
        p0.sum_of_groups(),
        p0.groups.len(),
        p2.sum_of_groups(),
        p2.groups.len(),
    );
    // Within one body the runtime's header total is exactly the sum of the parsed groups.
    assert_eq!(p1.total, header);
    assert_eq!(p1.sum_of_groups(), header);
    assert_eq!(p0.total, p0.sum_of_groups());
    // Across requests the program's own goroutines are identical in every format. The HTTP server's
    // are not: each request's connection may or may not have its background-read goroutine at the
    // instant of the snapshot (observed: 1006 in debug=1, 1005 in proto, same program, back to back).
    assert_eq!(a0, a1);
    assert_eq!(a2, a1);
    assert!(p0.sum_of_groups().abs_diff(header) <= 2, "proto {} vs header {header}", p0.sum_of_groups());
    assert!(p2.sum_of_groups().abs_diff(header) <= 2, "debug=2 {} vs header {header}", p2.sum_of_groups());
    assert!(header >= 1002, "{header}");

    // Frames: every consumer is parked in consumeQueue's select at main.go:32.
    let file = "cmd/healthy/main.go";
    assert_eq!(count_at(&p1, "main.consumeQueue", file, 32), 1000);
    assert_eq!(count_at(&p0, "main.consumeQueue", file, 32), 1000);
    assert_eq!(count_at(&p2, "main.consumeQueue", file, 32), 1000);
    for g in p2.groups.iter().filter(|g| has_frame(g, "main.consumeQueue", file, 32)) {
        assert_eq!(g.state(), Some("select"));
        // a ticker loop never accumulates wait minutes
        assert_eq!(g.wait_minutes_max().unwrap_or(0), 0);
    }

    // Labels: even consumers run under pprof.Do(worker=consumer, "queue shard"=i%4 ∈ {0, 2}).
    for (name, p) in [("debug=1", &p1), ("proto", &p0)] {
        let mut by_shard: BTreeMap<String, u64> = BTreeMap::new();
        let mut unlabelled = 0;
        for g in p.groups.iter().filter(|g| has_frame(g, "main.consumeQueue", file, 32)) {
            if g.labels().is_empty() {
                unlabelled += g.count();
            } else {
                assert_eq!(g.labels().get("worker"), Some("consumer"), "{name}");
                *by_shard.entry(g.labels().get("queue shard").unwrap_or_default().to_string()).or_default() +=
                    g.count();
            }
        }
        assert_eq!(by_shard, BTreeMap::from([("0".to_string(), 250), ("2".to_string(), 250)]), "{name}");
        assert_eq!(unlabelled, 500, "{name}");
    }

    // The whole scrape: Go 1.26 without the experiment serves no goroutineleak profile.
    let snap = c.scrape(&ep, &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(snap.available.iter().any(|n| n == "goroutine"));
    assert!(!snap.available.iter().any(|n| n == "goroutineleak"));
    assert!(snap.leaks.is_none());
    assert_eq!(snap.forced_gcs, 0);
    let g = snap.goroutines.as_ref().unwrap();
    assert_eq!(g.total, g.sum_of_groups());
    // Separate requests: the server may have one more connection goroutine by now.
    let full = snap.goroutines_full.as_ref().unwrap().sum_of_groups();
    assert!(full.abs_diff(g.total) <= 2, "{full} vs {}", g.total);
    assert!(snap.mem_stats.as_ref().unwrap().num_gc.is_some());
    // healthy does not enable contention profiling: the mutex header says so
    assert_eq!(snap.mutex.as_ref().unwrap().sampling_period, Some(0));
    assert!(snap.block.is_some());
    println!("healthy snapshot notes: {:?}", snap.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaky_go127_leak_profile_is_fetched_once_and_counted() {
    let _g = SERIAL.lock().await;
    let prog = GoProgram::start("leaky-go127", "127.0.3.2", &[]);
    let ep = endpoint_of(&prog);
    let c = collector(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let snap = c.scrape(&ep, &ScrapePlan::everything(10_000)).await.unwrap();
    assert!(snap.available.iter().any(|n| n == "goroutineleak"));
    assert_eq!(snap.forced_gcs, 1);
    let leaks = snap.leaks.as_ref().unwrap();
    assert!(leaks.leak_profile);
    assert_eq!(leaks.total, leaks.sum_of_groups());
    let senders = count_at(leaks, "main.fetchWithTimeout.func1", "cmd/leaky/main.go", 47);
    let receivers = count_at(leaks, "main.waitForever", "cmd/leaky/main.go", 70);
    println!(
        "leaky-go127: goroutines {}, leaked {} (senders {senders}, receivers {receivers})",
        snap.goroutines.as_ref().unwrap().total,
        leaks.total
    );
    assert!(senders >= 10, "{senders}");
    assert!(receivers >= 1, "{receivers}");
    assert!(leaks.groups.iter().all(|g| g.leaked()));

    // The detection marked them _Gleaked: the next plain debug=2 shows `(leaked)`.
    let plan = ScrapePlan { leak_profile: false, ..ScrapePlan::everything(100_000) };
    let snap2 = c.scrape(&ep, &plan).await.unwrap();
    assert_eq!(snap2.forced_gcs, 0);
    let full = snap2.goroutines_full.as_ref().unwrap();
    let leaked_senders: u64 = full
        .groups
        .iter()
        .filter(|g| g.leaked() && has_frame(g, "main.fetchWithTimeout.func1", "cmd/leaky/main.go", 47))
        .map(|g| g.count())
        .sum();
    assert!(leaked_senders >= senders, "{leaked_senders} < {senders}");
    // The forced GC is visible in MemStats: what GC checks must discount.
    assert!(snap2.mem_stats.as_ref().unwrap().num_forced_gc.unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_goexit_contention_frames_match_the_programs() {
    let _g = SERIAL.lock().await;
    let ticker = GoProgram::start("ticker", "127.0.3.3", &["-interval", "100ms"]);
    let goexit = GoProgram::start("goexit", "127.0.3.4", &[]);
    let contention = GoProgram::start("contention", "127.0.3.5", &["-workers", "2"]);
    let contention_off = GoProgram::start("contention", "127.0.3.6", &["-workers", "2", "-profiling=false"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = collector(Duration::from_secs(10));
    let plan = ScrapePlan::everything(10_000);
    let eps = [&ticker, &goexit, &contention, &contention_off].map(endpoint_of);
    let (t, g, m, off) = tokio::join!(
        c.scrape(&eps[0], &plan),
        c.scrape(&eps[1], &plan),
        c.scrape(&eps[2], &plan),
        c.scrape(&eps[3], &plan),
    );
    // Contention is sampled: on a loaded machine the first seconds may not have recorded the Unlock site yet.
    let has_counter = |m: &gohealth_core::snapshot::Snapshot| {
        m.mutex.as_ref().is_some_and(|p| {
            p.sites.iter().any(|s| {
                s.frames.iter().any(|f| {
                    f.function == "main.contendedCounter" && f.file.ends_with("cmd/contention/main.go") && f.line == 38
                })
            })
        })
    };
    let mut m = m;
    for _ in 0..20 {
        if m.as_ref().is_ok_and(has_counter) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        m = c.scrape(&eps[2], &plan).await;
    }
    drop((contention, contention_off));

    let t = t.unwrap();
    let full = t.goroutines_full.as_ref().unwrap();
    let polls: Vec<_> =
        full.groups.iter().filter(|g| has_frame(g, "main.pollLoop", "cmd/ticker/main.go", 26)).collect();
    assert!(polls.iter().map(|g| g.count()).sum::<u64>() >= 5);
    assert!(polls.iter().all(|g| g.state() == Some("chan receive")));
    assert!(polls.iter().all(|g| g.created_by().as_ref().is_some_and(|f| f.function == "main.startPoller")));

    let g = g.unwrap();
    let d1 = g.goroutines.as_ref().unwrap();
    let stuck = d1.groups.iter().find(|g| has_frame(g, "main.cleanupAfterExit", "cmd/goexit/main.go", 27)).unwrap();
    let names: Vec<&str> = stuck.frames().iter().map(|f| f.function.as_str()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("main.cleanupAfterExit") < pos("runtime.Goexit"));
    assert!(pos("runtime.Goexit") < pos("main.abortWithGoexit"));
    assert!(pos("main.abortWithGoexit") < pos("main.workerWithGoexit"));

    let m = m.unwrap();
    let mutex = m.mutex.as_ref().unwrap();
    assert_eq!(mutex.kind, ContentionKind::Mutex);
    assert_eq!(mutex.sampling_period, Some(1));
    assert!(mutex.sites.iter().any(|s| {
        s.frames.iter().any(|f| {
            f.function == "main.contendedCounter" && f.file.ends_with("cmd/contention/main.go") && f.line == 38
        })
    }));
    let off = off.unwrap();
    assert_eq!(off.mutex.as_ref().unwrap().sampling_period, Some(0));
    assert!(off.mutex.as_ref().unwrap().sites.is_empty());
}

struct Outcome {
    name: String,
    result: Result<Snapshot, ScrapeError>,
    elapsed: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_targets_fail_typed_and_bounded_while_good_ones_complete() {
    let _g = SERIAL.lock().await;
    let modes = ["timeout", "html", "gzipbomb", "huge", "drip", "status500"];
    let hostile: Vec<GoProgram> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| GoProgram::start("hostile", &format!("127.0.4.{}", i + 1), &["-mode", m]))
        .collect();
    let good = [
        GoProgram::start("healthy", "127.0.4.20", &["-consumers", "1000"]),
        GoProgram::start("leaky", "127.0.4.21", &[]),
        GoProgram::start("ticker", "127.0.4.22", &[]),
        GoProgram::start("goexit", "127.0.4.23", &[]),
        GoProgram::start("leaky-go127", "127.0.4.24", &[]),
    ];
    // "refuses": a loopback port nothing listens on
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.4.30:0").unwrap();
        l.local_addr().unwrap().port()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let timeout = Duration::from_secs(3);
    let opts = CollectorOptions { timeout, ..CollectorOptions::default() };
    let c = Collector::new(&opts).unwrap();
    let plan = ScrapePlan::from_checks(&Default::default(), true);

    let mut targets: Vec<(String, Endpoint)> = Vec::new();
    for (m, p) in modes.iter().zip(&hostile) {
        targets.push((format!("hostile-{m}"), endpoint_of(p)));
    }
    for p in &good {
        targets.push((p.name.clone(), endpoint_of(p)));
    }
    targets.push((
        "refused".into(),
        resolve(&pod_for("127.0.4.30", refused_port), &gohealth::validate::pprof(&PprofSpec::default()).unwrap())
            .unwrap(),
    ));

    let start = Instant::now();
    let outcomes: Vec<Outcome> = futures::future::join_all(targets.iter().map(|(name, ep)| {
        let (c, plan) = (c.clone(), &plan);
        async move {
            let t = Instant::now();
            let result = c.scrape(ep, plan).await;
            Outcome { name: name.clone(), result, elapsed: t.elapsed() }
        }
    }))
    .await;
    let batch = start.elapsed();

    println!("{:<20} {:<22} {:>9}  detail", "target", "result", "ms");
    for o in &outcomes {
        let (res, detail) = match &o.result {
            Ok(s) => (
                format!("ok ({} goroutines)", s.goroutines.as_ref().map_or(0, |g| g.total)),
                format!("{} notes", s.notes.len()),
            ),
            Err(e) => (e.reason().to_string(), e.to_string()),
        };
        println!("{:<20} {:<22} {:>9}  {detail}", o.name, res, o.elapsed.as_millis());
    }
    println!(
        "batch of {} targets: {} ms (timeout {} ms, retries {})",
        outcomes.len(),
        batch.as_millis(),
        timeout.as_millis(),
        opts.retries
    );

    let get = |name: &str| outcomes.iter().find(|o| o.name == name).unwrap();
    let expect = [
        ("hostile-timeout", "Timeout"),
        ("hostile-html", "NotAProfile"),
        ("hostile-gzipbomb", "BodyTooLarge"),
        ("hostile-huge", "BodyTooLarge"),
        ("hostile-drip", "Timeout"),
        ("hostile-status500", "HttpStatus"),
        ("refused", "ConnectionRefused"),
    ];
    for (name, reason) in expect {
        let o = get(name);
        let err = o.result.as_ref().err().unwrap_or_else(|| panic!("{name} succeeded"));
        assert_eq!(err.reason(), reason, "{name}: {err}");
        // none of these is transient: one deadline at most, never a retry loop
        assert!(o.elapsed < timeout + Duration::from_millis(1500), "{name}: {:?}", o.elapsed);
    }
    assert!(matches!(get("hostile-gzipbomb").result, Err(ScrapeError::DecompressedTooLarge(DEFAULT_MAX_BODY_BYTES))));
    assert!(matches!(get("hostile-huge").result, Err(ScrapeError::BodyTooLarge(DEFAULT_MAX_BODY_BYTES))));
    assert!(matches!(get("hostile-status500").result, Err(ScrapeError::HttpStatus(500))));
    assert!(matches!(get("hostile-timeout").result, Err(ScrapeError::Timeout(3000))));
    for p in &good {
        let o = get(&p.name);
        let s = o.result.as_ref().unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let g = s.goroutines.as_ref().unwrap();
        assert!(g.total > 0 && g.total == g.sum_of_groups(), "{}", p.name);
        assert!(s.goroutines_full.is_some(), "{}: {:?}", p.name, s.notes);
    }
    assert!(get("leaky-go127").result.as_ref().unwrap().leaks.is_some());
    let bound = timeout * (opts.retries + 1) + Duration::from_secs(2);
    assert!(batch < bound, "batch took {batch:?}, bound {bound:?}");
}

/// Peak resident set (VmHWM) and current RSS of this process, in KiB.
fn mem_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0, `clear_refs` value 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// An HTTP/1.1 server on `ip` that answers every request with 1 GiB in chunked encoding (no
/// Content-Length). Returns `ip:port`.
async fn serve_chunked_gib(ip: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut chunk = b"10000\r\n".to_vec(); // 64 KiB chunks
                chunk.extend(std::iter::repeat_n(0xa5u8, 0x10000));
                chunk.extend_from_slice(b"\r\n");
                for _ in 0..(1u64 << 30) / 0x10000 {
                    if sock.write_all(&chunk).await.is_err() {
                        return; // the client stopped at its cap
                    }
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_and_gigabyte_stream_stay_within_twice_the_cap() {
    let _g = SERIAL.lock().await;
    let bomb = GoProgram::start("hostile", "127.0.5.1", &["-mode", "gzipbomb"]);
    let huge = GoProgram::start("hostile", "127.0.5.2", &["-mode", "huge"]);
    let cap = DEFAULT_MAX_BODY_BYTES;
    let c = collector(Duration::from_secs(20));
    // Warm up the client (TLS provider, connection pool, runtime threads) before measuring.
    let _ = c.fetch(&endpoint_of(&huge).url("x")).await;

    for (name, prog, want) in [
        ("gzipbomb (4 GiB inflated)", &bomb, ScrapeError::DecompressedTooLarge(cap)),
        ("huge (1 GiB stream)", &huge, ScrapeError::BodyTooLarge(cap)),
    ] {
        reset_peak();
        let (_, rss0) = mem_kib();
        let t = Instant::now();
        let r = c.fetch(&endpoint_of(prog).url("goroutine")).await;
        let el = t.elapsed();
        let (hwm, _) = mem_kib();
        let delta_mib = hwm.saturating_sub(rss0) as f64 / 1024.0;
        println!(
            "{name}: {:?} in {} ms; peak RSS +{delta_mib:.1} MiB over {rss0} KiB (cap {} MiB)",
            r.as_ref().err(),
            el.as_millis(),
            cap >> 20
        );
        assert_eq!(r.unwrap_err(), want, "{name}");
        assert!(delta_mib <= 2.0 * (cap >> 20) as f64, "{name}: peak grew by {delta_mib:.1} MiB");
    }

    // 1 GiB without Content-Length (chunked, as a proxy or a streaming handler would send it): the
    // streaming cap, not the header check, has to stop it.
    let chunked = serve_chunked_gib("127.0.5.3").await;
    reset_peak();
    let (_, rss0) = mem_kib();
    let t = Instant::now();
    let r = c.fetch(&format!("http://{chunked}/debug/pprof/goroutine")).await;
    let el = t.elapsed();
    let (hwm, _) = mem_kib();
    let delta_mib = hwm.saturating_sub(rss0) as f64 / 1024.0;
    println!("1 GiB chunked stream: {:?} in {} ms; peak RSS +{delta_mib:.1} MiB", r.as_ref().err(), el.as_millis());
    assert_eq!(r.unwrap_err(), ScrapeError::BodyTooLarge(cap));
    assert!(delta_mib <= 2.0 * (cap >> 20) as f64, "chunked: peak grew by {delta_mib:.1} MiB");

    // The same through a full scrape with a small cap: a smaller cap bounds memory the same way.
    let small =
        CollectorOptions { max_body_bytes: 8 << 20, timeout: Duration::from_secs(20), ..CollectorOptions::default() };
    let c = Collector::new(&small).unwrap();
    reset_peak();
    let (_, rss0) = mem_kib();
    let err = c.scrape(&endpoint_of(&bomb), &ScrapePlan::everything(10_000)).await.unwrap_err();
    let (hwm, _) = mem_kib();
    let delta_mib = hwm.saturating_sub(rss0) as f64 / 1024.0;
    println!("gzipbomb with an 8 MiB cap: {err}; peak RSS +{delta_mib:.1} MiB");
    assert_eq!(err, ScrapeError::DecompressedTooLarge(8 << 20));
    assert!(delta_mib <= 16.0 + 4.5, "peak grew by {delta_mib:.1} MiB");
}

/// `openssl s_server -WWW` serving files from a directory over TLS, killed on drop.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const EC: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// A self-signed CA: `{name}.pem`, `{name}.key`.
fn make_ca(dir: &std::path::Path, name: &str) {
    let (key, pem, subj) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={name}"));
    let mut a = vec!["req", "-x509"];
    a.extend(EC);
    a.extend(["-keyout", &key, "-out", &pem, "-days", "1", "-subj", &subj]);
    openssl(dir, &a);
}

/// A server certificate for `ip` signed by CA `ca`: `srv.pem`, `srv.key`.
fn make_server_cert(dir: &std::path::Path, ca: &str, ip: &str) {
    let (ca_key, ca_pem) = (format!("{ca}.key"), format!("{ca}.pem"));
    let mut a = vec!["req"];
    a.extend(EC);
    a.extend(["-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=pprof"]);
    openssl(dir, &a);
    let ext = format!(
        "subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    );
    std::fs::write(dir.join("ext.cnf"), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn start_tls_server(dir: &std::path::Path, ip: &str) -> TlsServer {
    let port = std::net::TcpListener::bind(format!("{ip}:0")).unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(["s_server", "-quiet", "-WWW", "-cert", "srv.pem", "-key", "srv.key"])
        .arg("-accept")
        .arg(format!("{ip}:{port}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((ip, port)).is_err() {
        assert!(Instant::now() < deadline, "s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsServer { child, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_verify_against_the_given_ca_and_the_pod_ip() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.3.10";
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    make_server_cert(dir.path(), "ca", ip);
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/pprof/fixtures/go1.27/goroutine-debug1.txt"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("debug/pprof")).unwrap();
    // s_server -WWW maps the request path, query included, to a file name
    std::fs::write(dir.path().join("debug/pprof/goroutine?debug=1"), &body).unwrap();
    let srv = start_tls_server(dir.path(), ip);
    let url = format!("https://{ip}:{}/debug/pprof/goroutine?debug=1", srv.port);
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let other = std::fs::read(dir.path().join("other-ca.pem")).unwrap();

    let with = |ca_pem: Option<Vec<u8>>, insecure: bool| {
        Collector::new(&CollectorOptions {
            timeout: Duration::from_secs(5),
            ca_pem,
            insecure_skip_verify: insecure,
            retries: 0,
            ..CollectorOptions::default()
        })
        .unwrap()
    };
    let got = with(Some(ca.clone()), false).fetch(&url).await.unwrap();
    assert_eq!(&got[..], &body[..]);
    assert!(parse_goroutine_debug1(&got).is_ok());

    let untrusted = with(None, false).fetch(&url).await.unwrap_err();
    println!("system roots: {untrusted}");
    assert_eq!(untrusted.reason(), "TlsError");
    let wrong_ca = with(Some(other), false).fetch(&url).await.unwrap_err();
    println!("unrelated CA: {wrong_ca}");
    assert_eq!(wrong_ca.reason(), "TlsError");
    assert_eq!(
        &with(None, true).fetch(&url).await.unwrap()[..],
        &body[..],
        "insecureSkipVerify accepts any certificate"
    );
    drop(srv);

    // The certificate names 127.0.3.10: served from another pod IP it is rejected.
    let srv = start_tls_server(dir.path(), "127.0.3.11");
    let moved = format!("https://127.0.3.11:{}/debug/pprof/goroutine?debug=1", srv.port);
    let err = with(Some(ca), false).fetch(&moved).await.unwrap_err();
    println!("IP mismatch: {err}");
    assert_eq!(err.reason(), "TlsError");
}
