//! Findings per workload end to end: three real `leaky` programs behind three pods of one Deployment
//! (owner references as the ReplicaSet controller writes them) and one behind a bare pod, audited by
//! the real operator binary. The Deployment's leak is one finding with its blast radius, named after
//! its worst pod; the bare pod's stays its own; the finding keeps its firstSeen and raises no second
//! Event when the worst pod goes away; each pod's own finding count stays exact.
#![cfg(feature = "e2e")]

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const NS: &str = "shop";
const LEAK_SEND: &str = "main.fetchWithTimeout.func1";
const WAIT: Duration = Duration::from_secs(120);

/// A pod of ReplicaSet `web-7d9f` (Deployment `web`), marked Running at `ip`.
async fn replica(client: &kube::Client, name: &str, ip: &str, port: u16) {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": NS,
            "labels": {"app": "web", "pod-template-hash": "7d9f"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f",
                "uid": "00000000-0000-0000-0000-000000000001", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"containers": [{"name": "app", "image": "example.invalid/go-app:1",
            "ports": [{"name": "pprof", "containerPort": port, "protocol": "TCP"}]}]}
    }))
    .expect("pod");
    Api::<Pod>::namespaced(client.clone(), NS).create(&PostParams::default(), &pod).await.expect("create pod");
    set_pod_running(client, NS, name, ip, 0, None).await;
}

fn findings(obj: &Value) -> Vec<Value> {
    obj["status"]["findings"].as_array().cloned().unwrap_or_default()
}

