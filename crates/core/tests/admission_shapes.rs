//! Every fixture's flags, rewritten into each supported input shape, yield the same findings: the
//! shapes differ in how flags are written, never in what they mean. Installer shapes that add
//! `enable-admission-plugins=NodeRestriction` when the flag is absent (kubeadm, kind, k3s, RKE2,
//! k0s, kubespray) are compared with that default added; Talos, which always passes NodeRestriction
//! and merges the user's list into it, with NodeRestriction put first.

use std::path::PathBuf;

use gohealth_core::admission::args::AdmissionFlags;
use gohealth_core::admission::checks::evaluate;
use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::offline::audit_text;
use gohealth_core::admission::parse::parse_input;
use gohealth_core::admission::version::KubeVersion;

/// `--flag=value` for every admission flag that is set, one per flag (repeats already appended).
fn argv(f: &AdmissionFlags) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut list = |name: &str, v: &Option<Vec<String>>| {
        if let Some(v) = v {
            out.push((name.to_string(), v.join(",")));
        }
    };
    list("enable-admission-plugins", &f.enable);
    list("disable-admission-plugins", &f.disable);
    list("admission-control", &f.admission_control);
    if let Some(c) = &f.config_file {
        out.push(("admission-control-config-file".into(), c.clone()));
    }
    if !f.feature_gates.is_empty() {
        let g: Vec<String> = f.feature_gates.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(("feature-gates".into(), g.join(",")));
    }
    out
}

fn dashed(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("--{k}={v}")).collect()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Which shapes carry which flags.
#[derive(Clone, Copy, PartialEq)]
enum Carries {
    /// Every flag, as written.
    All,
    /// An installer that adds NodeRestriction when enable is absent.
    InstallerDefault,
    /// kubespray: enable/disable lists only.
    EnableDisableOnly,
    /// Talos: NodeRestriction always, the user's enable list merged into it.
    TalosAdditive,
}

type Render = fn(&[(String, String)]) -> String;

