//! The `validate` step: a `GoHealthAudit` spec becomes a typed [`AuditConfig`], once, before anything
//! runs. Every duration, selector, port and limit is parsed here; a bad value is one [`InvalidSpec`]
//! that names its field (the controller writes it as `Ready=False, reason InvalidSpec`). The schema's
//! CEL rules reject most of these at admission time already; this step covers what the schema cannot
//! (objects stored before a rule existed, values the rules let through) and gives the later steps
//! types instead of strings.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use thiserror::Error;

use gohealth_core::admission::version::KubeVersion;
use gohealth_core::diagnose::config::{ChecksConfig, ProvenLeakConfig};
use gohealth_core::duration::parse_go_duration;

use crate::crd::{ChecksSpec, ControlPlaneSpec, GoHealthAuditSpec, PprofSpec, Scheme, SecretKeyRef};
use crate::selector::{is_empty, selector_string};

/// Largest body accepted when the spec sets none (after decompression).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest `maxBodyBytes` (the schema says the same).
const MIN_BODY_BYTES: u64 = 1024;
/// Shortest `interval` (the schema says the same).
const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// A spec value that cannot be used. `field` is the JSON path a user edits; `reason` is the stable
/// condition reason (`InvalidSpec`, or one naming a field the audit's kind may not use).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    pub field: &'static str,
    pub message: String,
    pub reason: &'static str,
}

impl InvalidSpec {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        InvalidSpec { field, message: message.into(), reason: "InvalidSpec" }
    }

    fn not_allowed(field: &'static str, reason: &'static str, message: &str) -> Self {
        InvalidSpec { field, message: message.into(), reason }
    }
}

/// The kind of an audit, which decides what it may reach (docs/security.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `GoHealthAudit`: its own namespace's pods, Secrets of its own namespace, never the operator's token.
    Namespaced,
    /// `ClusterGoHealthAudit`: any namespace, the operator's token over verified TLS.
    Cluster,
}

/// An audit's spec, validated and typed.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditConfig {
    pub interval: Duration,
    pub selector: LabelSelector,
    pub namespace_selector: Option<LabelSelector>,
    pub pprof: PprofConfig,
    pub checks: ChecksConfig,
    /// Set when the admission audit is enabled.
    pub admission: Option<AdmissionConfig>,
    /// `spec.controlPlane` of a ClusterGoHealthAudit ([`control_plane`]); never set by [`validate`].
    pub control_plane: Option<ControlPlaneConfig>,
    /// `spec.checks.benignSitesConfigMap`, when set and not empty.
    pub benign_sites_config_map: Option<String>,
}

/// `spec.controlPlane`, typed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlPlaneConfig {
    pub api_server: bool,
    pub controller_manager: bool,
    pub scheduler: bool,
    pub kubelets: bool,
    /// PEM CA bundle (a Secret in the operator's namespace) for the components' serving certificates.
    pub ca_secret: Option<SecretKeyRef>,
    pub insecure_skip_verify: bool,
}

/// Validates `spec.controlPlane`. Unlike `spec.pprof`, skipping verification is allowed with the
/// operator's token: kubeadm's controller-manager and scheduler serve self-signed certificates, so for
/// many clusters it is the only way in. It stays an explicit choice (docs/security.md#control-plane).
pub fn control_plane(spec: &ControlPlaneSpec) -> Result<ControlPlaneConfig, InvalidSpec> {
    if spec.tls.insecure_skip_verify && spec.tls.ca_secret.is_some() {
        return Err(InvalidSpec::new(
            "spec.controlPlane.tls",
            "caSecret and insecureSkipVerify exclude each other: verify against the CA, or skip verification",
        ));
    }
    Ok(ControlPlaneConfig {
        api_server: spec.api_server,
        controller_manager: spec.controller_manager,
        scheduler: spec.scheduler,
        kubelets: spec.kubelets,
        ca_secret: spec.tls.ca_secret.clone(),
        insecure_skip_verify: spec.tls.insecure_skip_verify,
    })
}

