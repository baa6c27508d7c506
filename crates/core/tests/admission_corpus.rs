//! The corpus of real public kube-apiserver configurations (`fixtures/admission/corpus/`, each
//! file with a `<name>.source.yaml` sidecar naming where it came from and what it must yield),
//! audited for the 1.37 upgrade, and the safety net on every fixture: an input that mentions
//! admission settings is either read or reported as `AdmissionInputNotUnderstood`, never clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::offline::{FileReport, audit_text};
use gohealth_core::admission::scan::mentions;
use gohealth_core::admission::version::KubeVersion;
use gohealth_core::finding::{CheckId, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    source: Source,
    #[serde(default)]
    license: Option<String>,
    retrieved: String,
    shape: String,
    #[serde(default)]
    trimmed: Option<String>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    url: String,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    lines: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    form: String,
    exit: u8,
    #[serde(default)]
    version: Option<String>,
    findings: Vec<ExpectedFinding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    check: String,
    #[serde(default)]
    plugin: Option<String>,
    severity: String,
}

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/admission").join(sub)
}

/// `(name, input path, sidecar)` for every corpus entry.
fn corpus() -> Vec<(String, PathBuf, Sidecar)> {
    let dir = dir("corpus");
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("corpus dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in &entries {
        let Some(name) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".source.yaml")) else {
            continue;
        };
        let input = entries
            .iter()
            .find(|q| {
                q.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}.")) && !n.ends_with(".source.yaml"))
            })
            .unwrap_or_else(|| panic!("{name}: sidecar without its input file"))
            .clone();
        let sidecar: Sidecar = serde_norway::from_str(&std::fs::read_to_string(p).expect("sidecar"))
            .unwrap_or_else(|e| panic!("{name}.source.yaml: {e}"));
        out.push((name.to_string(), input, sidecar));
    }
    out
}

/// What `gohealth admission` exits with for one file: 1 critical, 3 not understood, 0 otherwise;
/// 2 for an input error.
fn exit_code(r: &Result<FileReport, String>) -> u8 {
    match r {
        Err(_) => 2,
        Ok(r) if r.has_critical() => 1,
        Ok(r) if r.not_understood() => 3,
        Ok(_) => 0,
    }
}

fn audit(path: &Path, target: Option<&str>) -> Result<FileReport, String> {
    let kb = KnowledgeBase::embedded().expect("kb");
    let text = std::fs::read_to_string(path).expect("input");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    audit_text(&kb, name, &text, None, target.and_then(KubeVersion::parse)).map_err(|e| e.to_string())
}

