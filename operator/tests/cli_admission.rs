//! The `gohealth admission` binary as a user runs it: output shapes and exit codes on the fixture
//! files. What each input form yields is tested in `crates/core/tests/admission_inputs.rs`.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/core/fixtures/admission").join(name)
}

fn gohealth(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gohealth")).arg("admission").args(args).output().expect("run gohealth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_exit_codes_and_json() {
    let pod = fixture("static-pod-kubeadm.yaml");
    let pod = pod.to_str().unwrap();
    let (code, out, _) = gohealth(&[pod, "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["kubernetesVersion"], "1.24");
    assert_eq!(j["source"], "StaticPodManifest");
    // the version is unknown: null, not a guess
    let unit = fixture("kube-apiserver.service");
    let (_, out, _) = gohealth(&[unit.to_str().unwrap(), "-o", "json"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(j["kubernetesVersion"].is_null());
    let (code, out, _) = gohealth(&[pod, "--target-version", "1.25", "--output", "json"]);
    assert_eq!(code, 1);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["check"] == "RemovedAdmissionPlugin").unwrap();
    assert_eq!(f["plugin"], "PodSecurityPolicy");
    assert_eq!(f["removedIn"], "1.25");
    assert_eq!(f["deprecatedIn"], "1.21");
    // the finding shape `gohealth analyze` prints too: every key present, null when it does not apply
    for key in ["check", "severity", "confidence", "message", "function", "file", "line", "count", "plugin", "evidence"]
    {
        assert!(f.get(key).is_some(), "finding without {key}: {f}");
    }
    assert!(f["evidence"].get("removedIn").is_none());
    // several files: an object with one entry per file; table output readable
    let (code, out, _) = gohealth(&[pod, unit.to_str().unwrap(), "--output", "json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["files"].as_array().unwrap().len(), 2);
    assert_eq!(j["files"][1]["source"], "SystemdUnit");
    let (code, out, _) = gohealth(&[unit.to_str().unwrap(), "--kubernetes-version", "1.20"]);
    assert_eq!(code, 1);
    assert!(out.contains("RemovedAdmissionPlugin") && out.contains("PodPreset"), "{out}");
    // usage and input errors: 2
    assert_eq!(gohealth(&["/nonexistent/file"]).0, 2);
    assert_eq!(gohealth(&[pod, "--kubernetes-version", "latest"]).0, 2);
    assert_eq!(gohealth(&[fixture("kb-tools/extract.py").to_str().unwrap()]).0, 2);
    assert_eq!(gohealth(&[]).0, 2);
}

fn corpus(name: &str) -> String {
    fixture("corpus").join(name).to_string_lossy().into_owned()
}

/// The shapes the issue saw refused or read as clean, through the binary: a `ps -fC` listing and
/// a kind Cluster are read; a guide whose only admission setting is a minikube `--extra-config`
/// exits 3 with `AdmissionInputNotUnderstood` (line numbers), never 0.
#[test]
fn cli_reads_new_shapes_and_never_passes_unread_settings() {
    let (ps, kind, minikube) = (
        corpus("rke2-1.24-ps-fC.txt"),
        corpus("kind-docs-apiserver-patch.yaml"),
        corpus("minikube-extra-config-readme.md"),
    );
    let (code, out, err) = gohealth(&[ps.as_str(), "--target-version", "1.37", "-o", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["source"], "ProcessListing");
    let findings = j["findings"].as_array().expect("findings");
    assert!(findings.iter().any(|f| f["check"] == "RemovedAdmissionPlugin" && f["plugin"] == "PodSecurityPolicy"));

    let (code, out, _) = gohealth(&[kind.as_str(), "-o", "json"]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["source"], "KindCluster");

    let (code, out, _) = gohealth(&[minikube.as_str(), "-o", "json"]);
    assert_eq!(code, 3, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["source"], "Unrecognised");
    let f = &j["findings"][0];
    assert_eq!(f["check"], "AdmissionInputNotUnderstood");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["line"], 8);
    assert_eq!(f["evidence"]["lines"], "8");
    // 1 (critical) wins over 3 when both occur in one run
    let (code, _, _) = gohealth(&[minikube.as_str(), ps.as_str(), "--target-version", "1.37"]);
    assert_eq!(code, 1);
    // the exit codes are in --help
    let help = Command::new(env!("CARGO_BIN_EXE_gohealth")).args(["admission", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("3 no critical finding, but the input mentions admission settings"), "{help}");
}
