//! The live admission audit's pure half: what the operator read from the cluster ([`Observations`])
//! → one [`LiveOutcome`]. Sources, in order of preference: kube-apiserver mirror pods, the k3s node
//! annotation `k3s.io/node-args`, the apiserver's own `/metrics` (proves enabled, never disabled);
//! `GET /version` gives the running version. Fetching is the operator's job.

use std::collections::BTreeSet;

use serde::Serialize;

use super::args::AdmissionFlags;
use super::checks::{Evaluation, evaluate, evaluate_observed};
use super::kb::{KbError, KnowledgeBase};
use super::parse::parse_input;
use super::version::KubeVersion;
use crate::finding::Finding;

/// The k3s node annotation that holds the server's CLI and config-file args.
pub const K3S_NODE_ARGS: &str = "k3s.io/node-args";
/// The admission controller histogram; `name` is the plugin. Older releases used `*_latencies_seconds`.
pub const ADMISSION_METRICS: [&str; 2] = [
    "apiserver_admission_controller_admission_duration_seconds",
    "apiserver_admission_controller_admission_latencies_seconds",
];
/// Condition reason when no source could be read.
pub const NOT_OBSERVABLE: &str = "AdmissionNotObservable";

/// Where the configuration was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LiveSource {
    MirrorPod,
    K3sNodeArgs,
    ApiserverMetrics,
    None,
}

impl LiveSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveSource::MirrorPod => "MirrorPod",
            LiveSource::K3sNodeArgs => "K3sNodeArgs",
            LiveSource::ApiserverMetrics => "ApiserverMetrics",
            LiveSource::None => "None",
        }
    }
}

/// One apiserver configuration read from the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveConfig {
    /// Pod or node it came from.
    pub origin: String,
    pub flags: AdmissionFlags,
    /// Version stated by the pod's image tag, when any.
    pub image_version: Option<KubeVersion>,
    pub notes: Vec<String>,
}

/// What `GET /version` said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerVersion {
    /// As reported, e.g. `v1.28.5+k3s1`.
    pub git_version: String,
    /// Its major.minor, when it has one.
    pub version: Option<KubeVersion>,
}

/// What the fetch step managed to read. Errors are kept as text: they end up in the message.
#[derive(Clone, Debug)]
pub struct Observations {
    pub mirror_pods: Result<Vec<LiveConfig>, String>,
    /// None: not fetched (a better source answered).
    pub k3s_nodes: Option<Result<Vec<LiveConfig>, String>>,
    /// Plugin names seen in `/metrics`; None: not fetched.
    pub metrics: Option<Result<BTreeSet<String>, String>>,
    pub version: Result<ServerVersion, String>,
}

impl Default for Observations {
    fn default() -> Self {
        Observations { mirror_pods: Ok(vec![]), k3s_nodes: None, metrics: None, version: Err("not fetched".into()) }
    }
}

/// What the controller puts into status, events and the AdmissionObserved condition.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveOutcome {
    pub source: LiveSource,
    /// Running version as `GET /version` reported it.
    pub kubernetes_version: Option<String>,
    /// Version the findings were computed for (target, else running).
    pub evaluated_version: Option<KubeVersion>,
    /// Effective plugins (a lower bound from metrics).
    pub effective: Vec<String>,
    pub findings: Vec<Finding>,
    /// False → condition AdmissionObserved=False with `reason`/`message`; never a clean bill.
    pub observed: bool,
    /// Condition reason (CamelCase): the source used, or why nothing could be observed.
    pub reason: &'static str,
    pub message: String,
}

