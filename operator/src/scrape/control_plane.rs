//! Where the control plane's pprof handlers live (`spec.controlPlane` of a ClusterGoHealthAudit): pure
//! functions of the cached pods, the nodes and the API connection's address.
//!
//! - kube-apiserver: `<API server URL>/debug/pprof`, the address the operator's client uses.
//! - kube-controller-manager, kube-scheduler: pods in kube-system labelled `component=<name>` (kubeadm's
//!   static pods, seen through their mirror pods), on their host-network IP and secure port.
//! - kubelets: each node's InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`.
//!
//! What keeps a component from being scraped is said here, before any request: profiling switched off,
//! a secure port of 0, or a bind address that only the node itself can reach.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::scrape::endpoint::{Endpoint, EndpointSource};
use crate::validate::ControlPlaneConfig;
use gohealth_core::finding::TargetRef;
use gohealth_core::scrape_error::ScrapeError;

/// Where kubeadm puts the control-plane static pods.
pub const CONTROL_PLANE_NAMESPACE: &str = "kube-system";
const PPROF_PATH: &str = "/debug/pprof";

/// A control-plane program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
    Kubelet,
}

impl Component {
    /// The `component` label of its static pod, and the name used in status for the apiserver.
    pub fn name(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kubelet => "kubelet",
        }
    }

    /// Its default secure port (`--secure-port`; the kubelet's is in the Node object).
    fn default_port(self) -> u16 {
        match self {
            Component::ControllerManager => 10257,
            Component::Scheduler => 10259,
            Component::ApiServer => 6443,
            Component::Kubelet => 10250,
        }
    }
}

/// One control-plane target and its endpoint, or why it has none.
#[derive(Clone, Debug)]
pub struct ControlPlaneTarget {
    pub component: Component,
    /// A mirror pod's own reference; `kube-apiserver` and `kubelet/<node>` (no namespace) otherwise.
    pub target: TargetRef,
    pub pod: Option<Arc<Pod>>,
    pub endpoint: Result<Endpoint, ScrapeError>,
}

/// The apiserver, at the operator's API connection (`cluster_url`, e.g. `https://10.96.0.1:443`).
pub fn api_server(cluster_url: &str) -> ControlPlaneTarget {
    let base = cluster_url.trim_end_matches('/');
    let endpoint = if base.starts_with("https://") {
        Ok(endpoint(format!("{base}{PPROF_PATH}"), None))
    } else {
        Err(ScrapeError::CredentialsOverPlainHttp(format!(
            "the API connection {base} is not https; the operator's token is not sent over it"
        )))
    };
    ControlPlaneTarget {
        component: Component::ApiServer,
        target: TargetRef { namespace: String::new(), pod: Component::ApiServer.name().into(), container: None },
        pod: None,
        endpoint,
    }
}

