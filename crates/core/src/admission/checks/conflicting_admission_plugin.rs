//! `ConflictingAdmissionPlugin`: a name both enabled and disabled, or `--admission-control` combined
//! with `--enable/--disable-admission-plugins`. kube-apiserver refuses to start either way.

use std::collections::BTreeMap;

use super::{Named, plugin_finding};
use crate::admission::args::AdmissionFlags;
use crate::admission::kb::KnowledgeBase;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(kb: &KnowledgeBase, flags: &AdmissionFlags, named: &BTreeMap<String, Named>) -> Vec<Finding> {
    let mut out = overlapping(kb, named);
    if flags.admission_control.is_some() && (flags.enable.is_some() || flags.disable.is_some()) {
        out.push(mutually_exclusive(kb));
    }
    out
}

/// One finding per name in both lists; each quotes the apiserver's one error for all of them.
fn overlapping(kb: &KnowledgeBase, named: &BTreeMap<String, Named>) -> Vec<Finding> {
    let both: Vec<(&String, &Named)> = named.iter().filter(|(_, h)| h.enable && h.disable).collect();
    // Go prints the sorted overlap as one "[A B]" list
    let names: Vec<&str> = both.iter().map(|(n, _)| n.as_str()).collect();
    let msg = kb.startup.overlap.replace("{names}", &names.join(" "));
    both.into_iter()
        .map(|(name, how)| {
            plugin_finding(
                CheckId::ConflictingAdmissionPlugin,
                Severity::Critical,
                name,
                format!(
                    "{name} is both enabled and disabled; kube-apiserver refuses to start: \"{msg}\". Remove it from one of the flags"
                ),
            )
            .with_evidence("flag", how.flags())
            .with_evidence("startupError", msg.clone())
        })
        .collect()
}

fn mutually_exclusive(kb: &KnowledgeBase) -> Finding {
    let err = &kb.startup.mutually_exclusive;
    Finding::new(
        CheckId::ConflictingAdmissionPlugin,
        Severity::Critical,
        format!(
            "--admission-control is combined with --enable/--disable-admission-plugins; kube-apiserver refuses to start: \"{err}\""
        ),
    )
    .with_evidence("reason", "MutuallyExclusiveFlags")
    .with_evidence("startupError", err.clone())
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::finding::{CheckId, Severity};

    #[test]
    fn conflicting_and_mutually_exclusive() {
        let kb = kb();
        let e = evaluate(
            &kb,
            &flags(&["--enable-admission-plugins=AlwaysPullImages", "--disable-admission-plugins=AlwaysPullImages"]),
            v(30),
            None,
        );
        let c = find(&e, CheckId::ConflictingAdmissionPlugin, "AlwaysPullImages").unwrap();
        let two =
            evaluate(&kb, &flags(&["--enable-admission-plugins=B,A", "--disable-admission-plugins=A,B"]), v(30), None);
        assert_eq!(
            two.findings.iter().find(|f| f.check == CheckId::ConflictingAdmissionPlugin).unwrap().evidence["startupError"],
            "[A B] in enable-admission-plugins and disable-admission-plugins overlapped"
        );
        assert_eq!(c.severity, Severity::Critical);
        assert!(
            c.message
                .contains("[AlwaysPullImages] in enable-admission-plugins and disable-admission-plugins overlapped")
        );
        let e = evaluate(
            &kb,
            &flags(&["--admission-control=NamespaceLifecycle", "--enable-admission-plugins=NodeRestriction"]),
            v(30),
            None,
        );
        assert!(e.findings.iter().any(|f| f.check == CheckId::ConflictingAdmissionPlugin
            && f.evidence.get("reason").map(String::as_str) == Some("MutuallyExclusiveFlags")));
    }
}