/// The findings of `check` at `function` (any function when `None`).
fn of(obj: &Value, check: &str, function: Option<&str>) -> Vec<Value> {
    findings(obj)
        .into_iter()
        .filter(|f| f["check"] == check && function.is_none_or(|func| f["function"] == func))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_leak_is_one_finding_with_its_blast_radius() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, NS, &[]).await;

    // web-7d9f-b leaks three times as fast: it is the worst replica.
    let mut programs = Vec::new();
    for (pod, ip, rate) in
        [("web-7d9f-a", "127.0.0.71", "20"), ("web-7d9f-b", "127.0.0.72", "60"), ("web-7d9f-c", "127.0.0.73", "20")]
    {
        let prog = GoProgram::start("leaky", ip, &["-rate", rate]);
        replica(&client, pod, ip, prog.port).await;
        programs.push(prog);
    }
    let lonely = GoProgram::start("leaky", "127.0.0.74", &[]);
    let spec = PodSpec {
        namespace: NS,
        name: "lonely",
        labels: &[("app", "lonely")],
        annotations: &[],
        ip: "127.0.0.74",
        port: lonely.port,
        port_name: Some("pprof"),
    };
    create_pod(&client, &spec).await;

    apply_audit(
        &client,
        NS,
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {
                "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "lonely"]}]},
                "interval": "10s"
            }
        }),
    )
    .await;
    let _operator = Operator::start(&cp.kubeconfig, &[]);

    let obj = wait_for_audit(&client, NS, "shop", WAIT, |o| {
        of(o, "GoroutineLeak", Some(LEAK_SEND)).iter().any(|f| f["replicas"] == 3)
            && of(o, "GoroutineLeak", Some(LEAK_SEND)).iter().any(|f| f["target"]["pod"] == "lonely")
    })
    .await;
    let leaks = of(&obj, "GoroutineLeak", Some(LEAK_SEND));
    assert_eq!(leaks.len(), 2, "one for the Deployment, one for the bare pod: {leaks:#?}");
    let web = leaks.iter().find(|f| f["workload"] == "Deployment/web").expect("grouped leak");
    assert_eq!(web["target"]["pod"], "web-7d9f-b", "the worst replica speaks: {web:#}");
    assert_eq!(web["pods"][0], "web-7d9f-b");
    assert_eq!(web["pods"].as_array().map(Vec::len), Some(3));
    let count = web["count"].as_u64().expect("count");
    let total: u64 = web["evidence"]["totalCount"].as_str().and_then(|t| t.parse().ok()).expect("totalCount");
    assert!(total > count && count >= 100, "count {count} is the worst pod's, total {total} all three");
    let bare = leaks.iter().find(|f| f["target"]["pod"] == "lonely").expect("bare pod's leak");
    assert!(bare.get("workload").is_none() && bare.get("replicas").is_none(), "{bare:#}");

    // Mutex profiling is off in every replica: one note for the workload, its message saying so.
    let off = of(&obj, "ContentionProfilingDisabled", None);
    let web_off: Vec<_> = off.iter().filter(|f| f["workload"] == "Deployment/web").collect();
    assert_eq!(web_off.len(), 1, "{off:#?}");
    assert_eq!(web_off[0]["replicas"], 3);
    assert!(web_off[0]["message"].as_str().unwrap_or("").contains("same for all 3 pods of Deployment/web"));

    // Each pod's own findings are still counted per pod.
    for item in obj["status"]["targets"]["items"].as_array().expect("items") {
        assert!(item["findings"].as_u64().unwrap_or(0) >= 2, "leak and profiling note on each pod: {item:#}");
    }
    let first_seen = web["firstSeen"].clone();

    // The worst replica goes away: the finding is named after the next worst, keeps its firstSeen,
    // and raises no second Event (its key is the workload's).
    drop(programs.remove(1));
    let obj = wait_for_audit(&client, NS, "shop", WAIT, |o| {
        of(o, "GoroutineLeak", Some(LEAK_SEND)).iter().any(|f| f["workload"] == "Deployment/web" && f["replicas"] == 2)
    })
    .await;
    let web = of(&obj, "GoroutineLeak", Some(LEAK_SEND))
        .into_iter()
        .find(|f| f["workload"] == "Deployment/web")
        .expect("grouped leak");
    assert_ne!(web["target"]["pod"], "web-7d9f-b", "{web:#}");
    assert_eq!(web["firstSeen"], first_seen, "firstSeen kept by the workload key");
    let failed = of(&obj, "ScrapeFailed", None);
    assert!(failed.iter().any(|f| f["target"]["pod"] == "web-7d9f-b" && f["workload"] == "Deployment/web"));

    // Events: the recorder folds events of one reason on one audit into a series (kube-rs keys them
    // without the note), so count occurrences: at most one per grouped GoroutineLeak finding.
    let events = wait_for(Duration::from_secs(30), "leak events", || async {
        let out = cp.kubectl(&["get", "events.events.k8s.io", "-n", NS, "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let leaks: Vec<Value> =
            v["items"].as_array()?.iter().filter(|e| e["reason"] == "GoroutineLeak").cloned().collect();
        (!leaks.is_empty()).then_some(leaks)
    })
    .await;
    let notes: Vec<&str> = events.iter().filter_map(|e| e["note"].as_str()).collect();
    assert!(
        notes.iter().any(|n| n.starts_with("shop/Deployment/web (")
            && n.contains(", worst web-7d9f-b): ")
            && n.contains(&format!(" at {LEAK_SEND} ("))),
        "the Deployment's leak, named after its workload: {notes:#?}"
    );
    assert!(notes.iter().all(|n| !n.starts_with("shop/web-7d9f-")), "no per-replica events: {notes:#?}");
    let occurrences: u64 = events.iter().map(|e| e["series"]["count"].as_u64().unwrap_or(1)).sum();
    let obj = get_audit(&client, NS, "shop").await;
    let grouped = of(&obj, "GoroutineLeak", None).len() as u64;
    assert!(occurrences <= grouped, "{occurrences} GoroutineLeak events for {grouped} findings: {notes:#?}");
}

/// A site listed in the benign-sites ConfigMap is not suspected from one snapshot; the condition says
/// what was read, and a ConfigMap without the key is a typed reason, not a silent no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benign_sites_from_a_configmap() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, NS, &[]).await;
    let prog = GoProgram::start("leaky", "127.0.0.75", &["-rate", "40"]);
    for (pod, audit) in [("listed", "with-sites"), ("unlisted", "broken-sites")] {
        let spec = PodSpec {
            namespace: NS,
            name: pod,
            labels: &[("audit", audit)],
            annotations: &[],
            ip: "127.0.0.75",
            port: prog.port,
            port_name: Some("pprof"),
        };
        create_pod(&client, &spec).await;
    }
    let sites = format!(
        "sites:\n  - function: \"{LEAK_SEND}\"\n    owner: \"this test's request pool\"\n    source: \"operator/tests/e2e_workloads.rs\"\n"
    );
    cp.kubectl(&["-n", NS, "create", "configmap", "shop-sites", &format!("--from-literal=benign-sites.yaml={sites}")]);
    cp.kubectl(&["-n", NS, "create", "configmap", "wrong-key", "--from-literal=sites.yaml=x"]);
    // Let the leak pass the suspicion threshold before the first (and only) audit of each.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (audit, config_map) in [("with-sites", "shop-sites"), ("broken-sites", "wrong-key")] {
        apply_audit(
            &client,
            NS,
            json!({
                "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
                "metadata": {"name": audit, "namespace": NS},
                "spec": {"selector": {"matchLabels": {"audit": audit}}, "interval": "1h",
                         "checks": {"benignSitesConfigMap": config_map}}
            }),
        )
        .await;
    }
    let _operator = Operator::start(&cp.kubeconfig, &[]);
    let listed = wait_for_audit(&client, NS, "with-sites", WAIT, |o| o["status"]["lastAuditTime"].is_string()).await;
    let broken = wait_for_audit(&client, NS, "broken-sites", WAIT, |o| o["status"]["lastAuditTime"].is_string()).await;
    let benign = |o: &Value| {
        o["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "BenignSitesLoaded").cloned())
    };
    let c = benign(&listed).expect("condition");
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("True"), Some("Loaded")), "{c:#}");
    assert!(
        of(&listed, "GoroutineLeak", Some(LEAK_SEND)).is_empty(),
        "listed site not suspected: {:#}",
        listed["status"]
    );
    let c = benign(&broken).expect("condition");
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("False"), Some("ConfigMapKeyMissing")), "{c:#}");
    assert_eq!(
        of(&broken, "GoroutineLeak", Some(LEAK_SEND)).len(),
        1,
        "the embedded list alone: {:#}",
        broken["status"]
    );
}
