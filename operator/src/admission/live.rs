//! The admission audit against a live cluster. Sources, tried in order: (a) kube-apiserver mirror
//! pods in kube-system (kubeadm, RKE2), (b) the k3s node annotation `k3s.io/node-args`, (c) the
//! apiserver's own `/metrics` (proves enabled, never disabled), plus (d) `GET /version`.
//! Parsers and the assembly of the outcome are pure; the fetch functions are thin.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::spec::AdmissionSpec;
use crate::crd::AdmissionStatus;
use gohealth_core::admission::args::{AdmissionFlags, flags_from_args};
use gohealth_core::admission::check::{Evaluation, evaluate, evaluate_observed};
use gohealth_core::admission::kb::KnowledgeBase;
use gohealth_core::admission::parse::{ApiserverConfig, parse_input};
use gohealth_core::admission::version::{KubeVersion, find_in_text};
use gohealth_core::finding::Finding;

/// Label kubeadm and RKE2 put on the apiserver static pod (mirrored into kube-system).
pub const MIRROR_POD_SELECTOR: &str = "component=kube-apiserver";
pub const K3S_NODE_ARGS: &str = "k3s.io/node-args";
/// The admission controller histogram; `name` is the plugin. Older releases used `*_latencies_seconds`.
pub const ADMISSION_METRICS: [&str; 2] = [
    "apiserver_admission_controller_admission_duration_seconds",
    "apiserver_admission_controller_admission_latencies_seconds",
];

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

/// What the controller puts into status, events and the AdmissionObserved condition.
#[derive(Clone, Debug, PartialEq)]
pub struct AdmissionOutcome {
    pub status: AdmissionStatus,
    pub findings: Vec<Finding>,
    /// False → condition AdmissionObserved=False with `reason`/`message`; never a clean bill.
    pub observed: bool,
    /// Condition reason (CamelCase): the source used, or why nothing could be observed.
    pub reason: String,
    pub message: String,
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

/// Pure: the kube-apiserver container's flags of a mirror pod (command + args).
pub fn config_from_pod(pod: &Pod) -> Option<LiveConfig> {
    let spec = pod.spec.as_ref()?;
    let container = spec
        .containers
        .iter()
        .find(|c| {
            c.name == "kube-apiserver"
                || c.image.as_deref().is_some_and(|i| i.contains("kube-apiserver"))
                || c.command.as_ref().and_then(|c| c.first()).is_some_and(|p| p.ends_with("kube-apiserver"))
        })
        .or_else(|| spec.containers.first())?;
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    argv.extend(container.args.clone().unwrap_or_default());
    let args = gohealth_core::admission::args::apiserver_args(&argv).unwrap_or(argv);
    Some(LiveConfig {
        origin: format!(
            "pod {}/{}",
            pod.metadata.namespace.as_deref().unwrap_or("kube-system"),
            pod.metadata.name.as_deref().unwrap_or("?")
        ),
        flags: flags_from_args(&args),
        image_version: container.image.as_deref().and_then(find_in_text).map(|s| s.version),
        notes: vec![],
    })
}

/// Pure: the apiserver flags from a k3s server node's `k3s.io/node-args` annotation (a JSON
/// array of the k3s CLI and config-file args). k3s's own default NodeRestriction is applied
/// unless the args set enable-admission-plugins. None for agents (no apiserver).
pub fn config_from_node_args(node: &str, annotation: &str) -> Option<LiveConfig> {
    let items: Vec<String> = serde_json::from_str(annotation).ok()?;
    if items.first().map(String::as_str) != Some("server") {
        return None;
    }
    let (flags, notes) = if items.iter().any(|a| a.starts_with("--kube-apiserver-arg")) {
        let cfg: ApiserverConfig = parse_input(annotation, None).ok()?;
        (cfg.flags, cfg.notes)
    } else {
        // no user apiserver args: k3s runs it with its default only
        let flags = AdmissionFlags { enable: Some(vec!["NodeRestriction".into()]), ..AdmissionFlags::default() };
        (flags, vec!["k3s's default enable-admission-plugins=NodeRestriction applied (no kube-apiserver-arg)".into()])
    };
    Some(LiveConfig { origin: format!("node {node} annotation {K3S_NODE_ARGS}"), flags, image_version: None, notes })
}

/// Pure: plugin names in the apiserver's admission controller metrics.
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
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(e);
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end?;
        if k.trim() == key {
            return Some(value);
        }
        rest = &after[end + 1..];
    }
}

