//! `RemovedAdmissionPlugin`: a flag names a plugin the evaluated version no longer registers.
//! kube-apiserver validates every name in the flags, disabled ones too, so it refuses to start.

use super::{EvidenceExt, Named, Scope, plugin_finding, replacement_text};
use crate::admission::kb::{Plugin, Registration, VersionFact};
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(scope: &Scope, name: &str, how: Named) -> Option<Finding> {
    let Some(v) = scope.version else {
        // the version is unknown: a removal the KB knows of is a blocker only from that release on
        let p = scope.kb.plugin(name)?;
        return p.removed.as_ref().map(|r| conditional(scope, p, r, how));
    };
    match scope.kb.registration(name, v) {
        Registration::Removed(p) => Some(removed_at(scope, p, how, v)),
        _ => None,
    }
}

/// The plugin is gone at `v`.
fn removed_at(scope: &Scope, p: &Plugin, how: Named, v: KubeVersion) -> Finding {
    let name = p.name.as_str();
    let removed = p.removed.as_ref().map(|r| r.in_version).unwrap_or(v);
    let startup_error = how.startup_error(scope.kb, name);
    let only_disabled = !how.enabled();
    let refuses = if scope.preview {
        format!("kube-apiserver {removed} and later will not start")
    } else {
        format!("kube-apiserver {v} refuses to start")
    };
    let named_how = if only_disabled { "named in --disable-admission-plugins" } else { "enabled" };
    let mut msg = format!("{name} is {named_how}; it was removed in {removed}: {refuses} (\"{startup_error}\").");
    if only_disabled {
        msg.push_str(" kube-apiserver validates disabled names too: delete it from the flag.");
    } else {
        msg.push_str(&replacement_text(p));
    }
    plugin_finding(CheckId::RemovedAdmissionPlugin, Severity::Critical, name, msg)
        .with_evidence("removedIn", removed)
        .with_evidence("flag", how.flags())
        .with_evidence("startupError", startup_error)
        .with_evidence_opt("deprecatedIn", p.deprecated.as_ref().map(|d| d.in_version))
}

/// Version unknown: stated conditionally, a warning when enabled, info when only disabled.
fn conditional(scope: &Scope, p: &Plugin, removed: &VersionFact, how: Named) -> Finding {
    let name = p.name.as_str();
    let r = removed.in_version;
    let severity = if how.enabled() { Severity::Warning } else { Severity::Info };
    let msg = format!(
        "{name} was removed in {r}: if this kube-apiserver is {r} or later it will not start (\"{}\"); the version is unknown.{}",
        how.startup_error(scope.kb, name),
        replacement_text(p)
    );
    plugin_finding(CheckId::RemovedAdmissionPlugin, severity, name, msg)
        .with_evidence("removedIn", r)
        .with_evidence("flag", how.flags())
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::finding::{CheckId, Severity};

    /// Every removed plugin in the KB: enabling it is fine (no Removed/Unknown) in its last
    /// version and a critical RemovedAdmissionPlugin from its removal on.
    #[test]
    fn every_removed_plugin_blocks_from_its_removal() {
        let kb = kb();
        let mut n = 0;
        for p in kb.plugins.iter().filter(|p| p.removed.is_some()) {
            n += 1;
            let removed = p.removed.as_ref().unwrap().in_version;
            let last = p.registered.to.unwrap();
            let arg = format!("--enable-admission-plugins={}", p.name);
            let f = flags(&[arg.as_str()]);
            let before = evaluate(&kb, &f, Some(last), None);
            assert!(find(&before, CheckId::RemovedAdmissionPlugin, &p.name).is_none(), "{}", p.name);
            assert!(find(&before, CheckId::UnknownAdmissionPlugin, &p.name).is_none(), "{}", p.name);
            let after = evaluate(&kb, &f, Some(last), Some(removed));
            let r = find(&after, CheckId::RemovedAdmissionPlugin, &p.name)
                .unwrap_or_else(|| panic!("{} at {removed}", p.name));
            assert_eq!(r.severity, Severity::Critical);
            assert_eq!(r.evidence["removedIn"], removed.to_string());
            assert!(r.message.contains(&format!("kube-apiserver {removed} and later will not start")));
        }
        assert!(n >= 11);
    }

    #[test]
    fn removed_plugin_only_disabled_still_stops_the_apiserver() {
        // verified against kube-apiserver v1.37.2: disable names are validated as well
        let kb = kb();
        let e = evaluate(&kb, &flags(&["--disable-admission-plugins=PodSecurityPolicy"]), v(24), v(25));
        let r = find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(r.severity, Severity::Critical);
        assert!(r.message.contains("disable-admission-plugins plugin \"PodSecurityPolicy\" is unknown"));
        assert!(r.message.contains("delete it from the flag"));
        // ... but a disabled, still-registered deprecated plugin is no deprecation problem
        let e = evaluate(&kb, &flags(&["--disable-admission-plugins=PodSecurityPolicy"]), v(24), None);
        assert!(e.findings.iter().all(|f| f.plugin.as_deref() != Some("PodSecurityPolicy")));
    }

    #[test]
    fn unknown_version_states_removal_conditionally() {
        let kb = kb();
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=PodSecurityPolicy"]), None, None);
        let r = find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.message.contains("version is unknown"));
        assert_eq!(e.evaluated_version, None);
    }
}
