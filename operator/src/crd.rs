//! The `GoHealthAudit` custom resource (gohealth.dev/v1alpha1). The CRD YAML in `crds/` is generated from
//! these types by `gohealth crd`; a test fails when the committed file drifts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use gohealth_core::diagnose::config::{
    GcPressureCheck, GoroutineGrowthCheck, GoroutineLeakCheck, LockContentionCheck, LongBlockedCheck,
    PanicRestartsCheck, SimpleThresholdCheck,
};
pub use gohealth_core::diagnose::history::TargetHistory;
use gohealth_core::finding::Finding;

/// Most targets listed in status; the count is always exact.
pub const MAX_STATUS_TARGETS: usize = 100;
/// Most findings listed in status (top by severity); the rest are counted in `summary`.
pub const MAX_STATUS_FINDINGS: usize = 50;

/// Audit the Go programs running in the selected pods (pprof) and, optionally, the cluster's
/// kube-apiserver admission-plugin configuration.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "gohealth.dev",
    version = "v1alpha1",
    kind = "GoHealthAudit",
    plural = "gohealthaudits",
    shortname = "gha",
    category = "gohealth",
    namespaced,
    status = "GoHealthAuditStatus",
    printcolumn = r#"{"name":"Targets","type":"integer","jsonPath":".status.targets.count","description":"Pods audited"}"#,
    printcolumn = r#"{"name":"Critical","type":"integer","jsonPath":".status.summary.critical","description":"Critical findings"}"#,
    printcolumn = r#"{"name":"Warning","type":"integer","jsonPath":".status.summary.warning","description":"Warning findings"}"#,
    printcolumn = r#"{"name":"Last Audit","type":"date","jsonPath":".status.lastAuditTime","description":"Time of the last audit"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Last audit completed"}"#,
    printcolumn = r#"{"name":"Info","type":"integer","priority":1,"jsonPath":".status.summary.info","description":"Info findings"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Reason of the Ready condition"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GoHealthAuditSpec {
    /// Label selector of the pods to audit. Must not be empty: an audit of every pod is never implied.
    #[x_kube(validation = Rule::new("(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)").message("selector must not be empty"))]
    pub selector: LabelSelector,

    /// Namespaces to look for pods in, by label. Unset: only the audit's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Time between audits, as a Go duration ("30s", "5m", "1h"). Default 5m, minimum 10s.
    #[serde(default = "default_interval")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('10s')").message("interval must be a duration of at least 10s"))]
    pub interval: String,

    /// Where and how to reach the targets' net/http/pprof endpoints.
    #[serde(default)]
    pub pprof: PprofSpec,

    /// Per-check switches and thresholds.
    #[serde(default)]
    pub checks: ChecksSpec,

    /// The kube-apiserver admission-plugin audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionSpec>,
}

/// The cluster-scoped audit, for cluster admins: the GoHealthAudit spec plus what only it may use — pods
/// of any namespace (`namespaceSelector`; unset means every namespace) and the operator's own
/// ServiceAccount token (`pprof.auth.serviceAccountToken`, sent over verified TLS only). Secrets and
/// ConfigMaps it names are read from the operator's namespace.
// `audit` is flattened, so the YAML keeps one flat spec with `controlPlane` beside the shared fields.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "gohealth.dev",
    version = "v1alpha1",
    kind = "ClusterGoHealthAudit",
    plural = "clustergohealthaudits",
    shortname = "cgha",
    category = "gohealth",
    status = "GoHealthAuditStatus",
    printcolumn = r#"{"name":"Targets","type":"integer","jsonPath":".status.targets.count","description":"Pods audited"}"#,
    printcolumn = r#"{"name":"Critical","type":"integer","jsonPath":".status.summary.critical","description":"Critical findings"}"#,
    printcolumn = r#"{"name":"Warning","type":"integer","jsonPath":".status.summary.warning","description":"Warning findings"}"#,
    printcolumn = r#"{"name":"Last Audit","type":"date","jsonPath":".status.lastAuditTime","description":"Time of the last audit"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Last audit completed"}"#,
    printcolumn = r#"{"name":"Info","type":"integer","priority":1,"jsonPath":".status.summary.info","description":"Info findings"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Reason of the Ready condition"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGoHealthAuditSpec {
    #[serde(flatten)]
    pub audit: GoHealthAuditSpec,

    /// Control-plane programs to audit besides the selected pods (docs/security.md#control-plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneSpec>,
}