/// Pure: the running version from `/version` (gitVersion, else major/minor).
pub fn version_from_info(info: &Info) -> Option<KubeVersion> {
    KubeVersion::parse(&info.git_version).or_else(|| {
        let minor: String = info.minor.chars().take_while(char::is_ascii_digit).collect();
        KubeVersion::parse(&format!("{}.{minor}", info.major))
    })
}

/// What the fetch step managed to read. Errors are kept as text: they end up in the message.
#[derive(Clone, Debug)]
pub struct Observations {
    pub mirror_pods: Result<Vec<LiveConfig>, String>,
    pub k3s_nodes: Option<Result<Vec<LiveConfig>, String>>,
    pub metrics: Option<Result<BTreeSet<String>, String>>,
    pub version: Result<Info, String>,
}

impl Default for Observations {
    fn default() -> Self {
        Observations { mirror_pods: Ok(vec![]), k3s_nodes: None, metrics: None, version: Err("not fetched".into()) }
    }
}

/// Pure: observations + spec + KB → the outcome.
pub fn assemble(kb: &KnowledgeBase, spec: &AdmissionSpec, obs: &Observations, extra: &[String]) -> AdmissionOutcome {
    let mut problems: Vec<String> = extra.to_vec();
    let running_info = obs.version.as_ref().ok();
    let running = running_info.and_then(version_from_info);
    if let Err(e) = &obs.version {
        problems.push(format!("GET /version failed: {e}"));
    }
    let target = spec.target_version.as_deref().and_then(KubeVersion::parse);
    if let Some(t) = &spec.target_version
        && target.is_none()
    {
        problems.push(format!("targetVersion {t:?} is not a Kubernetes version; it was ignored"));
    }

    let configs_from = |r: &Result<Vec<LiveConfig>, String>, what: &str, problems: &mut Vec<String>| match r {
        Ok(v) if !v.is_empty() => Some(v.clone()),
        Ok(_) => {
            problems.push(format!("no {what} found"));
            None
        }
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    };
    let mut chosen = configs_from(&obs.mirror_pods, "kube-apiserver mirror pods in kube-system", &mut problems)
        .map(|c| (LiveSource::MirrorPod, c));
    if chosen.is_none()
        && let Some(r) = &obs.k3s_nodes
    {
        chosen = configs_from(r, "k3s server nodes with k3s.io/node-args", &mut problems)
            .map(|c| (LiveSource::K3sNodeArgs, c));
    }

    if let Some((source, configs)) = chosen {
        let version = running.or_else(|| configs.iter().find_map(|c| c.image_version));
        let mut findings: Vec<Finding> = Vec::new();
        let mut first: Option<Evaluation> = None;
        let mut differing = Vec::new();
        for c in &configs {
            let e = evaluate(kb, &c.flags, version, target);
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
        let mut message = format!(
            "admission flags read from {} ({}); Kubernetes {}{}; {} finding(s)",
            configs.iter().map(|c| c.origin.as_str()).collect::<Vec<_>>().join(", "),
            source.as_str(),
            version.map(|v| v.to_string()).unwrap_or_else(|| "version unknown".into()),
            target.map(|t| format!(", evaluated for {t}")).unwrap_or_default(),
            findings.len()
        );
        if !differing.is_empty() {
            message.push_str(&format!("; apiservers differ: {} has a different effective set", differing.join(", ")));
        }
        for n in configs.iter().flat_map(|c| c.notes.iter()).chain(eval.notes.iter()) {
            message.push_str(&format!("; {n}"));
        }
        if let Some(n) = &eval.effective.note {
            message.push_str(&format!("; {n}"));
        }
        for e in extra {
            message.push_str(&format!("; {e}"));
        }
        return AdmissionOutcome {
            status: AdmissionStatus {
                source: source.as_str().into(),
                kubernetes_version: running_info.map(|i| i.git_version.clone()),
                evaluated_version: eval.evaluated_version.map(|v| v.to_string()),
                effective: eval.effective.plugins.clone(),
            },
            findings,
            observed: true,
            reason: source.as_str().into(),
            message,
        };
    }

    match &obs.metrics {
        Some(Ok(seen)) if !seen.is_empty() => {
            let e = evaluate_observed(kb, seen, running, target);
            let mut message = format!(
                "admission flags are not readable (no mirror pod, no k3s node args); {} plugin(s) seen in the apiserver's /metrics. Metrics prove a plugin enabled, never disabled: RecommendedAdmissionPluginDisabled is not evaluated and the list is a lower bound",
                seen.len()
            );
            if !problems.is_empty() {
                message.push_str(&format!(" ({})", problems.join("; ")));
            }
            AdmissionOutcome {
                status: AdmissionStatus {
                    source: LiveSource::ApiserverMetrics.as_str().into(),
                    kubernetes_version: running_info.map(|i| i.git_version.clone()),
                    evaluated_version: e.evaluated_version.map(|v| v.to_string()),
                    effective: e.effective.plugins.clone(),
                },
                findings: e.findings,
                observed: true,
                reason: LiveSource::ApiserverMetrics.as_str().into(),
                message,
            }
        }
        other => {
            match other {
                Some(Ok(_)) => problems.push("the apiserver's /metrics has no admission controller series yet".into()),
                Some(Err(e)) => problems.push(format!("GET /metrics failed: {e}")),
                None => {}
            }
            AdmissionOutcome {
                status: AdmissionStatus {
                    source: LiveSource::None.as_str().into(),
                    kubernetes_version: running_info.map(|i| i.git_version.clone()),
                    evaluated_version: target.or(running).map(|v| v.to_string()),
                    effective: vec![],
                },
                findings: vec![],
                observed: false,
                reason: "AdmissionNotObservable".into(),
                message: format!(
                    "the admission configuration could not be observed, so nothing is known about it: {}",
                    problems.join("; ")
                ),
            }
        }
    }
}

pub async fn fetch_mirror_pods(client: &Client) -> Result<Vec<LiveConfig>, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let mut list = pods.list(&ListParams::default().labels(MIRROR_POD_SELECTOR)).await?.items;
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(list.iter().filter_map(config_from_pod).collect())
}

