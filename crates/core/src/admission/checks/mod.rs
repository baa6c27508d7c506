//! Flags (or the plugins seen in metrics) + version → the admission findings, one module per check
//! id. Pure.
//!
//! [`evaluate`] and [`evaluate_observed`] run the checks in the order of the modules below, then
//! sort and dedupe the findings ([`dedupe`]), so the output order does not depend on the run order.

mod conflicting_admission_plugin;
mod deprecated_admission_flag;
mod deprecated_admission_plugin;
mod insecure_admission_plugin;
mod recommended_admission_plugin_disabled;
mod removed_admission_plugin;
mod unknown_admission_plugin;

#[cfg(test)]
mod testing;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::args::AdmissionFlags;
use super::effective::{Effective, effective};
use super::kb::{KnowledgeBase, Plugin};
use super::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};
use insecure_admission_plugin::Running;

/// Result of evaluating one configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub effective: Effective,
    pub findings: Vec<Finding>,
    /// The version the findings were computed for (target, else current).
    pub evaluated_version: Option<KubeVersion>,
    pub notes: Vec<String>,
}

/// Audits a flag set. `current` is the running/stated version, `target` an upgrade to preview.
pub fn evaluate(
    kb: &KnowledgeBase,
    flags: &AdmissionFlags,
    current: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Evaluation {
    let version = target.or(current);
    let effective = effective(kb, flags, version);
    let named = Named::collect(flags);
    let scope = Scope { kb, version, preview: target.is_some(), gates: &flags.feature_gates, basis: Basis::Flags };
    let running = Running::Flags { effective: &effective, version };

    let mut findings = Vec::new();
    findings.extend(each_name(&named, |n, how| removed_admission_plugin::check(&scope, n, how)));
    findings.extend(each_name(&named, |n, how| deprecated_admission_plugin::check(&scope, n, how)));
    findings.extend(insecure_admission_plugin::check(kb, &running));
    findings.extend(recommended_admission_plugin_disabled::check(kb, flags, &effective, version, &named));
    findings.extend(conflicting_admission_plugin::check(kb, flags, &named));
    findings.extend(each_name(&named, |n, how| unknown_admission_plugin::check(&scope, n, how)));
    findings.extend(deprecated_admission_flag::check(kb, flags, version));
    dedupe(&mut findings);
    Evaluation {
        effective,
        findings,
        evaluated_version: version,
        notes: coverage_note(kb, version).into_iter().collect(),
    }
}

/// Plugins seen in the apiserver's admission metrics: they prove "enabled", never "disabled", so
/// neither the recommended nor the flag-level checks run.
pub fn evaluate_observed(
    kb: &KnowledgeBase,
    observed: &BTreeSet<String>,
    current: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Evaluation {
    let version = target.or(current);
    let no_gates = BTreeMap::new();
    let scope = Scope { kb, version, preview: target.is_some(), gates: &no_gates, basis: Basis::Metrics };
    let named: BTreeMap<String, Named> = observed.iter().map(|n| (n.clone(), Named::RUNNING)).collect();

    let mut findings = Vec::new();
    findings.extend(each_name(&named, |n, how| removed_admission_plugin::check(&scope, n, how)));
    findings.extend(each_name(&named, |n, how| deprecated_admission_plugin::check(&scope, n, how)));
    findings.extend(insecure_admission_plugin::check(kb, &Running::Metrics(observed)));
    findings.extend(each_name(&named, |n, how| unknown_admission_plugin::check(&scope, n, how)));
    dedupe(&mut findings);
    Evaluation {
        effective: Effective {
            plugins: observed.iter().cloned().collect(),
            complete: false,
            note: Some(
                "only plugins that have handled a request appear in /metrics: this proves enabled, never disabled"
                    .into(),
            ),
        },
        findings,
        evaluated_version: version,
        notes: vec![],
    }
}

/// How the names reached the audit. Flags can name anything; metrics name only plugins that ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Basis {
    Flags,
    Metrics,
}

/// What every per-name check reads.
struct Scope<'a> {
    kb: &'a KnowledgeBase,
    /// The version the findings are for (the target, else the current one); None = unknown.
    version: Option<KubeVersion>,
    /// A target version was given: messages speak of the upgrade.
    preview: bool,
    /// `--feature-gates`, for plugins that need one.
    gates: &'a BTreeMap<String, bool>,
    basis: Basis,
}

/// Which flags name a plugin.
#[derive(Clone, Copy, Debug, Default)]
struct Named {
    enable: bool,
    disable: bool,
    control: bool,
}

impl Named {
    /// A plugin seen running (metrics): as if enabled.
    const RUNNING: Named = Named { enable: true, disable: false, control: false };

    /// Every name the flags mention, with the flags that mention it.
    fn collect(flags: &AdmissionFlags) -> BTreeMap<String, Named> {
        let mut named: BTreeMap<String, Named> = BTreeMap::new();
        for n in flags.enable.iter().flatten() {
            named.entry(n.clone()).or_default().enable = true;
        }
        for n in flags.disable.iter().flatten() {
            named.entry(n.clone()).or_default().disable = true;
        }
        for n in flags.admission_control.iter().flatten() {
            named.entry(n.clone()).or_default().control = true;
        }
        named
    }