fn shapes() -> Vec<(&'static str, Carries, Render)> {
    vec![
        ("ps -ef", Carries::All, |p| {
            format!(
                "UID PID PPID C STIME TTY TIME CMD\nroot 2617 2565 8 17:46 ? 00:00:14 kube-apiserver {}\n",
                dashed(p).join(" ")
            )
        }),
        ("ps -fC", Carries::All, |p| {
            format!(
                "UID          PID    PPID  C STIME TTY          TIME CMD\nroot        2539    2487  4 17:27 ?        00:01:20 /usr/local/bin/kube-apiserver --v=2 {}\n",
                dashed(p).join(" ")
            )
        }),
        ("ps aux", Carries::All, |p| {
            format!(
                "USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\nroot 1234 5.0 3.1 1123456 254321 ? Ssl 10:00 1:23 kube-apiserver {}\n",
                dashed(p).join(" ")
            )
        }),
        ("/proc/PID/cmdline", Carries::All, |p| {
            let mut s = String::from("/usr/local/bin/kube-apiserver\0");
            for a in dashed(p) {
                s.push_str(&a);
                s.push('\0');
            }
            s
        }),
        ("flag listing with backslashes", Carries::All, |p| {
            format!(
                "kube-apiserver \\\n{}\n",
                dashed(p).iter().map(|a| format!("  {a}")).collect::<Vec<_>>().join(" \\\n")
            )
        }),
        ("flag listing with trailing comments", Carries::All, |p| {
            format!("kube-apiserver\n{}", dashed(p).iter().map(|a| format!("    {a}    # 1.2.x\n")).collect::<String>())
        }),
        ("systemd unit", Carries::All, |p| {
            format!(
                "[Unit]\nDescription=Kubernetes API Server\n\n[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\n{} \\\n  --v=2\nRestart=on-failure\n",
                dashed(p).iter().map(|a| format!("  {a}")).collect::<Vec<_>>().join(" \\\n")
            )
        }),
        ("heredoc in Markdown", Carries::All, |p| {
            format!(
                "Create the unit:\n\n```bash\ncat <<EOF | sudo tee /etc/systemd/system/kube-apiserver.service\n[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\\\n{} \\\\\n  --v=2\nEOF\n```\n",
                dashed(p).iter().map(|a| format!("  {a}")).collect::<Vec<_>>().join(" \\\\\n")
            )
        }),
        ("fenced shell in Markdown", Carries::All, |p| {
            format!(
                "# Start it\n\n~~~sh\nsudo /usr/local/bin/kube-apiserver {}\n~~~\n",
                dashed(p).iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ")
            )
        }),
        ("static pod", Carries::All, |p| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: kube-apiserver, namespace: kube-system}}\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    command:\n    - kube-apiserver\n{}",
                dashed(p).iter().map(|a| format!("    - {}\n", q(a))).collect::<String>()
            )
        }),
        ("manifest excerpt", Carries::All, |p| {
            format!(
                "    - kube-apiserver\n{}    image: x\n",
                dashed(p).iter().map(|a| format!("    - {}\n", q(a))).collect::<String>()
            )
        }),
        ("mirror pod JSON", Carries::All, |p| {
            serde_json::json!({"kind": "Pod", "metadata": {"name": "kube-apiserver-cp1", "annotations": {"kubernetes.io/config.mirror": "x"}},
                "spec": {"containers": [{"name": "kube-apiserver", "command": ["kube-apiserver"], "args": dashed(p)}]}})
            .to_string()
        }),
        ("Helm template", Carries::All, |p| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{{{ .Release.Name }}}}-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    image: \"{{{{ .Values.image }}}}\"\n    args:\n{}",
                dashed(p).iter().map(|a| format!("    - {}\n", q(a))).collect::<String>()
            )
        }),
        ("Terraform template", Carries::All, |p| {
            format!(
                "resource \"null_resource\" \"apiserver\" {{\n  triggers = {{\n    args = join(\" \", [\n{}      \"--etcd-servers=${{var.etcd}}\",\n    ])\n  }}\n}}\n",
                dashed(p).iter().map(|a| format!("      {},\n", q(a))).collect::<String>()
            )
        }),
        ("MicroK8s args", Carries::All, |p| {
            format!(
                "--cert-dir=${{SNAP_DATA}}/certs\n# admission\n{}",
                dashed(p).iter().map(|a| format!("{a}\n")).collect::<String>()
            )
        }),
        ("kubeadm v1beta3", Carries::InstallerDefault, |p| {
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n{}",
                p.iter().map(|(k, v)| format!("    {k}: {}\n", q(v))).collect::<String>()
            )
        }),
        ("kubeadm v1beta4", Carries::InstallerDefault, |p| {
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n{}",
                p.iter().map(|(k, v)| format!("  - name: {k}\n    value: {}\n", q(v))).collect::<String>()
            )
        }),
        ("kind Cluster", Carries::InstallerDefault, |p| {
            format!(
                "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  kubeadmConfigPatches:\n  - |\n    kind: ClusterConfiguration\n    apiServer:\n      extraArgs:\n{}- role: worker\n",
                p.iter().map(|(k, v)| format!("        {k}: {}\n", q(v))).collect::<String>()
            )
        }),
        ("k3s config.yaml", Carries::InstallerDefault, |p| {
            format!(
                "write-kubeconfig-mode: \"0644\"\nkube-apiserver-arg:\n{}",
                p.iter().map(|(k, v)| format!("  - {}\n", q(&format!("{k}={v}")))).collect::<String>()
            )
        }),
        ("RKE2 config.yaml", Carries::InstallerDefault, |p| {
            format!(
                "profile: cis\nkube-apiserver-arg:\n{}",
                p.iter().map(|(k, v)| format!("  - {}\n", q(&format!("{k}={v}")))).collect::<String>()
            )
        }),
        ("k3s node-args", Carries::InstallerDefault, |p| {
            let mut items = vec!["server".to_string()];
            for (k, v) in p {
                items.push("--kube-apiserver-arg".into());
                items.push(format!("{k}={v}"));
            }
            serde_json::to_string(&items).unwrap_or_default()
        }),
        ("k0s ClusterConfig", Carries::InstallerDefault, |p| {
            format!(
                "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  api:\n    extraArgs:\n{}",
                p.iter().map(|(k, v)| format!("      {k}: {}\n", q(v))).collect::<String>()
            )
        }),
        ("Talos machine config", Carries::TalosAdditive, |p| {
            format!(
                "version: v1alpha1\nmachine:\n  type: controlplane\ncluster:\n  apiServer:\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    extraArgs:\n{}",
                p.iter().map(|(k, v)| format!("      {k}: {}\n", q(v))).collect::<String>()
            )
        }),
        ("kubespray vars", Carries::EnableDisableOnly, |p| {
            let mut s = String::from("kube_version: v1.30.2\n");
            for (k, v) in p {
                let var = match k.as_str() {
                    "enable-admission-plugins" => "kube_apiserver_enable_admission_plugins",
                    "disable-admission-plugins" => "kube_apiserver_disable_admission_plugins",
                    _ => continue,
                };
                s.push_str(&format!("{var}:\n{}", v.split(',').map(|n| format!("  - {}\n", q(n))).collect::<String>()));
            }
            s
        }),
    ]
}

