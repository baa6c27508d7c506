//! `analyze pod/NAME`, `deploy/NAME` (also `sts/`, `ds/`, `rs/`), `-l SELECTOR`, `-n NAMESPACE` and
//! `kube-apiserver`: what to scrape, found with the user's kubeconfig and RBAC. A pod's pprof endpoint
//! is found as the operator finds it (annotations, `--port`/`--path`, a port named `pprof`), then
//! reached through the apiserver's `pods/proxy`, or a port-forward when the apiserver will not proxy.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};

use super::tunnel::{ApiProxy, PortForward, TunnelError};
use crate::scrape::control_plane::{CONTROL_PLANE_NAMESPACE, Component, component_pods};
use crate::scrape::endpoint::{Endpoint, resolve};
use crate::scrape::http::Collector;
use crate::selector::selector_string;
use crate::validate::{ControlPlaneConfig, PprofConfig};
use gohealth_core::finding::TargetRef;
use gohealth_core::scrape_error::ScrapeError;

/// A workload kind `analyze` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
}

/// One command-line target that names cluster objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Pod(String),
    Workload(WorkloadKind, String),
    /// `-l`.
    Labels(String),
    /// The apiserver's own `/debug/pprof` (needs `get` on that non-resource URL).
    ApiServer,
    /// `kube-controller-manager`, `kube-scheduler`: their pods in kube-system, on their secure port.
    Component(Component),
}

/// Reads `pod/NAME`, `deploy/NAME`, ... and `kube-apiserver`; anything else is a file or URL.
pub fn parse_selection(input: &str) -> Option<Selection> {
    match input {
        "kube-apiserver" => return Some(Selection::ApiServer),
        "kube-controller-manager" => return Some(Selection::Component(Component::ControllerManager)),
        "kube-scheduler" => return Some(Selection::Component(Component::Scheduler)),
        _ => {}
    }
    let (kind, name) = input.split_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let name = name.to_string();
    Some(match kind {
        "pod" | "pods" | "po" => Selection::Pod(name),
        "deploy" | "deployment" | "deployments" | "deployment.apps" => {
            Selection::Workload(WorkloadKind::Deployment, name)
        }
        "sts" | "statefulset" | "statefulsets" | "statefulset.apps" => {
            Selection::Workload(WorkloadKind::StatefulSet, name)
        }
        "ds" | "daemonset" | "daemonsets" | "daemonset.apps" => Selection::Workload(WorkloadKind::DaemonSet, name),
        "rs" | "replicaset" | "replicasets" | "replicaset.apps" => Selection::Workload(WorkloadKind::ReplicaSet, name),
        _ => return None,
    })
}

/// Why cluster targets could not be found.
#[derive(Debug, thiserror::Error)]
pub enum KubeTargetError {
    #[error("cannot use the kubeconfig: {0}")]
    Config(String),
    #[error("{what}: {err}")]
    Api { what: String, err: String },
    #[error("{what}: no running pods selected")]
    NoPods { what: String },
    #[error("{what}: its selector cannot be used: {err}")]
    Selector { what: String, err: String },
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
}

/// A kube client from the user's kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster), and the
/// user's own credentials for the components that authenticate requests themselves.
pub async fn client() -> Result<(kube::Client, KubeUser), KubeTargetError> {
    let config = kube::Config::infer().await.map_err(|e| KubeTargetError::Config(e.to_string()))?;
    let user = KubeUser::from_config(&config)?;
    let client = kube::Client::try_from(config).map_err(|e| KubeTargetError::Config(e.to_string()))?;
    Ok((client, user))
}

