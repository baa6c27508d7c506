//! Inputs → kube-apiserver admission flags: static pod manifests and mirror pods, kubeadm
//! configurations (every API version), kind `Cluster` configs, systemd units, shell scripts, k3s/RKE2
//! arguments and config files, kops cluster specs, Talos machine configs, k0s configs, Ansible and
//! kubespray variables, MicroK8s args files, process listings, `/proc/PID/cmdline`, plain argument
//! lists, and any of these inside Markdown fences or heredocs. Pure functions over text.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_norway::Value;

use super::args::{AdmissionFlags, apiserver_args, apply, flags_from_args, shell_commands, systemd_exec_starts};
use super::shapes;
use super::version::{KubeVersion, StatedVersion, find_in_text};

/// Which input form was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InputForm {
    StaticPodManifest,
    KubeadmClusterConfiguration,
    SystemdUnit,
    ShellScript,
    K3sArgs,
    K3sConfig,
    Rke2Config,
    KopsCluster,
    ArgumentList,
    ProcessListing,
    ProcCmdline,
    MicroK8sArgs,
    AnsibleVars,
    KindCluster,
    TalosConfig,
    K0sConfig,
    TemplateLiterals,
    /// Nothing could be read; only the safety net's finding is reported.
    Unrecognised,
}

impl InputForm {
    pub fn as_str(self) -> &'static str {
        match self {
            InputForm::StaticPodManifest => "StaticPodManifest",
            InputForm::KubeadmClusterConfiguration => "KubeadmClusterConfiguration",
            InputForm::SystemdUnit => "SystemdUnit",
            InputForm::ShellScript => "ShellScript",
            InputForm::K3sArgs => "K3sArgs",
            InputForm::K3sConfig => "K3sConfig",
            InputForm::Rke2Config => "Rke2Config",
            InputForm::KopsCluster => "KopsCluster",
            InputForm::ArgumentList => "ArgumentList",
            InputForm::ProcessListing => "ProcessListing",
            InputForm::ProcCmdline => "ProcCmdline",
            InputForm::MicroK8sArgs => "MicroK8sArgs",
            InputForm::AnsibleVars => "AnsibleVars",
            InputForm::KindCluster => "KindCluster",
            InputForm::TalosConfig => "TalosConfig",
            InputForm::K0sConfig => "K0sConfig",
            InputForm::TemplateLiterals => "TemplateLiterals",
            InputForm::Unrecognised => "Unrecognised",
        }
    }
}

/// What one input says about kube-apiserver.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiserverConfig {
    pub source: InputForm,
    pub flags: AdmissionFlags,
    pub stated_version: Option<StatedVersion>,
    /// Things the reader should know (installer defaults applied, several apiservers, ...).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("no kube-apiserver configuration found: {0}")]
    NotRecognised(String),
    #[error("input is empty")]
    Empty,
}

impl ParseError {
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::NotRecognised(_) => "NotRecognised",
            ParseError::Empty => "Empty",
        }
    }
}

/// Installer defaults that the installer passes unless the user sets the same flag.
/// kubeadm: `--enable-admission-plugins=NodeRestriction` (getAPIServerCommand); k3s, RKE2, k0s
/// and Talos set the same in their own code. User args with the same flag name replace the default.
const INSTALLER_DEFAULT_ENABLE: &str = "NodeRestriction";

/// How deep blocks inside blocks are followed (a heredoc in a Markdown fence is depth 2).
const MAX_NESTING: usize = 2;

/// Recognises the input form and extracts the flags. `path` is only a hint (e.g. "rke2" in it).
pub fn parse_input(text: &str, path: Option<&str>) -> Result<ApiserverConfig, ParseError> {
    parse_nested(text, &path.unwrap_or("").to_ascii_lowercase(), 0)
}

fn parse_nested(text: &str, hint: &str, depth: usize) -> Result<ApiserverConfig, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    if text.contains('\0') {
        let mut cfg = from_arg_vector(&shapes::cmdline_args(text), text);
        if cfg.source == InputForm::ArgumentList {
            cfg.source = InputForm::ProcCmdline;
        }
        return Ok(cfg);
    }
    // JSON array (the k3s node-args annotation, or a saved argv)
    if text.trim_start().starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(text)
    {
        return Ok(from_arg_vector(&items, text));
    }
    if let Some(cfg) = parse_yaml_documents(text, hint) {
        return Ok(cfg);
    }
    if depth < MAX_NESTING
        && let Some(cfg) = from_blocks(text, hint, depth)
    {
        return Ok(cfg);
    }
    if let Some(cfg) = from_process_listing(text) {
        return Ok(cfg);
    }
    if text.lines().any(|l| l.trim_start().starts_with("ExecStart=")) {
        return parse_systemd(text);
    }
    parse_shell_or_args(text, hint)
        .or_else(|e| from_manifest_excerpt(text).ok_or(e))
        .or_else(|e| from_template_literals(text).ok_or(e))
}

/// Said of a manifest whose apiserver command is templated (Helm, Terraform): what still parses
/// is read, the template is not rendered.
const TEMPLATE_NOTE: &str = "template: only what is written literally is read; templated parts (a range over extra args, a variable) are not evaluated";

/// A manifest's container command list quoted out of context (not a whole YAML document), also
/// the command list of a Helm chart template that is no YAML until rendered.
fn from_manifest_excerpt(text: &str) -> Option<ApiserverConfig> {
    let (args, line) = shapes::yaml_list_argv(text)?;
    let mut notes = vec![format!("a manifest excerpt: the kube-apiserver command list at line {line}")];
    if shapes::is_template(text) {
        notes.push(TEMPLATE_NOTE.into());
    }
    Some(ApiserverConfig {
        source: InputForm::StaticPodManifest,
        flags: flags_from_args(&args),
        stated_version: find_in_text(text),
        notes,
    })
}

/// The first fenced block or heredoc that holds a configuration (preferring one with admission
/// flags); the note says where it was.
fn from_blocks(text: &str, hint: &str, depth: usize) -> Option<ApiserverConfig> {
    let mut parsed: Vec<(shapes::Block, ApiserverConfig)> = shapes::embedded_blocks(text)
        .into_iter()
        .filter_map(|b| parse_nested(&b.body, hint, depth + 1).ok().map(|c| (b, c)))
        .collect();
    let pick = parsed.iter().position(|(_, c)| !c.flags.is_empty()).unwrap_or(0);
    if pick >= parsed.len() {
        return None;
    }
    let others = parsed.len() - 1;
    let (block, mut cfg) = parsed.swap_remove(pick);
    cfg.notes.insert(0, format!("read from the {} at line {}", block.kind.describe(), block.line));
    if others > 0 {
        cfg.notes.push(format!("{others} more block(s) with a kube-apiserver configuration in this file; the one with admission flags (else the first) is audited"));
    }
    if cfg.stated_version.is_none() {
        cfg.stated_version = find_in_text(text);
    }
    Some(cfg)
}