/// `spec.controlPlane` of a ClusterGoHealthAudit. Every component is scraped over HTTPS with the
/// operator's own ServiceAccount token; the chart grants that token `get` on `/debug/pprof` only when
/// control-plane auditing is enabled (and `nodes/proxy` only when kubelets are).
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneSpec {
    /// kube-apiserver's own `/debug/pprof`, at the address and with the CA of the operator's API connection.
    #[serde(default = "enabled")]
    pub api_server: bool,
    /// kube-controller-manager: pods in kube-system labelled `component=kube-controller-manager` (the mirror
    /// pods of kubeadm-style static pods), their secure port (`--secure-port`, default 10257).
    #[serde(default = "enabled")]
    pub controller_manager: bool,
    /// kube-scheduler: pods labelled `component=kube-scheduler`, secure port `--secure-port` or 10259.
    #[serde(default = "enabled")]
    pub scheduler: bool,
    /// Every node's kubelet (`https://<InternalIP>:<kubelet port>/debug/pprof`). Off by default: the
    /// operator's token then needs `nodes/proxy`, which also allows running commands in any pod.
    #[serde(default)]
    pub kubelets: bool,
    /// Verification of the components' serving certificates (the apiserver's uses the API connection's CA).
    #[serde(default)]
    pub tls: PprofTls,
}

impl Default for ControlPlaneSpec {
    fn default() -> Self {
        ControlPlaneSpec {
            api_server: true,
            controller_manager: true,
            scheduler: true,
            kubelets: false,
            tls: PprofTls::default(),
        }
    }
}

fn enabled() -> bool {
    true
}

fn default_interval() -> String {
    "5m".into()
}

// spec.admission: the admission-plugin audit of the cluster's kube-apiserver.
#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionSpec {
    /// Audit the kube-apiserver admission-plugin configuration. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Preview an upgrade: compute findings for this Kubernetes version (e.g. "1.25") instead of the running one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// Name of a ConfigMap in the audit's namespace whose `plugins.yaml` key extends or overrides
    /// the embedded knowledge base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_base_config_map: Option<String>,
}

/// Per-check switches and thresholds. Durations are Go durations; every check is on by default.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChecksSpec {
    /// How far back trend checks (growth, GC pressure) look, as a Go duration. Default 1h.
    #[serde(default = "default_trend_window")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')").message("trendWindow must be a positive duration such as 1h"))]
    pub trend_window: String,
    /// Longest a target goes without a `goroutine?debug=2` dump (it stops the world in the target)
    /// while its debug=1 profile shows no blocked site new or grown since a dump that found nothing.
    /// `0s` takes a dump every audit. Default 30m.
    #[serde(default = "default_full_dump_max_age")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')").message("fullDumpMaxAge must be a duration such as 30m, or 0s"))]
    pub full_dump_max_age: String,
    #[serde(default)]
    pub goroutine_leak: GoroutineLeakCheck,
    /// Name of a ConfigMap (in the audit's namespace; for a ClusterGoHealthAudit, the operator's) whose
    /// `benign-sites.yaml` key adds benign idle wait sites in the form of config/benign-sites.yaml, for
    /// a library many audits share. Condition BenignSitesLoaded says whether it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benign_sites_config_map: Option<String>,
    #[serde(default)]
    pub proven_goroutine_leak: ProvenGoroutineLeakSpec,
    #[serde(default)]
    pub long_blocked_goroutines: LongBlockedCheck,
    #[serde(default)]
    pub ticker_loop_growth: SimpleThresholdCheck,
    #[serde(default)]
    pub goexit_in_defer: SimpleThresholdCheck,
    #[serde(default)]
    pub lock_contention: LockContentionCheck,
    #[serde(default)]
    pub gc_pressure: GcPressureCheck,
    #[serde(default)]
    pub go_panic_restarts: PanicRestartsCheck,
    #[serde(default)]
    pub goroutine_growth: GoroutineGrowthCheck,
}