/// The kubeconfig user's credentials, for a component reached through a port-forward: it
/// authenticates the request itself (delegated authentication) and asks the apiserver whether that
/// user may `get /debug/pprof`. Debug never prints them.
#[derive(Clone, Default)]
pub struct KubeUser {
    pub token: Option<String>,
    /// Client certificate and key, PEM.
    pub identity_pem: Option<Vec<u8>>,
    /// The cluster CA of the kubeconfig, PEM.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for KubeUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeUser")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("identity_pem", &self.identity_pem.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

impl KubeUser {
    fn from_config(config: &kube::Config) -> Result<KubeUser, KubeTargetError> {
        use secrecy::ExposeSecret;
        let auth = &config.auth_info;
        let token = match (&auth.token, &auth.token_file) {
            (Some(t), _) => Some(t.expose_secret().trim().to_string()),
            (None, Some(file)) => Some(read_config_file(file)?.trim().to_string()),
            (None, None) => None,
        };
        let cert = pem_from(auth.client_certificate_data.as_deref(), auth.client_certificate.as_deref())?;
        let key = pem_from(auth.client_key_data.as_ref().map(|k| k.expose_secret()), auth.client_key.as_deref())?;
        let identity_pem = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend_from_slice(&k);
                Some(c)
            }
            _ => None,
        };
        Ok(KubeUser { token, identity_pem, ca_pem: crate::dereference::credentials::api_ca_pem(config) })
    }
}

fn read_config_file(path: &str) -> Result<String, KubeTargetError> {
    std::fs::read_to_string(path).map_err(|e| KubeTargetError::Config(format!("{path}: {e}")))
}

/// A kubeconfig `*-data` field (base64 of PEM) or the file it names.
fn pem_from(data: Option<&str>, file: Option<&str>) -> Result<Option<Vec<u8>>, KubeTargetError> {
    use base64::Engine;
    if let Some(d) = data {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|e| KubeTargetError::Config(format!("client certificate data: {e}")));
    }
    match file {
        Some(f) => Ok(Some(read_config_file(f)?.into_bytes())),
        None => Ok(None),
    }
}

fn api_err(what: &str, e: kube::Error) -> KubeTargetError {
    KubeTargetError::Api { what: what.to_string(), err: e.to_string() }
}

/// The running pods a selection names, sorted by name.
pub async fn pods(client: &kube::Client, namespace: &str, sel: &Selection) -> Result<Vec<Pod>, KubeTargetError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = describe(sel, namespace);
    let mut pods = match sel {
        Selection::Pod(name) => vec![api.get(name).await.map_err(|e| api_err(&what, e))?],
        Selection::Labels(labels) => {
            api.list(&ListParams::default().labels(labels)).await.map_err(|e| api_err(&what, e))?.items
        }
        Selection::Workload(kind, name) => {
            let selector = workload_selector(client, namespace, *kind, name).await.map_err(|e| api_err(&what, e))?;
            let labels = selector_string(&selector)
                .map_err(|e| KubeTargetError::Selector { what: what.clone(), err: e.to_string() })?;
            api.list(&ListParams::default().labels(&labels)).await.map_err(|e| api_err(&what, e))?.items
        }
        Selection::ApiServer | Selection::Component(_) => Vec::new(),
    };
    pods.retain(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if pods.is_empty() {
        return Err(KubeTargetError::NoPods { what });
    }
    Ok(pods)
}

async fn workload_selector(
    client: &kube::Client,
    ns: &str,
    kind: WorkloadKind,
    name: &str,
) -> Result<LabelSelector, kube::Error> {
    let c = client.clone();
    Ok(match kind {
        WorkloadKind::Deployment => Api::<Deployment>::namespaced(c, ns).get(name).await?.spec.selector,
        WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(c, ns).get(name).await?.spec.selector,
        WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(c, ns).get(name).await?.spec.selector,
        WorkloadKind::ReplicaSet => Api::<ReplicaSet>::namespaced(c, ns).get(name).await?.spec.selector,
    })
}

/// `deploy/web in shop`, for messages.
pub fn describe(sel: &Selection, namespace: &str) -> String {
    match sel {
        Selection::Pod(n) => format!("pod/{n} in {namespace}"),
        Selection::Workload(k, n) => format!("{k:?}/{n} in {namespace}").to_lowercase(),
        Selection::Labels(l) => format!("pods -l {l} in {namespace}"),
        Selection::ApiServer => "kube-apiserver".into(),
        Selection::Component(c) => c.name().into(),
    }
}