    fn enabled(self) -> bool {
        self.enable || self.control
    }

    fn flags(self) -> String {
        let mut v = Vec::new();
        if self.enable {
            v.push("--enable-admission-plugins");
        }
        if self.disable {
            v.push("--disable-admission-plugins");
        }
        if self.control {
            v.push("--admission-control");
        }
        v.join(",")
    }

    /// kube-apiserver's own error text for the first flag naming it.
    fn startup_error(self, kb: &KnowledgeBase, name: &str) -> String {
        let t = if self.control {
            &kb.startup.admission_control_unknown
        } else if self.enable {
            &kb.startup.enable_unknown
        } else {
            &kb.startup.disable_unknown
        };
        t.replace("{name}", name)
    }
}

fn each_name(
    named: &BTreeMap<String, Named>,
    check: impl Fn(&str, Named) -> Option<Finding>,
) -> impl Iterator<Item = Finding> {
    named.iter().filter_map(move |(name, how)| check(name, *how))
}

fn coverage_note(kb: &KnowledgeBase, version: Option<KubeVersion>) -> Option<String> {
    let v = version.filter(|v| !kb.covers(*v))?;
    Some(format!(
        "{v} is outside the knowledge base ({}–{}); findings rely on what is known up to {}",
        kb.coverage.from, kb.coverage.to, kb.coverage.to
    ))
}

trait EvidenceExt {
    fn with_evidence_opt(self, key: &str, value: Option<KubeVersion>) -> Self;
}

impl EvidenceExt for Finding {
    fn with_evidence_opt(self, key: &str, value: Option<KubeVersion>) -> Self {
        match value {
            Some(v) => self.with_evidence(key, v),
            None => self,
        }
    }
}

/// A finding about one named plugin.
fn plugin_finding(check: CheckId, severity: Severity, plugin: &str, message: String) -> Finding {
    let mut f = Finding::new(check, severity, message);
    f.plugin = Some(plugin.to_string());
    f
}

fn replacement_text(p: &Plugin) -> String {
    p.replacement.as_ref().map(|r| format!(" Replacement: {}.", r.text)).unwrap_or_default()
}

/// " (CIS 1.2.10)" when the fact names a CIS item.
fn cis_suffix(cis: Option<&String>) -> String {
    cis.map(|c| format!(" (CIS {c})")).unwrap_or_default()
}

/// Same check + plugin once, most severe first; stable order for output.
fn dedupe(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.check.cmp(&b.check))
            .then(a.plugin.cmp(&b.plugin))
            .then(a.message.cmp(&b.message))
    });
    let mut seen = BTreeSet::new();
    findings.retain(|f| seen.insert((f.check, f.plugin.clone(), f.evidence.get("reason").cloned())));
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    /// The controller keeps firstSeen by `Finding::key()`: one evaluation never yields two
    /// findings with the same key, whatever the flags.
    #[test]
    fn finding_keys_are_unique() {
        let kb = kb();
        let mut names: Vec<String> = kb.plugins.iter().map(|p| p.name.clone()).collect();
        names.extend(kb.not_admission_plugins.iter().map(|n| n.name.clone()));
        names.push("Bogus".into());
        let all = names.join(",");
        let enable = format!("--enable-admission-plugins={all}");
        let disable = format!("--disable-admission-plugins={all}");
        let control = format!("--admission-control={all}");
        let gate_args = [enable.as_str(), "--feature-gates=SecurityContextDeny=false"];
        for args in [
            vec![enable.as_str()],
            vec![enable.as_str(), disable.as_str()],
            vec![control.as_str(), disable.as_str()],
            gate_args.to_vec(),
        ] {
            for version in [9, 10, 14, 20, 21, 25, 28, 30, 31, 36, 37, 38].map(v).into_iter().chain([None]) {
                for target in [None, v(38)] {
                    let e = evaluate(&kb, &flags(&args), version, target);
                    let mut keys = BTreeSet::new();
                    for f in &e.findings {
                        assert!(keys.insert(f.key()), "duplicate key {} at {version:?}", f.key());
                    }
                }
            }
        }
    }

    #[test]
    fn observed_metrics_prove_enabled_only() {
        let kb = kb();
        let seen: BTreeSet<String> =
            ["AlwaysAdmit", "NamespaceLifecycle", "MutatingAdmissionWebhook"].iter().map(|s| s.to_string()).collect();
        let e = evaluate_observed(&kb, &seen, v(30), None);
        assert!(!e.effective.complete);
        assert!(find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").is_some());
        assert!(e.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
        let seen: BTreeSet<String> = ["PodSecurityPolicy".to_string()].into();
        let e = evaluate_observed(&kb, &seen, v(24), v(25));
        assert!(find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").is_some());
    }
}