/// `ps -ef` / `ps -fC kube-apiserver` / `ps aux` output.
fn from_process_listing(text: &str) -> Option<ApiserverConfig> {
    let mut procs = shapes::process_listing(text).into_iter();
    let (args, line) = procs.next()?;
    let more = procs.count();
    let mut notes = vec![format!("kube-apiserver process on line {line} of the listing")];
    if more > 0 {
        notes.push(format!("{more} more kube-apiserver process(es) in the listing; the first is audited"));
    }
    Some(ApiserverConfig {
        source: InputForm::ProcessListing,
        flags: flags_from_args(&args),
        stated_version: find_in_text(text),
        notes,
    })
}

/// Helm/Terraform/Jinja templates whose admission flags are literal.
fn from_template_literals(text: &str) -> Option<ApiserverConfig> {
    if !shapes::is_template(text) {
        return None;
    }
    let pairs = shapes::literal_flags(text);
    if pairs.is_empty() {
        return None;
    }
    let mut flags = AdmissionFlags::default();
    for (k, v) in &pairs {
        apply(&mut flags, k, v);
    }
    Some(ApiserverConfig {
        source: InputForm::TemplateLiterals,
        flags,
        stated_version: find_in_text(text),
        notes: vec!["template: only flags written literally are read; templated values are not evaluated".into()],
    })
}

fn from_arg_vector(items: &[String], text: &str) -> ApiserverConfig {
    if items.iter().any(|a| a.starts_with("--kube-apiserver-arg")) {
        return k3s_from_args(items, text, InputForm::K3sArgs);
    }
    let args = apiserver_args(items).unwrap_or_else(|| items.to_vec());
    ApiserverConfig {
        source: InputForm::ArgumentList,
        flags: flags_from_args(&args),
        stated_version: find_in_text(text),
        notes: vec![],
    }
}

fn parse_yaml_documents(text: &str, hint: &str) -> Option<ApiserverConfig> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        match <Value as serde::Deserialize>::deserialize(doc) {
            Ok(v) => docs.push(v),
            Err(_) => return None,
        }
    }
    let mut found: Vec<ApiserverConfig> = Vec::new();
    let mut kubeadm_version: Option<StatedVersion> = None;
    // Talos 1.14 on: the apiserver settings are their own documents beside the machine config
    let talos_doc = |k: &str| docs.iter().find(|d| d.get("kind").and_then(Value::as_str) == Some(k));
    let talos_docs = TalosDocs {
        apiserver: talos_doc("KubeAPIServerConfig"),
        admission: talos_doc("KubeAdmissionControlConfig").is_some(),
    };
    let machine_doc = docs.iter().any(is_talos_machine_config);
    for doc in &docs {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if is_kubeadm(kind, api) {
            let cfg = kubeadm(doc);
            kubeadm_version = cfg.stated_version.clone();
            found.push(cfg);
        } else if kind == "Cluster" && api.starts_with("kops") {
            found.push(kops(doc.get("spec")));
        } else if let Some(spec) = kops_spec_without_header(doc) {
            let mut cfg = kops(Some(spec));
            cfg.notes
                .push("a kops cluster spec without apiVersion/kind (a template, or nodeup's cluster_spec.yaml)".into());
            found.push(cfg);
        } else if let Some(cfg) = cluster_api(doc, kind, api) {
            found.push(cfg);
        } else if kind == "Cluster" && api.starts_with("kind.x-k8s.io") {
            found.push(kind_cluster(doc, text));
        } else if api.starts_with("k0s.k0sproject.io") {
            found.push(k0s(doc, text));
        } else if is_talos_machine_config(doc) {
            found.push(talos(doc, &talos_docs, text));
        } else if kind == "KubeAPIServerConfig" && api == "v1alpha1" && !machine_doc {
            found.push(talos(&Value::Null, &talos_docs, text));
        } else if let Some(cfg) = ansible_vars(doc, text) {
            found.push(cfg);
        } else if let Some(cfg) = pod_like(doc, text) {
            found.extend(cfg);
        } else if let Some(cfg) = k3s_config(doc, text, hint) {
            found.push(cfg);
        } else if let Some(seq) = doc.as_sequence() {
            let items: Vec<String> = seq.iter().filter_map(|v| v.as_str().map(String::from)).collect();
            if !items.is_empty() && items.len() == seq.len() && items.iter().any(|a| a.starts_with('-')) {
                found.push(from_arg_vector(&items, text));
            }
        }
    }
    let mut first = found.into_iter();
    let mut cfg = first.next()?;
    let rest: Vec<ApiserverConfig> = first.collect();
    if !rest.is_empty() {
        cfg.notes
            .push(format!("{} more kube-apiserver configuration(s) in this file; the first is audited", rest.len()));
    }
    if cfg.stated_version.is_none() {
        cfg.stated_version = kubeadm_version;
    }
    Some(cfg)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Pod, Deployment/DaemonSet-like (spec.template.spec) or a List of them: the kube-apiserver
/// container's command + args.
fn pod_like(doc: &Value, text: &str) -> Option<Vec<ApiserverConfig>> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind == "List" || kind == "PodList" {
        let items = doc.get("items")?.as_sequence()?;
        let out: Vec<ApiserverConfig> = items.iter().filter_map(|i| pod_like(i, text)).flatten().collect();
        return (!out.is_empty()).then_some(out);
    }
    let spec = doc.get("spec")?;
    let pod_spec = if spec.get("containers").is_some() { spec } else { spec.get("template")?.get("spec")? };
    let containers = pod_spec.get("containers")?.as_sequence()?;
    for c in containers {
        let command = strings(c.get("command"));
        let args = strings(c.get("args"));
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let mut argv = command.clone();
        argv.extend(args.iter().cloned());
        let apiserver = apiserver_args(&argv).or_else(|| shell_wrapped(&argv));
        let is_apiserver = name == "kube-apiserver" || image.contains("kube-apiserver") || apiserver.is_some();
        if !is_apiserver {
            continue;
        }
        let args = apiserver.unwrap_or(argv);
        let stated_version = find_in_text(image).or_else(|| find_in_text(text));
        let templated = shapes::is_template(image) || args.iter().any(|a| shapes::is_template(a));
        return Some(vec![ApiserverConfig {
            source: InputForm::StaticPodManifest,
            flags: flags_from_args(&args),
            stated_version,
            notes: if templated { vec![TEMPLATE_NOTE.into()] } else { vec![] },
        }]);
    }
    None
}

/// A container that runs the apiserver through a shell (`command: [/bin/sh, -c, "/hyperkube
/// apiserver --admission-control=..."]`): the arguments of the apiserver command in the script.
fn shell_wrapped(argv: &[String]) -> Option<Vec<String>> {
    let (shell, rest) = argv.split_first()?;
    let shell = shell.rsplit('/').next().unwrap_or(shell);
    if !matches!(shell, "sh" | "bash" | "ash" | "dash") {
        return None;
    }
    let script = rest.iter().position(|a| a == "-c").and_then(|i| rest.get(i + 1))?;
    shell_commands(script).iter().find_map(|cmd| apiserver_args(cmd))
}