pub async fn fetch_k3s_node_args(client: &Client) -> Result<Vec<LiveConfig>, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await?.items;
    Ok(list
        .iter()
        .filter_map(|n| {
            let ann = n.metadata.annotations.as_ref()?.get(K3S_NODE_ARGS)?;
            config_from_node_args(n.metadata.name.as_deref().unwrap_or("?"), ann)
        })
        .collect())
}

pub async fn fetch_metrics(client: &Client) -> Result<String, kube::Error> {
    let req = axum::http::Request::get("/metrics").body(Vec::new()).map_err(kube::Error::HttpError)?;
    client.request_text(req).await
}

/// The `plugins.yaml` key of the knowledge-base ConfigMap named by
/// `spec.admission.knowledgeBaseConfigMap` in `namespace`; Ok(None) when the spec names none.
pub async fn fetch_kb_override(
    client: &Client,
    namespace: &str,
    spec: &AdmissionSpec,
) -> Result<Option<String>, kube::Error> {
    let Some(name) = &spec.knowledge_base_config_map else { return Ok(None) };
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = cms.get(name).await?;
    Ok(cm.data.and_then(|mut d| d.remove(KB_CONFIGMAP_KEY)))
}

/// Key of the knowledge-base ConfigMap.
pub const KB_CONFIGMAP_KEY: &str = "plugins.yaml";

