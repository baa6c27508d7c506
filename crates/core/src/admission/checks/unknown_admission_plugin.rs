//! `UnknownAdmissionPlugin`: a name that is no plugin at the evaluated version: not added yet, a
//! feature gate or invented name, a typo, or an untrimmed name. kube-apiserver refuses to start,
//! except that a version newer than the KB may know the name (then a warning).

use super::{Basis, Named, Scope, plugin_finding};
use crate::admission::kb::{KnowledgeBase, NotAPlugin, Plugin, Registration};
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(scope: &Scope, name: &str, how: Named) -> Option<Finding> {
    // kube-apiserver splits the lists on commas without trimming; metrics names are exact
    let whitespace = scope.basis == Basis::Flags && (name.trim() != name || name.is_empty());
    let kb = scope.kb;
    let Some(v) = scope.version else { return unknown_version(kb, name, how, whitespace) };
    match kb.registration(name, v) {
        Registration::NotYet(p) => Some(not_yet(kb, p, how, v)),
        // unknown names in metrics are plugins of a newer or patched build: not an error
        Registration::NotAPlugin(_) | Registration::Unknown if scope.basis == Basis::Metrics => None,
        Registration::NotAPlugin(n) => Some(
            not_a_plugin(kb, name, how, n)
                .with_evidence("flag", how.flags())
                .with_evidence("startupError", how.startup_error(kb, name)),
        ),
        Registration::Unknown => Some(never_registered(kb, name, how, v, whitespace)),
        Registration::Registered(_) | Registration::Removed(_) => None,
    }
}

fn not_yet(kb: &KnowledgeBase, p: &Plugin, how: Named, v: KubeVersion) -> Finding {
    let name = p.name.as_str();
    let startup_error = how.startup_error(kb, name);
    let msg = format!(
        "{name} is not registered in {v} (it was added in {}); kube-apiserver {v} refuses to start: \"{startup_error}\"",
        p.registered.from,
    );
    plugin_finding(CheckId::UnknownAdmissionPlugin, Severity::Critical, name, msg)
        .with_evidence("addedIn", p.registered.from)
        .with_evidence("flag", how.flags())
        .with_evidence("startupError", startup_error)
}

/// A feature gate, an invented or a renamed name: the KB explains what it is.
fn not_a_plugin(kb: &KnowledgeBase, name: &str, how: Named, n: &NotAPlugin) -> Finding {
    let msg = format!("{}; kube-apiserver refuses to start: \"{}\"", n.explanation, how.startup_error(kb, name));
    plugin_finding(CheckId::UnknownAdmissionPlugin, Severity::Critical, name, msg)
        .with_evidence("reason", n.kind.clone())
}

/// A name the KB has never heard of, at a known version.
fn never_registered(kb: &KnowledgeBase, name: &str, how: Named, v: KubeVersion, whitespace: bool) -> Finding {
    let startup_error = how.startup_error(kb, name);
    let beyond = v > kb.coverage.to;
    let mut msg = if whitespace {
        format!(
            "{name:?} is not a plugin name: kube-apiserver does not trim spaces in the list, so it refuses to start: \"{startup_error}\""
        )
    } else if beyond {
        format!(
            "{name} is not an admission plugin in any release up to {}; {v} is newer than the knowledge base, so check it against that release",
            kb.coverage.to
        )
    } else {
        format!("{name} is not an admission plugin of kube-apiserver {v}; it refuses to start: \"{startup_error}\"")
    };
    if let Some(close) = closest(kb, name) {
        msg.push_str(&format!(" Did you mean {close}?"));
    }
    // a newer release may have added the name: only a spacing error is certain to stop it
    let certain = !beyond || whitespace;
    let severity = if certain { Severity::Critical } else { Severity::Warning };
    let f = plugin_finding(CheckId::UnknownAdmissionPlugin, severity, name, msg).with_evidence("flag", how.flags());
    if certain { f.with_evidence("startupError", startup_error) } else { f }
}

