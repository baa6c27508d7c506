//! The checks end to end on the Go fleet: the real control plane, real fault programs behind Pod
//! objects, the real operator binary. Each fault program must get its expected check naming its own
//! function, the healthy one none; the status carries the evidence; a trend survives an operator
//! restart mid-window. Prints precision and recall over the fleet (docs/checks.md).
#![cfg(feature = "e2e")]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const NS: &str = "fleet";

/// (check, function) a program is expected to get; `None` = the check names no function.
type Expect = (&'static str, Option<&'static str>);

struct Program {
    pod: &'static str,
    bin: &'static str,
    ip: &'static str,
    args: &'static [&'static str],
    audit: &'static str,
    /// Must all be present at the end.
    required: &'static [Expect],
    /// Also correct, but timing-dependent (counted in recall, not asserted).
    optional: &'static [Expect],
}

const LEAK_SEND: &str = "main.fetchWithTimeout.func1";
const LEAK_RECV: &str = "main.waitForever";

fn fleet() -> Vec<Program> {
    vec![
        Program {
            pod: "leaky",
            bin: "leaky",
            ip: "127.0.0.41",
            args: &[],
            audit: "fleet",
            required: &[
                ("GoroutineLeak", Some(LEAK_SEND)),
                ("GoroutineGrowth", None),
                ("LongBlockedGoroutines", Some(LEAK_SEND)),
            ],
            optional: &[("GoroutineLeak", Some(LEAK_RECV)), ("LongBlockedGoroutines", Some(LEAK_RECV))],
        },
        Program {
            pod: "leaky-go127",
            bin: "leaky-go127",
            ip: "127.0.0.42",
            args: &[],
            audit: "fleet",
            required: &[
                ("ProvenGoroutineLeak", Some(LEAK_SEND)),
                ("ProvenGoroutineLeak", Some(LEAK_RECV)),
                ("GoroutineLeak", Some(LEAK_SEND)),
                ("GoroutineGrowth", None),
            ],
            // Goroutines the leak detector marked never show minutes again; later ones do.
            optional: &[
                ("GoroutineLeak", Some(LEAK_RECV)),
                ("LongBlockedGoroutines", Some(LEAK_SEND)),
                ("LongBlockedGoroutines", Some(LEAK_RECV)),
            ],
        },
        Program {
            pod: "ticker",
            bin: "ticker",
            ip: "127.0.0.43",
            args: &["-interval", "100ms"],
            audit: "fleet",
            required: &[("TickerLoopGrowth", Some("main.pollLoop")), ("GoroutineGrowth", None)],
            optional: &[],
        },
        Program {
            pod: "goexit",
            bin: "goexit",
            ip: "127.0.0.44",
            args: &[],
            audit: "fleet",
            required: &[
                ("GoexitInDefer", Some("main.cleanupAfterExit")),
                ("GoexitInDefer", Some("main.releaseOnExit")),
                ("GoroutineGrowth", None),
                ("LongBlockedGoroutines", Some("main.cleanupAfterExit")),
            ],
            optional: &[("LongBlockedGoroutines", Some("main.releaseOnExit"))],
        },
        Program {
            pod: "contention",
            bin: "contention",
            ip: "127.0.0.45",
            // Fewer workers than the default and a pause: the machine is shared. 3 workers with
            // 200us pauses made about 2 s of lock delay a minute on an idle machine, under the
            // check's 3 s; 6 workers with 50us pauses make well over it.
            args: &["-workers", "6", "-pause", "50us"],
            audit: "locks",
            required: &[("LockContention", Some("main.contendedCounter"))],
            optional: &[("LockContention", Some("main.syncMapChurn"))],
        },
        Program {
            pod: "contention-off",
            bin: "contention",
            ip: "127.0.0.46",
            args: &["-profiling=false", "-workers", "2", "-pause", "1ms"],
            audit: "locks",
            required: &[("ContentionProfilingDisabled", None)],
            optional: &[],
        },
        Program {
            pod: "gcchurn",
            bin: "gcchurn",
            ip: "127.0.0.47",
            args: &["-pause", "50ms"],
            audit: "fleet",
            required: &[("GCPressure", None)],
            optional: &[],
        },
        Program {
            pod: "crashy",
            bin: "crashy",
            ip: "127.0.0.48",
            // The running instance after the restarts: serves pprof until the test ends.
            args: &["-after", "1h"],
            audit: "fleet",
            required: &[("GoPanicRestarts", Some("main.reconcileObject"))],
            optional: &[],
        },
        Program {
            pod: "healthy",
            bin: "healthy",
            ip: "127.0.0.49",
            args: &[],
            audit: "fleet",
            required: &[],
            optional: &[],
        },
    ]
}