/// `spec.pprof`, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct PprofConfig {
    pub port: Option<PortRef>,
    pub path: String,
    pub scheme: Scheme,
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub bearer_token_secret: Option<SecretKeyRef>,
    pub service_account_token: bool,
    pub ca_secret: Option<SecretKeyRef>,
    pub insecure_skip_verify: bool,
    /// Which kind asked: the scraper refuses what a namespaced audit may not reach.
    pub scope: Scope,
    /// Addresses a namespaced audit never scrapes (the apiserver's and the nodes'), filled by the
    /// controller from the cluster, not from the spec; empty here.
    pub infrastructure: Vec<std::net::IpAddr>,
}

/// A container port by number or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// `spec.admission`, when enabled.
#[derive(Clone, Debug, PartialEq)]
pub struct AdmissionConfig {
    pub target_version: Option<KubeVersion>,
    pub knowledge_base_config_map: Option<String>,
}

/// Validates a whole spec for an audit of `scope`; the first bad field wins. The namespaced kind's CRD
/// rejects the cluster-only fields at admission already; this covers objects stored before that rule.
pub fn validate(spec: &GoHealthAuditSpec, scope: Scope) -> Result<AuditConfig, InvalidSpec> {
    if scope == Scope::Namespaced {
        if spec.namespace_selector.is_some() {
            return Err(InvalidSpec::not_allowed(
                "spec.namespaceSelector",
                "NamespaceSelectorNotAllowed",
                "a namespaced GoHealthAudit audits only its own namespace; use a ClusterGoHealthAudit",
            ));
        }
        if spec.pprof.auth.as_ref().is_some_and(|a| a.service_account_token) {
            return Err(InvalidSpec::not_allowed(
                "spec.pprof.auth.serviceAccountToken",
                "ServiceAccountTokenNotAllowed",
                "only a ClusterGoHealthAudit may send the operator's ServiceAccount token",
            ));
        }
    }
    let interval = duration("spec.interval", &spec.interval)?;
    if interval < MIN_INTERVAL {
        return Err(InvalidSpec::new("spec.interval", format!("{:?} is shorter than 10s", spec.interval)));
    }
    selector_string(&spec.selector).map_err(|e| InvalidSpec::new("spec.selector", e.to_string()))?;
    // An empty namespace selector selects every namespace, which is allowed (the pod selector is not empty).
    if let Some(ns) = spec.namespace_selector.as_ref().filter(|ns| !is_empty(ns)) {
        selector_string(ns).map_err(|e| InvalidSpec::new("spec.namespaceSelector", e.to_string()))?;
    }
    Ok(AuditConfig {
        interval,
        selector: spec.selector.clone(),
        namespace_selector: spec.namespace_selector.clone(),
        pprof: scoped_pprof(&spec.pprof, scope)?,
        checks: checks(&spec.checks)?,
        admission: match spec.admission.as_ref().filter(|a| a.enabled) {
            None => None,
            Some(a) => Some(AdmissionConfig {
                target_version: match &a.target_version {
                    None => None,
                    Some(v) => Some(KubeVersion::parse(v).ok_or_else(|| {
                        InvalidSpec::new(
                            "spec.admission.targetVersion",
                            format!("{v:?} is not a Kubernetes version such as 1.31"),
                        )
                    })?),
                },
                knowledge_base_config_map: a.knowledge_base_config_map.clone().filter(|n| !n.is_empty()),
            }),
        },
        control_plane: None,
        benign_sites_config_map: spec.checks.benign_sites_config_map.clone().filter(|n| !n.trim().is_empty()),
    })
}

/// A positive Go duration.
fn duration(field: &'static str, value: &str) -> Result<Duration, InvalidSpec> {
    let d = parse_go_duration(value).map_err(|e| InvalidSpec::new(field, e.to_string()))?;
    if d.is_zero() {
        return Err(InvalidSpec::new(field, format!("{value:?} must be longer than zero")));
    }
    Ok(d)
}

/// `spec.pprof` without tenancy bounds: for the CLI (which acts with its user's own identity) and tests.
pub fn pprof(spec: &PprofSpec) -> Result<PprofConfig, InvalidSpec> {
    scoped_pprof(spec, Scope::Cluster)
}