/// A scrape-ready endpoint on 127.0.0.1 and the tunnel that keeps it reachable.
pub struct Reached {
    pub target: TargetRef,
    pub endpoint: Result<Endpoint, ScrapeError>,
    /// How the endpoint is reached: `pods/proxy`, `port-forward`, `direct` (a host-network pod's own
    /// address), `apiserver`.
    pub via: &'static str,
    _tunnel: Option<Tunnel>,
}

enum Tunnel {
    // Held for their Drop (which stops the listener).
    #[allow(dead_code)]
    Proxy(ApiProxy),
    #[allow(dead_code)]
    Forward(PortForward),
}

/// The apiserver's own profiles through a loopback proxy authenticated by the kubeconfig.
pub async fn reach_apiserver(client: &kube::Client) -> Result<Reached, KubeTargetError> {
    let proxy = ApiProxy::open(client.clone(), vec!["/debug/pprof".into()]).await?;
    let endpoint = Endpoint {
        base_url: proxy.url("/debug/pprof"),
        container: None,
        source: crate::scrape::endpoint::EndpointSource::Spec,
        notes: Vec::new(),
    };
    Ok(Reached {
        target: TargetRef { namespace: "kube-system".into(), pod: "kube-apiserver".into(), container: None },
        endpoint: Ok(endpoint),
        via: "apiserver",
        _tunnel: Some(Tunnel::Proxy(proxy)),
    })
}

/// Reaches the pods of a control-plane component (kube-system, `component=<name>`) through port-forwards
/// to their secure port: the component checks the caller's credentials itself, which `pods/proxy`
/// would not carry.
pub async fn reach_component(client: &kube::Client, component: Component) -> Result<Vec<Reached>, KubeTargetError> {
    let what = component.name().to_string();
    let api: Api<Pod> = Api::namespaced(client.clone(), CONTROL_PLANE_NAMESPACE);
    let pods = api
        .list(&ListParams::default().labels(&format!("component={what}")))
        .await
        .map_err(|e| api_err(&what, e))?
        .items;
    let cfg = ControlPlaneConfig { controller_manager: true, scheduler: true, ..Default::default() };
    let found = component_pods(&pods.into_iter().map(std::sync::Arc::new).collect::<Vec<_>>(), &cfg);
    if found.is_empty() {
        return Err(KubeTargetError::NoPods {
            what: format!("{what} (pods labelled component={what} in {CONTROL_PLANE_NAMESPACE})"),
        });
    }
    let mut out = Vec::new();
    for t in found {
        let ep = match t.endpoint {
            Ok(ep) => ep,
            Err(err) => {
                out.push(Reached { target: t.target, endpoint: Err(err), via: "-", _tunnel: None });
                continue;
            }
        };
        let Some((scheme, port, path)) = split_base(&ep.base_url) else {
            let err = ScrapeError::NoEndpoint(format!("cannot read endpoint {}", ep.base_url));
            out.push(Reached { target: t.target, endpoint: Err(err), via: "-", _tunnel: None });
            continue;
        };
        let forward = PortForward::open(api.clone(), t.target.pod.clone(), port).await?;
        let endpoint = Endpoint { base_url: format!("{scheme}://{}{path}", forward.host_port()), ..ep };
        out.push(Reached {
            target: t.target,
            endpoint: Ok(endpoint),
            via: "port-forward",
            _tunnel: Some(Tunnel::Forward(forward)),
        });
    }
    Ok(out)
}

