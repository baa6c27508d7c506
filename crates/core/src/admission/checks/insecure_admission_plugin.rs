//! `InsecureAdmissionPlugin`: a plugin the KB marks insecure (AlwaysAdmit, CIS 1.2.10) runs.

use std::collections::BTreeSet;

use super::{cis_suffix, plugin_finding};
use crate::admission::effective::Effective;
use crate::admission::kb::{Insecure, KnowledgeBase, Plugin};
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

/// How the audit knows which plugins run; it decides the wording and the evidence.
pub(super) enum Running<'a> {
    /// The effective set derived from the flags, at the evaluated version.
    Flags { effective: &'a Effective, version: Option<KubeVersion> },
    /// Plugins seen in the apiserver's admission metrics.
    Metrics(&'a BTreeSet<String>),
}

impl Running<'_> {
    fn runs(&self, kb: &KnowledgeBase, p: &Plugin) -> bool {
        match self {
            Running::Flags { effective, version } => {
                effective.plugins.contains(&p.name) && version.is_none_or(|v| kb.is_registered(&p.name, v))
            }
            Running::Metrics(seen) => seen.contains(&p.name),
        }
    }
}

pub(super) fn check(kb: &KnowledgeBase, running: &Running) -> Vec<Finding> {
    kb.plugins
        .iter()
        .filter_map(|p| p.insecure.as_ref().filter(|_| running.runs(kb, p)).map(|ins| finding(p, ins, running)))
        .collect()
}

fn finding(p: &Plugin, ins: &Insecure, running: &Running) -> Finding {
    let message = match running {
        Running::Flags { .. } => format!(
            "{} is enabled: {}{}. Remove it from the admission flags",
            p.name,
            ins.reason,
            cis_suffix(ins.cis.as_ref())
        ),
        Running::Metrics(_) => {
            format!("{} handles requests (seen in the apiserver's admission metrics): {}", p.name, ins.reason)
        }
    };
    let mut f = plugin_finding(CheckId::InsecureAdmissionPlugin, Severity::Warning, &p.name, message);
    if let Some(c) = &ins.cis {
        f = f.with_evidence("cis", c);
    }
    // the flag wording advises editing the flags, where the deprecation matters too; the metrics
    // finding has never carried it, and its evidence stays as it was
    if let (Running::Flags { .. }, Some(d)) = (running, &p.deprecated) {
        f = f.with_evidence("deprecatedIn", d.in_version);
    }
    f
}