#[test]
fn corpus_of_real_configurations_yields_the_expected_findings_for_1_37() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "the corpus holds {} configurations", corpus.len());
    let mut failures = Vec::new();
    let mut forms = BTreeSet::new();
    for (name, input, sidecar) in &corpus {
        assert!(sidecar.source.url.len() > 8 && !sidecar.retrieved.is_empty() && !sidecar.shape.is_empty(), "{name}");
        assert!(
            sidecar.source.repo.is_none() || sidecar.source.commit.as_ref().is_some_and(|c| c.len() == 40),
            "{name}"
        );
        let _ = (&sidecar.license, &sidecar.trimmed, &sidecar.source.path, &sidecar.source.lines);
        let report = audit(input, Some("1.37"));
        let form = report.as_ref().map(|r| r.config.source.as_str()).unwrap_or("Error");
        forms.insert(form.to_string());
        let want = &sidecar.expect;
        if form != want.form {
            failures.push(format!("{name}: form {form}, expected {}", want.form));
        }
        let code = exit_code(&report);
        if code != want.exit {
            let findings = report.as_ref().map(|r| format!("{:#?}", r.evaluation.findings)).unwrap_or_default();
            failures.push(
                format!("{name}: exit {code}, expected {}: {report:?}", want.exit)
                    .chars()
                    .take(600)
                    .collect::<String>()
                    + &findings.chars().take(1500).collect::<String>(),
            );
        }
        let Ok(r) = &report else {
            continue;
        };
        if let Some(v) = &want.version
            && r.version != KubeVersion::parse(v)
        {
            failures.push(format!("{name}: version {:?} ({:?}), expected {v}", r.version, r.version_from));
        }
        for f in &want.findings {
            let hit = r
                .evaluation
                .findings
                .iter()
                .any(|g| g.check.as_str() == f.check && g.plugin == f.plugin && g.severity.as_str() == f.severity);
            if !hit {
                failures.push(format!(
                    "{name}: no {} {:?} {}: {:#?}",
                    f.check, f.plugin, f.severity, r.evaluation.findings
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} corpus failure(s):\n{}", failures.len(), failures.join("\n"));
    for shape in [
        "ProcessListing",
        "ProcCmdline",
        "SystemdUnit",
        "ShellScript",
        "StaticPodManifest",
        "KubeadmClusterConfiguration",
        "KindCluster",
        "AnsibleVars",
        "K3sArgs",
        "Rke2Config",
        "TalosConfig",
        "K0sConfig",
        "KopsCluster",
        "MicroK8sArgs",
        "TemplateLiterals",
        "Unrecognised",
    ] {
        assert!(forms.contains(shape), "no corpus entry read as {shape}: {forms:?}");
    }
}

/// Every fixture, unit and corpus: when the text mentions admission settings, the report either
/// read admission flags or carries `AdmissionInputNotUnderstood` (warning) — never a clean bill
/// over settings it did not read.
#[test]
fn no_fixture_gets_a_clean_bill_over_unread_admission_settings() {
    let kb = KnowledgeBase::embedded().expect("kb");
    let mut paths: Vec<PathBuf> = corpus().into_iter().map(|(_, p, _)| p).collect();
    for e in std::fs::read_dir(dir("")).expect("fixtures") {
        let p = e.expect("entry").path();
        if p.is_file() {
            paths.push(p);
        }
    }
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("fixture");
        if mentions(&kb, &text).is_empty() {
            continue;
        }
        let report =
            audit(&p, None).unwrap_or_else(|e| panic!("{}: mentions admission settings but: {e}", p.display()));
        let read = !report.config.flags.is_empty();
        let flagged = report.evaluation.findings.iter().any(|f| {
            f.check == CheckId::AdmissionInputNotUnderstood && f.severity == Severity::Warning && f.line.is_some()
        });
        assert!(read || flagged, "{}: admission settings neither read nor reported", p.display());
    }
}

#[test]
fn the_issue_cases_are_never_clean() {
    // the two shapes the issue saw read as "no admission flags": a flag listing with trailing
    // CIS comments and no backslashes, and a `cat <<EOF | sudo tee` unit in a guide
    for (name, plugin) in [
        ("k3s-cis15-apiserver-listing.txt", "PodSecurityPolicy"),
        ("kthw-2018-05-heredoc-tee-initializers.md", "Initializers"),
    ] {
        let r = audit(&dir("corpus").join(name), Some("1.37")).expect(name);
        let f = r
            .evaluation
            .findings
            .iter()
            .find(|f| f.check == CheckId::RemovedAdmissionPlugin && f.plugin.as_deref() == Some(plugin))
            .unwrap_or_else(|| panic!("{name}: {:#?}", r.evaluation.findings));
        assert_eq!(f.severity, Severity::Critical);
    }
    // and the four it refused: ps listings, kubespray vars, a kind Cluster with extraArgs
    for name in [
        "rke2-1.24-ps-fC.txt",
        "captured-ps-aux.txt",
        "kubespray-ci-hardening-vars.yml",
        "kind-docs-apiserver-patch.yaml",
    ] {
        let r = audit(&dir("corpus").join(name), Some("1.37")).expect(name);
        assert!(r.config.flags.enable.is_some(), "{name}: {:?}", r.config);
    }
}