/// `spec.pprof` of an audit of `scope`.
pub fn scoped_pprof(spec: &PprofSpec, scope: Scope) -> Result<PprofConfig, InvalidSpec> {
    let port = match &spec.port {
        None => None,
        Some(IntOrString::Int(n)) => Some(PortRef::Number(port_number(i64::from(*n))?)),
        // A numeric string is a port number, as in a Service's targetPort.
        Some(IntOrString::String(s)) => match s.parse::<i64>() {
            Ok(n) => Some(PortRef::Number(port_number(n)?)),
            Err(_) if s.is_empty() => return Err(InvalidSpec::new("spec.pprof.port", "empty port name")),
            Err(_) => Some(PortRef::Name(s.clone())),
        },
    };
    if !spec.path.starts_with('/') {
        return Err(InvalidSpec::new("spec.pprof.path", format!("{:?} must start with /", spec.path)));
    }
    let max_body_bytes = match spec.max_body_bytes {
        None => DEFAULT_MAX_BODY_BYTES,
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| *n >= MIN_BODY_BYTES)
            .ok_or_else(|| InvalidSpec::new("spec.pprof.maxBodyBytes", format!("{n} must be at least 1024")))?,
    };
    let auth = spec.auth.clone().unwrap_or_default();
    let tls = spec.tls.clone().unwrap_or_default();
    // The operator's token goes over verified TLS only: plain http sends it in clear, and skipping
    // verification lets anyone on the path answer as the target.
    if auth.service_account_token && tls.insecure_skip_verify {
        return Err(InvalidSpec::new(
            "spec.pprof.tls.insecureSkipVerify",
            "cannot be combined with auth.serviceAccountToken: the operator's token is only sent over verified TLS",
        ));
    }
    Ok(PprofConfig {
        port,
        path: spec.path.clone(),
        scheme: spec.scheme,
        timeout: duration("spec.pprof.timeout", &spec.timeout)?,
        max_body_bytes,
        bearer_token_secret: auth.bearer_token_secret,
        service_account_token: auth.service_account_token,
        ca_secret: tls.ca_secret,
        insecure_skip_verify: tls.insecure_skip_verify,
        scope,
        infrastructure: Vec::new(),
    })
}

fn port_number(n: i64) -> Result<u16, InvalidSpec> {
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| InvalidSpec::new("spec.pprof.port", format!("{n} is not a valid port")))
}