fn audit_body(name: &str, apps: &[&str], report_disabled: bool) -> Value {
    json!({
        "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": apps}]},
            "interval": "10s",
            "checks": {
                "trendWindow": "30m",
                // "N minutes" needs a GC plus a minute: the e2e cannot wait 30.
                "longBlockedGoroutines": {"minWaitMinutes": 1},
                // The first goroutineleak fetch runs before anything has leaked; the e2e cannot wait 4h
                // for the next one (each fetch forces a GC in the target, hence the long default).
                "provenGoroutineLeak": {"interval": "30s"},
                "lockContention": {"reportDisabledProfiling": report_disabled}
            }
        }
    })
}

/// (pod, check, function) of every finding in a status.
fn findings(obj: &Value) -> Vec<(String, String, Option<String>)> {
    obj["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["target"]["pod"].as_str().unwrap_or("").to_string(),
                f["check"].as_str().unwrap_or("").to_string(),
                f["function"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn has(found: &[(String, String, Option<String>)], pod: &str, e: &Expect) -> bool {
    found.iter().any(|(p, c, f)| p == pod && c == e.0 && (e.1.is_none() || f.as_deref() == e.1))
}

fn last_audit_time(obj: &Value) -> Option<jiff::Timestamp> {
    obj["status"]["lastAuditTime"].as_str().and_then(|t| t.parse().ok())
}

/// Runs crashy until it panics, `n` times, as a kubelet restarting it would; returns the exit codes
/// and the last run's log (what `terminationMessagePolicy: FallbackToLogsOnError` puts in status).
fn crash_n_times(n: usize) -> (Vec<Option<i32>>, String) {
    let mut log = String::new();
    let codes = (0..n)
        .map(|_| {
            let mut p = GoProgram::start("crashy", "127.0.0.48", &["-after", "300ms"]);
            let code = p.wait_exit(Duration::from_secs(20));
            log = p.log();
            code
        })
        .collect();
    (codes, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_gets_its_findings_and_trends_survive_restart() {
    let started = Instant::now();
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, NS, &[]).await;

    // crashy: three real panics (exit code 2), recorded in the pod status as a kubelet would.
    let (codes, crash_log) = crash_n_times(3);
    assert_eq!(codes, vec![Some(2); 3], "crashy must exit with Go's panic exit code");
    // The kubelet keeps at most the last 2048 bytes (or 80 lines) of the log as the message.
    let tail: String = {
        let start = crash_log.len().saturating_sub(2048);
        let start = (start..crash_log.len()).find(|i| crash_log.is_char_boundary(*i)).unwrap_or(0);
        crash_log[start..].to_string()
    };

    let programs = fleet();
    let mut running = Vec::new();
    for p in &programs {
        let prog = GoProgram::start(p.bin, p.ip, p.args);
        create_pod(
            &client,
            &PodSpec {
                namespace: NS,
                name: p.pod,
                labels: &[("app", p.pod)],
                annotations: &[],
                ip: p.ip,
                port: prog.port,
                port_name: Some("pprof"),
            },
        )
        .await;
        running.push(prog);
    }
    set_pod_running(&client, NS, "crashy", "127.0.0.48", 3, Some(2)).await;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), NS);
    let patch = json!({"status": {"containerStatuses": [{
        "name": "app", "image": "example.invalid/go-app:1", "imageID": "", "ready": true,
        "restartCount": 3, "started": true,
        "state": {"running": {"startedAt": "2026-01-01T00:00:06Z"}},
        "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "message": tail,
            "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"}}
    }]}});
    pods.patch_status("crashy", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .expect("crashy termination message");

    let fleet_apps: Vec<&str> = programs.iter().filter(|p| p.audit == "fleet").map(|p| p.pod).collect();
    let lock_apps: Vec<&str> = programs.iter().filter(|p| p.audit == "locks").map(|p| p.pod).collect();
    // Every Go program has mutex profiling off unless it enables it: the fleet audit opts out of
    // that info finding; the contention audit keeps the default.
    apply_audit(&client, NS, audit_body("fleet", &fleet_apps, false)).await;
    apply_audit(&client, NS, audit_body("locks", &lock_apps, true)).await;

    let mut operator = Operator::start(&cp.kubeconfig, &[]);

    // Phase 1: ~4 audits, then restart the operator mid-window.
    let obj = wait_for_audit(&client, NS, "fleet", Duration::from_secs(120), |o| {
        o["status"]["history"].as_array().is_some_and(|h| {
            h.iter().any(|t| t["target"] == "fleet/ticker" && t["samples"].as_array().is_some_and(|s| s.len() >= 4))
        })
    })
    .await;
    // Everything any status showed during the test: precision counts transient findings too.
    let mut seen_ever: BTreeSet<(String, String, Option<String>)> = BTreeSet::new();
    let before = findings(&obj);
    seen_ever.extend(before.iter().cloned());
    eprintln!("before restart ({:?}): {before:?}", started.elapsed());
    assert!(has(&before, "leaky", &("GoroutineLeak", Some(LEAK_SEND))), "{obj:#}");
    assert_eq!(operator.stop(), Some(0), "{}", operator.log());
    let restarted_at = jiff::Timestamp::now();
    let mut operator = Operator::start(&cp.kubeconfig, &[]);

    // The first audit of the new operator already fits a slope: the samples came back from status.
    let obj = wait_for_audit(&client, NS, "fleet", Duration::from_secs(60), |o| {
        last_audit_time(o).is_some_and(|t| t > restarted_at)
    })
    .await;
    let after = findings(&obj);
    seen_ever.extend(after.iter().cloned());
    eprintln!("first audit after restart ({:?}): {after:?}", started.elapsed());
    assert!(
        has(&after, "ticker", &("GoroutineGrowth", None)) || has(&after, "leaky", &("GoroutineGrowth", None)),
        "no GoroutineGrowth right after the restart: the trend did not survive\n{obj:#}"
    );
    let leak = obj["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"]["pod"] == "leaky" && f["check"] == "GoroutineLeak")
        .expect("leak finding")
        .clone();
    let first_seen: jiff::Timestamp = leak["firstSeen"].as_str().unwrap().parse().unwrap();
    assert!(first_seen < restarted_at, "firstSeen kept across the restart: {leak:#}");

    // Phase 2: wait for every required finding (minutes need a GC plus a minute; the ticker needs
    // a GC to have witnessed its loops a minute ago).
    let deadline = Duration::from_secs(360);
    let required_missing = |fleet_obj: &Value, locks_obj: &Value| -> Vec<String> {
        let mut all = findings(fleet_obj);
        all.extend(findings(locks_obj));
        programs
            .iter()
            .flat_map(|p| p.required.iter().map(move |e| (p.pod, e)))
            .filter(|(pod, e)| !has(&all, pod, e))
            .map(|(pod, e)| format!("{pod}: {} {:?}", e.0, e.1))
            .collect()
    };
    let t0 = Instant::now();
    let (fleet_obj, locks_obj) = loop {
        let f = get_audit(&client, NS, "fleet").await;
        let l = get_audit(&client, NS, "locks").await;
        seen_ever.extend(findings(&f));
        seen_ever.extend(findings(&l));
        let missing = required_missing(&f, &l);
        if missing.is_empty() {
            break (f, l);
        }
        assert!(
            t0.elapsed() < deadline,
            "missing after {:?}: {missing:?}\nfleet: {:?}\nlocks: {:?}",
            started.elapsed(),
            findings(&f),
            findings(&l)
        );
        assert!(operator.is_running(), "operator exited:\n{}", operator.log());
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    // One more audit so timing-dependent findings settle, then score.
    let settle_from = last_audit_time(&fleet_obj).unwrap();
    let fleet_obj = wait_for_audit(&client, NS, "fleet", Duration::from_secs(60), |o| {
        last_audit_time(o).is_some_and(|t| t > settle_from)
    })
    .await;
    let mut all = findings(&fleet_obj);
    all.extend(findings(&locks_obj));
    seen_ever.extend(all.iter().cloned());
    eprintln!("final findings ({:?}):", started.elapsed());
    for f in &all {
        eprintln!("  {f:?}");
    }

    // The healthy program gets none, at any point.
    assert!(seen_ever.iter().all(|(p, _, _)| p != "healthy"), "healthy got findings: {seen_ever:?}");

    // Evidence in status: the leak names its site, count, growth and creator.
    let leak = fleet_obj["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"]["pod"] == "leaky" && f["check"] == "GoroutineLeak" && f["function"] == LEAK_SEND)
        .unwrap()
        .clone();
    assert_eq!(leak["line"], 47, "{leak:#}");
    assert!(leak["file"].as_str().unwrap().ends_with("cmd/leaky/main.go"));
    assert!(leak["count"].as_u64().unwrap() >= 100);
    assert_eq!(leak["evidence"]["createdBy"], "main.fetchWithTimeout");
    assert_eq!(leak["evidence"]["state"], "chan send");
    assert!(leak["evidence"]["growthPerHour"].as_str().unwrap().parse::<f64>().unwrap() > 1000.0, "{leak:#}");
    assert_eq!(leak["confidence"], "likely");
    let ticker = fleet_obj["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "TickerLoopGrowth")
        .unwrap()
        .clone();
    assert_eq!(ticker["evidence"]["createdBy"], "main.startPoller", "{ticker:#}");
    assert_eq!(ticker["line"], 26);

    // Precision and recall over (pod, check, function) on the fleet.
    let mut expected: BTreeSet<(String, String, Option<String>)> = BTreeSet::new();
    for p in &programs {
        for e in p.required.iter().chain(p.optional) {
            expected.insert((p.pod.to_string(), e.0.to_string(), e.1.map(str::to_string)));
        }
    }
    let normalize = |(p, c, f): &(String, String, Option<String>)| {
        // Checks that name no function in the expectations are matched on (pod, check).
        let named = expected.iter().any(|(ep, ec, ef)| ep == p && ec == c && ef.is_some());
        (p.clone(), c.clone(), if named { f.clone() } else { None })
    };
    let ever: BTreeSet<(String, String, Option<String>)> = seen_ever.iter().map(normalize).collect();
    let transient_fp: Vec<_> = ever.difference(&expected).collect();
    let actual: BTreeSet<(String, String, Option<String>)> = all
        .iter()
        .map(|(p, c, f)| {
            // Checks that name no function in the expectations are matched on (pod, check).
            let named = expected.iter().any(|(ep, ec, ef)| ep == p && ec == c && ef.is_some());
            (p.clone(), c.clone(), if named { f.clone() } else { None })
        })
        .collect();
    let tp = actual.intersection(&expected).count();
    let fp: Vec<_> = actual.difference(&expected).collect();
    let fneg: Vec<_> = expected.difference(&actual).collect();
    let precision = tp as f64 / (tp + fp.len()).max(1) as f64;
    let recall = tp as f64 / (tp + fneg.len()).max(1) as f64;
    eprintln!(
        "FLEET SCORE: findings={} expected={} TP={tp} FP={} FN={} precision={precision:.3} recall={recall:.3} elapsed={:?}",
        actual.len(),
        expected.len(),
        fp.len(),
        fneg.len(),
        started.elapsed()
    );
    eprintln!("  false positives: {fp:?}");
    eprintln!("  missed: {fneg:?}");
    eprintln!(
        "  over the whole run: {} distinct findings, {} false positives: {transient_fp:?}",
        ever.len(),
        transient_fp.len()
    );
    assert!(fp.is_empty(), "false positives: {fp:?}");
    assert!(transient_fp.is_empty(), "false positives during the run: {transient_fp:?}");
    assert!(operator.is_running(), "{}", operator.log());
    assert_eq!(operator.stop(), Some(0));
    drop(running);
}
