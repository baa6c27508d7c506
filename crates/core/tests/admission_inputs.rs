//! Every input form the offline audit reads, from fixture files, through parse → checks. The
//! binary's output and exit codes are tested in `operator/tests/cli_admission.rs`.

use std::path::PathBuf;

use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::offline::{FileReport, audit_text};
use gohealth_core::admission::parse::InputForm;
use gohealth_core::admission::version::KubeVersion;
use gohealth_core::finding::{CheckId, Finding, Severity};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/admission").join(name)
}

fn audit(name: &str, version: Option<&str>, target: Option<&str>) -> FileReport {
    let kb = KnowledgeBase::embedded().expect("kb");
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    audit_text(&kb, name, &text, version.and_then(KubeVersion::parse), target.and_then(KubeVersion::parse))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn s(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|x| x.to_string()).collect())
}

fn finding<'a>(r: &'a FileReport, check: CheckId, plugin: &str) -> &'a Finding {
    r.evaluation
        .findings
        .iter()
        .find(|f| f.check == check && f.plugin.as_deref() == Some(plugin))
        .unwrap_or_else(|| panic!("{}: no {check} for {plugin}: {:#?}", r.file, r.evaluation.findings))
}

#[test]
fn static_pod_manifest_psp_upgrade() {
    let r = audit("static-pod-kubeadm.yaml", None, None);
    assert_eq!(r.config.source, InputForm::StaticPodManifest);
    assert_eq!(r.version, KubeVersion::parse("1.24"));
    assert_eq!(r.config.flags.enable, s(&["NodeRestriction", "PodSecurityPolicy"]));
    let d = finding(&r, CheckId::DeprecatedAdmissionPlugin, "PodSecurityPolicy");
    assert_eq!(d.evidence["removedIn"], "1.25");
    assert!(!r.has_critical());
    let up = audit("static-pod-kubeadm.yaml", None, Some("1.25"));
    let f = finding(&up, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("kube-apiserver 1.25 and later will not start"));
}

#[test]
fn kubeadm_map_form_security_context_deny_needs_gate() {
    let r = audit("kubeadm-v1beta3.yaml", None, None);
    assert_eq!(r.config.source, InputForm::KubeadmClusterConfiguration);
    assert_eq!(r.version, KubeVersion::parse("1.29"));
    assert_eq!(r.config.flags.config_file.as_deref(), Some("/etc/kubernetes/admission.yaml"));
    let d = finding(&r, CheckId::DeprecatedAdmissionPlugin, "SecurityContextDeny");
    assert_eq!(d.evidence["deprecatedIn"], "1.27");
    assert_eq!(d.evidence["removedIn"], "1.30");
    assert!(r.evaluation.findings.iter().any(|f| f.severity == Severity::Critical
        && f.evidence.get("reason").map(String::as_str) == Some("FeatureGateRequired")));
}

#[test]
fn kubeadm_list_form_repeats_append_and_disabled_removed_plugin() {
    let r = audit("kubeadm-v1beta4.yaml", None, None);
    assert_eq!(r.version, KubeVersion::parse("1.31"));
    assert_eq!(r.config.flags.enable, s(&["NodeRestriction", "AlwaysPullImages", "EventRateLimit"]));
    // PersistentVolumeLabel is gone in 1.31 and kube-apiserver validates disabled names too
    let f = finding(&r, CheckId::RemovedAdmissionPlugin, "PersistentVolumeLabel");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence["removedIn"], "1.31");
    assert!(f.message.contains("disable-admission-plugins plugin \"PersistentVolumeLabel\" is unknown"));
}

