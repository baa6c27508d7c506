//! The live admission audit's pure half: node args, metrics, and the assembly of what the operator
//! read into one outcome (source preference, upgrade preview, metrics-only, nothing observable).

use std::collections::BTreeSet;

use gohealth_core::admission::args::flags_from_args;
use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::observed::{
    LiveConfig, LiveOutcome, LiveSource, Observations, ServerVersion, assemble, config_from_node_args, knowledge_base,
    plugins_from_metrics,
};
use gohealth_core::admission::version::KubeVersion;
use gohealth_core::finding::CheckId;

fn kb() -> KnowledgeBase {
    KnowledgeBase::embedded().unwrap()
}

/// A kubeadm mirror pod's config as the operator reads it (image v1.30.2).
fn mirror_pod(args: &[&str]) -> LiveConfig {
    LiveConfig {
        origin: "pod kube-system/kube-apiserver-cp1".into(),
        flags: flags_from_args(args),
        image_version: KubeVersion::parse("1.30"),
        notes: vec![],
    }
}

fn running(git: &str) -> Result<ServerVersion, String> {
    Ok(ServerVersion { git_version: git.into(), version: KubeVersion::parse(git) })
}

#[test]
fn k3s_node_args() {
    let c = config_from_node_args(
        "n1",
        r#"["server","--kube-apiserver-arg","enable-admission-plugins=NodeRestriction,AlwaysPullImages","--token","********"]"#,
    )
    .unwrap();
    assert_eq!(c.flags.enable, Some(vec!["NodeRestriction".into(), "AlwaysPullImages".into()]));
    assert_eq!(c.origin, "node n1 annotation k3s.io/node-args");
    let d = config_from_node_args("n1", r#"["server","--write-kubeconfig-mode","0644"]"#).unwrap();
    assert_eq!(d.flags.enable, Some(vec!["NodeRestriction".into()]));
    assert!(config_from_node_args("a1", r#"["agent","--server","https://x"]"#).is_none());
    assert!(config_from_node_args("a1", "not json").is_none());
}

#[test]
fn metrics_names() {
    let text = r#"# HELP apiserver_admission_controller_admission_duration_seconds [STABLE] ...
# TYPE apiserver_admission_controller_admission_duration_seconds histogram
apiserver_admission_controller_admission_duration_seconds_bucket{name="NamespaceLifecycle",operation="CREATE",rejected="false",type="validate",le="0.005"} 3
apiserver_admission_controller_admission_duration_seconds_count{name="AlwaysAdmit",operation="CREATE",rejected="false",type="admit"} 3
apiserver_admission_controller_admission_duration_seconds_sum{operation="UPDATE",name="Priority",rejected="false",type="admit"} 0.1
apiserver_admission_webhook_admission_duration_seconds_count{name="webhook.example.com",operation="CREATE",rejected="false",type="admit"} 1
apiserver_admission_controller_admission_latencies_seconds_count{name="OldStyle",operation="CREATE",rejected="false",type="admit"} 1
apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="admit"} 3
apiserver_admission_controller_admission_duration_seconds_count{a="x\"y",name="Escaped"} 1
"#;
    let names: Vec<String> = plugins_from_metrics(text).into_iter().collect();
    assert_eq!(names, vec!["AlwaysAdmit", "Escaped", "NamespaceLifecycle", "OldStyle", "Priority"]);
}

#[test]
fn mirror_pod_is_preferred_and_named() {
    let obs = Observations {
        mirror_pods: Ok(vec![mirror_pod(&["--enable-admission-plugins=AlwaysAdmit,NodeRestriction"])]),
        k3s_nodes: None,
        metrics: None,
        version: running("v1.30.2"),
    };
    let o = assemble(&kb(), None, &obs, &["knowledge-base ConfigMap ignored (x)".into()]);
    assert!(o.observed);
    assert!(o.message.contains("knowledge-base ConfigMap ignored"));
    assert_eq!(o.source, LiveSource::MirrorPod);
    assert_eq!(o.reason, "MirrorPod");
    assert_eq!(o.kubernetes_version.as_deref(), Some("v1.30.2"));
    assert_eq!(o.evaluated_version, KubeVersion::parse("1.30"));
    assert!(o.effective.contains(&"NamespaceLifecycle".to_string()));
    assert!(o.findings.iter().any(|f| f.check == CheckId::InsecureAdmissionPlugin));
    assert!(o.findings.iter().all(|f| f.evidence.contains_key("observedAt")));
}

#[test]
fn an_invalid_overlay_is_noted_and_the_embedded_kb_used() {
    let live = knowledge_base(Some("plugins: [{name: X}]")).unwrap();
    assert_eq!(live.kb, kb());
    assert!(live.notes[0].starts_with("knowledge-base ConfigMap ignored (KnowledgeBase"), "{:?}", live.notes);
    let obs =
        Observations { mirror_pods: Ok(vec![mirror_pod(&[])]), version: running("v1.30.2"), ..Default::default() };
    let o = assemble(&live.kb, None, &obs, &live.notes);
    assert!(o.message.contains("knowledge-base ConfigMap ignored"), "{}", o.message);
    assert!(knowledge_base(None).unwrap().notes.is_empty());
}

#[test]
fn apiservers_that_differ_are_named() {
    let mut other = mirror_pod(&["--enable-admission-plugins=AlwaysPullImages"]);
    other.origin = "pod kube-system/kube-apiserver-cp2".into();
    let obs = Observations {
        mirror_pods: Ok(vec![mirror_pod(&["--enable-admission-plugins=NodeRestriction"]), other]),
        version: running("v1.30.2"),
        ..Default::default()
    };
    let o = assemble(&kb(), None, &obs, &[]);
    assert!(o.message.contains("kube-apiserver-cp1, pod kube-system/kube-apiserver-cp2 (MirrorPod)"), "{}", o.message);
    assert!(o.message.contains("apiservers differ: pod kube-system/kube-apiserver-cp2"), "{}", o.message);
}

#[test]
fn target_version_preview() {
    let obs = Observations {
        mirror_pods: Ok(vec![mirror_pod(&["--enable-admission-plugins=PodSecurityPolicy"])]),
        version: running("v1.24.3"),
        ..Default::default()
    };
    let o = assemble(&kb(), KubeVersion::parse("1.25"), &obs, &[]);
    let f = o.findings.iter().find(|f| f.check == CheckId::RemovedAdmissionPlugin).unwrap();
    assert!(f.message.contains("kube-apiserver 1.25 and later will not start"));
    assert_eq!(o.evaluated_version, KubeVersion::parse("1.25"));
    assert!(o.message.contains("evaluated for 1.25"));
    // A targetVersion that is not a version never gets here: the operator's validate step refuses
    // the spec (`spec.admission.targetVersion`, InvalidSpec).
}

#[test]
fn metrics_only_never_claims_disabled() {
    let seen: BTreeSet<String> = ["NamespaceLifecycle".to_string(), "AlwaysAdmit".to_string()].into();
    let obs = Observations {
        mirror_pods: Ok(vec![]),
        k3s_nodes: Some(Err("nodes is forbidden".into())),
        metrics: Some(Ok(seen)),
        version: running("v1.31.0-eks-abc"),
    };
    let o = assemble(&kb(), None, &obs, &[]);
    assert!(o.observed);
    assert_eq!(o.source, LiveSource::ApiserverMetrics);
    assert_eq!(o.reason, "ApiserverMetrics");
    assert!(o.message.contains("never disabled"));
    assert!(o.message.contains("nodes is forbidden"));
    assert!(o.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
    assert!(o.findings.iter().any(|f| f.check == CheckId::InsecureAdmissionPlugin));
}

#[test]
fn nothing_observable_is_not_a_clean_bill() {
    let obs = Observations {
        mirror_pods: Err("pods is forbidden".into()),
        k3s_nodes: Some(Ok(vec![])),
        metrics: Some(Err("403 Forbidden".into())),
        version: Err("connection refused".into()),
    };
    let o = assemble(&kb(), None, &obs, &[]);
    assert!(!o.observed);
    assert_eq!(o.source, LiveSource::None);
    assert_eq!(o.reason, "AdmissionNotObservable");
    assert!(o.findings.is_empty());
    assert!(o.message.contains("could not be observed"));
    assert!(o.message.contains("pods is forbidden") && o.message.contains("403 Forbidden"));
    let empty = Observations { mirror_pods: Ok(vec![]), metrics: Some(Ok(BTreeSet::new())), ..obs };
    let o = assemble(&kb(), None, &empty, &[]);
    assert!(!o.observed);
    assert!(o.message.contains("no admission controller series yet"));
}

#[test]
fn unusable_knowledge_base_is_not_observed() {
    let e = gohealth_core::admission::kb::KbError::Invalid(vec!["x".into()]);
    let o: LiveOutcome = LiveOutcome::without_knowledge_base(&e);
    assert!(!o.observed);
    assert_eq!(o.source, LiveSource::None);
    assert_eq!(o.reason, "KnowledgeBaseInvalid");
}
