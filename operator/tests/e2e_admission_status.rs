//! The admission audit through the operator: a real apiserver started with real admission flags, a
//! mirror pod carrying them, an audit with `spec.admission.enabled` → the findings land in status,
//! Events and the AdmissionObserved condition.
#![cfg(feature = "e2e")]

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_findings_reach_status() {
    let flags = ["--enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction"];
    let cp = ControlPlane::start(&flags);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "kube-system", &[]).await;
    ensure_namespace(&client, "platform", &[]).await;

    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(cp.apiserver_args());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                     "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.37.2",
                                 "command": command}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "kube-system").create(&PostParams::default(), &pod).await.unwrap();

    apply_audit(
        &client,
        "platform",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "cluster", "namespace": "platform"},
            "spec": {"selector": {"matchLabels": {"app": "none"}}, "interval": "10s",
                     "admission": {"enabled": true}}
        }),
    )
    .await;
    let _operator = Operator::start(&cp.kubeconfig, &[]);

    let obj = wait_for_audit(&client, "platform", "cluster", Duration::from_secs(90), |o| {
        condition(o, "AdmissionObserved").as_deref() == Some("True")
    })
    .await;
    let status = &obj["status"];
    assert_eq!(status["admission"]["source"], "MirrorPod", "{status:#}");
    assert_eq!(status["admission"]["kubernetesVersion"], "v1.37.2");
    let effective: Vec<&str> =
        status["admission"]["effective"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for p in ["AlwaysAdmit", "NamespaceExists", "NodeRestriction", "NamespaceLifecycle", "ServiceAccount"] {
        assert!(effective.contains(&p), "{p} effective: {effective:?}");
    }
    let has = |check: &str, plugin: &str| {
        status["findings"].as_array().unwrap().iter().any(|f| f["check"] == check && f["plugin"] == plugin)
    };
    assert!(has("InsecureAdmissionPlugin", "AlwaysAdmit"), "{status:#}");
    assert!(has("DeprecatedAdmissionPlugin", "AlwaysAdmit"), "{status:#}");
    assert!(!status["findings"].as_array().unwrap().iter().any(|f| f["check"] == "RemovedAdmissionPlugin"));

    // upgrade preview: edit the spec, the findings follow on the next reconcile
    apply_audit(
        &client,
        "platform",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "cluster", "namespace": "platform"},
            "spec": {"selector": {"matchLabels": {"app": "none"}}, "interval": "10s",
                     "admission": {"enabled": true, "targetVersion": "1.38"}}
        }),
    )
    .await;
    let obj = wait_for_audit(&client, "platform", "cluster", Duration::from_secs(60), |o| {
        o["status"]["admission"]["evaluatedVersion"] == "1.38"
    })
    .await;
    assert_eq!(obj["status"]["admission"]["source"], "MirrorPod");

    // the Insecure finding was announced as an Event on the audit
    let events = wait_for(Duration::from_secs(30), "admission event", || async {
        let out = cp.kubectl(&["get", "events.events.k8s.io", "-n", "platform", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let items = v["items"].as_array()?.clone();
        items.iter().any(|e| e["reason"] == "InsecureAdmissionPlugin").then_some(items)
    })
    .await;
    assert!(events.iter().all(|e| e["regarding"]["kind"] == "GoHealthAudit"));
}
