//! `gohealth admission FILE...`: the admission audit offline, on files users have at hand.
//!
//! Exit codes: 0 no critical finding, 1 at least one critical finding, 2 usage or input error
//! (unreadable file, no configuration and no admission setting in it, bad version, bad knowledge
//! base), 3 no critical finding but admission settings the parser could not read
//! (`AdmissionInputNotUnderstood`): never a clean bill for input that was not understood.

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::output::{OutputFormat, finding_json, findings_section, print};
use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::offline::{FileReport, audit_text};
use gohealth_core::admission::version::KubeVersion;

/// Exit code when admission settings were found that the parser could not read.
pub const EXIT_NOT_UNDERSTOOD: u8 = 3;

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Exit codes: 0 no critical finding; 1 at least one critical finding; 2 usage or input error; 3 no critical finding, but the input mentions admission settings that could not be read (AdmissionInputNotUnderstood)."
)]
pub struct AdmissionArgs {
    /// A kube-apiserver configuration in any shape docs/admission.md lists: static/mirror pod
    /// manifest, kubeadm config, kind Cluster, systemd unit, shell script, k3s/RKE2 args or
    /// config.yaml, kops Cluster, Talos or k0s config, kubespray vars, MicroK8s args, ps listing,
    /// /proc/PID/cmdline, argument list, template, or these in Markdown fences and heredocs
    /// ("-" reads stdin).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Kubernetes version of the apiserver (overrides what the input states), e.g. 1.29.
    #[arg(long, value_name = "V")]
    pub kubernetes_version: Option<String>,
    /// Preview an upgrade: findings for this version, e.g. 1.25.
    #[arg(long, value_name = "V")]
    pub target_version: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Extra knowledge-base YAML (same schema as a ConfigMap's plugins.yaml) to merge.
    #[arg(long, value_name = "FILE")]
    pub knowledge_base: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, gohealth_core::admission::parse::ParseError),
    #[error("{flag}: not a Kubernetes version: {value:?}")]
    Version { flag: &'static str, value: String },
    #[error("knowledge base: {0}")]
    Kb(#[from] gohealth_core::admission::kb::KbError),
}

pub fn report_json(r: &FileReport) -> Value {
    let mut notes = r.notes.clone();
    if let Some(n) = &r.evaluation.effective.note {
        notes.push(n.clone());
    }
    json!({
        "file": r.file,
        "source": r.config.source.as_str(),
        "kubernetesVersion": r.version.map(|v| v.to_string()),
        "kubernetesVersionFrom": r.version_from,
        "targetVersion": r.target.map(|v| v.to_string()),
        "evaluatedVersion": r.evaluation.evaluated_version.map(|v| v.to_string()),
        "effective": r.evaluation.effective.plugins,
        "effectiveComplete": r.evaluation.effective.complete,
        "flags": r.config.flags,
        "findings": r.evaluation.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "notes": notes,
    })
}

pub fn report_table(r: &FileReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} ({})", r.file, r.config.source.as_str());
    let version = match (&r.version, &r.version_from) {
        (Some(v), Some(from)) => format!("{v} (from {from})"),
        (Some(v), None) => v.to_string(),
        _ => "unknown (pass --kubernetes-version)".into(),
    };
    let _ = writeln!(s, "  Kubernetes version: {version}");
    if let Some(t) = r.target {
        let _ = writeln!(s, "  Upgrade preview:    findings computed for {t}");
    }
    let eff = &r.evaluation.effective;
    let _ = writeln!(
        s,
        "  Effective plugins ({}{}): {}",
        eff.plugins.len(),
        if eff.complete { "" } else { ", lower bound" },
        eff.plugins.join(", ")
    );
    for n in r.notes.iter().chain(eff.note.iter()) {
        let _ = writeln!(s, "  note: {n}");
    }
    s.push_str(&findings_section(&r.evaluation.findings));
    s
}

fn parse_version(flag: &'static str, v: &Option<String>) -> Result<Option<KubeVersion>, CliError> {
    match v {
        None => Ok(None),
        Some(s) => KubeVersion::parse(s).map(Some).ok_or_else(|| CliError::Version { flag, value: s.clone() }),
    }
}

fn read(path: &str) -> Result<String, CliError> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Read(path.to_string(), e))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| CliError::Read(path.to_string(), e))
}