/// kubeadm's configuration kinds: ClusterConfiguration (v1alpha3–v1beta4; kind and kubeadm patches
/// may omit apiVersion) and the older MasterConfiguration (v1alpha1/v1alpha2).
fn is_kubeadm(kind: &str, api: &str) -> bool {
    let kubeadm_api = api.starts_with("kubeadm.k8s.io") || api.is_empty();
    (kind == "ClusterConfiguration" || kind == "MasterConfiguration") && kubeadm_api
}

/// `extraArgs` as a map (`flag: value`) or a v1beta4 list of `{name, value}` (names may repeat).
fn extra_args(extra: Option<&Value>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let Some(extra) = extra else {
        return pairs;
    };
    if let Some(map) = extra.as_mapping() {
        for (k, v) in map {
            let Some(k) = k.as_str() else {
                continue;
            };
            let k = k.trim_start_matches('-');
            // Talos (v1.13 on) also takes a list of values per flag: each one is passed as a flag
            let values = match v {
                Value::Sequence(_) => strings(Some(v)),
                v => scalar(v).into_iter().collect(),
            };
            pairs.extend(values.into_iter().map(|v| (k.to_string(), v)));
        }
    } else if let Some(list) = extra.as_sequence() {
        for item in list {
            let name = item.get("name").and_then(Value::as_str);
            let value = item.get("value").and_then(scalar);
            if let (Some(n), Some(v)) = (name, value) {
                pairs.push((n.trim_start_matches('-').to_string(), v));
            }
        }
    }
    pairs
}

fn flags_from_pairs(pairs: &[(String, String)]) -> AdmissionFlags {
    let mut flags = AdmissionFlags::default();
    for (k, v) in pairs {
        apply(&mut flags, k, v);
    }
    flags
}

/// kubeadm ClusterConfiguration: `apiServer.extraArgs` as a map (v1beta1–v1beta3) or a list of
/// `{name, value}` (v1beta4, where a name may repeat); MasterConfiguration: `apiServerExtraArgs`.
/// kubeadm's own default `enable-admission-plugins=NodeRestriction` (1.11 on) applies unless
/// extraArgs sets that flag.
fn kubeadm(doc: &Value) -> ApiserverConfig {
    let master = doc.get("kind").and_then(Value::as_str) == Some("MasterConfiguration");
    let extra = doc.get("apiServer").and_then(|a| a.get("extraArgs")).or_else(|| doc.get("apiServerExtraArgs"));
    let mut pairs = extra_args(extra);
    let mut notes = Vec::new();
    if master {
        if pairs.iter().all(|(k, _)| k != "admission-control" && k != "enable-admission-plugins") {
            notes.push("kubeadm MasterConfiguration (before 1.11): kubeadm's own --admission-control default of that release is not modelled".into());
        }
    } else if !pairs.iter().any(|(k, _)| k == "enable-admission-plugins") {
        pairs.insert(0, ("enable-admission-plugins".into(), INSTALLER_DEFAULT_ENABLE.into()));
        notes.push(
            "kubeadm's default --enable-admission-plugins=NodeRestriction applied (extraArgs do not set it)".into(),
        );
    }
    let flags = flags_from_pairs(&pairs);
    let stated_version = doc.get("kubernetesVersion").and_then(scalar).and_then(|raw| {
        // kubeadm also accepts release labels such as "stable-1.29"
        let bare = raw.trim_start_matches("stable-").trim_start_matches("latest-");
        KubeVersion::parse(bare).map(|version| StatedVersion { version, raw, from: "kubeadm kubernetesVersion".into() })
    });
    ApiserverConfig { source: InputForm::KubeadmClusterConfiguration, flags, stated_version, notes }
}

/// kind `Cluster`: kind runs kubeadm, so the apiserver flags are the ClusterConfiguration found in
/// `kubeadmConfigPatches` (top level, then control-plane nodes; each a YAML string), else kubeadm's
/// default. The version comes from the node image (`kindest/node:v1.30.0`).
fn kind_cluster(doc: &Value, text: &str) -> ApiserverConfig {
    let mut patches = strings(doc.get("kubeadmConfigPatches"));
    for node in doc.get("nodes").and_then(Value::as_sequence).into_iter().flatten() {
        let role = node.get("role").and_then(Value::as_str).unwrap_or("control-plane");
        if role == "control-plane" {
            patches.extend(strings(node.get("kubeadmConfigPatches")));
        }
    }
    let mut configs = Vec::new();
    for patch in &patches {
        for d in serde_norway::Deserializer::from_str(patch) {
            let Ok(v) = <Value as serde::Deserialize>::deserialize(d) else {
                continue;
            };
            let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
            let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if is_kubeadm(kind, api) {
                configs.push(kubeadm(&v));
            }
        }
    }
    let pick = configs.iter().position(|c| c.notes.is_empty()).unwrap_or(0);
    let mut cfg = if configs.is_empty() {
        kubeadm(&Value::Null)
    } else {
        let more = configs.len() - 1;
        let mut c = configs.swap_remove(pick);
        if more > 0 {
            c.notes.push(format!("{more} more ClusterConfiguration patch(es); the one setting admission flags (else the first) is audited"));
        }
        c
    };
    cfg.source = InputForm::KindCluster;
    cfg.notes.push("kind bootstraps with kubeadm: kubeadmConfigPatches → ClusterConfiguration".into());
    cfg.stated_version = find_in_text(text).or(cfg.stated_version);
    cfg
}

/// The Talos 1.14+ documents that carry apiserver settings (`kind: KubeAPIServerConfig`, with the
/// same `extraArgs`/`image` fields as `cluster.apiServer`, and `KubeAdmissionControlConfig`).
struct TalosDocs<'a> {
    apiserver: Option<&'a Value>,
    admission: bool,
}

fn is_talos_machine_config(doc: &Value) -> bool {
    doc.get("machine").is_some() && doc.get("cluster").is_some_and(Value::is_mapping)
}