#[test]
fn systemd_unit_without_version() {
    let r = audit("kube-apiserver.service", None, None);
    assert_eq!(r.config.source, InputForm::SystemdUnit);
    assert_eq!(r.version, None);
    assert!(r.config.flags.enable.as_ref().unwrap().contains(&"PodPreset".to_string()));
    let f = finding(&r, CheckId::RemovedAdmissionPlugin, "PodPreset");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("version is unknown"));
    let r = audit("kube-apiserver.service", Some("1.20"), None);
    assert_eq!(finding(&r, CheckId::RemovedAdmissionPlugin, "PodPreset").severity, Severity::Critical);
}

#[test]
fn shell_script_quotes_vars_comments_repeats() {
    let r = audit("start-apiserver.sh", Some("1.30"), None);
    assert_eq!(r.config.source, InputForm::ShellScript);
    assert_eq!(r.config.flags.enable, s(&["NodeRestriction", "EventRateLimit", "AlwaysPullImages"]));
    assert_eq!(r.config.flags.disable, s(&["ServiceAccount"]));
    assert_eq!(r.config.flags.config_file.as_deref(), Some("$ADMISSION_CFG"));
    assert_eq!(r.config.flags.admission_control, None);
    assert_eq!(finding(&r, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").evidence["cis"], "1.2.12");
}

#[test]
fn k3s_cli_lines_conflict() {
    let r = audit("k3s-install.sh", None, None);
    assert_eq!(r.config.source, InputForm::K3sArgs);
    assert_eq!(r.version, KubeVersion::parse("1.28"));
    assert_eq!(r.config.flags.disable, s(&["NodeRestriction"]));
    assert_eq!(finding(&r, CheckId::ConflictingAdmissionPlugin, "NodeRestriction").severity, Severity::Critical);
}

#[test]
fn k3s_config_feature_gate_is_not_a_plugin() {
    let r = audit("k3s-config.yaml", Some("1.28"), None);
    assert_eq!(r.config.source, InputForm::K3sConfig);
    let f = finding(&r, CheckId::UnknownAdmissionPlugin, "PodPriority");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("PodPriority is a feature gate, not an admission plugin"));
}

#[test]
fn rke2_config_is_clean_on_a_known_version() {
    let r = audit("rke2-config.yaml", Some("1.30"), None);
    assert_eq!(r.config.source, InputForm::Rke2Config);
    assert!(!r.has_critical());
    assert!(r.evaluation.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
}

#[test]
fn kops_admission_control_list() {
    let r = audit("kops-cluster.yaml", None, None);
    assert_eq!(r.config.source, InputForm::KopsCluster);
    assert_eq!(r.version, KubeVersion::parse("1.22"));
    // kops 1.10 on passes admissionControl as --enable-admission-plugins (kops nodeup
    // kube_apiserver.go), so the default-on plugins stay and no deprecated flag is passed
    assert_eq!(r.config.flags.admission_control, None);
    assert_eq!(
        r.config.flags.enable,
        s(&[
            "NamespaceLifecycle",
            "LimitRanger",
            "ServiceAccount",
            "DenyEscalatingExec",
            "NodeRestriction",
            "ResourceQuota"
        ])
    );
    assert!(r.evaluation.effective.plugins.iter().any(|p| p == "PodSecurity"), "{:?}", r.evaluation.effective.plugins);
    assert!(r.evaluation.findings.iter().all(|f| f.check != CheckId::DeprecatedAdmissionFlag));
    assert_eq!(finding(&r, CheckId::RemovedAdmissionPlugin, "DenyEscalatingExec").evidence["removedIn"], "1.21");
}

#[test]
fn argument_list_and_node_args() {
    let r = audit("args.txt", Some("1.33"), None);
    assert_eq!(r.config.source, InputForm::ArgumentList);
    assert_eq!(finding(&r, CheckId::ConflictingAdmissionPlugin, "AlwaysAdmit").severity, Severity::Critical);
    let r = audit("k3s-node-args.json", Some("1.33"), None);
    assert_eq!(r.config.source, InputForm::K3sArgs);
    assert_eq!(r.config.flags.enable, s(&["NodeRestriction", "EventRateLimit"]));
}
