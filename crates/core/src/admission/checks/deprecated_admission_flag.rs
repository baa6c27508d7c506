//! `DeprecatedAdmissionFlag`: `--admission-control` is used. It has been deprecated since 1.10 and
//! replaces the whole default list, so a plugin added later never runs.

use crate::admission::args::AdmissionFlags;
use crate::admission::kb::KnowledgeBase;
use crate::admission::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

pub(super) fn check(kb: &KnowledgeBase, flags: &AdmissionFlags, version: Option<KubeVersion>) -> Option<Finding> {
    let list = flags.admission_control.as_ref()?;
    let dep = kb.admission_control_flag.deprecated_in;
    // before its deprecation it was the only flag there was
    if version.is_some_and(|v| v < dep) {
        return None;
    }
    let msg = format!(
        "--admission-control is deprecated since {dep} and replaces the whole default list (here: {} plugins); use --enable-admission-plugins / --disable-admission-plugins",
        list.len()
    );
    Some(
        Finding::new(CheckId::DeprecatedAdmissionFlag, Severity::Warning, msg)
            .with_evidence("reason", "admission-control")
            .with_evidence("deprecatedIn", dep),
    )
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::testing::*;
    use crate::finding::CheckId;

    #[test]
    fn admission_control_is_exact_and_deprecated() {
        let kb = kb();
        let e =
            evaluate(&kb, &flags(&["--admission-control=NamespaceLifecycle,LimitRanger,NodeRestriction"]), v(28), None);
        assert!(e.effective.complete);
        assert_eq!(e.effective.plugins, vec!["LimitRanger", "NamespaceLifecycle", "NodeRestriction"]);
        let d = e.findings.iter().find(|f| f.check == CheckId::DeprecatedAdmissionFlag).unwrap();
        assert_eq!(d.evidence["deprecatedIn"], "1.10");
        // ServiceAccount and PodSecurity are not in the list: disabled
        let sa = find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").unwrap();
        assert_eq!(sa.evidence["cis"], "1.2.12");
        assert!(sa.message.contains("not in the --admission-control list"));
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "PodSecurity").is_some());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_none());
        // 1.9: the flag was the only one, not deprecated yet
        let e = evaluate(&kb, &flags(&["--admission-control=NamespaceLifecycle"]), v(9), None);
        assert!(e.findings.iter().all(|f| f.check != CheckId::DeprecatedAdmissionFlag));
    }
}
