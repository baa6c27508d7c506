//! `RecommendedAdmissionPluginDisabled`: a plugin the CIS benchmark recommends is off. Raised only
//! when provable: a complete effective set, an explicit disable, or a plugin no release turns on by
//! default that the flags do not enable.

use std::collections::BTreeMap;

use super::{Named, cis_suffix, plugin_finding};
use crate::admission::args::AdmissionFlags;
use crate::admission::effective::Effective;
use crate::admission::kb::{KnowledgeBase, Plugin, Recommended};
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(
    kb: &KnowledgeBase,
    flags: &AdmissionFlags,
    effective: &Effective,
    version: Option<KubeVersion>,
    named: &BTreeMap<String, Named>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &kb.plugins {
        let Some(rec) = &p.recommended else { continue };
        if version.is_some_and(|v| !kb.is_registered(&p.name, v)) {
            continue;
        }
        let explicitly_disabled = named.get(&p.name).is_some_and(|n| n.disable);
        if !provably_off(kb, p, effective, explicitly_disabled) {
            continue;
        }
        let how = if flags.admission_control.is_some() {
            "not in the --admission-control list"
        } else if explicitly_disabled {
            "disabled by --disable-admission-plugins"
        } else {
            "not enabled"
        };
        out.push(finding(p, rec, how));
    }
    out
}

fn provably_off(kb: &KnowledgeBase, p: &Plugin, effective: &Effective, explicitly_disabled: bool) -> bool {
    let running = effective.plugins.contains(&p.name);
    if effective.complete {
        return !running;
    }
    let ever_default = kb.default_enabled.iter().any(|d| d.plugins.contains(&p.name));
    explicitly_disabled || (!ever_default && !running)
}

fn finding(p: &Plugin, rec: &Recommended, how: &str) -> Finding {
    // the KB marks CIS manual items "info"
    let severity = if rec.severity == "info" { Severity::Info } else { Severity::Warning };
    let msg = format!("{} is {how}: {}{}", p.name, rec.reason, cis_suffix(rec.cis.as_ref()));
    let f = plugin_finding(CheckId::RecommendedAdmissionPluginDisabled, severity, &p.name, msg);
    match &rec.cis {
        Some(c) => f.with_evidence("cis", c),
        None => f,
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::admission::args::AdmissionFlags;
    use crate::finding::{CheckId, Severity};

    #[test]
    fn insecure_and_recommended() {
        let kb = kb();
        let e = evaluate(
            &kb,
            &flags(&[
                "--enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction",
                "--disable-admission-plugins=ServiceAccount",
            ]),
            v(37),
            None,
        );
        let i = find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").unwrap();
        assert_eq!(i.evidence["cis"], "1.2.10");
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "AlwaysAdmit").is_some());
        let r = find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.message.contains("disabled by --disable-admission-plugins"));
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_none());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NamespaceLifecycle").is_none());
        // CIS manual items are info
        assert_eq!(
            find(&e, CheckId::RecommendedAdmissionPluginDisabled, "AlwaysPullImages").unwrap().severity,
            Severity::Info
        );
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "NamespaceExists").is_none());
        // 1.9 default --admission-control=AlwaysAdmit is itself insecure
        let e = evaluate(&kb, &AdmissionFlags::default(), v(9), None);
        assert!(find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").is_some());
        // unknown version: NodeRestriction missing is provable, ServiceAccount (default-on) is not
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=AlwaysPullImages"]), None, None);
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_some());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").is_none());
        assert!(e.effective.note.as_deref().is_some_and(|n| n.contains("version unknown")));
    }
}