/// Talos machine config: `cluster.apiServer.extraArgs` or the `KubeAPIServerConfig` document's (a
/// map; values may be lists), version from the apiserver `image`. Talos passes
/// `--enable-admission-plugins=NodeRestriction` itself and merges a user
/// `enable-admission-plugins` into it additively (siderolabs/talos
/// internal/app/machined/pkg/controllers/k8s/control_plane_final.go, MergeAdditive); before
/// Talos 1.12 it also added PodSecurityPolicy unless `disablePodSecurityPolicy: true`, which is
/// applied only when the config says `false` outright. `cluster.apiServer.admissionControl`
/// becomes the admission configuration file Talos writes.
fn talos(doc: &Value, docs: &TalosDocs, text: &str) -> ApiserverConfig {
    let api = docs.apiserver.or_else(|| doc.get("cluster").and_then(|c| c.get("apiServer")));
    let pairs = extra_args(api.and_then(|a| a.get("extraArgs")));
    let mut flags = flags_from_pairs(&pairs);
    let mut enable = vec![INSTALLER_DEFAULT_ENABLE.to_string()];
    let psp_off = api.and_then(|a| a.get("disablePodSecurityPolicy")).and_then(Value::as_bool);
    if psp_off == Some(false) {
        enable.push("PodSecurityPolicy".into());
    }
    for p in flags.enable.take().unwrap_or_default() {
        let p = p.trim().to_string();
        if !p.is_empty() && !enable.contains(&p) {
            enable.push(p);
        }
    }
    flags.enable = Some(enable);
    if flags.config_file.is_none() && (docs.admission || api.and_then(|a| a.get("admissionControl")).is_some()) {
        flags.config_file = Some("(Talos cluster.apiServer.admissionControl)".into());
    }
    let image = api.and_then(|a| a.get("image")).and_then(Value::as_str).unwrap_or("");
    let mut notes = vec![
        "Talos's own --enable-admission-plugins=NodeRestriction applied; extraArgs enable-admission-plugins are added to it (Talos merges that flag)".to_string(),
    ];
    if psp_off == Some(false) {
        notes.push("disablePodSecurityPolicy: false: Talos before 1.12 adds PodSecurityPolicy".into());
    }
    notes.push("Talos's other kube-apiserver defaults are not modelled".into());
    ApiserverConfig {
        source: InputForm::TalosConfig,
        flags,
        stated_version: find_in_text(image).or_else(|| find_in_text(text)),
        notes,
    }
}

/// k0s `ClusterConfig`: `spec.api.extraArgs` (a map that overrides k0s's own args by name, and
/// k0s's own `enable-admission-plugins` is NodeRestriction: k0sproject/k0s
/// pkg/component/controller/apiserver.go), then `spec.api.rawArgs` appended.
fn k0s(doc: &Value, text: &str) -> ApiserverConfig {
    let api = doc.get("spec").and_then(|s| s.get("api"));
    let mut pairs = extra_args(api.and_then(|a| a.get("extraArgs")));
    let mut notes = Vec::new();
    if !pairs.iter().any(|(k, _)| k == "enable-admission-plugins") {
        pairs.insert(0, ("enable-admission-plugins".into(), INSTALLER_DEFAULT_ENABLE.into()));
        notes.push("k0s's default enable-admission-plugins=NodeRestriction applied (extraArgs do not set it)".into());
    }
    let mut flags = flags_from_pairs(&pairs);
    let raw = strings(api.and_then(|a| a.get("rawArgs")));
    let extra = flags_from_args(&raw);
    for (slot, more) in [
        (&mut flags.enable, extra.enable),
        (&mut flags.disable, extra.disable),
        (&mut flags.admission_control, extra.admission_control),
    ] {
        if let Some(more) = more {
            slot.get_or_insert_with(Vec::new).extend(more);
        }
    }
    if extra.config_file.is_some() {
        flags.config_file = extra.config_file;
    }
    ApiserverConfig { source: InputForm::K0sConfig, flags, stated_version: find_in_text(text), notes }
}

/// The kubespray variables, as kubespray's kubeadm template renders them: a non-empty
/// `kube_apiserver_enable_admission_plugins` list becomes `enable-admission-plugins` (replacing
/// kubeadm's NodeRestriction default), `kube_apiserver_disable_admission_plugins` likewise,
/// `kube_apiserver_admission_control` (kubespray before kubeadm) `--admission-control`.
const ANSIBLE_VARS: [(&str, &str); 3] = [
    ("kube_apiserver_enable_admission_plugins", "enable-admission-plugins"),
    ("kube_apiserver_disable_admission_plugins", "disable-admission-plugins"),
    ("kube_apiserver_admission_control", "admission-control"),
];

/// Ansible group_vars / inventory vars (anywhere in the document, e.g. under `all: vars:`).
fn ansible_vars(doc: &Value, text: &str) -> Option<ApiserverConfig> {
    let vars = find_mapping_with(doc, &|m| ANSIBLE_VARS.iter().any(|(k, _)| m.contains_key(*k)), 0)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (var, flag) in ANSIBLE_VARS {
        let list = match vars.get(var) {
            // a Jinja item is rendered by Ansible; the safety net reports it
            Some(Value::Sequence(_)) => {
                strings(vars.get(var)).into_iter().filter(|i| !shapes::is_template(i)).collect()
            }
            Some(Value::String(s)) if !shapes::is_template(s) => super::args::split_list(s),
            _ => Vec::new(),
        };
        if !list.is_empty() {
            pairs.push((flag.to_string(), list.join(",")));
        }
    }
    let mut notes = vec!["kubespray variables, rendered as kubespray's kubeadm template does".to_string()];
    let control = pairs.iter().any(|(k, _)| k == "admission-control");
    if !control && !pairs.iter().any(|(k, _)| k == "enable-admission-plugins") {
        pairs.insert(0, ("enable-admission-plugins".into(), INSTALLER_DEFAULT_ENABLE.into()));
        notes.push(
            "kubeadm's default --enable-admission-plugins=NodeRestriction applied (the enable list is empty)".into(),
        );
    }
    let mut flags = flags_from_pairs(&pairs);
    if vars.get("kube_apiserver_admission_control_config_file").and_then(Value::as_bool) == Some(true) {
        // kubespray writes it to {{ kube_config_dir }}/admission-controls.yaml
        flags.config_file = Some("/etc/kubernetes/admission-controls.yaml".into());
    }
    Some(ApiserverConfig { source: InputForm::AnsibleVars, flags, stated_version: find_in_text(text), notes })
}

fn find_mapping_with<'a>(
    v: &'a Value,
    pred: &dyn Fn(&serde_norway::Mapping) -> bool,
    depth: usize,
) -> Option<&'a serde_norway::Mapping> {
    if depth > 8 {
        return None;
    }
    match v {
        Value::Mapping(m) if pred(m) => Some(m),
        Value::Mapping(m) => m.values().find_map(|x| find_mapping_with(x, pred, depth + 1)),
        Value::Sequence(s) => s.iter().find_map(|x| find_mapping_with(x, pred, depth + 1)),
        _ => None,
    }
}

