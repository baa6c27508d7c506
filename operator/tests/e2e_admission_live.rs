//! The admission audit against a real kube-apiserver (e2e/controlplane, v1.37.2) started with real
//! admission flags, a mirror-pod-like Pod carrying the same flags, and the apiserver's /metrics.
#![cfg(feature = "e2e")]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use gohealth::dereference::admission::{AdmissionOutcome, audit_live, fetch_metrics};
use gohealth::validate::AdmissionConfig;
use gohealth_core::admission::args::flags_from_args;
use gohealth_core::admission::checks::evaluate;
use gohealth_core::admission::effective::effective;
use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::observed::plugins_from_metrics;
use gohealth_core::admission::version::KubeVersion;
use gohealth_core::finding::{CheckId, Severity};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const FLAGS: [&str; 2] = [
    "--enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction",
    "--disable-admission-plugins=ServiceAccount",
];

fn has(o: &AdmissionOutcome, check: CheckId, plugin: &str) -> bool {
    o.findings.iter().any(|f| f.check == check && f.plugin.as_deref() == Some(plugin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_audit_against_real_apiserver() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cp = common::ControlPlane::start(&FLAGS);
    let client = cp.client().await;
    let args = cp.apiserver_args();
    assert!(args.iter().any(|a| a == FLAGS[0]), "start.sh passed the flags: {args:?}");

    // a mirror pod as kubeadm writes it: every flag in command, first element the program
    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(args.iter().cloned());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                     "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.37.2",
                                 "command": command}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create mirror pod");

    let spec = AdmissionConfig { target_version: None, knowledge_base_config_map: None };
    let o = audit_live(&client, &spec, None).await;
    assert!(o.observed, "{}", o.message);
    assert_eq!(o.status.source, "MirrorPod");
    assert_eq!(o.status.kubernetes_version.as_deref(), Some("v1.37.2"));
    assert_eq!(o.status.evaluated_version.as_deref(), Some("1.37"));
    assert!(has(&o, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit"), "{:#?}", o.findings);
    assert!(has(&o, CheckId::DeprecatedAdmissionPlugin, "AlwaysAdmit"));
    assert!(has(&o, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount"));
    assert!(!has(&o, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction"));
    // NamespaceExists is still registered and the KB records no deprecation for it
    assert!(!has(&o, CheckId::DeprecatedAdmissionPlugin, "NamespaceExists"));
    // the apiserver started with these flags, so no finding may claim it refuses to start
    assert!(o.findings.iter().all(|f| f.severity != Severity::Critical), "{:#?}", o.findings);
    let eff: BTreeSet<String> = o.status.effective.iter().cloned().collect();
    for p in ["AlwaysAdmit", "NamespaceExists", "NodeRestriction", "NamespaceLifecycle", "PodSecurity"] {
        assert!(eff.contains(p), "{p} effective");
    }
    assert!(!eff.contains("ServiceAccount"));

    // upgrade preview through the spec
    let preview = AdmissionConfig { target_version: KubeVersion::parse("1.38"), knowledge_base_config_map: None };
    let p = audit_live(&client, &preview, None).await;
    assert_eq!(p.status.evaluated_version.as_deref(), Some("1.38"));

    // make plugins handle requests, then read the real /metrics
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("adm-{i}")}, "data": {"k": "v"}})).expect("cm");
        cms.create(&PostParams::default(), &cm).await.expect("create configmap");
    }
    let dflt: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p2: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
    )
    .expect("pod");
    dflt.create(&PostParams::default(), &p2).await.expect("create pod");
    let text = fetch_metrics(&client).await.expect("GET /metrics");
    let seen = plugins_from_metrics(&text);
    let kb = KnowledgeBase::embedded().expect("kb");
    let derived = effective(&kb, &flags_from_args(&args), KubeVersion::parse("1.37"));
    let derived: BTreeSet<String> = derived.plugins.into_iter().collect();
    assert!(seen.contains("NamespaceLifecycle"), "{seen:?}");
    assert!(seen.contains("AlwaysAdmit"), "{seen:?}");
    assert!(!seen.contains("ServiceAccount"), "disabled plugin handled a request: {seen:?}");
    assert!(
        seen.is_subset(&derived),
        "metrics show plugins outside the flags' effective set: {:?}",
        seen.difference(&derived)
    );
    eprintln!("metrics show {} of {} effective plugins: {seen:?}", seen.len(), derived.len());
    // after pod and configmap creates every effective plugin has handled a request (observed:
    // 27 of 27 on v1.37.2), so the KB's 1.37 defaults + flags must match what actually runs
    assert_eq!(seen, derived, "missing from metrics: {:?}", derived.difference(&seen));

    // without the mirror pod the audit falls back to the metrics: enabled only, never disabled
    pods.delete("kube-apiserver-cp1", &DeleteParams::default()).await.expect("delete mirror pod");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = audit_live(&client, &spec, None).await;
    assert!(m.observed, "{}", m.message);
    assert_eq!(m.status.source, "ApiserverMetrics");
    assert!(has(&m, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit"));
    assert!(m.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
    assert!(m.message.contains("never disabled"));
}

/// The startup errors the findings quote are the real apiserver's: run the v1.37.2 binary with
/// flags the KB says it refuses, including a removed plugin that is only disabled.
#[test]
fn refused_flags_match_the_real_apiserver() {
    let bin = common::repo_root().join(".cache/controlplane/bin/kube-apiserver");
    if !bin.exists() {
        let st =
            Command::new("bash").arg(common::repo_root().join("e2e/controlplane/build.sh")).status().expect("build");
        assert!(st.success());
    }
    let kb = KnowledgeBase::embedded().expect("kb");
    let v137 = KubeVersion::parse("1.37");
    let certs = tempfile::tempdir().expect("tempdir");
    for flags in [
        vec!["--enable-admission-plugins=PodSecurityPolicy"],
        vec!["--disable-admission-plugins=PodSecurityPolicy"],
        vec!["--enable-admission-plugins=PodPriority"],
        vec!["--enable-admission-plugins=JobValidation"],
        vec!["--enable-admission-plugins=NodeRestriction, AlwaysPullImages"],
        vec!["--enable-admission-plugins=AlwaysPullImages", "--disable-admission-plugins=AlwaysPullImages"],
        vec!["--admission-control=NamespaceLifecycle", "--enable-admission-plugins=NodeRestriction"],
        vec![
            "--enable-admission-plugins=AlwaysPullImages,AlwaysDeny",
            "--disable-admission-plugins=AlwaysDeny,AlwaysPullImages",
        ],
        vec!["--admission-control=NamespaceLifecycle,PodSecurityPolicy"],
    ] {
        let e = evaluate(&kb, &flags_from_args(&flags), v137, None);
        let critical: Vec<_> = e.findings.iter().filter(|f| f.severity == Severity::Critical).collect();
        assert!(!critical.is_empty(), "{flags:?}: the KB predicts a refusal");
        // no etcd needed: flag validation fails first
        let out = Command::new(&bin)
            .args(&flags)
            .args(["--etcd-servers=http://127.0.0.1:1", "--cert-dir"])
            .arg(certs.path())
            .output()
            .expect("run kube-apiserver");
        assert!(!out.status.success(), "{flags:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr).replace("\\\"", "\"");
        for f in critical {
            let expected = f
                .evidence
                .get("startupError")
                .cloned()
                .unwrap_or_else(|| panic!("{flags:?}: {} has no startupError", f.message));
            assert!(stderr.contains(&expected), "{flags:?}: expected {expected:?} in\n{stderr}");
        }
    }
}