/// Version unknown: only what holds in every release the KB covers.
fn unknown_version(kb: &KnowledgeBase, name: &str, how: Named, whitespace: bool) -> Option<Finding> {
    if kb.plugin(name).is_some() {
        return None; // a known plugin: removal and deprecation are the other checks' business
    }
    if let Some(n) = kb.not_a_plugin(name) {
        return Some(not_a_plugin(kb, name, how, n));
    }
    let msg = format!(
        "{name:?} is not an admission plugin in any kube-apiserver release {}–{}{}",
        kb.coverage.from,
        kb.coverage.to,
        if whitespace { " (kube-apiserver does not trim spaces in the list)" } else { "" }
    );
    let severity = if whitespace { Severity::Critical } else { Severity::Warning };
    Some(plugin_finding(CheckId::UnknownAdmissionPlugin, severity, name, msg))
}

/// A known plugin whose name differs only in case or by at most two edits (typos).
fn closest(kb: &KnowledgeBase, name: &str) -> Option<String> {
    let lower = name.trim().to_ascii_lowercase();
    kb.plugins
        .iter()
        .map(|p| p.name.as_str())
        .find(|p| p.to_ascii_lowercase() == lower || edit_distance(&p.to_ascii_lowercase(), &lower) <= 2)
        .map(String::from)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::finding::{CheckId, Severity};

    /// Every plugin in the KB, enabled in each version it is registered: never Unknown/Removed;
    /// enabled one version before it exists: Unknown (critical).
    #[test]
    fn every_plugin_registered_or_unknown_by_version() {
        let kb = kb();
        for p in &kb.plugins {
            let arg = format!("--enable-admission-plugins={}", p.name);
            let f = flags(&[arg.as_str()]);
            let to = p.registered.to.unwrap_or(kb.coverage.to);
            for m in p.registered.from.minor..=to.minor {
                let e = evaluate(&kb, &f, v(m), None);
                assert!(find(&e, CheckId::UnknownAdmissionPlugin, &p.name).is_none(), "{} 1.{m}", p.name);
                assert!(find(&e, CheckId::RemovedAdmissionPlugin, &p.name).is_none(), "{} 1.{m}", p.name);
                assert!(e.effective.plugins.contains(&p.name));
            }
            if p.registered.from > kb.coverage.from {
                let e = evaluate(&kb, &f, v(p.registered.from.minor - 1), None);
                let u = find(&e, CheckId::UnknownAdmissionPlugin, &p.name).unwrap_or_else(|| panic!("{}", p.name));
                assert_eq!(u.severity, Severity::Critical);
                assert!(u.message.contains("was added in"));
            }
        }
    }

    #[test]
    fn not_admission_plugins_are_unknown_with_explanation() {
        let kb = kb();
        for n in &kb.not_admission_plugins {
            let arg = format!("--disable-admission-plugins={}", n.name);
            let e = evaluate(&kb, &flags(&[arg.as_str()]), v(37), None);
            let u = find(&e, CheckId::UnknownAdmissionPlugin, &n.name).unwrap_or_else(|| panic!("{}", n.name));
            assert_eq!(u.severity, Severity::Critical);
            assert!(u.message.contains(&n.explanation));
            assert!(u.message.contains("disable-admission-plugins plugin"));
        }
        for (name, says) in [
            ("PodPriority", "PodPriority is a feature gate, not an admission plugin"),
            ("LegacyServiceAccountTokenNoAutoGeneration", "is a feature gate"),
            ("RuntimeClassHandler", "the plugin is RuntimeClass"),
        ] {
            for version in [v(30), None] {
                let arg = format!("--enable-admission-plugins={name}");
                let e = evaluate(&kb, &flags(&[arg.as_str()]), version, None);
                let u = find(&e, CheckId::UnknownAdmissionPlugin, name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(u.severity, Severity::Critical);
                assert!(u.message.contains(says), "{}", u.message);
            }
        }
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=NodeRestrictoin"]), v(30), None);
        let u = find(&e, CheckId::UnknownAdmissionPlugin, "NodeRestrictoin").unwrap();
        assert!(u.message.contains("Did you mean NodeRestriction?"));
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=NodeRestriction, AlwaysPullImages"]), v(30), None);
        let u = find(&e, CheckId::UnknownAdmissionPlugin, " AlwaysPullImages").unwrap();
        assert!(u.message.contains("does not trim spaces"));
        // newer than the KB: not claimed to stop the apiserver
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=BrandNew"]), v(39), None);
        assert_eq!(find(&e, CheckId::UnknownAdmissionPlugin, "BrandNew").unwrap().severity, Severity::Warning);
    }
}