fn default_trend_window() -> String {
    "1h".into()
}

fn default_full_dump_max_age() -> String {
    "30m".into()
}

impl Default for ChecksSpec {
    fn default() -> Self {
        ChecksSpec {
            trend_window: default_trend_window(),
            full_dump_max_age: default_full_dump_max_age(),
            goroutine_leak: Default::default(),
            benign_sites_config_map: None,
            proven_goroutine_leak: Default::default(),
            long_blocked_goroutines: Default::default(),
            ticker_loop_growth: Default::default(),
            goexit_in_defer: Default::default(),
            lock_contention: Default::default(),
            gc_pressure: Default::default(),
            go_panic_restarts: Default::default(),
            goroutine_growth: Default::default(),
        }
    }
}

/// ProvenGoroutineLeak: the runtime's goroutineleak profile (Go 1.27; 1.26 with the experiment).
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProvenGoroutineLeakSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Fetching the profile forces a GC in the target, so it runs on its own interval. Default 4h.
    #[serde(default = "default_proven_interval")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')").message("interval must be a positive duration such as 4h"))]
    pub interval: String,
}

fn yes() -> bool {
    true
}
fn default_proven_interval() -> String {
    "4h".into()
}

impl Default for ProvenGoroutineLeakSpec {
    fn default() -> Self {
        ProvenGoroutineLeakSpec { enabled: true, interval: default_proven_interval() }
    }
}

/// How to reach the pprof endpoints. Pod annotations used by Pyroscope/Grafana Alloy
/// (`profiles.grafana.com/*`) take precedence; then these settings; then a container port named
/// `pprof` or `http-pprof`. Only the pod's own IP is ever contacted.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PprofSpec {
    /// Container port number or container-port name serving pprof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// Path prefix of the pprof handlers. Default /debug/pprof.
    #[serde(default = "default_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    pub path: String,
    /// http or https. Default http.
    #[serde(default)]
    pub scheme: Scheme,
    /// Timeout of one request, as a Go duration. Default 10s.
    #[serde(default = "default_timeout")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')").message("timeout must be a positive duration such as 10s"))]
    pub timeout: String,
    /// Largest response accepted, after decompression, in bytes. Default 64 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1024").message("maxBodyBytes must be at least 1024"))]
    pub max_body_bytes: Option<i64>,
    /// Bearer token to send (controllers often protect /debug/pprof behind authn/authz).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PprofAuth>,
    /// TLS settings for https targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PprofTls>,
}

fn default_path() -> String {
    "/debug/pprof".into()
}
fn default_timeout() -> String {
    "10s".into()
}

impl Default for PprofSpec {
    fn default() -> Self {
        PprofSpec {
            port: None,
            path: default_path(),
            scheme: Scheme::default(),
            timeout: default_timeout(),
            max_body_bytes: None,
            auth: None,
            tls: None,
        }
    }
}