/// Runs the admission audit against the cluster `client` talks to.
pub async fn audit_live(client: &Client, spec: &AdmissionSpec, kb_override: Option<String>) -> AdmissionOutcome {
    let mut extra = Vec::new();
    let kb = match KnowledgeBase::load(kb_override.as_deref()) {
        Ok(kb) => kb,
        Err(e) => {
            extra.push(format!("knowledge-base ConfigMap ignored ({}: {e})", e.reason()));
            match KnowledgeBase::embedded() {
                Ok(kb) => kb,
                Err(e) => {
                    return AdmissionOutcome {
                        status: AdmissionStatus { source: LiveSource::None.as_str().into(), ..Default::default() },
                        findings: vec![],
                        observed: false,
                        reason: e.reason().into(),
                        message: e.to_string(),
                    };
                }
            }
        }
    };
    let version = client.apiserver_version().await.map_err(|e| e.to_string());
    let mirror_pods = fetch_mirror_pods(client).await.map_err(|e| e.to_string());
    let have_pods = mirror_pods.as_ref().is_ok_and(|p| !p.is_empty());
    let k3s_nodes = if have_pods { None } else { Some(fetch_k3s_node_args(client).await.map_err(|e| e.to_string())) };
    let have_k3s = k3s_nodes.as_ref().is_some_and(|r| r.as_ref().is_ok_and(|n| !n.is_empty()));
    let metrics = if have_pods || have_k3s {
        None
    } else {
        Some(fetch_metrics(client).await.map(|t| plugins_from_metrics(&t)).map_err(|e| e.to_string()))
    };
    let obs = Observations { mirror_pods, k3s_nodes, metrics, version };
    assemble(&kb, spec, &obs, &extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::CheckId;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::embedded().unwrap()
    }

    fn pod(command: &[&str], args: &[&str]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
            "spec": {"containers": [
                {"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.2", "command": command, "args": args}
            ]}
        }))
        .unwrap()
    }

    fn info(git: &str) -> Info {
        Info { git_version: git.into(), major: "1".into(), minor: "30".into(), ..Default::default() }
    }

    #[test]
    fn mirror_pod_flags() {
        let p = pod(
            &["kube-apiserver", "--enable-admission-plugins=NodeRestriction,AlwaysAdmit"],
            &["--disable-admission-plugins", "ServiceAccount"],
        );
        let c = config_from_pod(&p).unwrap();
        assert_eq!(c.origin, "pod kube-system/kube-apiserver-cp1");
        assert_eq!(c.flags.enable, Some(vec!["NodeRestriction".into(), "AlwaysAdmit".into()]));
        assert_eq!(c.flags.disable, Some(vec!["ServiceAccount".into()]));
        assert_eq!(c.image_version, KubeVersion::parse("1.30"));
    }

    #[test]
    fn k3s_node_args() {
        let c = config_from_node_args(
            "n1",
            r#"["server","--kube-apiserver-arg","enable-admission-plugins=NodeRestriction,AlwaysPullImages","--token","********"]"#,
        )
        .unwrap();
        assert_eq!(c.flags.enable, Some(vec!["NodeRestriction".into(), "AlwaysPullImages".into()]));
        let d = config_from_node_args("n1", r#"["server","--write-kubeconfig-mode","0644"]"#).unwrap();
        assert_eq!(d.flags.enable, Some(vec!["NodeRestriction".into()]));
        assert!(config_from_node_args("a1", r#"["agent","--server","https://x"]"#).is_none());
        assert!(config_from_node_args("a1", "not json").is_none());
    }

    #[test]
    fn metrics_names() {
        let text = r#"# HELP apiserver_admission_controller_admission_duration_seconds [STABLE] ...
# TYPE apiserver_admission_controller_admission_duration_seconds histogram
apiserver_admission_controller_admission_duration_seconds_bucket{name="NamespaceLifecycle",operation="CREATE",rejected="false",type="validate",le="0.005"} 3
apiserver_admission_controller_admission_duration_seconds_count{name="AlwaysAdmit",operation="CREATE",rejected="false",type="admit"} 3
apiserver_admission_controller_admission_duration_seconds_sum{operation="UPDATE",name="Priority",rejected="false",type="admit"} 0.1
apiserver_admission_webhook_admission_duration_seconds_count{name="webhook.example.com",operation="CREATE",rejected="false",type="admit"} 1
apiserver_admission_controller_admission_latencies_seconds_count{name="OldStyle",operation="CREATE",rejected="false",type="admit"} 1
apiserver_admission_step_admission_duration_seconds_count{operation="CREATE",rejected="false",type="admit"} 3
"#;
        let names: Vec<String> = plugins_from_metrics(text).into_iter().collect();
        assert_eq!(names, vec!["AlwaysAdmit", "NamespaceLifecycle", "OldStyle", "Priority"]);
        assert_eq!(label_value(r#"a="x\"y",name="N""#, "name").as_deref(), Some("N"));
    }

    #[test]
    fn version_from_git_version() {
        assert_eq!(version_from_info(&info("v1.28.5+k3s1")), KubeVersion::parse("1.28"));
        let mut i = info("");
        i.minor = "27+".into();
        assert_eq!(version_from_info(&i), KubeVersion::parse("1.27"));
    }

    #[test]
    fn mirror_pod_is_preferred_and_named() {
        let obs = Observations {
            mirror_pods: Ok(vec![
                config_from_pod(&pod(
                    &["kube-apiserver", "--enable-admission-plugins=AlwaysAdmit,NodeRestriction"],
                    &[],
                ))
                .unwrap(),
            ]),
            k3s_nodes: None,
            metrics: None,
            version: Ok(info("v1.30.2")),
        };
        let o = assemble(&kb(), &AdmissionSpec::default(), &obs, &["knowledge-base ConfigMap ignored (x)".into()]);
        assert!(o.observed);
        assert!(o.message.contains("knowledge-base ConfigMap ignored"));
        assert_eq!(o.status.source, "MirrorPod");
        assert_eq!(o.reason, "MirrorPod");
        assert_eq!(o.status.kubernetes_version.as_deref(), Some("v1.30.2"));
        assert_eq!(o.status.evaluated_version.as_deref(), Some("1.30"));
        assert!(o.status.effective.contains(&"NamespaceLifecycle".to_string()));
        assert!(o.findings.iter().any(|f| f.check == CheckId::InsecureAdmissionPlugin));
        assert!(o.findings.iter().all(|f| f.evidence.contains_key("observedAt")));
    }

    #[test]
    fn target_version_preview() {
        let obs = Observations {
            mirror_pods: Ok(vec![
                config_from_pod(&pod(&["kube-apiserver", "--enable-admission-plugins=PodSecurityPolicy"], &[]))
                    .unwrap(),
            ]),
            version: Ok(info("v1.24.3")),
            ..Default::default()
        };
        let spec = AdmissionSpec { enabled: true, target_version: Some("1.25".into()), ..Default::default() };
        let o = assemble(&kb(), &spec, &obs, &[]);
        let f = o.findings.iter().find(|f| f.check == CheckId::RemovedAdmissionPlugin).unwrap();
        assert!(f.message.contains("kube-apiserver 1.25 and later will not start"));
        assert_eq!(o.status.evaluated_version.as_deref(), Some("1.25"));
    }

    #[test]
    fn metrics_only_never_claims_disabled() {
        let seen: BTreeSet<String> = ["NamespaceLifecycle".to_string(), "AlwaysAdmit".to_string()].into();
        let obs = Observations {
            mirror_pods: Ok(vec![]),
            k3s_nodes: Some(Err("nodes is forbidden".into())),
            metrics: Some(Ok(seen)),
            version: Ok(info("v1.31.0-eks-abc")),
        };
        let o = assemble(&kb(), &AdmissionSpec::default(), &obs, &[]);
        assert!(o.observed);
        assert_eq!(o.status.source, "ApiserverMetrics");
        assert!(o.message.contains("never disabled"));
        assert!(o.message.contains("nodes is forbidden"));
        assert!(o.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
        assert!(o.findings.iter().any(|f| f.check == CheckId::InsecureAdmissionPlugin));
    }

    #[test]
    fn nothing_observable_is_not_a_clean_bill() {
        let obs = Observations {
            mirror_pods: Err("pods is forbidden".into()),
            k3s_nodes: Some(Ok(vec![])),
            metrics: Some(Err("403 Forbidden".into())),
            version: Err("connection refused".into()),
        };
        let o = assemble(&kb(), &AdmissionSpec::default(), &obs, &[]);
        assert!(!o.observed);
        assert_eq!(o.status.source, "None");
        assert_eq!(o.reason, "AdmissionNotObservable");
        assert!(o.findings.is_empty());
        assert!(o.message.contains("could not be observed"));
        assert!(o.message.contains("pods is forbidden") && o.message.contains("403 Forbidden"));
        let empty = Observations { mirror_pods: Ok(vec![]), metrics: Some(Ok(BTreeSet::new())), ..obs };
        let o = assemble(&kb(), &AdmissionSpec::default(), &empty, &[]);
        assert!(!o.observed);
        assert!(o.message.contains("no admission controller series yet"));
    }
}