/// The controller-manager and scheduler pods `cfg` asks for, Running with an IP, sorted by name.
pub fn component_pods(pods: &[Arc<Pod>], cfg: &ControlPlaneConfig) -> Vec<ControlPlaneTarget> {
    let wanted: Vec<Component> =
        [(cfg.controller_manager, Component::ControllerManager), (cfg.scheduler, Component::Scheduler)]
            .into_iter()
            .filter_map(|(on, c)| on.then_some(c))
            .collect();
    let mut out: Vec<ControlPlaneTarget> = pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(CONTROL_PLANE_NAMESPACE))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter_map(|p| {
            let label = p.metadata.labels.as_ref()?.get("component")?;
            let component = *wanted.iter().find(|c| c.name() == label)?;
            let target =
                TargetRef { namespace: CONTROL_PLANE_NAMESPACE.into(), pod: p.metadata.name.clone()?, container: None };
            Some(ControlPlaneTarget { component, target, pod: Some(p.clone()), endpoint: pod_endpoint(p, component) })
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

/// Each node's kubelet, by InternalIP (else the first address) and its reported port. A node that
/// reports neither an address nor a kubelet port has no kubelet behind it (a provisioner's node
/// before its machine registers, KWOK's and virtual-kubelet's nodes): not a target.
pub fn kubelets(nodes: &[Node]) -> Vec<ControlPlaneTarget> {
    let mut out: Vec<ControlPlaneTarget> = nodes
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let status = n.status.as_ref();
            let addresses = status.and_then(|s| s.addresses.as_ref());
            let ip = addresses
                .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP").or_else(|| a.first()))
                .map(|a| a.address.clone());
            let reported_port = status
                .and_then(|s| s.daemon_endpoints.as_ref())
                .and_then(|d| d.kubelet_endpoint.as_ref())
                .and_then(|e| u16::try_from(e.port).ok())
                .filter(|p| *p != 0);
            if ip.is_none() && reported_port.is_none() {
                return None;
            }
            let port = reported_port.unwrap_or(Component::Kubelet.default_port());
            let endpoint = match ip.as_deref().map(str::parse::<IpAddr>) {
                Some(Ok(ip)) => Ok(endpoint(format!("https://{}:{port}{PPROF_PATH}", host(ip)), None)),
                Some(Err(_)) => Err(ScrapeError::NoEndpoint(format!("node {name}: its address is not an IP address"))),
                None => Err(ScrapeError::NoEndpoint(format!("node {name} reports no address"))),
            };
            let target = TargetRef { namespace: String::new(), pod: format!("kubelet/{name}"), container: None };
            Some(ControlPlaneTarget { component: Component::Kubelet, target, pod: None, endpoint })
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

/// A component pod's endpoint from its command line, as the component itself reads it.
fn pod_endpoint(pod: &Pod, component: Component) -> Result<Endpoint, ScrapeError> {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScrapeError::NoEndpoint("pod has no IP yet (status.podIP)".into()))?
        .parse::<IpAddr>()
        .map_err(|_| ScrapeError::NoEndpoint("status.podIP is not an IP address".into()))?;
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == component.name()).or_else(|| s.containers.first()));
    let args: Vec<&str> = container
        .map(|c| c.command.iter().flatten().chain(c.args.iter().flatten()).map(String::as_str).collect())
        .unwrap_or_default();
    let name = component.name();
    if flag(&args, "profiling").is_some_and(|v| v == "false") {
        return Err(ScrapeError::NoEndpoint(format!("{name} runs with --profiling=false: it serves no /debug/pprof")));
    }
    let port = match flag(&args, "secure-port") {
        None => component.default_port(),
        Some(v) => match v.parse::<u16>() {
            Ok(0) => {
                return Err(ScrapeError::NoEndpoint(format!("{name} runs with --secure-port=0: it serves nothing")));
            }
            Ok(p) => p,
            Err(_) => return Err(ScrapeError::NoEndpoint(format!("{name}: --secure-port={v} is not a port"))),
        },
    };
    // kubeadm binds both to 127.0.0.1: reachable from their own node only.
    if let Some(Ok(bind)) = flag(&args, "bind-address").map(str::parse::<IpAddr>)
        && bind.is_loopback()
        && !ip.is_loopback()
    {
        return Err(ScrapeError::NoEndpoint(format!(
            "{name} listens on {bind} only (--bind-address): set it to the node's address (or 0.0.0.0) to audit it"
        )));
    }
    Ok(endpoint(format!("https://{}:{port}{PPROF_PATH}", host(ip)), container.map(|c| c.name.clone())))
}