/// kops Cluster: `spec.kubeAPIServer.enableAdmissionPlugins` / `disableAdmissionPlugins` /
/// `appendAdmissionPlugins` / `admissionControl` (lists), `spec.kubernetesVersion`. Since kops
/// 1.10 (Kubernetes 1.10) nodeup passes `admissionControl` as `--enable-admission-plugins`
/// (replacing `enableAdmissionPlugins`), and `appendAdmissionPlugins` is added to kops's own list
/// (kubernetes/kops nodeup/pkg/model/kube_apiserver.go, pkg/model/components/apiserver.go).
fn kops(spec: Option<&Value>) -> ApiserverConfig {
    let api = spec.and_then(|s| s.get("kubeAPIServer"));
    let list = |key: &str| -> Option<Vec<String>> {
        let v = api?.get(key)?;
        match v {
            Value::Sequence(_) => Some(strings(Some(v))),
            Value::String(s) => Some(super::args::split_list(s)),
            _ => None,
        }
    };
    let stated_version = spec
        .and_then(|s| s.get("kubernetesVersion"))
        .and_then(scalar)
        .and_then(|raw| {
            KubeVersion::parse(&raw).map(|version| StatedVersion {
                version,
                raw,
                from: "kops kubernetesVersion".into(),
            })
        })
        .or_else(|| api.and_then(|a| a.get("image")).and_then(Value::as_str).and_then(find_in_text));
    let mut notes = Vec::new();
    let mut enable = list("enableAdmissionPlugins");
    let mut admission_control = list("admissionControl").filter(|l| !l.is_empty());
    let before_1_10 = stated_version.as_ref().is_some_and(|v| v.version < KubeVersion::new(1, 10));
    if admission_control.is_some() && !before_1_10 {
        enable = admission_control.take();
        notes.push("kops (1.10 on) passes spec.kubeAPIServer.admissionControl as --enable-admission-plugins".into());
    }
    if let Some(append) = list("appendAdmissionPlugins").filter(|l| !l.is_empty()) {
        let e = enable.get_or_insert_with(Vec::new);
        for p in append {
            if !e.contains(&p) {
                e.push(p);
            }
        }
        notes.push("appendAdmissionPlugins read as enabled (kops adds them to its own list)".into());
    }
    let flags = AdmissionFlags {
        enable,
        disable: list("disableAdmissionPlugins"),
        admission_control,
        config_file: api.and_then(|a| a.get("admissionControlConfigFile")).and_then(scalar),
        feature_gates: Default::default(),
    };
    if list("enableAdmissionPlugins").is_none() && list("admissionControl").is_none() {
        notes.push(
            "kops sets its own admission defaults when spec.kubeAPIServer names none; they are not modelled here"
                .into(),
        );
    }
    ApiserverConfig { source: InputForm::KopsCluster, flags, stated_version, notes }
}

/// A kops cluster spec without its `apiVersion`/`kind` header: `spec.kubeAPIServer` (a template
/// of the Cluster) or a top-level `kubeAPIServer` (the cluster_spec.yaml nodeup reads on a master).
fn kops_spec_without_header(doc: &Value) -> Option<&Value> {
    if doc.get("kind").is_some() {
        return None;
    }
    let holds = |v: &Value| v.get("kubeAPIServer").is_some_and(Value::is_mapping);
    if holds(doc) {
        return Some(doc);
    }
    doc.get("spec").filter(|s| holds(s))
}

/// Cluster API `KubeadmControlPlane` / `KubeadmControlPlaneTemplate` / `KubeadmConfig(Template)`:
/// the embedded kubeadm `clusterConfiguration`, read as a ClusterConfiguration; the version is
/// `spec.version` (or the template's). None when the object carries no clusterConfiguration.
fn cluster_api(doc: &Value, kind: &str, api: &str) -> Option<ApiserverConfig> {
    let capi = api.starts_with("controlplane.cluster.x-k8s.io") || api.starts_with("bootstrap.cluster.x-k8s.io");
    if !capi || !kind.starts_with("Kubeadm") {
        return None;
    }
    let spec = doc.get("spec")?;
    let inner = spec.get("template").and_then(|t| t.get("spec")).unwrap_or(spec);
    let cc = inner
        .get("kubeadmConfigSpec")
        .and_then(|k| k.get("clusterConfiguration"))
        .or_else(|| inner.get("clusterConfiguration"))?;
    let mut cfg = kubeadm(cc);
    cfg.notes.push(format!("Cluster API {kind}: its kubeadm clusterConfiguration is audited"));
    let version = spec.get("version").or_else(|| inner.get("version")).and_then(scalar);
    if let Some((raw, version)) = version.and_then(|raw| KubeVersion::parse(&raw).map(|v| (raw, v))) {
        cfg.stated_version = Some(StatedVersion { version, raw, from: format!("Cluster API {kind} spec.version") });
    }
    Some(cfg)
}

/// k3s/RKE2 `config.yaml`: `kube-apiserver-arg:` as a list (or one string) of `flag=value`.
fn k3s_config(doc: &Value, text: &str, hint: &str) -> Option<ApiserverConfig> {
    let map = doc.as_mapping()?;
    let key = ["kube-apiserver-arg", "kube-apiserver-args"].into_iter().find(|k| map.contains_key(*k))?;
    let v = doc.get(key)?;
    let items: Vec<String> = match v {
        Value::Sequence(_) => strings(Some(v)),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let rke2 = hint.contains("rke2")
        || ["cni", "profile", "pod-security-admission-config-file"].iter().any(|k| map.contains_key(*k));
    let form = if rke2 { InputForm::Rke2Config } else { InputForm::K3sConfig };
    Some(k3s_pairs(items, text, form))
}

/// `k3s server --kube-apiserver-arg=enable-admission-plugins=... --kube-apiserver-arg "x=y"`
/// (also the node-args annotation, where value and flag are separate array items).
fn k3s_from_args(args: &[String], text: &str, form: InputForm) -> ApiserverConfig {
    let mut items = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        for flag in ["--kube-apiserver-arg", "--kube-apiserver-args"] {
            if let Some(rest) = a.strip_prefix(flag) {
                if let Some(v) = rest.strip_prefix('=') {
                    items.push(v.to_string());
                } else if rest.is_empty()
                    && let Some(v) = args.get(i)
                {
                    items.push(v.clone());
                    i += 1;
                }
            }
        }
    }
    k3s_pairs(items, text, form)
}

/// k3s/RKE2 `GetArgs` (k3s-io/k3s pkg/util/args.go): a user `name=value` replaces the built-in
/// default of that name, repeats of a user name all become flags (kube-apiserver then appends
/// them), `name+=value` appends to the default and `name-=value` prepends to it.
fn k3s_pairs(items: Vec<String>, text: &str, form: InputForm) -> ApiserverConfig {
    let mut initial: BTreeMap<String, String> =
        [("enable-admission-plugins".to_string(), INSTALLER_DEFAULT_ENABLE.to_string())].into();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for it in &items {
        let it = it.strip_prefix("--").unwrap_or(it);
        let (arg, value) = it.split_once('=').unwrap_or((it, "true"));
        let cleaned = arg.trim_end_matches(['-', '+']).to_string();
        let init = initial.remove(&cleaned);
        let existing = multi.remove(&cleaned).unwrap_or_default();
        let values = if arg.ends_with('+') {
            init.into_iter().chain(existing).chain([value.to_string()]).collect()
        } else if arg.ends_with('-') {
            [value.to_string()].into_iter().chain(init).chain(existing).collect()
        } else {
            existing.into_iter().chain([value.to_string()]).collect()
        };
        multi.insert(cleaned, values);
    }
    let mut notes = Vec::new();
    if initial.contains_key("enable-admission-plugins") {
        notes.push(format!(
            "{}'s default enable-admission-plugins=NodeRestriction applied (no kube-apiserver-arg sets it)",
            if form == InputForm::Rke2Config { "RKE2" } else { "k3s" }
        ));
    }
    for (k, v) in initial {
        multi.insert(k, vec![v]);
    }
    let mut flags = AdmissionFlags::default();
    for (k, values) in &multi {
        for v in values {
            apply(&mut flags, k, v);
        }
    }
    ApiserverConfig { source: form, flags, stated_version: find_in_text(text), notes }
}

