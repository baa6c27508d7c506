//! Foundation end-to-end: the real apiserver, real Go programs, the real operator binary.
//! Status must list exactly the selected pods, follow selector edits and pod deletions, and never
//! show pods outside the selector or namespace.
#![cfg(feature = "e2e")]

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_status_follows_selector_and_pods() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "team-a", &[]).await;
    ensure_namespace(&client, "team-b", &[]).await;

    let api1 = GoProgram::start("healthy", "127.0.0.21", &["-consumers", "20"]);
    let api2 = GoProgram::start("healthy", "127.0.0.22", &["-consumers", "20"]);
    let worker = GoProgram::start("healthy", "127.0.0.23", &["-consumers", "20"]);
    let other = GoProgram::start("healthy", "127.0.0.24", &["-consumers", "20"]);
    for (ns, name, app, prog) in [
        ("team-a", "api-1", "api", &api1),
        ("team-a", "api-2", "api", &api2),
        ("team-a", "worker-1", "worker", &worker),
        ("team-b", "api-9", "api", &other),
    ] {
        create_pod(
            &client,
            &PodSpec {
                namespace: ns,
                name,
                labels: &[("app", app)],
                annotations: &[],
                ip: &prog.ip,
                port: prog.port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    // A selected pod that is not running yet is not a target.
    let pending: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-pending", "namespace": "team-a", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "app", "image": "example.invalid/x:1"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "team-a").create(&Default::default(), &pending).await.unwrap();

    apply_audit(
        &client,
        "team-a",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "apis", "namespace": "team-a"},
            "spec": {"selector": {"matchLabels": {"app": "api"}}, "interval": "10s"}
        }),
    )
    .await;

    let mut operator = Operator::start(&cp.kubeconfig, &[]);

    // 1. exactly the selected, running pods of the audit's namespace
    let obj = wait_for_audit(&client, "team-a", "apis", WAIT, |o| {
        condition(o, "Ready").as_deref() == Some("True") && status_targets(o).len() == 2
    })
    .await;
    assert_eq!(status_targets(&obj), vec!["team-a/api-1", "team-a/api-2"]);
    let items = obj["status"]["targets"]["items"].as_array().unwrap();
    assert_eq!(items[0]["url"], json!(format!("http://127.0.0.21:{}/debug/pprof", api1.port)));
    assert_eq!(items[0]["result"], "Ok", "{obj:#}");
    assert!(items[0]["goroutines"].as_u64().unwrap() >= 20, "{obj:#}");
    let ready = obj["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["observedGeneration"], obj["metadata"]["generation"]);
    let first_transition = ready["lastTransitionTime"].clone();

    // 2. editing the selector changes the status on the next reconcile
    apply_audit(
        &client,
        "team-a",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "apis", "namespace": "team-a"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "worker"]}]},
                     "interval": "10s"}
        }),
    )
    .await;
    let obj = wait_for_audit(&client, "team-a", "apis", WAIT, |o| status_targets(o).len() == 3).await;
    assert_eq!(status_targets(&obj), vec!["team-a/api-1", "team-a/api-2", "team-a/worker-1"]);
    let ready = obj["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["lastTransitionTime"], first_transition, "Ready stayed True: no transition");
    assert_eq!(obj["status"]["observedGeneration"], obj["metadata"]["generation"]);

    // 3. deleting a pod drops it (the pod watch triggers the reconcile, well before the interval)
    Api::<Pod>::namespaced(client.clone(), "team-a").delete("api-2", &DeleteParams::default()).await.unwrap();
    let obj =
        wait_for_audit(&client, "team-a", "apis", Duration::from_secs(30), |o| status_targets(o).len() == 2).await;
    assert_eq!(status_targets(&obj), vec!["team-a/api-1", "team-a/worker-1"]);

    // 4. pods outside the selector or namespace never appear; the operator is still healthy
    assert!(!status_targets(&obj).iter().any(|t| t.starts_with("team-b/") || t.contains("pending")));
    assert!(operator.is_running(), "operator exited:\n{}", operator.log());
    let events = cp.kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "json"]);
    assert!(events.status.success());

    // deleting the audit drops its metric series
    let metrics = || {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{}/metrics", operator.metrics_port)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(metrics().contains("audit=\"apis\""), "{}", metrics());
    cp.kubectl(&["-n", "team-a", "delete", "gha", "apis"]);
    wait_for(Duration::from_secs(30), "series of the deleted audit dropped", || async {
        (!metrics().contains("audit=\"apis\"")).then_some(())
    })
    .await;

    // graceful shutdown on SIGTERM
    assert_eq!(operator.stop(), Some(0), "operator log:\n{}", operator.log());
    let log = operator.log();
    assert!(log.lines().any(|l| l.starts_with('{')), "JSON logs expected:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_rejects_nonsense_at_admission() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "v", &[]).await;
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), "v", &audit_resource());
    let create = |spec: serde_json::Value| {
        let obj: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"generateName": "bad-"}, "spec": spec
        }))
        .unwrap();
        let api = api.clone();
        async move { api.create(&Default::default(), &obj).await }
    };
    let err = create(json!({"selector": {}})).await.expect_err("empty selector");
    assert!(err.to_string().contains("selector must not be empty"), "{err}");
    let err = create(json!({"selector": {"matchLabels": {"a": "b"}}, "interval": "5s"})).await.expect_err("5s");
    assert!(err.to_string().contains("at least 10s"), "{err}");
    let err = create(json!({"selector": {"matchLabels": {"a": "b"}}, "interval": "soon"})).await.expect_err("soon");
    assert!(err.to_string().contains("interval"), "{err}");
    // Zero durations are refused wherever a duration is (a 0s timeout would fail every scrape).
    for (spec, field) in [
        (json!({"pprof": {"timeout": "0s"}}), "timeout"),
        (json!({"checks": {"trendWindow": "0s"}}), "trendWindow"),
        (json!({"checks": {"trendWindow": "1 hour"}}), "trendWindow"),
        (json!({"checks": {"provenGoroutineLeak": {"interval": "0m"}}}), "interval"),
    ] {
        let mut full = json!({"selector": {"matchLabels": {"a": "b"}}});
        full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
        let err = create(full.clone()).await.expect_err("zero or malformed duration");
        assert!(err.to_string().contains(field), "{full}: {err}");
    }
    let ok = create(json!({"selector": {"matchLabels": {"a": "b"}}})).await.expect("valid audit");
    assert_eq!(ok.data["spec"]["interval"], "5m", "default applied by the apiserver");
    // `kubectl explain` shows our descriptions
    let out = cp.kubectl(&["explain", "gha.spec.interval"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Go duration"), "{out:?}");
}

/// A spec the schema no longer admits can still be stored (written before a rule existed, or under an
/// older CRD): the operator names the bad field in `Ready=False, reason InvalidSpec` instead of
/// scraping with a fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_names_the_field() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    // The committed CRD without its CEL rules: what an older release of the CRD let through.
    let yaml = std::fs::read_to_string(repo_root().join("crds/gohealthaudits.gohealth.dev.yaml")).unwrap();
    let mut crd: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    strip_validations(&mut crd);
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.patch(
        "gohealthaudits.gohealth.dev",
        &kube::api::PatchParams::apply("gohealth-e2e").force(),
        &kube::api::Patch::Apply(&crd),
    )
    .await
    .expect("apply the CRD without rules");
    wait_for(Duration::from_secs(30), "CRD established", || async {
        let c = crds.get("gohealthaudits.gohealth.dev").await.ok()?;
        c.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
    })
    .await;
    // The cluster-scoped kind as committed: the operator watches both kinds.
    let cluster_yaml =
        std::fs::read_to_string(repo_root().join("crds/clustergohealthaudits.gohealth.dev.yaml")).unwrap();
    apply_crd(&client, &serde_norway::from_str(&cluster_yaml).unwrap()).await;
    ensure_namespace(&client, "bad", &[]).await;
    for (name, spec) in [
        ("timeout", json!({"pprof": {"timeout": "0s"}})),
        ("window", json!({"checks": {"trendWindow": "1 hour"}})),
        ("proven", json!({"checks": {"provenGoroutineLeak": {"interval": "often"}}})),
        ("interval", json!({"interval": "5s"})),
    ] {
        let mut full = json!({"selector": {"matchLabels": {"app": "x"}}});
        full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
        let body = json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": name, "namespace": "bad"}, "spec": full
        });
        apply_audit(&client, "bad", body).await;
    }
    let mut operator = Operator::start(&cp.kubeconfig, &[]);
    for (name, field) in [
        ("timeout", "spec.pprof.timeout"),
        ("window", "spec.checks.trendWindow"),
        ("proven", "spec.checks.provenGoroutineLeak.interval"),
        ("interval", "spec.interval"),
    ] {
        let obj =
            wait_for_audit(&client, "bad", name, WAIT, |o| condition(o, "Ready").as_deref() == Some("False")).await;
        let ready =
            obj["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
        assert_eq!(ready["reason"], "InvalidSpec", "{name}: {ready}");
        let message = ready["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{name}: the message names {field}: {message}");
        assert!(obj["status"]["targets"].is_null(), "{name}: nothing was scraped with a fallback: {obj}");
    }
    assert_eq!(operator.stop(), Some(0), "operator log:\n{}", operator.log());
}

fn strip_validations(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("x-kubernetes-validations");
            map.values_mut().for_each(strip_validations);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_validations),
        _ => {}
    }
}

/// Without /healthz, /readyz and /metrics the kubelet and Prometheus are blind: when the address is taken
/// (e.g. the previous process still drains), the operator exits non-zero at once instead of running on.
#[test]
fn an_unservable_metrics_address_stops_the_operator() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gohealth"))
        .args(["run", "--metrics-addr", &addr.to_string(), "--log-format", "text"])
        // No cluster is needed to find out: the address is bound before anything else.
        .env("KUBECONFIG", dir.path().join("none"))
        .output()
        .expect("run gohealth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit status {:?}: {stderr}", out.status);
    assert!(stderr.contains("cannot serve /metrics, /healthz, /readyz"), "{stderr}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    drop(taken);
}