/// Runs the audit over the files; Ok(report per file) or the first input error.
pub fn run(args: &AdmissionArgs) -> Result<Vec<FileReport>, CliError> {
    let version = parse_version("--kubernetes-version", &args.kubernetes_version)?;
    let target = parse_version("--target-version", &args.target_version)?;
    let overlay = match &args.knowledge_base {
        Some(p) => Some(read(p)?),
        None => None,
    };
    let kb = KnowledgeBase::load(overlay.as_deref())?;
    let mut out = Vec::new();
    for file in &args.files {
        let text = read(file)?;
        let r = audit_text(&kb, file, &text, version, target).map_err(|e| CliError::Parse(file.clone(), e))?;
        out.push(r);
    }
    Ok(out)
}

pub fn main(args: AdmissionArgs) -> ExitCode {
    let reports = match run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        OutputFormat::Json => {
            // one file: its report; several: one object listing them
            let value = match reports.as_slice() {
                [one] => report_json(one),
                all => json!({ "files": all.iter().map(report_json).collect::<Vec<_>>() }),
            };
            match serde_json::to_string_pretty(&value) {
                Ok(s) => print(&format!("{s}\n")),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        OutputFormat::Table => {
            for r in &reports {
                print(&format!("{}\n", report_table(r)));
            }
        }
    }
    exit_code(&reports)
}

/// 1 beats 3 beats 0: a critical finding is the more urgent news, and both are non-zero.
pub fn exit_code(reports: &[FileReport]) -> ExitCode {
    if reports.iter().any(FileReport::has_critical) {
        ExitCode::from(1)
    } else if reports.iter().any(FileReport::not_understood) {
        ExitCode::from(EXIT_NOT_UNDERSTOOD)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_and_flattened_evidence() {
        let kb = KnowledgeBase::embedded().unwrap();
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver}\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.24.9\n    command: [kube-apiserver, \"--enable-admission-plugins=NodeRestriction,PodSecurityPolicy\"]\n";
        let r = audit_text(&kb, "pod.yaml", text, None, KubeVersion::parse("1.25")).unwrap();
        assert!(r.has_critical());
        let j = report_json(&r);
        assert_eq!(j["source"], "StaticPodManifest");
        assert_eq!(j["kubernetesVersion"], "1.24");
        assert_eq!(j["evaluatedVersion"], "1.25");
        // at the target PodSecurityPolicy is not registered, so it cannot be in the effective set
        assert!(!j["effective"].as_array().unwrap().iter().any(|p| p == "PodSecurityPolicy"));
        let f = j["findings"].as_array().unwrap().iter().find(|f| f["check"] == "RemovedAdmissionPlugin").unwrap();
        assert_eq!(f["plugin"], "PodSecurityPolicy");
        assert_eq!(f["severity"], "critical");
        assert_eq!(f["removedIn"], "1.25");
        assert_eq!(f["deprecatedIn"], "1.21");
        assert!(f["evidence"].get("removedIn").is_none());
        let table = report_table(&r);
        assert!(table.contains("RemovedAdmissionPlugin"));
        assert!(table.contains("removedIn=1.25"));
    }

    #[test]
    fn unknown_version_is_null_with_a_note() {
        let kb = KnowledgeBase::embedded().unwrap();
        let r = audit_text(&kb, "args.txt", "--enable-admission-plugins=NodeRestriction\n", None, None).unwrap();
        let j = report_json(&r);
        assert!(j["kubernetesVersion"].is_null());
        assert!(j["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("version unknown")));
        assert_eq!(j["effectiveComplete"], false);
        assert!(!r.has_critical());
        // (the version override itself is tested with `audit_text` in gohealth-core)
    }
}
