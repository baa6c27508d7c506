//! Flags + version → the plugins kube-apiserver runs. Pure.

use std::collections::BTreeSet;

use serde::Serialize;

use super::args::AdmissionFlags;
use super::kb::{DefaultSet, KnowledgeBase};
use super::version::KubeVersion;

/// The plugins kube-apiserver runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effective {
    /// Sorted plugin names.
    pub plugins: Vec<String>,
    /// False when this is a lower bound (version unknown, or only observed in metrics).
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// effective = defaults(version) ∪ enabled − disabled, or exactly the `--admission-control` list.
pub fn effective(kb: &KnowledgeBase, flags: &AdmissionFlags, version: Option<KubeVersion>) -> Effective {
    match &flags.admission_control {
        Some(list) => exact_list(kb, list, version),
        None => defaults_plus_flags(kb, flags, version),
    }
}

/// `--admission-control` replaces the default list.
fn exact_list(kb: &KnowledgeBase, list: &[String], version: Option<KubeVersion>) -> Effective {
    let mut plugins: BTreeSet<String> = list.iter().cloned().collect();
    if let Some(v) = version {
        plugins.retain(|p| can_run(kb, p, v));
    }
    Effective {
        plugins: plugins.into_iter().collect(),
        complete: true,
        note: Some("--admission-control replaces the default list: exactly these plugins run".into()),
    }
}

fn defaults_plus_flags(kb: &KnowledgeBase, flags: &AdmissionFlags, version: Option<KubeVersion>) -> Effective {
    let disable: BTreeSet<&String> = flags.disable.iter().flatten().collect();
    let defaults = version.and_then(|v| kb.defaults(v));
    let mut set: BTreeSet<String> = defaults.map(|d| d.plugins.iter().cloned().collect()).unwrap_or_default();
    // a feature gate or invented name never runs, whatever the version
    set.extend(flags.enable.iter().flatten().filter(|n| kb.not_a_plugin(n).is_none()).cloned());
    set.retain(|p| !disable.contains(p));
    if let Some(v) = version {
        set.retain(|p| can_run(kb, p, v));
    }
    Effective {
        plugins: set.into_iter().collect(),
        complete: defaults.is_some(),
        note: defaults_note(kb, version, defaults),
    }
}

/// Names the apiserver does not register at `v` cannot run (it would not start); beyond the KB a
/// name it has never heard of may be a new plugin, so it is kept.
fn can_run(kb: &KnowledgeBase, name: &str, v: KubeVersion) -> bool {
    kb.is_registered(name, v) || (v > kb.coverage.to && kb.plugin(name).is_none())
}

fn defaults_note(kb: &KnowledgeBase, version: Option<KubeVersion>, defaults: Option<&DefaultSet>) -> Option<String> {
    match (version, defaults) {
        (None, _) => Some(
            "Kubernetes version unknown: default-on plugins are not included (only what the flags enable) and removals are stated conditionally; pass the version to be exact"
                .into(),
        ),
        (Some(v), None) => Some(format!(
            "{v} is outside the knowledge base ({}–{}): its default-on plugins are unknown and not included",
            kb.coverage.from, kb.coverage.to
        )),
        (Some(_), Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::args::flags_from_args;

    #[test]
    fn effective_is_defaults_plus_enabled_minus_disabled() {
        let kb = KnowledgeBase::embedded().expect("embedded KB");
        let v = |m| Some(KubeVersion::new(1, m));
        let e = effective(
            &kb,
            &flags_from_args(&[
                "--enable-admission-plugins=NodeRestriction",
                "--disable-admission-plugins=DefaultStorageClass",
            ]),
            v(37),
        );
        assert!(e.complete);
        assert!(e.plugins.contains(&"NodeRestriction".to_string()));
        assert!(e.plugins.contains(&"NamespaceLifecycle".to_string()));
        assert!(!e.plugins.contains(&"DefaultStorageClass".to_string()));
        assert_eq!(e.plugins.len(), 25);
        let unknown = effective(&kb, &flags_from_args(&["--enable-admission-plugins=NodeRestriction"]), None);
        assert!(!unknown.complete);
        assert_eq!(unknown.plugins, vec!["NodeRestriction"]);
        assert!(unknown.note.unwrap().contains("version unknown"));
    }
}