/// The value of `--name=value` or `--name value`; the last one wins, as with the components' flag parser.
fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let with_value = format!("--{name}=");
    let mut found = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(with_value.as_str()) {
            found = Some(v);
        } else if *a == long {
            found = it.peek().map(|v| **v).filter(|v| !v.starts_with("--"));
        }
    }
    found
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn endpoint(base_url: String, container: Option<String>) -> Endpoint {
    Endpoint { base_url, container, source: EndpointSource::ControlPlane, notes: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus, PodSpec, PodStatus,
    };
    use kube::api::ObjectMeta;

    fn component_pod(name: &str, component: &str, ip: &str, command: &[&str]) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("kube-system".into()),
                labels: Some([("component".to_string(), component.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                host_network: Some(true),
                containers: vec![Container {
                    name: component.into(),
                    command: Some(command.iter().map(|s| s.to_string()).collect()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus { phase: Some("Running".into()), pod_ip: Some(ip.into()), ..Default::default() }),
        })
    }

    fn all() -> ControlPlaneConfig {
        ControlPlaneConfig { api_server: true, controller_manager: true, scheduler: true, ..Default::default() }
    }

    fn url(t: &ControlPlaneTarget) -> String {
        t.endpoint.as_ref().map(|e| e.base_url.clone()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn mirror_pods_give_their_secure_port_and_defaults() {
        let pods = vec![
            component_pod("kube-scheduler-n1", "kube-scheduler", "10.0.0.1", &["kube-scheduler"]),
            component_pod(
                "kube-controller-manager-n1",
                "kube-controller-manager",
                "10.0.0.1",
                &["kube-controller-manager", "--secure-port=20257", "--bind-address=0.0.0.0"],
            ),
            component_pod("etcd-n1", "etcd", "10.0.0.1", &["etcd"]),
        ];
        let got = component_pods(&pods, &all());
        let urls: Vec<_> = got.iter().map(|t| (t.target.pod.clone(), url(t))).collect();
        assert_eq!(
            urls,
            vec![
                ("kube-controller-manager-n1".into(), "https://10.0.0.1:20257/debug/pprof".into()),
                ("kube-scheduler-n1".into(), "https://10.0.0.1:10259/debug/pprof".into()),
            ]
        );
        let only_scheduler = ControlPlaneConfig { scheduler: true, ..Default::default() };
        assert_eq!(component_pods(&pods, &only_scheduler).len(), 1);
    }

    #[test]
    fn what_cannot_be_scraped_says_why_before_any_request() {
        let off = component_pod("s", "kube-scheduler", "10.0.0.1", &["kube-scheduler", "--profiling=false"]);
        let local = component_pod("c", "kube-controller-manager", "10.0.0.1", &["kcm", "--bind-address", "127.0.0.1"]);
        let none = component_pod("c2", "kube-controller-manager", "10.0.0.2", &["kcm", "--secure-port=0"]);
        let got = component_pods(&[off, local, none], &all());
        let errors: Vec<String> = got.iter().map(url).collect();
        assert!(errors[0].contains("--bind-address"), "{errors:?}");
        assert!(errors[1].contains("--secure-port=0"), "{errors:?}");
        assert!(errors[2].contains("--profiling=false"), "{errors:?}");
        // On a node whose own address is loopback (the e2e cluster), 127.0.0.1 is reachable.
        let loopback = component_pod("c", "kube-controller-manager", "127.0.0.1", &["kcm", "--bind-address=127.0.0.1"]);
        assert!(component_pods(&[loopback], &all())[0].endpoint.is_ok());
    }

    #[test]
    fn last_flag_wins() {
        assert_eq!(flag(&["x", "--secure-port=1", "--secure-port", "2"], "secure-port"), Some("2"));
        assert_eq!(flag(&["x", "--secure-port"], "secure-port"), None);
        assert_eq!(flag(&["x", "--secure-portal=3"], "secure-port"), None);
    }

    #[test]
    fn kubelets_by_internal_ip_and_reported_port() {
        let node = |name: &str, addrs: &[(&str, &str)], port: i32| Node {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            status: Some(NodeStatus {
                addresses: Some(
                    addrs.iter().map(|(t, a)| NodeAddress { type_: t.to_string(), address: a.to_string() }).collect(),
                ),
                daemon_endpoints: Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port }) }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let nodes = [
            node("b", &[("Hostname", "b"), ("InternalIP", "fd00::2")], 0),
            node("a", &[("InternalIP", "10.0.0.1")], 12345),
            node("c", &[], 10250),
            // KWOK: a Node object no kubelet ever reported on.
            node("kwok-0", &[], 0),
        ];
        let got: Vec<_> = kubelets(&nodes).iter().map(|t| (t.target.pod.clone(), url(t))).collect();
        assert_eq!(got[0], ("kubelet/a".into(), "https://10.0.0.1:12345/debug/pprof".into()));
        assert_eq!(got[1], ("kubelet/b".into(), "https://[fd00::2]:10250/debug/pprof".into()));
        assert!(got[2].1.contains("reports no address"), "{got:?}");
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn the_apiserver_only_over_https() {
        assert_eq!(url(&api_server("https://10.96.0.1:443/")), "https://10.96.0.1:443/debug/pprof");
        assert!(api_server("http://127.0.0.1:8080").endpoint.is_err());
        assert_eq!(api_server("https://x").target.pod, "kube-apiserver");
    }
}