fn checks(spec: &ChecksSpec) -> Result<ChecksConfig, InvalidSpec> {
    Ok(ChecksConfig {
        trend_window: duration("spec.checks.trendWindow", &spec.trend_window)?,
        full_dump_max_age: parse_go_duration(&spec.full_dump_max_age)
            .map_err(|e| InvalidSpec::new("spec.checks.fullDumpMaxAge", e.to_string()))?,
        goroutine_leak: spec.goroutine_leak.clone(),
        proven_goroutine_leak: ProvenLeakConfig {
            enabled: spec.proven_goroutine_leak.enabled,
            interval: duration("spec.checks.provenGoroutineLeak.interval", &spec.proven_goroutine_leak.interval)?,
        },
        long_blocked_goroutines: spec.long_blocked_goroutines.clone(),
        ticker_loop_growth: spec.ticker_loop_growth.clone(),
        goexit_in_defer: spec.goexit_in_defer.clone(),
        lock_contention: spec.lock_contention.clone(),
        gc_pressure: spec.gc_pressure.clone(),
        go_panic_restarts: spec.go_panic_restarts.clone(),
        goroutine_growth: spec.goroutine_growth.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> GoHealthAuditSpec {
        let mut v = serde_json::json!({"selector": {"matchLabels": {"app": "x"}}});
        if let (Some(base), Some(more)) = (v.as_object_mut(), extra.as_object()) {
            for (k, val) in more {
                base.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn validate_ns(spec: &GoHealthAuditSpec) -> Result<AuditConfig, InvalidSpec> {
        validate(spec, Scope::Namespaced)
    }

    #[test]
    fn cluster_only_fields_are_refused_for_a_namespaced_audit_with_a_reason_naming_them() {
        let ns = spec(serde_json::json!({"namespaceSelector": {}}));
        let err = validate_ns(&ns).unwrap_err();
        assert_eq!((err.field, err.reason), ("spec.namespaceSelector", "NamespaceSelectorNotAllowed"));
        assert!(validate(&ns, Scope::Cluster).is_ok());
        let token = spec(serde_json::json!({"pprof": {"scheme": "https", "auth": {"serviceAccountToken": true}}}));
        let err = validate_ns(&token).unwrap_err();
        assert_eq!((err.field, err.reason), ("spec.pprof.auth.serviceAccountToken", "ServiceAccountTokenNotAllowed"));
        let c = validate(&token, Scope::Cluster).unwrap();
        assert!(c.pprof.service_account_token);
        assert_eq!(c.pprof.scope, Scope::Cluster);
        let unverified = spec(serde_json::json!({"pprof": {"scheme": "https",
            "auth": {"serviceAccountToken": true}, "tls": {"insecureSkipVerify": true}}}));
        assert_eq!(validate(&unverified, Scope::Cluster).unwrap_err().field, "spec.pprof.tls.insecureSkipVerify");
        assert_eq!(validate_ns(&spec(serde_json::json!({}))).unwrap().pprof.scope, Scope::Namespaced);
    }

    #[test]
    fn defaults_validate_to_the_documented_values() {
        let c = validate_ns(&spec(serde_json::json!({}))).unwrap();
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.pprof.timeout, Duration::from_secs(10));
        assert_eq!(c.pprof.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.checks, ChecksConfig::default());
        assert!(c.admission.is_none());
    }

    #[test]
    fn every_bad_duration_names_its_field() {
        let cases = [
            (serde_json::json!({"interval": "5x"}), "spec.interval"),
            (serde_json::json!({"interval": "5s"}), "spec.interval"),
            (serde_json::json!({"pprof": {"timeout": "ten seconds"}}), "spec.pprof.timeout"),
            (serde_json::json!({"pprof": {"timeout": "0s"}}), "spec.pprof.timeout"),
            (serde_json::json!({"checks": {"trendWindow": "1 hour"}}), "spec.checks.trendWindow"),
            (serde_json::json!({"checks": {"trendWindow": "0s"}}), "spec.checks.trendWindow"),
            (
                serde_json::json!({"checks": {"provenGoroutineLeak": {"interval": "often"}}}),
                "spec.checks.provenGoroutineLeak.interval",
            ),
            (serde_json::json!({"pprof": {"port": 70000}}), "spec.pprof.port"),
            (serde_json::json!({"pprof": {"port": "0"}}), "spec.pprof.port"),
            (serde_json::json!({"pprof": {"maxBodyBytes": 10}}), "spec.pprof.maxBodyBytes"),
            (serde_json::json!({"pprof": {"path": "debug"}}), "spec.pprof.path"),
            (
                serde_json::json!({"admission": {"enabled": true, "targetVersion": "next"}}),
                "spec.admission.targetVersion",
            ),
            (serde_json::json!({"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}), "spec.selector"),
        ];
        for (extra, field) in cases {
            let err = validate_ns(&spec(extra.clone())).unwrap_err();
            assert_eq!(err.field, field, "{extra}");
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }

    #[test]
    fn typed_values() {
        let c = validate_ns(&spec(serde_json::json!({
            "interval": "1m30s",
            "pprof": {"port": "6060", "timeout": "2.5s", "maxBodyBytes": 2048},
            "checks": {"trendWindow": "30m", "provenGoroutineLeak": {"interval": "1h"}},
            "admission": {"enabled": true, "targetVersion": "1.25", "knowledgeBaseConfigMap": ""},
        })))
        .unwrap();
        assert_eq!(c.interval, Duration::from_secs(90));
        assert_eq!(c.pprof.port, Some(PortRef::Number(6060)));
        assert_eq!(c.pprof.timeout, Duration::from_millis(2500));
        assert_eq!(c.pprof.max_body_bytes, 2048);
        assert_eq!(c.checks.trend_window, Duration::from_secs(1800));
        assert_eq!(c.checks.proven_goroutine_leak.interval, Duration::from_secs(3600));
        let adm = c.admission.unwrap();
        assert_eq!(adm.target_version, KubeVersion::parse("1.25"));
        assert_eq!(adm.knowledge_base_config_map, None);
        let named = validate_ns(&spec(serde_json::json!({"pprof": {"port": "metrics"}}))).unwrap();
        assert_eq!(named.pprof.port, Some(PortRef::Name("metrics".into())));
        let off =
            validate_ns(&spec(serde_json::json!({"admission": {"enabled": false, "targetVersion": "x"}}))).unwrap();
        assert!(off.admission.is_none(), "a disabled admission audit is not validated");
    }
}