fn key(f: &gohealth_core::finding::Finding) -> (String, Option<String>, String, Option<String>) {
    (f.check.as_str().to_string(), f.plugin.clone(), f.severity.as_str().to_string(), f.evidence.get("reason").cloned())
}

#[test]
fn every_fixture_reformatted_into_every_shape_yields_identical_findings() {
    let kb = KnowledgeBase::embedded().expect("kb");
    let (current, target) = (KubeVersion::parse("1.30"), KubeVersion::parse("1.37"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/admission");
    let mut inputs: Vec<PathBuf> = Vec::new();
    for d in [root.clone(), root.join("corpus")] {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_file() && !p.to_string_lossy().ends_with(".source.yaml") {
                inputs.push(p);
            }
        }
    }
    inputs.sort();
    let mut compared = 0;
    let mut failures = Vec::new();
    for path in &inputs {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Ok(cfg) = parse_input(&text, path.to_str()) else {
            continue;
        };
        let flags = cfg.flags;
        // names with blanks or quotes cannot be written in every shape (ps output is not quoted)
        let names = flags.enable.iter().chain(flags.disable.iter()).chain(flags.admission_control.iter()).flatten();
        let plain = |s: &str| !s.is_empty() && !s.contains([' ', '"', '\'', '$', '{', '\\']);
        if flags.is_empty()
            || !names.clone().all(|n| plain(n))
            || flags.config_file.as_deref().is_some_and(|c| !plain(c))
        {
            continue;
        }
        let pairs = argv(&flags);
        for (shape, carries, render) in shapes() {
            let mut expected_flags = flags.clone();
            match carries {
                Carries::All => {}
                Carries::TalosAdditive => {
                    let mut enable = vec!["NodeRestriction".to_string()];
                    for p in expected_flags.enable.take().unwrap_or_default() {
                        if !enable.contains(&p) {
                            enable.push(p);
                        }
                    }
                    expected_flags.enable = Some(enable);
                }
                Carries::InstallerDefault | Carries::EnableDisableOnly if flags.admission_control.is_some() => continue,
                Carries::EnableDisableOnly if !flags.feature_gates.is_empty() => continue,
                Carries::InstallerDefault | Carries::EnableDisableOnly => {
                    if expected_flags.enable.is_none() {
                        expected_flags.enable = Some(vec!["NodeRestriction".into()]);
                    }
                    if carries == Carries::EnableDisableOnly {
                        expected_flags.config_file = None;
                    }
                }
            }
            let mut want: Vec<_> = evaluate(&kb, &expected_flags, current, target).findings.iter().map(key).collect();
            let rendered = render(&pairs);
            let mut got: Vec<_> = match audit_text(&kb, shape, &rendered, current, target) {
                Ok(r) => r.evaluation.findings.iter().map(key).collect(),
                Err(e) => {
                    failures.push(format!("{} as {shape}: {e}\n{rendered}", path.display()));
                    continue;
                }
            };
            want.sort();
            got.sort();
            if want != got {
                failures.push(format!("{} as {shape}:\n want {want:?}\n got  {got:?}\n{rendered}", path.display()));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{} shape mismatch(es):\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("{compared} renderings compared across {} shapes", shapes().len());
    assert!(compared > 400, "only {compared} renderings compared");
}