/// Reaches one pod's pprof endpoint: `pods/proxy` when the apiserver serves it (probed with the
/// index page), else (host-network pods) its own address when this machine reaches it, else a
/// port-forward. A pod without an endpoint keeps its typed error.
pub async fn reach_pod(
    client: &kube::Client,
    collector: &Collector,
    pod: &Pod,
    pprof: &PprofConfig,
) -> Result<Reached, KubeTargetError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let in_pod = match resolve(pod, pprof) {
        Ok(e) => e,
        Err(err) => {
            let target = TargetRef { namespace, pod: name, container: None };
            return Ok(Reached { target, endpoint: Err(err), via: "-", _tunnel: None });
        }
    };
    let target = TargetRef { namespace: namespace.clone(), pod: name.clone(), container: in_pod.container.clone() };
    let Some((scheme, port, path)) = split_base(&in_pod.base_url) else {
        let err = ScrapeError::NoEndpoint(format!("cannot read endpoint {}", in_pod.base_url));
        return Ok(Reached { target, endpoint: Err(err), via: "-", _tunnel: None });
    };

    let prefix = format!("/api/v1/namespaces/{namespace}/pods/{scheme}:{name}:{port}/proxy");
    let proxy = ApiProxy::open(client.clone(), vec![format!("{prefix}/")]).await?;
    let proxied = Endpoint { base_url: proxy.url(&format!("{prefix}{path}")), ..in_pod.clone() };
    if collector.fetch(&proxied.url("")).await.is_ok() {
        return Ok(Reached { target, endpoint: Ok(proxied), via: "pods/proxy", _tunnel: Some(Tunnel::Proxy(proxy)) });
    }
    drop(proxy);
    // A port-forward dials localhost in the pod's network namespace; for a host-network pod that is the
    // node's loopback, where a program bound to the node's address is not (nor, on a node with
    // several such pods, necessarily the same pod). Such a pod is tried at its own address first.
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    if host_network && collector.fetch(&in_pod.url("")).await.is_ok() {
        return Ok(Reached { target, endpoint: Ok(in_pod), via: "direct", _tunnel: None });
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let forward = PortForward::open(pods, name, port).await?;
    let forwarded = Endpoint { base_url: format!("{scheme}://{}{path}", forward.host_port()), ..in_pod };
    Ok(Reached { target, endpoint: Ok(forwarded), via: "port-forward", _tunnel: Some(Tunnel::Forward(forward)) })
}

/// `http://10.0.0.5:6060/debug/pprof` → (`http`, 6060, `/debug/pprof`).
fn split_base(base: &str) -> Option<(String, u16, String)> {
    let url = reqwest::Url::parse(base).ok()?;
    let port = url.port_or_known_default()?;
    Some((url.scheme().to_string(), port, url.path().trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_like_kubectl() {
        assert_eq!(parse_selection("pod/web-0"), Some(Selection::Pod("web-0".into())));
        assert_eq!(parse_selection("po/web-0"), Some(Selection::Pod("web-0".into())));
        assert_eq!(parse_selection("deploy/web"), Some(Selection::Workload(WorkloadKind::Deployment, "web".into())));
        assert_eq!(
            parse_selection("deployment.apps/web"),
            Some(Selection::Workload(WorkloadKind::Deployment, "web".into()))
        );
        assert_eq!(parse_selection("sts/db"), Some(Selection::Workload(WorkloadKind::StatefulSet, "db".into())));
        assert_eq!(parse_selection("ds/agent"), Some(Selection::Workload(WorkloadKind::DaemonSet, "agent".into())));
        assert_eq!(parse_selection("kube-apiserver"), Some(Selection::ApiServer));
        assert_eq!(
            parse_selection("kube-controller-manager"),
            Some(Selection::Component(Component::ControllerManager))
        );
        assert_eq!(parse_selection("kube-scheduler"), Some(Selection::Component(Component::Scheduler)));
        // Files and URLs are not selections.
        for not in ["dump.txt", "./pod/x", "dumps/goroutine.txt", "http://127.0.0.1:6060/debug/pprof/", "pod/", "-"] {
            assert_eq!(parse_selection(not), None, "{not}");
        }
    }

    #[test]
    fn endpoint_base_is_split_for_the_tunnels() {
        assert_eq!(split_base("http://10.0.0.5:6060/debug/pprof"), Some(("http".into(), 6060, "/debug/pprof".into())));
        assert_eq!(split_base("https://[fd00::5]:10257/x/"), Some(("https".into(), 10257, "/x".into())));
    }

    #[test]
    fn describe_names_the_selection() {
        assert_eq!(
            describe(&Selection::Workload(WorkloadKind::Deployment, "web".into()), "shop"),
            "deployment/web in shop"
        );
        assert_eq!(describe(&Selection::Labels("app=web".into()), "shop"), "pods -l app=web in shop");
    }
}