#[derive(schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A key of a Secret in the audit's namespace.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PprofAuth {
    /// Bearer token read from a Secret in the audit's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret: Option<SecretKeyRef>,
    /// Send the operator's own ServiceAccount token.
    #[serde(default)]
    pub service_account_token: bool,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PprofTls {
    /// PEM CA bundle read from a Secret in the audit's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// Skip certificate verification. Only when asked; never the default.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Observed state of an audit.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoHealthAuditStatus {
    /// Ready (the last audit completed), Degraded (some targets could not be scraped or findings are critical),
    /// AdmissionObserved (the admission configuration could be read). lastTransitionTime changes only when a
    /// condition's status changes.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// metadata.generation of the spec the last audit ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the last audit finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_audit_time: Option<String>,
    /// Audited pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<TargetsStatus>,
    /// Finding counts by severity (all findings, including those not listed).
    #[serde(default)]
    pub summary: Summary,
    /// The most severe findings (at most 50); the rest are counted in summary.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Compact per-target samples so trends survive an operator restart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<TargetHistory>,
    /// Result of the admission-plugin audit, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionStatus>,
    /// Set while an audit runs, when replicas share the work (`--sharding`): which replica runs it. A
    /// replica that takes the audit over waits for it instead of auditing twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<AuditInProgress>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditInProgress {
    /// The replica (pod name) running the audit.
    pub replica: String,
    /// When it started (RFC 3339).
    pub since: String,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetsStatus {
    /// Pods selected and audited.
    pub count: u32,
    /// Targets whose scrape succeeded.
    pub healthy: u32,
    /// Targets whose scrape failed (see their reason).
    pub failed: u32,
    /// Targets listed below (at most 100); sorted by namespace and name.
    #[serde(default)]
    pub items: Vec<TargetStatus>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub namespace: String,
    pub pod: String,
    /// pprof base URL that was scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ok, or the typed reason the scrape failed (Timeout, ConnectionRefused, HttpStatus, BodyTooLarge,
    /// NotAProfile, TlsError, NoEndpoint, ...).
    pub result: String,
    /// Goroutine total the runtime reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines: Option<u64>,
    /// Findings on this target.
    #[serde(default)]
    pub findings: u32,
    /// Detail on a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub critical: u32,
    pub warning: u32,
    pub info: u32,
    pub total: u32,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionStatus {
    /// Where the configuration was read: MirrorPod, K3sNodeArgs, ApiserverMetrics, or None.
    pub source: String,
    /// Running kube-apiserver version (GET /version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Version the findings were computed for (targetVersion, else the running one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_version: Option<String>,
    /// Effective admission plugins.
    #[serde(default)]
    pub effective: Vec<String>,
}

/// Which CRD `gohealth crd` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrdKind {
    /// GoHealthAudit (namespaced): crds/gohealthaudits.gohealth.dev.yaml
    #[default]
    #[value(name = "GoHealthAudit")]
    GoHealthAudit,
    /// ClusterGoHealthAudit (cluster-scoped): crds/clustergohealthaudits.gohealth.dev.yaml
    #[value(name = "ClusterGoHealthAudit")]
    ClusterGoHealthAudit,
}

/// The namespaced CRD as YAML, exactly as committed in `crds/`.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    kind_crd_yaml(CrdKind::GoHealthAudit)
}

/// A CRD as YAML, exactly as committed in `crds/`.
pub fn kind_crd_yaml(kind: CrdKind) -> Result<String, serde_norway::Error> {
    use kube::CustomResourceExt;
    let crd = match kind {
        CrdKind::GoHealthAudit => serde_json::to_value(GoHealthAudit::crd()),
        CrdKind::ClusterGoHealthAudit => serde_json::to_value(ClusterGoHealthAudit::crd()),
    };
    let mut crd = crd.map_err(<serde_norway::Error as serde::ser::Error>::custom)?;
    openapi_integer_formats(&mut crd);
    if kind == CrdKind::GoHealthAudit {
        namespaced_tenancy_rules(&mut crd);
    }
    serde_norway::to_string(&crd)
}

