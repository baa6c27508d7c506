//! The offline audit's pure half (`gohealth admission FILE`): one input text → its report.

use super::checks::{Evaluation, evaluate};
use super::kb::KnowledgeBase;
use super::parse::{ApiserverConfig, InputForm, ParseError, parse_input};
use super::scan::not_understood;
use super::version::KubeVersion;
use crate::finding::{CheckId, Severity};

/// One audited file.
#[derive(Clone, Debug)]
pub struct FileReport {
    pub file: String,
    pub config: ApiserverConfig,
    pub version: Option<KubeVersion>,
    /// Where the version came from: `--kubernetes-version` or what the input states.
    pub version_from: Option<String>,
    pub target: Option<KubeVersion>,
    pub evaluation: Evaluation,
    pub notes: Vec<String>,
}

impl FileReport {
    pub fn has_critical(&self) -> bool {
        self.evaluation.findings.iter().any(|f| f.severity == Severity::Critical)
    }

    /// The safety net found admission settings the parse did not read.
    pub fn not_understood(&self) -> bool {
        self.evaluation.findings.iter().any(|f| f.check == CheckId::AdmissionInputNotUnderstood)
    }
}

/// One input text → its report. `version` (the user's) wins over a version the input states.
pub fn audit_text(
    kb: &KnowledgeBase,
    file: &str,
    text: &str,
    version: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Result<FileReport, ParseError> {
    let config = match parse_input(text, Some(file)) {
        Ok(c) => c,
        // nothing readable, but admission settings are mentioned: a report that says so, not an error
        Err(e) => return not_read(kb, file, text, version, target).ok_or(e),
    };
    let mut notes = config.notes.clone();
    let stated = config.stated_version.clone();
    let (version, version_from) = match (version, &stated) {
        (Some(v), Some(s)) if s.version != v => {
            notes.push(format!("--kubernetes-version {v} overrides the {} {} stated in the input", s.from, s.raw));
            (Some(v), Some("--kubernetes-version".to_string()))
        }
        (Some(v), _) => (Some(v), Some("--kubernetes-version".to_string())),
        (None, Some(s)) => (Some(s.version), Some(format!("{} {}", s.from, s.raw))),
        (None, None) => (None, None),
    };
    let mut evaluation = evaluate(kb, &config.flags, version, target);
    evaluation.findings.extend(not_understood(kb, text, Some(&config.flags)));
    notes.extend(evaluation.notes.iter().cloned());
    Ok(FileReport { file: file.to_string(), config, version, version_from, target, evaluation, notes })
}

/// The report for an input with no readable configuration that still mentions admission settings.
fn not_read(
    kb: &KnowledgeBase,
    file: &str,
    text: &str,
    version: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Option<FileReport> {
    let finding = not_understood(kb, text, None)?;
    let config = ApiserverConfig {
        source: InputForm::Unrecognised,
        flags: Default::default(),
        stated_version: super::version::find_in_text(text),
        notes: vec![],
    };
    let evaluation = Evaluation {
        findings: vec![finding],
        evaluated_version: target.or(version),
        notes: vec!["no kube-apiserver configuration could be read: nothing else was evaluated".into()],
        ..Evaluation::default()
    };
    let notes = evaluation.notes.clone();
    Some(FileReport {
        file: file.to_string(),
        config,
        version,
        version_from: version.map(|_| "--kubernetes-version".to_string()),
        target,
        evaluation,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_version_is_noted_and_an_explicit_one_overrides() {
        let kb = KnowledgeBase::embedded().unwrap();
        let r = audit_text(&kb, "args.txt", "--enable-admission-plugins=NodeRestriction\n", None, None).unwrap();
        assert_eq!(r.version, None);
        assert!(!r.evaluation.effective.complete);
        assert!(r.evaluation.effective.note.as_deref().is_some_and(|n| n.contains("version unknown")));
        assert!(!r.has_critical());
        // an explicit version overrides and is noted when it differs
        let text = "image: registry.k8s.io/kube-apiserver:v1.29.1\n";
        let pod = format!(
            "kind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    {text}    command: [kube-apiserver]\n"
        );
        let r = audit_text(&kb, "p.yaml", &pod, KubeVersion::parse("1.30"), None).unwrap();
        assert_eq!(r.version, KubeVersion::parse("1.30"));
        assert_eq!(r.version_from.as_deref(), Some("--kubernetes-version"));
        assert!(r.notes.iter().any(|n| n.contains("overrides")));
    }
}
