//! The admission audit's reads from a live cluster: kube-apiserver mirror pods in kube-system
//! (kubeadm, RKE2), the k3s node annotation `k3s.io/node-args`, the apiserver's own `/metrics`, and
//! `GET /version`. Each source is read only when the ones before it gave nothing; the outcome is
//! assembled by the pure [`gohealth_core::admission::observed::assemble`].

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::crd::AdmissionStatus;
use crate::validate::AdmissionConfig;
use gohealth_core::admission::args::{apiserver_args, flags_from_args};
use gohealth_core::admission::observed::{
    K3S_NODE_ARGS, LiveConfig, LiveOutcome, Observations, ServerVersion, assemble, config_from_node_args,
    knowledge_base, plugins_from_metrics,
};
use gohealth_core::admission::parse::parse_input;
use gohealth_core::admission::version::{KubeVersion, find_in_text};
use gohealth_core::finding::Finding;

/// Label kubeadm and RKE2 put on the apiserver static pod (mirrored into kube-system).
pub const MIRROR_POD_SELECTOR: &str = "component=kube-apiserver";

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

impl From<LiveOutcome> for AdmissionOutcome {
    fn from(o: LiveOutcome) -> Self {
        AdmissionOutcome {
            status: AdmissionStatus {
                source: o.source.as_str().into(),
                kubernetes_version: o.kubernetes_version,
                evaluated_version: o.evaluated_version.map(|v| v.to_string()),
                effective: o.effective,
            },
            findings: o.findings,
            observed: o.observed,
            reason: o.reason.into(),
            message: o.message,
        }
    }
}

/// Runs the admission audit against the cluster `client` talks to. `kb_yaml` is the knowledge-base
/// ConfigMap's `plugins.yaml` (read by `dereference::credentials::knowledge_base`).
pub async fn audit_live(client: &Client, cfg: &AdmissionConfig, kb_yaml: Option<String>) -> AdmissionOutcome {
    let kb = match knowledge_base(kb_yaml.as_deref()) {
        Ok(kb) => kb,
        Err(e) => return LiveOutcome::without_knowledge_base(&e).into(),
    };
    let obs = observe(client).await;
    assemble(&kb.kb, cfg.target_version, &obs, &kb.notes).into()
}

/// Reads the sources in order, stopping at the first that names apiserver flags.
pub async fn observe(client: &Client) -> Observations {
    let version = client.apiserver_version().await.map(|i| server_version(&i)).map_err(|e| e.to_string());
    let mirror_pods = fetch_mirror_pods(client).await.map_err(|e| e.to_string());
    let have_pods = mirror_pods.as_ref().is_ok_and(|p| !p.is_empty());
    let k3s_nodes = if have_pods { None } else { Some(fetch_k3s_node_args(client).await.map_err(|e| e.to_string())) };
    let have_k3s = k3s_nodes.as_ref().is_some_and(|r| r.as_ref().is_ok_and(|n| !n.is_empty()));
    let metrics = if have_pods || have_k3s {
        None
    } else {
        Some(fetch_metrics(client).await.map(|t| plugins_from_metrics(&t)).map_err(|e| e.to_string()))
    };
    Observations { mirror_pods, k3s_nodes, metrics, version }
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

/// Pure: the kube-apiserver container's flags of a mirror pod (command + args), read by the same
/// parser the offline audit uses for manifests; a pod it does not recognise (the container has
/// another name and image) falls back to its first container.
pub fn config_from_pod(pod: &Pod) -> Option<LiveConfig> {
    let origin = format!(
        "pod {}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("kube-system"),
        pod.metadata.name.as_deref().unwrap_or("?")
    );
    if let Ok(text) = serde_json::to_string(pod)
        && let Ok(cfg) = parse_input(&text, None)
    {
        return Some(LiveConfig {
            origin,
            flags: cfg.flags,
            image_version: cfg.stated_version.map(|s| s.version),
            notes: cfg.notes,
        });
    }
    first_container_config(pod, origin)
}

fn first_container_config(pod: &Pod, origin: String) -> Option<LiveConfig> {
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
    let args = apiserver_args(&argv).unwrap_or(argv);
    Some(LiveConfig {
        origin,
        flags: flags_from_args(&args),
        image_version: container.image.as_deref().and_then(find_in_text).map(|s| s.version),
        notes: vec![],
    })
}

/// Pure: the running version from `/version` (gitVersion, else major/minor).
pub fn version_from_info(info: &Info) -> Option<KubeVersion> {
    KubeVersion::parse(&info.git_version).or_else(|| {
        let minor: String = info.minor.chars().take_while(char::is_ascii_digit).collect();
        KubeVersion::parse(&format!("{}.{minor}", info.major))
    })
}

/// Pure: `/version` as the core reads it.
pub fn server_version(info: &Info) -> ServerVersion {
    ServerVersion { git_version: info.git_version.clone(), version: version_from_info(info) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::admission::kb::KnowledgeBase;
    use gohealth_core::finding::CheckId;

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
    fn mirror_pod_with_an_unusual_container_name_falls_back_to_the_first_container() {
        let mut p = pod(&["/usr/local/bin/apiserver-wrapper", "--enable-admission-plugins=AlwaysPullImages"], &[]);
        if let Some(spec) = p.spec.as_mut() {
            spec.containers[0].name = "apiserver".into();
            spec.containers[0].image = Some("corp/apiserver:9".into());
        }
        let c = config_from_pod(&p).unwrap();
        assert_eq!(c.flags.enable, Some(vec!["AlwaysPullImages".into()]));
        assert_eq!(c.image_version, None);
    }

    #[test]
    fn version_from_git_version() {
        assert_eq!(version_from_info(&info("v1.28.5+k3s1")), KubeVersion::parse("1.28"));
        let mut i = info("");
        i.minor = "27+".into();
        assert_eq!(version_from_info(&i), KubeVersion::parse("1.27"));
        assert_eq!(server_version(&info("v1.30.2")).git_version, "v1.30.2");
    }

    /// A mirror pod and /version through the core's assembly into the CRD status.
    #[test]
    fn mirror_pod_outcome_maps_to_status() {
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
            version: Ok(server_version(&info("v1.30.2"))),
        };
        let kb = KnowledgeBase::embedded().unwrap();
        let o: AdmissionOutcome = assemble(&kb, None, &obs, &[]).into();
        assert!(o.observed);
        assert_eq!(o.status.source, "MirrorPod");
        assert_eq!(o.reason, "MirrorPod");
        assert_eq!(o.status.kubernetes_version.as_deref(), Some("v1.30.2"));
        assert_eq!(o.status.evaluated_version.as_deref(), Some("1.30"));
        assert!(o.status.effective.contains(&"NamespaceLifecycle".to_string()));
        assert!(o.findings.iter().any(|f| f.check == CheckId::InsecureAdmissionPlugin));
        assert!(o.findings.iter().all(|f| f.evidence.contains_key("observedAt")));
    }

    #[test]
    fn unusable_knowledge_base_is_not_observed() {
        let e = gohealth_core::admission::kb::KbError::Parse("x".into());
        let o: AdmissionOutcome = LiveOutcome::without_knowledge_base(&e).into();
        assert!(!o.observed);
        assert_eq!(o.status.source, "None");
        assert_eq!(o.reason, "KnowledgeBaseParseError");
    }
}