impl LiveOutcome {
    /// Not even the embedded knowledge base loads (a broken build): nothing can be judged.
    pub fn without_knowledge_base(e: &KbError) -> LiveOutcome {
        LiveOutcome {
            source: LiveSource::None,
            kubernetes_version: None,
            evaluated_version: None,
            effective: vec![],
            findings: vec![],
            observed: false,
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

/// The knowledge base for a live audit and what to say about it.
#[derive(Clone, Debug)]
pub struct LiveKnowledgeBase {
    pub kb: KnowledgeBase,
    /// Why the overlay was ignored, when it was; goes into the outcome's message.
    pub notes: Vec<String>,
}

/// The embedded KB with the ConfigMap overlay; an invalid overlay is ignored (noted), since the
/// embedded facts still apply. Err only when the embedded KB itself does not load.
pub fn knowledge_base(overlay: Option<&str>) -> Result<LiveKnowledgeBase, KbError> {
    match KnowledgeBase::load(overlay) {
        Ok(kb) => Ok(LiveKnowledgeBase { kb, notes: vec![] }),
        Err(e) => {
            let note = format!("knowledge-base ConfigMap ignored ({}: {e})", e.reason());
            Ok(LiveKnowledgeBase { kb: KnowledgeBase::embedded()?, notes: vec![note] })
        }
    }
}

/// The apiserver flags from a k3s server node's `k3s.io/node-args` annotation (a JSON array of the
/// k3s CLI and config-file args). k3s's own default NodeRestriction is applied unless the args set
/// enable-admission-plugins. None for agents (no apiserver).
pub fn config_from_node_args(node: &str, annotation: &str) -> Option<LiveConfig> {
    let items: Vec<String> = serde_json::from_str(annotation).ok()?;
    if items.first().map(String::as_str) != Some("server") {
        return None;
    }
    let (flags, notes) = if items.iter().any(|a| a.starts_with("--kube-apiserver-arg")) {
        let cfg = parse_input(annotation, None).ok()?;
        (cfg.flags, cfg.notes)
    } else {
        // no user apiserver args: k3s runs it with its default only
        let flags = AdmissionFlags { enable: Some(vec!["NodeRestriction".into()]), ..AdmissionFlags::default() };
        (flags, vec!["k3s's default enable-admission-plugins=NodeRestriction applied (no kube-apiserver-arg)".into()])
    };
    Some(LiveConfig { origin: format!("node {node} annotation {K3S_NODE_ARGS}"), flags, image_version: None, notes })
}

/// Plugin names in the apiserver's admission controller metrics.
pub fn plugins_from_metrics(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') || !ADMISSION_METRICS.iter().any(|m| line.starts_with(m)) {
            continue;
        }
        let Some(labels) = line.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(l, _)| l) else {
            continue;
        };
        if let Some(name) = label_value(labels, "name") {
            out.insert(name);
        }
    }
    out
}

/// A label's value from a Prometheus label set `a="x",name="y"` (handles `\"` escapes).
fn label_value(labels: &str, key: &str) -> Option<String> {
    let mut rest = labels;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        let (k, after) = rest.split_once("=\"")?;
        let (value, tail) = quoted_value(after)?;
        if k.trim() == key {
            return Some(value);
        }
        rest = tail;
    }
}

/// The unescaped value up to the closing quote, and what follows it.
fn quoted_value(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    value.push(e);
                }
            }
            '"' => return Some((value, s.get(i + 1..).unwrap_or_default())),
            c => value.push(c),
        }
    }
    None
}

/// Observations + KB → the outcome. `target` is the spec's upgrade preview (parsed when the spec
/// was validated); `kb_notes` come from [`knowledge_base`].
pub fn assemble(
    kb: &KnowledgeBase,
    target: Option<KubeVersion>,
    obs: &Observations,
    kb_notes: &[String],
) -> LiveOutcome {
    let mut problems: Vec<String> = kb_notes.to_vec();
    let running = obs.version.as_ref().ok();
    if let Err(e) = &obs.version {
        problems.push(format!("GET /version failed: {e}"));
    }
    let at = Versions {
        running: running.and_then(|r| r.version),
        target,
        git_version: running.map(|r| r.git_version.clone()),
    };
    if let Some((source, configs)) = choose_configs(obs, &mut problems) {
        return from_flags(kb, source, &configs, &at, kb_notes);
    }
    match &obs.metrics {
        Some(Ok(seen)) if !seen.is_empty() => from_metrics(kb, seen, &at, &problems),
        other => {
            match other {
                Some(Ok(_)) => problems.push("the apiserver's /metrics has no admission controller series yet".into()),
                Some(Err(e)) => problems.push(format!("GET /metrics failed: {e}")),
                None => {}
            }
            not_observable(&at, &problems)
        }
    }
}

/// The versions an outcome speaks of.
struct Versions {
    running: Option<KubeVersion>,
    target: Option<KubeVersion>,
    git_version: Option<String>,
}

/// Mirror pods, else k3s server nodes; why each was not usable goes to `problems`.
fn choose_configs(obs: &Observations, problems: &mut Vec<String>) -> Option<(LiveSource, Vec<LiveConfig>)> {
    if let Some(c) = usable(&obs.mirror_pods, "kube-apiserver mirror pods in kube-system", problems) {
        return Some((LiveSource::MirrorPod, c));
    }
    let nodes = obs.k3s_nodes.as_ref()?;
    usable(nodes, "k3s server nodes with k3s.io/node-args", problems).map(|c| (LiveSource::K3sNodeArgs, c))
}