fn parse_systemd(text: &str) -> Result<ApiserverConfig, ParseError> {
    for exec in systemd_exec_starts(text) {
        for cmd in shell_commands(&exec) {
            if let Some(args) = apiserver_args(&cmd) {
                return Ok(ApiserverConfig {
                    source: InputForm::SystemdUnit,
                    flags: flags_from_args(&args),
                    stated_version: find_in_text(text),
                    notes: vec![],
                });
            }
            if cmd.iter().any(|w| w.starts_with("--kube-apiserver-arg")) {
                return Ok(k3s_from_args(&cmd, text, InputForm::K3sArgs));
            }
        }
    }
    Err(ParseError::NotRecognised(
        "systemd unit whose ExecStart runs neither kube-apiserver nor k3s/rke2 with --kube-apiserver-arg".into(),
    ))
}

fn parse_shell_or_args(text: &str, hint: &str) -> Result<ApiserverConfig, ParseError> {
    let commands = shell_commands(text);
    for (i, cmd) in commands.iter().enumerate() {
        if let Some(mut args) = apiserver_args(cmd) {
            // a listing may put the program on one line and one flag per line below it, without `\`
            args.extend(
                commands[i + 1..]
                    .iter()
                    .take_while(|c| c.first().is_some_and(|w| w.starts_with("--")))
                    .flatten()
                    .cloned(),
            );
            return Ok(ApiserverConfig {
                source: InputForm::ShellScript,
                flags: flags_from_args(&args),
                stated_version: find_in_text(text),
                notes: vec![],
            });
        }
    }
    let all: Vec<String> = commands.iter().flatten().cloned().collect();
    if all.iter().any(|w| w.starts_with("--kube-apiserver-arg")) {
        return Ok(k3s_from_args(&all, text, InputForm::K3sArgs));
    }
    // a plain argument list: every command is flags (one per line, or all on one line)
    if !all.is_empty() && commands.iter().all(|c| c.first().is_some_and(|w| w.starts_with("--"))) {
        let flags = flags_from_args(&all);
        let microk8s = hint.contains("microk8s") || text.contains("${SNAP") || text.contains("$SNAP_DATA");
        return Ok(ApiserverConfig {
            source: if microk8s { InputForm::MicroK8sArgs } else { InputForm::ArgumentList },
            flags,
            stated_version: find_in_text(text),
            notes: vec![],
        });
    }
    Err(ParseError::NotRecognised(
        "none of the shapes docs/admission.md lists (manifests, kubeadm/kind/kops/Talos/k0s/k3s/RKE2 configs, kubespray vars, units, scripts, process listings, argument lists, or these in Markdown fences and heredocs)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn static_pod_command_and_args_multi_doc() {
        let text = r#"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
  labels: {component: kube-apiserver, tier: control-plane}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.29.3
    command:
    - kube-apiserver
    - --advertise-address=10.0.0.1
    - --enable-admission-plugins=NodeRestriction,PodSecurityPolicy
    args:
    - --disable-admission-plugins
    - "DefaultStorageClass"
"#;
        let cfg = parse_input(text, None).unwrap();
        assert_eq!(cfg.source, InputForm::StaticPodManifest);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "PodSecurityPolicy"])));
        assert_eq!(cfg.flags.disable, Some(s(&["DefaultStorageClass"])));
        let v = cfg.stated_version.unwrap();
        assert_eq!(v.version, KubeVersion::new(1, 29));
        assert_eq!(v.raw, "v1.29.3");
    }

    #[test]
    fn apiserver_run_through_a_shell_in_a_pod() {
        let pod = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - /bin/sh\n    - -c\n    - /hyperkube apiserver\n      --etcd-servers=http://ETCD_IP:2379\n      --admission-control=NamespaceLifecycle,DenyEscalatingExec\n      1>>/var/log/kube-apiserver.log 2>&1\n";
        let cfg = parse_input(pod, None).unwrap();
        assert_eq!(cfg.source, InputForm::StaticPodManifest);
        assert_eq!(cfg.flags.admission_control, Some(s(&["NamespaceLifecycle", "DenyEscalatingExec"])));
    }

    #[test]
    fn kubeadm_map_and_list_forms() {
        let map = r#"
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.28.4
apiServer:
  extraArgs:
    enable-admission-plugins: NodeRestriction,AlwaysPullImages
    admission-control-config-file: /etc/kubernetes/adm.yaml
"#;
        let cfg = parse_input(map, None).unwrap();
        assert_eq!(cfg.source, InputForm::KubeadmClusterConfiguration);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "AlwaysPullImages"])));
        assert_eq!(cfg.flags.config_file.as_deref(), Some("/etc/kubernetes/adm.yaml"));
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 28));
        assert!(cfg.notes.is_empty());

        let list = r#"
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: "1.31.0"
apiServer:
  extraArgs:
  - name: disable-admission-plugins
    value: ServiceAccount
  - name: enable-admission-plugins
    value: AlwaysPullImages
  - name: enable-admission-plugins
    value: EventRateLimit
