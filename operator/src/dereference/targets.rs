//! Which pods an audit selects, as plain functions over the cached Pod and Namespace objects.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use gohealth_core::finding::TargetRef;
use gohealth_core::target::{ContainerRestarts, Termination};

use crate::selector::{is_empty, selector_matches};

/// A selected pod.
#[derive(Clone, Debug)]
pub struct Target {
    pub target: TargetRef,
    pub pod: Arc<Pod>,
}

/// Pods worth auditing: Running, with an IP, not being deleted. Sorted by namespace and name so status
/// and metrics are stable.
pub fn select_targets(pods: impl IntoIterator<Item = Arc<Pod>>) -> Vec<Target> {
    let mut out: Vec<Target> = pods
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let st = p.status.as_ref();
            st.and_then(|s| s.phase.as_deref()) == Some("Running")
                && st.and_then(|s| s.pod_ip.as_deref()).is_some_and(|ip| !ip.is_empty())
        })
        .filter_map(|p| {
            let target =
                TargetRef { namespace: p.metadata.namespace.clone()?, pod: p.metadata.name.clone()?, container: None };
            Some(Target { target, pod: p })
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out.dedup_by(|a, b| a.target == b.target);
    out
}

/// What an audit selects by.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    /// A namespaced audit's own namespace: the only one it searches. None for a cluster audit, which
    /// searches the namespaces its namespace selector matches, or every namespace.
    pub namespace: Option<&'a str>,
    pub selector: &'a LabelSelector,
    /// Namespaces by label; an empty selector means every namespace.
    pub namespace_selector: Option<&'a LabelSelector>,
}

impl Selection<'_> {
    fn namespace_ok(&self, pod_namespace: &str, namespace: &impl Fn(&str) -> Option<Arc<Namespace>>) -> bool {
        if let Some(own) = self.namespace {
            return pod_namespace == own;
        }
        let Some(ns_selector) = self.namespace_selector else {
            return true;
        };
        if is_empty(ns_selector) {
            return true;
        }
        let empty = BTreeMap::new();
        namespace(pod_namespace)
            .is_some_and(|ns| selector_matches(ns_selector, ns.metadata.labels.as_ref().unwrap_or(&empty)))
    }

    /// Whether a pod event concerns this audit (namespace and labels; its phase does not matter).
    /// `namespace` looks a namespace up by name in the cache; it is only asked with a namespace selector.
    pub fn concerns(&self, pod: &Pod, namespace: &impl Fn(&str) -> Option<Arc<Namespace>>) -> bool {
        let empty = BTreeMap::new();
        pod.metadata.namespace.as_deref().is_some_and(|ns| self.namespace_ok(ns, namespace))
            && selector_matches(self.selector, pod.metadata.labels.as_ref().unwrap_or(&empty))
    }
}

/// The targets of an audit, from the cached pods and namespaces (no API call).
pub fn select(
    pods: &[Arc<Pod>],
    namespace: &impl Fn(&str) -> Option<Arc<Namespace>>,
    by: &Selection<'_>,
) -> Vec<Target> {
    select_targets(pods.iter().filter(|p| by.concerns(p, namespace)).cloned())
}

/// Addresses a namespaced audit never scrapes: the apiserver's and every node's (the host IPs of the
/// cached pods), sorted and without duplicates.
pub fn infrastructure_addresses(pods: &[Arc<Pod>], apiserver: &[IpAddr]) -> Vec<IpAddr> {
    let nodes = pods
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.host_ip.iter().map(String::as_str).chain(s.host_ips.iter().flatten().map(|h| h.ip.as_str())));
    let mut out: Vec<IpAddr> = nodes.filter_map(|ip| ip.parse().ok()).chain(apiserver.iter().copied()).collect();
    out.sort();
    out.dedup();
    out
}

