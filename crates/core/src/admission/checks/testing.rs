//! Helpers the check modules' tests share.

use crate::admission::args::{AdmissionFlags, flags_from_args};
use crate::admission::kb::KnowledgeBase;
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding};

use super::Evaluation;

pub(super) fn kb() -> KnowledgeBase {
    KnowledgeBase::embedded().expect("embedded KB")
}

pub(super) fn v(m: u32) -> Option<KubeVersion> {
    Some(KubeVersion::new(1, m))
}

pub(super) fn flags(args: &[&str]) -> AdmissionFlags {
    flags_from_args(args)
}

pub(super) fn find<'a>(e: &'a Evaluation, check: CheckId, plugin: &str) -> Option<&'a Finding> {
    e.findings.iter().find(|f| f.check == check && f.plugin.as_deref() == Some(plugin))
}