/// Tenancy (docs/security.md): a namespaced audit reaches only its own namespace and never carries the
/// operator's token. Both kinds share the spec type (so `validate` can still refuse objects stored before
/// these rules existed), hence the rules are added to the namespaced CRD's `spec` here. On `spec`, not on
/// the root: CEL ratcheting then lets the operator write a refused object's status (its spec unchanged).
fn namespaced_tenancy_rules(crd: &mut serde_json::Value) {
    let rules = serde_json::json!([
        {
            "rule": "!has(self.namespaceSelector)",
            "message": "spec.namespaceSelector is not allowed in a namespaced GoHealthAudit: it audits only its own namespace; use a ClusterGoHealthAudit",
        },
        {
            "rule": "!has(self.pprof) || !has(self.pprof.auth) || !has(self.pprof.auth.serviceAccountToken) || !self.pprof.auth.serviceAccountToken",
            "message": "spec.pprof.auth.serviceAccountToken is not allowed in a namespaced GoHealthAudit: only a ClusterGoHealthAudit may send the operator's token",
        },
    ]);
    let versions = crd.pointer_mut("/spec/versions").and_then(|v| v.as_array_mut());
    for version in versions.into_iter().flatten() {
        if let Some(spec) =
            version.pointer_mut("/schema/openAPIV3Schema/properties/spec").and_then(|s| s.as_object_mut())
        {
            spec.insert("x-kubernetes-validations".into(), rules.clone());
        }
    }
}

/// schemars names Rust's unsigned integers `uint32`/`uint64`, which are not OpenAPI formats: the apiserver
/// warns on every apply. The values are counts (never negative, and `minimum: 0` stays), so the standard
/// `int32`/`int64` formats describe them.
fn openapi_integer_formats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(f) = map.get_mut("format") {
                match f.as_str() {
                    Some("uint32") => *f = "int32".into(),
                    Some("uint64") => *f = "int64".into(),
                    _ => {}
                }
            }
            map.values_mut().for_each(openapi_integer_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(openapi_integer_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_matches_generated() {
        let generated = crd_yaml().expect("crd serializes");
        let committed = include_str!("../../crds/gohealthaudits.gohealth.dev.yaml");
        assert_eq!(
            committed, generated,
            "crds/gohealthaudits.gohealth.dev.yaml drifted: run `cargo run -- crd > crds/gohealthaudits.gohealth.dev.yaml`"
        );
    }

    #[test]
    fn committed_cluster_crd_matches_generated() {
        let generated = kind_crd_yaml(CrdKind::ClusterGoHealthAudit).expect("crd serializes");
        let committed = include_str!("../../crds/clustergohealthaudits.gohealth.dev.yaml");
        assert_eq!(committed, generated, "crds/clustergohealthaudits.gohealth.dev.yaml drifted: run `make crd`");
    }

    #[test]
    fn tenancy_rules_are_on_the_namespaced_kind_only() {
        let namespaced = crd_yaml().unwrap();
        let cluster = kind_crd_yaml(CrdKind::ClusterGoHealthAudit).unwrap();
        assert!(namespaced.contains("!has(self.namespaceSelector)"));
        assert!(namespaced.contains("self.pprof.auth.serviceAccountToken"));
        assert!(!cluster.contains("!has(self.namespaceSelector)"));
        assert!(cluster.contains("scope: Cluster") && cluster.contains("namespaceSelector"));
    }

    #[test]
    fn cluster_spec_reads_the_same_yaml() {
        let spec: ClusterGoHealthAuditSpec = serde_json::from_value(serde_json::json!({
            "selector": {"matchLabels": {"app": "x"}},
            "namespaceSelector": {},
            "pprof": {"scheme": "https", "auth": {"serviceAccountToken": true}}
        }))
        .unwrap();
        assert!(spec.audit.namespace_selector.is_some());
        assert!(spec.audit.pprof.auth.is_some_and(|a| a.service_account_token));
    }

    #[test]
    fn crd_uses_openapi_integer_formats_only() {
        let yaml = crd_yaml().unwrap();
        assert!(!yaml.contains("format: uint"), "uint formats make the apiserver warn");
        assert!(yaml.contains("format: int64"));
    }

    #[test]
    fn spec_defaults_apply() {
        let spec: GoHealthAuditSpec =
            serde_json::from_value(serde_json::json!({"selector": {"matchLabels": {"app": "x"}}})).unwrap();
        assert_eq!(spec.interval, "5m");
        assert_eq!(spec.pprof.path, "/debug/pprof");
        assert_eq!(spec.pprof.scheme, Scheme::Http);
        assert!(spec.checks.goroutine_leak.enabled);
        assert!(spec.admission.is_none());
    }
}