/// The restart record of every container (init containers too) of a pod, for `GoPanicRestarts`.
pub fn container_restarts(pod: &Pod) -> Vec<ContainerRestarts> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .map(|cs| ContainerRestarts {
            name: cs.name.clone(),
            restart_count: cs.restart_count,
            last_termination: cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| Termination {
                exit_code: t.exit_code,
                reason: t.reason.clone(),
                message: t.message.clone(),
                finished_at: t.finished_at.as_ref().map(|at| at.0.to_string()),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use kube::api::ObjectMeta;

    fn pod(ns: &str, name: &str, phase: &str, ip: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..Default::default() },
            status: Some(PodStatus { phase: Some(phase.into()), pod_ip: ip.map(String::from), ..Default::default() }),
            ..Default::default()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn infrastructure_is_the_apiserver_and_every_host_ip() {
        let mut a = pod("a", "one", "Running", Some("10.0.0.1"));
        a.status.as_mut().unwrap().host_ip = Some("192.168.1.10".into());
        let mut b = pod("a", "two", "Running", Some("10.0.0.2"));
        b.status.as_mut().unwrap().host_ip = Some("192.168.1.11".into());
        let mut c = pod("a", "three", "Running", Some("10.0.0.3"));
        c.status.as_mut().unwrap().host_ip = Some("192.168.1.10".into());
        let apiserver: IpAddr = "192.168.1.1".parse().unwrap();
        let got = infrastructure_addresses(&[a, b, c].map(Arc::new), &[apiserver]);
        let want: Vec<IpAddr> = ["192.168.1.1", "192.168.1.10", "192.168.1.11"].map(|s| s.parse().unwrap()).to_vec();
        assert_eq!(got, want);
    }

    #[test]
    fn only_running_pods_with_ip_are_targets() {
        let mut deleting = pod("a", "gone", "Running", Some("10.0.0.9"));
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T00:00:00Z".parse().unwrap()));
        let targets = select_targets(
            [
                pod("b", "two", "Running", Some("10.0.0.2")),
                pod("a", "one", "Running", Some("10.0.0.1")),
                pod("a", "pending", "Pending", None),
                pod("a", "noip", "Running", None),
                deleting,
            ]
            .map(Arc::new),
        );
        let names: Vec<_> = targets.iter().map(|t| t.target.key()).collect();
        assert_eq!(names, vec!["a/one", "b/two"]);
    }

    #[test]
    fn selection_from_the_cache_honours_namespaces_and_labels() {
        let labelled = |mut p: Pod, app: &str| {
            p.metadata.labels = Some(labels(&[("app", app)]));
            Arc::new(p)
        };
        let pods = vec![
            labelled(pod("a", "one", "Running", Some("10.0.0.1")), "x"),
            labelled(pod("a", "other-app", "Running", Some("10.0.0.2")), "y"),
            labelled(pod("b", "two", "Running", Some("10.0.0.3")), "x"),
            labelled(pod("c", "three", "Running", Some("10.0.0.4")), "x"),
        ];
        let ns = |name: &str, team: &str| {
            Arc::new(Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(labels(&[("team", team)])),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let namespaces = [ns("a", "red"), ns("b", "blue"), ns("c", "red")];
        let selector = LabelSelector { match_labels: Some(labels(&[("app", "x")])), ..Default::default() };
        let lookup = |name: &str| namespaces.iter().find(|n| n.metadata.name.as_deref() == Some(name)).cloned();
        let keys =
            |by: &Selection<'_>| -> Vec<String> { select(&pods, &lookup, by).iter().map(|t| t.target.key()).collect() };
        let own = Selection { namespace: Some("a"), selector: &selector, namespace_selector: None };
        assert_eq!(keys(&own), vec!["a/one"]);
        // a namespaced audit stays in its namespace whatever namespace selector it carries
        let red = LabelSelector { match_labels: Some(labels(&[("team", "red")])), ..Default::default() };
        let tenant = Selection { namespace: Some("a"), selector: &selector, namespace_selector: Some(&red) };
        assert_eq!(keys(&tenant), vec!["a/one"]);
        let by_team = Selection { namespace: None, selector: &selector, namespace_selector: Some(&red) };
        assert_eq!(keys(&by_team), vec!["a/one", "c/three"]);
        let all = LabelSelector::default();
        let everywhere = Selection { namespace: None, selector: &selector, namespace_selector: Some(&all) };
        assert_eq!(keys(&everywhere), vec!["a/one", "b/two", "c/three"]);
        let unset = Selection { namespace: None, selector: &selector, namespace_selector: None };
        assert_eq!(keys(&unset), vec!["a/one", "b/two", "c/three"]);
    }
}
