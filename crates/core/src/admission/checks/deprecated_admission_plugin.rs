//! `DeprecatedAdmissionPlugin`: an enabled plugin that is deprecated at the evaluated version or has
//! a known later removal (an upgrade blocker to announce). A plugin that needs a feature gate the
//! flags do not set makes the finding critical: kube-apiserver would not start.

use std::collections::BTreeMap;

use super::{Basis, EvidenceExt, Named, Scope, plugin_finding, replacement_text};
use crate::admission::kb::{FeatureGate, Plugin, Registration, VersionFact};
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(scope: &Scope, name: &str, how: Named) -> Option<Finding> {
    if !how.enabled() {
        return None; // disabling a registered plugin is never a deprecation problem
    }
    let Some(v) = scope.version else {
        let p = scope.kb.plugin(name)?;
        // a known removal is the stronger statement (RemovedAdmissionPlugin)
        if p.removed.is_some() {
            return None;
        }
        let d = p.deprecated.as_ref()?;
        let msg = format!("{name} is deprecated since {}.{}", d.in_version, replacement_text(p));
        return Some(
            plugin_finding(CheckId::DeprecatedAdmissionPlugin, Severity::Warning, name, msg)
                .with_evidence("deprecatedIn", d.in_version),
        );
    };
    match scope.kb.registration(name, v) {
        Registration::Registered(p) => registered(scope, p, how, v),
        _ => None,
    }
}

/// A registered plugin at `v`: deprecated, removed later, or missing its feature gate.
fn registered(scope: &Scope, p: &Plugin, how: Named, v: KubeVersion) -> Option<Finding> {
    let removal = p.removed.as_ref().map(|r| r.in_version);
    let deprecated = p.deprecated.as_ref().filter(|d| v >= d.in_version);
    let gate = missing_gate(p, v, scope.gates);
    // metrics carry no --feature-gates, so the gate requirement cannot be judged there
    if gate.is_some() && scope.basis == Basis::Metrics {
        return None;
    }
    let mut msg = lifecycle(&p.name, deprecated, removal);
    if let Some(g) = gate {
        if !msg.is_empty() {
            msg.push_str(". ");
        }
        msg.push_str(&gate_text(g));
    }
    if msg.is_empty() {
        return None;
    }
    msg.push('.');
    msg.push_str(&replacement_text(p));
    // the plugin factory fails without its gate: a startup error, so the one finding turns critical
    let severity = if gate.is_some() { Severity::Critical } else { Severity::Warning };
    let mut f = plugin_finding(CheckId::DeprecatedAdmissionPlugin, severity, &p.name, msg)
        .with_evidence("flag", how.flags())
        .with_evidence_opt("deprecatedIn", deprecated.map(|d| d.in_version))
        .with_evidence_opt("removedIn", removal);
    if let Some(g) = gate {
        f = f.with_evidence("reason", "FeatureGateRequired").with_evidence("featureGate", g.name.clone());
        if scope.preview {
            f = f.with_evidence("preview", "true");
        }
    }
    Some(f)
}

/// "deprecated since …", "removed in …", both, or nothing; with the deprecation's note.
fn lifecycle(name: &str, deprecated: Option<&VersionFact>, removal: Option<KubeVersion>) -> String {
    let mut msg = match (deprecated, removal) {
        (Some(d), Some(r)) => format!(
            "{name} is deprecated since {} and removed in {r}: kube-apiserver {r} and later will not start with it",
            d.in_version
        ),
        (Some(d), None) => format!("{name} is deprecated since {} (still registered)", d.in_version),
        // not (yet) deprecated at v but gone in a later release: still an upgrade blocker to announce
        (None, Some(r)) => format!("{name} is removed in {r}: kube-apiserver {r} and later will not start with it"),
        (None, None) => String::new(),
    };
    if let Some(note) = deprecated.and_then(|d| d.note.as_ref()) {
        msg.push_str(&format!("; {note}"));
    }
    msg
}

/// The gate the plugin needs at `v` when the flags do not turn it on.
fn missing_gate<'a>(p: &'a Plugin, v: KubeVersion, gates: &BTreeMap<String, bool>) -> Option<&'a FeatureGate> {
    p.feature_gate.as_ref().filter(|g| g.from <= v && v <= g.to && gates.get(&g.name) != Some(&true))
}

fn gate_text(g: &FeatureGate) -> String {
    format!(
        "In {}–{} it also needs --feature-gates={}=true: {}",
        g.from,
        g.to,
        g.name,
        g.note.clone().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::finding::{CheckId, Severity};

    #[test]
    fn psp_upgrade_preview() {
        let kb = kb();
        let f = flags(&["--enable-admission-plugins=NodeRestriction,PodSecurityPolicy"]);
        let now = evaluate(&kb, &f, v(24), None);
        let dep = find(&now, CheckId::DeprecatedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(dep.severity, Severity::Warning);
        assert_eq!(dep.evidence["removedIn"], "1.25");
        assert_eq!(dep.evidence["deprecatedIn"], "1.21");
        assert!(find(&now, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").is_none());

        let up = evaluate(&kb, &f, v(24), v(25));
        assert_eq!(up.evaluated_version, v(25));
        let rem = find(&up, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(rem.severity, Severity::Critical);
        assert!(rem.message.contains("kube-apiserver 1.25 and later will not start"), "{}", rem.message);
        assert!(rem.message.contains("enable-admission-plugins plugin \"PodSecurityPolicy\" is unknown"));
        assert!(rem.message.contains("PodSecurity"), "replacement named");
        assert_eq!(rem.evidence["removedIn"], "1.25");
        assert_eq!(rem.evidence["deprecatedIn"], "1.21");
        // running version says "refuses"
        let run = evaluate(&kb, &f, v(26), None);
        let rem = find(&run, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert!(rem.message.contains("kube-apiserver 1.26 refuses to start"), "{}", rem.message);
    }

    #[test]
    fn security_context_deny_needs_its_gate_in_1_27_to_1_29() {
        let kb = kb();
        let on = flags(&["--enable-admission-plugins=SecurityContextDeny"]);
        let e = evaluate(&kb, &on, v(28), None);
        let g = e
            .findings
            .iter()
            .find(|f| f.evidence.get("reason").map(String::as_str) == Some("FeatureGateRequired"))
            .unwrap();
        assert_eq!(g.severity, Severity::Critical);
        let gated =
            flags(&["--enable-admission-plugins=SecurityContextDeny", "--feature-gates=SecurityContextDeny=true"]);
        let e = evaluate(&kb, &gated, v(28), None);
        assert!(e.findings.iter().all(|f| f.evidence.get("reason").map(String::as_str) != Some("FeatureGateRequired")));
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "SecurityContextDeny").is_some());
        let e = evaluate(&kb, &on, v(26), None);
        let d = find(&e, CheckId::DeprecatedAdmissionPlugin, "SecurityContextDeny").unwrap();
        assert_eq!(d.evidence["removedIn"], "1.30");
    }
}
