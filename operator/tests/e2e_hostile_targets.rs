//! Hostile targets through the whole operator: each bad pod gets its typed reason in status (and a
//! ScrapeFailed finding) while the good pods in the same audit complete and report goroutine totals.
#![cfg(feature = "e2e")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_targets_get_typed_reasons_and_good_ones_complete() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "mixed", &[]).await;

    let good1 = GoProgram::start("healthy", "127.0.0.41", &["-consumers", "50"]);
    let good2 = GoProgram::start("leaky", "127.0.0.42", &[]);
    let hostile: Vec<(&str, GoProgram)> = ["timeout", "html", "gzipbomb", "huge", "drip", "status500"]
        .iter()
        .enumerate()
        .map(|(i, mode)| (*mode, GoProgram::start("hostile", &format!("127.0.0.{}", 50 + i), &["-mode", mode])))
        .collect();
    // refuses: a port where nothing listens
    let refused_port = free_port();

    let mut pods: Vec<(String, String, u16)> = vec![
        ("good-healthy".into(), good1.ip.clone(), good1.port),
        ("good-leaky".into(), good2.ip.clone(), good2.port),
        ("bad-refused".into(), "127.0.0.60".into(), refused_port),
    ];
    for (mode, prog) in &hostile {
        pods.push((format!("bad-{mode}"), prog.ip.clone(), prog.port));
    }
    for (name, ip, port) in &pods {
        create_pod(
            &client,
            &PodSpec {
                namespace: "mixed",
                name,
                labels: &[("audit", "me")],
                annotations: &[],
                ip,
                port: *port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    apply_audit(
        &client,
        "mixed",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "mixed", "namespace": "mixed"},
            "spec": {"selector": {"matchLabels": {"audit": "me"}}, "interval": "5m",
                     "pprof": {"timeout": "3s", "maxBodyBytes": 8388608}}
        }),
    )
    .await;
    let started = Instant::now();
    let _operator = Operator::start(&cp.kubeconfig, &[]);
    let obj = wait_for_audit(&client, "mixed", "mixed", Duration::from_secs(120), |o| {
        o["status"]["targets"]["count"].as_u64() == Some(pods.len() as u64)
    })
    .await;
    let elapsed = started.elapsed();
    let items = obj["status"]["targets"]["items"].as_array().unwrap();
    let result = |pod: &str| {
        let t = items.iter().find(|t| t["pod"] == pod).unwrap_or_else(|| panic!("{pod} missing: {obj:#}"));
        (t["result"].as_str().unwrap().to_string(), t["goroutines"].as_u64())
    };
    let expect = [
        ("bad-refused", "ConnectionRefused"),
        ("bad-timeout", "Timeout"),
        ("bad-drip", "Timeout"),
        ("bad-html", "NotAProfile"),
        ("bad-gzipbomb", "BodyTooLarge"),
        ("bad-huge", "BodyTooLarge"),
        ("bad-status500", "HttpStatus"),
    ];
    for (pod, reason) in expect {
        assert_eq!(result(pod).0, reason, "{pod}: {obj:#}");
    }
    for pod in ["good-healthy", "good-leaky"] {
        let (r, goroutines) = result(pod);
        assert_eq!(r, "Ok", "{pod}: {obj:#}");
        assert!(goroutines.unwrap_or(0) >= 2, "{pod} goroutine total recorded: {obj:#}");
    }
    assert_eq!(obj["status"]["targets"]["failed"], 7);
    // every failure is also a finding with its reason, never silence
    let failed: Vec<&serde_json::Value> =
        obj["status"]["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "ScrapeFailed").collect();
    assert_eq!(failed.len(), 7, "{obj:#}");
    assert!(failed.iter().all(|f| f["evidence"]["reason"].is_string()));
    assert_eq!(condition(&obj, "Degraded").as_deref(), Some("True"));
    // one audit pass, bounded by the slowest target (3 s deadline, a few requests), not by the sum
    println!("hostile audit completed {elapsed:?} after operator start");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}