"#;
        let cfg = parse_input(list, None).unwrap();
        assert_eq!(cfg.flags.disable, Some(s(&["ServiceAccount"])));
        // a repeated name in v1beta4 becomes a repeated flag: pflag appends
        assert_eq!(cfg.flags.enable, Some(s(&["AlwaysPullImages", "EventRateLimit"])));
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 31));

        let label = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: stable-1.29\n";
        assert_eq!(parse_input(label, None).unwrap().stated_version.unwrap().version, KubeVersion::new(1, 29));

        let none = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n";
        let cfg = parse_input(none, None).unwrap();
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction"])));
        assert_eq!(cfg.notes.len(), 1);
        assert!(cfg.stated_version.is_none());
    }

    #[test]
    fn systemd_unit() {
        let unit = r#"[Unit]
Description=Kubernetes API Server
# ExecStart=/bin/false  (commented out)

[Service]
ExecStart=/usr/local/bin/kube-apiserver \
  --etcd-servers=https://10.0.0.2:2379 \
  --enable-admission-plugins="NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurityPolicy" \
  --admission-control-config-file /etc/kubernetes/admission.yaml \
  --v=2
Restart=on-failure
"#;
        let cfg = parse_input(unit, Some("/etc/systemd/system/kube-apiserver.service")).unwrap();
        assert_eq!(cfg.source, InputForm::SystemdUnit);
        assert_eq!(
            cfg.flags.enable,
            Some(s(&["NamespaceLifecycle", "LimitRanger", "ServiceAccount", "PodSecurityPolicy"]))
        );
        assert_eq!(cfg.flags.config_file.as_deref(), Some("/etc/kubernetes/admission.yaml"));
        assert!(cfg.stated_version.is_none());
    }

    #[test]
    fn shell_script() {
        let script = r#"#!/bin/bash
set -euo pipefail
# old flags, kept for reference:
# --admission-control=AlwaysAdmit
CFG=/etc/k8s/adm.yaml
exec /opt/bin/kube-apiserver \
    --admission-control-config-file="$CFG" \
    --enable-admission-plugins 'NodeRestriction,EventRateLimit' \
    --enable-admission-plugins=AlwaysPullImages \
    --disable-admission-plugins=DefaultStorageClass   # no default SC here
"#;
        let cfg = parse_input(script, Some("start.sh")).unwrap();
        assert_eq!(cfg.source, InputForm::ShellScript);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "EventRateLimit", "AlwaysPullImages"])));
        assert_eq!(cfg.flags.disable, Some(s(&["DefaultStorageClass"])));
        assert_eq!(cfg.flags.config_file.as_deref(), Some("$CFG"));
        assert_eq!(cfg.flags.admission_control, None, "commented flag ignored");
    }

    #[test]
    fn k3s_cli_lines_and_config() {
        let cli = "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v1.28.5+k3s1 sh -s - server \\\n  --kube-apiserver-arg=enable-admission-plugins=NodeRestriction,AlwaysPullImages \\\n  --kube-apiserver-arg \"disable-admission-plugins=ServiceAccount\"\n";
        let cfg = parse_input(cli, None).unwrap();
        assert_eq!(cfg.source, InputForm::K3sArgs);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "AlwaysPullImages"])));
        assert_eq!(cfg.flags.disable, Some(s(&["ServiceAccount"])));
        assert_eq!(cfg.stated_version.unwrap().raw, "v1.28.5+k3s1");

        let conf = "write-kubeconfig-mode: \"0644\"\nkube-apiserver-arg:\n  - \"enable-admission-plugins=AlwaysAdmit\"\n  - admission-control-config-file=/etc/rancher/k3s/psa.yaml\n";
        let cfg = parse_input(conf, Some("/etc/rancher/k3s/config.yaml")).unwrap();
        assert_eq!(cfg.source, InputForm::K3sConfig);
        // the user's flag replaces k3s's NodeRestriction default (k3s merges by flag name)
        assert_eq!(cfg.flags.enable, Some(s(&["AlwaysAdmit"])));
        assert_eq!(cfg.flags.config_file.as_deref(), Some("/etc/rancher/k3s/psa.yaml"));

        // k3s GetArgs: `+=` appends to the NodeRestriction default, repeats all become flags
        let plus = "kube-apiserver-arg:\n  - enable-admission-plugins+=AlwaysPullImages\n  - enable-admission-plugins+=EventRateLimit\n";
        assert_eq!(
            parse_input(plus, None).unwrap().flags.enable,
            Some(s(&["NodeRestriction", "AlwaysPullImages", "EventRateLimit"]))
        );
        let minus = "kube-apiserver-arg: [\"enable-admission-plugins-=PodSecurity\"]\n";
        assert_eq!(parse_input(minus, None).unwrap().flags.enable, Some(s(&["PodSecurity", "NodeRestriction"])));
        let repeat = "kube-apiserver-arg:\n  - enable-admission-plugins=A\n  - enable-admission-plugins=B\n";
        assert_eq!(parse_input(repeat, None).unwrap().flags.enable, Some(s(&["A", "B"])));

        let rke2 = "profile: cis\nkube-apiserver-arg: \"disable-admission-plugins=AlwaysDeny\"\n";
        let cfg = parse_input(rke2, Some("/etc/rancher/rke2/config.yaml")).unwrap();
        assert_eq!(cfg.source, InputForm::Rke2Config);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction"])));
        assert_eq!(cfg.flags.disable, Some(s(&["AlwaysDeny"])));
    }

    #[test]
    fn k3s_node_args_annotation_json() {
        let ann = r#"["server","--kube-apiserver-arg","enable-admission-plugins=NodeRestriction,EventRateLimit","--token","********"]"#;
        let cfg = parse_input(ann, None).unwrap();
        assert_eq!(cfg.source, InputForm::K3sArgs);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "EventRateLimit"])));
    }

    #[test]
    fn kops_cluster() {
        let text = r#"
apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata: {name: k.example.com}
spec:
  kubernetesVersion: 1.24.3
  kubeAPIServer:
    enableAdmissionPlugins:
    - NodeRestriction
    - PodSecurityPolicy
    disableAdmissionPlugins: [AlwaysDeny]
"#;
        let cfg = parse_input(text, None).unwrap();
        assert_eq!(cfg.source, InputForm::KopsCluster);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "PodSecurityPolicy"])));
        assert_eq!(cfg.flags.disable, Some(s(&["AlwaysDeny"])));
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 24));
        // kops 1.10 on: nodeup passes admissionControl as --enable-admission-plugins
        let old = "apiVersion: kops/v1alpha2\nkind: Cluster\nspec:\n  kubeAPIServer:\n    admissionControl: [NamespaceLifecycle, Initializers]\n";
        let cfg = parse_input(old, None).unwrap();
        assert_eq!(cfg.flags.enable, Some(s(&["NamespaceLifecycle", "Initializers"])));
        assert_eq!(cfg.flags.admission_control, None);
        // before it, kops passed --admission-control
        let v19 = "apiVersion: kops/v1alpha2\nkind: Cluster\nspec:\n  kubernetesVersion: 1.9.3\n  kubeAPIServer:\n    admissionControl: [NamespaceLifecycle, Initializers]\n";
        let cfg = parse_input(v19, None).unwrap();
        assert_eq!(cfg.flags.admission_control, Some(s(&["NamespaceLifecycle", "Initializers"])));
        assert_eq!(cfg.flags.enable, None);
        // appendAdmissionPlugins are added to what runs
        // nodeup's cluster_spec.yaml (no header, kubeAPIServer at the top), version from the image
        let nodeup = "kubeAPIServer:\n  admissionControl:\n  - Initializers\n  image: gcr.io/google_containers/kube-apiserver:v1.8.4\n";
        let cfg = parse_input(nodeup, None).unwrap();
        assert_eq!(cfg.source, InputForm::KopsCluster);
        assert_eq!(cfg.flags.admission_control, Some(s(&["Initializers"])));
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 8));
        let headerless = "metadata: {name: x}\nspec:\n  kubernetesVersion: 1.10.11\n  kubeAPIServer:\n    enableAdmissionPlugins: [Initializers]\n";
        assert_eq!(parse_input(headerless, None).unwrap().flags.enable, Some(s(&["Initializers"])));
        let append = "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nspec:\n  kubeAPIServer:\n    appendAdmissionPlugins:\n    - PodPreset\n";
        let cfg = parse_input(append, None).unwrap();
        assert_eq!(cfg.flags.enable, Some(s(&["PodPreset"])));
    }

    #[test]
    fn talos_default_is_merged_with_extra_args() {
        let none = "version: v1alpha1\nmachine: {type: controlplane}\ncluster:\n  apiServer:\n    image: registry.k8s.io/kube-apiserver:v1.31.2\n";
        let cfg = parse_input(none, None).unwrap();
        assert_eq!(cfg.source, InputForm::TalosConfig);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction"])));
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 31));
        // Talos merges the user's list into its own; list values (Talos 1.13) are flags too
        let extra = "machine: {}\ncluster:\n  apiServer:\n    extraArgs:\n      enable-admission-plugins: NodeRestriction,AlwaysPullImages\n      disable-admission-plugins: [DefaultStorageClass, LimitRanger]\n";
        let cfg = parse_input(extra, None).unwrap();
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "AlwaysPullImages"])));
        assert_eq!(cfg.flags.disable, Some(s(&["DefaultStorageClass", "LimitRanger"])));
        // Talos 1.14 on: a KubeAPIServerConfig document beside the machine config
        let docs = "version: v1alpha1\nmachine: {type: controlplane}\ncluster: {token: x}\n---\napiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nconfig: []\n---\napiVersion: v1alpha1\nkind: KubeAPIServerConfig\nimage: registry.k8s.io/kube-apiserver:v1.36.0\nextraArgs:\n  enable-admission-plugins: [EventRateLimit]\n";
        let cfg = parse_input(docs, None).unwrap();
        assert_eq!(cfg.source, InputForm::TalosConfig);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction", "EventRateLimit"])));
        assert!(cfg.flags.config_file.is_some());
        assert_eq!(cfg.stated_version.unwrap().version, KubeVersion::new(1, 36));
        let alone =
            "apiVersion: v1alpha1\nkind: KubeAPIServerConfig\nextraArgs:\n  disable-admission-plugins: LimitRanger\n";
        let cfg = parse_input(alone, None).unwrap();
        assert_eq!(cfg.source, InputForm::TalosConfig);
        assert_eq!(cfg.flags.disable, Some(s(&["LimitRanger"])));
        let psp = "machine: {}\ncluster:\n  apiServer:\n    disablePodSecurityPolicy: false\n";
        assert_eq!(parse_input(psp, None).unwrap().flags.enable, Some(s(&["NodeRestriction", "PodSecurityPolicy"])));
    }

    #[test]
    fn cluster_api_kubeadm_control_plane() {
        let kcp = r#"
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata: {name: cp}
spec:
  version: v1.24.16
  kubeadmConfigSpec:
    clusterConfiguration:
      apiServer:
        extraArgs:
          enable-admission-plugins: NamespaceLifecycle,PodSecurityPolicy
"#;
        let cfg = parse_input(kcp, None).unwrap();
        assert_eq!(cfg.source, InputForm::KubeadmClusterConfiguration);
        assert_eq!(cfg.flags.enable, Some(s(&["NamespaceLifecycle", "PodSecurityPolicy"])));
        let v = cfg.stated_version.unwrap();
        assert_eq!((v.version, v.raw.as_str()), (KubeVersion::new(1, 24), "v1.24.16"));
        // a template without apiServer args: kubeadm's default
        let tpl = "apiVersion: controlplane.cluster.x-k8s.io/v1beta1\nkind: KubeadmControlPlaneTemplate\nspec:\n  template:\n    spec:\n      kubeadmConfigSpec:\n        clusterConfiguration: {}\n";
        assert_eq!(parse_input(tpl, None).unwrap().flags.enable, Some(s(&["NodeRestriction"])));
        // a worker KubeadmConfigTemplate holds no apiserver configuration
        let worker = "apiVersion: bootstrap.cluster.x-k8s.io/v1beta1\nkind: KubeadmConfigTemplate\nspec:\n  template:\n    spec:\n      joinConfiguration: {}\n";
        assert!(parse_input(worker, None).is_err());
    }

    #[test]
    fn helm_template_list_with_control_lines() {
        let chart = "    spec:\n      containers:\n      - command:\n        - kube-apiserver\n        - --enable-admission-plugins=NodeRestriction\n        {{- if .Values.extra }}\n        - --disable-admission-plugins=DefaultStorageClass\n        {{- end }}\n        {{- range $key, $value := .Values.apiServer.extraArgs }}\n        - --{{ $key }}={{ $value }}\n        {{- end }}\n        ports:\n";
        let cfg = parse_input(chart, None).unwrap();
        assert_eq!(cfg.source, InputForm::StaticPodManifest);
        assert_eq!(cfg.flags.enable, Some(s(&["NodeRestriction"])));
        assert_eq!(cfg.flags.disable, Some(s(&["DefaultStorageClass"])));
        assert!(cfg.notes.iter().any(|n| n.starts_with("template:")), "{:?}", cfg.notes);
    }

    #[test]
    fn plain_argument_lists() {
        let one_per_line =
            "--enable-admission-plugins=NodeRestriction\n--admission-control AlwaysAdmit,ServiceAccount\n";
        let cfg = parse_input(one_per_line, None).unwrap();
        assert_eq!(cfg.source, InputForm::ArgumentList);
        assert_eq!(cfg.flags.admission_control, Some(s(&["AlwaysAdmit", "ServiceAccount"])));
        let one_line = "--enable-admission-plugins=A --enable-admission-plugins=B";
        assert_eq!(parse_input(one_line, None).unwrap().flags.enable, Some(s(&["A", "B"])));
        let yaml_list = "- kube-apiserver\n- --disable-admission-plugins=ServiceAccount\n";
        let cfg = parse_input(yaml_list, None).unwrap();
        assert_eq!(cfg.source, InputForm::ArgumentList);
        assert_eq!(cfg.flags.disable, Some(s(&["ServiceAccount"])));
        let json = r#"["kube-apiserver", "--enable-admission-plugins", "AlwaysAdmit"]"#;
        assert_eq!(parse_input(json, None).unwrap().flags.enable, Some(s(&["AlwaysAdmit"])));
    }

    #[test]
    fn rejects_unrelated_input() {
        assert_eq!(parse_input("  \n", None), Err(ParseError::Empty));
        assert!(matches!(parse_input("echo hello\nls -l\n", None), Err(ParseError::NotRecognised(_))));
        assert!(matches!(parse_input("apiVersion: v1\nkind: ConfigMap\n", None), Err(ParseError::NotRecognised(_))));
    }
}