fn usable(r: &Result<Vec<LiveConfig>, String>, what: &str, problems: &mut Vec<String>) -> Option<Vec<LiveConfig>> {
    match r {
        Ok(v) if !v.is_empty() => Some(v.clone()),
        Ok(_) => {
            problems.push(format!("no {what} found"));
            None
        }
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    }
}

/// Every apiserver's flags evaluated; findings once per key, tagged with where they were seen.
fn from_flags(
    kb: &KnowledgeBase,
    source: LiveSource,
    configs: &[LiveConfig],
    at: &Versions,
    kb_notes: &[String],
) -> LiveOutcome {
    let version = at.running.or_else(|| configs.iter().find_map(|c| c.image_version));
    let mut findings: Vec<Finding> = Vec::new();
    let mut first: Option<Evaluation> = None;
    let mut differing = Vec::new();
    for c in configs {
        let e = evaluate(kb, &c.flags, version, at.target);
        for f in &e.findings {
            if !findings.iter().any(|g| g.key() == f.key()) {
                let mut f = f.clone();
                f.evidence.insert("observedAt".into(), c.origin.clone());
                findings.push(f);
            }
        }
        match &first {
            None => first = Some(e),
            Some(fe) if fe.effective != e.effective => differing.push(c.origin.clone()),
            Some(_) => {}
        }
    }
    let eval = first.unwrap_or_default();
    let mut message = flags_headline(source, configs, version, at.target, findings.len());
    if !differing.is_empty() {
        message.push_str(&format!("; apiservers differ: {} has a different effective set", differing.join(", ")));
    }
    let notes = configs.iter().flat_map(|c| c.notes.iter()).chain(eval.notes.iter()).chain(eval.effective.note.iter());
    for n in notes.chain(kb_notes) {
        message.push_str(&format!("; {n}"));
    }
    LiveOutcome {
        source,
        kubernetes_version: at.git_version.clone(),
        evaluated_version: eval.evaluated_version,
        effective: eval.effective.plugins,
        findings,
        observed: true,
        reason: source.as_str(),
        message,
    }
}

fn flags_headline(
    source: LiveSource,
    configs: &[LiveConfig],
    version: Option<KubeVersion>,
    target: Option<KubeVersion>,
    findings: usize,
) -> String {
    format!(
        "admission flags read from {} ({}); Kubernetes {}{}; {findings} finding(s)",
        configs.iter().map(|c| c.origin.as_str()).collect::<Vec<_>>().join(", "),
        source.as_str(),
        version.map(|v| v.to_string()).unwrap_or_else(|| "version unknown".into()),
        target.map(|t| format!(", evaluated for {t}")).unwrap_or_default(),
    )
}

fn from_metrics(kb: &KnowledgeBase, seen: &BTreeSet<String>, at: &Versions, problems: &[String]) -> LiveOutcome {
    let e = evaluate_observed(kb, seen, at.running, at.target);
    let mut message = format!(
        "admission flags are not readable (no mirror pod, no k3s node args); {} plugin(s) seen in the apiserver's /metrics. Metrics prove a plugin enabled, never disabled: RecommendedAdmissionPluginDisabled is not evaluated and the list is a lower bound",
        seen.len()
    );
    if !problems.is_empty() {
        message.push_str(&format!(" ({})", problems.join("; ")));
    }
    LiveOutcome {
        source: LiveSource::ApiserverMetrics,
        kubernetes_version: at.git_version.clone(),
        evaluated_version: e.evaluated_version,
        effective: e.effective.plugins,
        findings: e.findings,
        observed: true,
        reason: LiveSource::ApiserverMetrics.as_str(),
        message,
    }
}

fn not_observable(at: &Versions, problems: &[String]) -> LiveOutcome {
    LiveOutcome {
        source: LiveSource::None,
        kubernetes_version: at.git_version.clone(),
        evaluated_version: at.target.or(at.running),
        effective: vec![],
        findings: vec![],
        observed: false,
        reason: NOT_OBSERVABLE,
        message: format!(
            "the admission configuration could not be observed, so nothing is known about it: {}",
            problems.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_label_values() {
        assert_eq!(label_value(r#"a="x\"y",name="N""#, "name").as_deref(), Some("N"));
        assert_eq!(label_value(r#"name="unterminated"#, "name"), None);
        assert_eq!(label_value(r#"a="é",name="ü""#, "name").as_deref(), Some("ü"));
    }
}
