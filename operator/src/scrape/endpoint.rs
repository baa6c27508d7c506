//! Where a pod's pprof handlers live: a pure function of the pod and `spec.pprof`.
//!
//! Order: Pyroscope/Grafana Alloy pod annotations (`profiles.grafana.com/<type>.*`), then the audit's
//! `spec.pprof`, then a container port named `pprof` / `http-pprof` / `https-pprof`. Only the pod's
//! own IP (`status.podIP`) is ever used: annotations may choose the port, path and scheme, never the
//! host, because an annotation is written by whoever can edit the pod, and the operator may send its
//! ServiceAccount token.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ContainerPort, Pod};
use serde::{Deserialize, Serialize};

use crate::crd::Scheme;
use crate::validate::{PortRef, PprofConfig, Scope};
use gohealth_core::scrape_error::ScrapeError;

/// Annotation prefix used by the Grafana Pyroscope Helm chart and Alloy's example configs.
pub const ANNOTATION_PREFIX: &str = "profiles.grafana.com/";

/// Profile types of the Pyroscope annotations, in the order gohealth prefers them, with the
/// last path segment of each type's default endpoint (used to turn a `.path` into our prefix).
/// `goroutine` first: it is the profile gohealth needs most.
const ANNOTATION_TYPES: &[(&str, &[&str])] = &[
    ("goroutine", &["goroutine"]),
    ("memory", &["allocs", "heap"]),
    ("mutex", &["mutex"]),
    ("block", &["block"]),
    ("cpu", &["profile"]),
];

/// Container-port names that mean "pprof here", with the scheme each implies (None: spec's scheme).
const PPROF_PORT_NAMES: &[(&str, Option<Scheme>)] =
    &[("pprof", None), ("http-pprof", Some(Scheme::Http)), ("https-pprof", Some(Scheme::Https))];

/// Which rule produced the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointSource {
    /// `profiles.grafana.com/<type>.*` pod annotations.
    Annotation,
    /// The audit's `spec.pprof`.
    Spec,
    /// A container port named `pprof`, `http-pprof` or `https-pprof`.
    NamedPort,
    /// `spec.controlPlane` of a ClusterGoHealthAudit ([`crate::scrape::control_plane`]).
    ControlPlane,
}

impl EndpointSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointSource::Annotation => "Annotation",
            EndpointSource::Spec => "Spec",
            EndpointSource::NamedPort => "NamedPort",
            EndpointSource::ControlPlane => "ControlPlane",
        }
    }
}

/// A resolved pprof endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Scheme, pod IP, port and path prefix, without a trailing slash,
    /// e.g. `http://10.0.0.5:6060/debug/pprof` or `http://[fd00::5]:6060/debug/pprof`.
    pub base_url: String,
    /// Container that declares the port, when one does.
    pub container: Option<String>,
    pub source: EndpointSource,
    /// Annotations or settings that were ignored, and why (copied into `Snapshot.notes`).
    pub notes: Vec<String>,
}

impl Endpoint {
    /// Whether requests go over TLS (a bearer token is never sent otherwise).
    pub fn is_tls(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// URL of one handler under the prefix, e.g. `url("goroutine?debug=1")`; `url("")` is the index.
    pub fn url(&self, rel: &str) -> String {
        format!("{}/{}", self.base_url, rel)
    }
}

/// Resolves the pprof endpoint of `pod`. Fails with `NoEndpoint` when the pod has no IP yet or no rule
/// names a port, and with `TargetRefused` when a namespaced audit may not reach it ([`reachable`]).
pub fn resolve(pod: &Pod, spec: &PprofConfig) -> Result<Endpoint, ScrapeError> {
    let ep = resolve_any(pod, spec)?;
    if spec.scope == Scope::Namespaced {
        reachable(pod, &ep, &spec.infrastructure)?;
    }
    Ok(ep)
}

/// What a namespaced audit may scrape (docs/security.md#what-an-audit-can-reach): its pod's own IP on a
/// port a container declares — never a host-network pod, whose IP is its node's, nor an address of a
/// node or of the apiserver. Pod annotations are written by whoever can edit the pod, so this bounds
/// what they can point the operator at.
pub fn reachable(pod: &Pod, ep: &Endpoint, infrastructure: &[IpAddr]) -> Result<(), ScrapeError> {
    let refused = |why: String| Err(ScrapeError::TargetRefused(why));
    if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
        return refused("host-network pod: its address is its node's".into());
    }
    let ip = pod_ip(pod)?;
    let status = pod.status.as_ref();
    let host_ips = status
        .and_then(|s| s.host_ip.as_deref())
        .into_iter()
        .chain(status.and_then(|s| s.host_ips.as_ref()).into_iter().flatten().map(|h| h.ip.as_str()));
    if host_ips.filter_map(|h| h.parse::<IpAddr>().ok()).any(|h| h == ip) {
        return refused(format!("pod IP {ip} is its node's address"));
    }
    if infrastructure.contains(&ip) {
        return refused(format!("pod IP {ip} is an address of the apiserver or of a node"));
    }
    if ep.container.is_none() {
        return refused(format!("{}: the port is not declared by any container of the pod", ep.base_url));
    }
    Ok(())
}

fn resolve_any(pod: &Pod, spec: &PprofConfig) -> Result<Endpoint, ScrapeError> {
    let ip = pod_ip(pod)?;
    let ports = container_ports(pod);
    let mut notes = Vec::new();
    let empty = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);

    if let Some(found) = from_annotations(annotations, &ports, &mut notes) {
        let scheme = found.scheme.unwrap_or(spec.scheme);
        let path = found.path.unwrap_or_else(|| spec.path.clone());
        return Ok(build(scheme, ip, found.port, &path, found.container, EndpointSource::Annotation, notes));
    }

    if let Some(port) = &spec.port {
        let (port, container) = match port {
            PortRef::Number(n) => (*n, container_of_number(&ports, *n)),
            PortRef::Name(name) => {
                let p = ports.iter().find(|p| p.name == *name).ok_or_else(|| {
                    ScrapeError::NoEndpoint(format!("spec.pprof.port: no container port named {name:?}"))
                })?;
                (p.number, Some(p.container.clone()))
            }
        };
        return Ok(build(spec.scheme, ip, port, &spec.path, container, EndpointSource::Spec, notes));
    }

    for (name, scheme) in PPROF_PORT_NAMES {
        if let Some(p) = ports.iter().find(|p| p.name == *name) {
            return Ok(build(
                scheme.unwrap_or(spec.scheme),
                ip,
                p.number,
                &spec.path,
                Some(p.container.clone()),
                EndpointSource::NamedPort,
                notes,
            ));
        }
    }

    let mut msg = String::from(
        "no profiles.grafana.com/<type>.scrape annotation, no spec.pprof.port and no container port named pprof/http-pprof",
    );
    for n in &notes {
        msg.push_str("; ");
        msg.push_str(n);
    }
    Err(ScrapeError::NoEndpoint(msg))
}

fn pod_ip(pod: &Pod) -> Result<IpAddr, ScrapeError> {
    let raw = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScrapeError::NoEndpoint("pod has no IP yet (status.podIP)".into()))?;
    // Parsed, not pasted: the string becomes the URL's host.
    raw.parse::<IpAddr>().map_err(|_| ScrapeError::NoEndpoint(format!("status.podIP {raw:?} is not an IP address")))
}

#[derive(Clone, Debug, PartialEq)]
struct NamedPort {
    container: String,
    name: String,
    number: u16,
}

/// Ports of the containers and of the init containers (native sidecars serve ports too).
fn container_ports(pod: &Pod) -> Vec<NamedPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let init = spec.init_containers.iter().flatten();
    spec.containers
        .iter()
        .chain(init)
        .flat_map(|c| {
            c.ports.iter().flatten().filter_map(move |p: &ContainerPort| {
                Some(NamedPort {
                    container: c.name.clone(),
                    name: p.name.clone().unwrap_or_default(),
                    number: valid_port(i64::from(p.container_port))?,
                })
            })
        })
        .collect()
}

fn container_of_number(ports: &[NamedPort], number: u16) -> Option<String> {
    ports.iter().find(|p| p.number == number).map(|p| p.container.clone())
}

fn valid_port(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|p| *p != 0)
}

struct FromAnnotations {
    port: u16,
    container: Option<String>,
    path: Option<String>,
    scheme: Option<Scheme>,
}

/// The first annotated profile type (in `ANNOTATION_TYPES` order) with `.scrape: "true"` and a usable port.
fn from_annotations(
    ann: &BTreeMap<String, String>,
    ports: &[NamedPort],
    notes: &mut Vec<String>,
) -> Option<FromAnnotations> {
    for (ty, segments) in ANNOTATION_TYPES {
        let get = |field: &str| ann.get(&format!("{ANNOTATION_PREFIX}{ty}.{field}")).map(|s| s.trim());
        if !get("scrape").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            continue;
        }
        let key = |field: &str| format!("{ANNOTATION_PREFIX}{ty}.{field}");

        let mut port = None;
        if let Some(raw) = get("port") {
            match raw.parse::<i64>().ok().and_then(valid_port) {
                Some(p) => port = Some((p, container_of_number(ports, p))),
                None => notes.push(format!(
                    "ignored {}={raw:?}: not a port number (annotations choose the port, never the host)",
                    key("port")
                )),
            }
        }
        if port.is_none()
            && let Some(name) = get("port_name")
        {
            match ports.iter().find(|p| p.name == name) {
                Some(p) => port = Some((p.number, Some(p.container.clone()))),
                None => notes.push(format!("ignored {}={name:?}: no container port has that name", key("port_name"))),
            }
        }
        if port.is_none() {
            // Pyroscope's own default when no port is annotated: a port named `http2` or ending in
            // `-metrics` / `-profiles`.
            port = ports
                .iter()
                .find(|p| p.name == "http2" || p.name.ends_with("-metrics") || p.name.ends_with("-profiles"))
                .map(|p| (p.number, Some(p.container.clone())));
        }
        let Some((port, container)) = port else {
            notes.push(format!("ignored {}: no usable port annotation or Pyroscope default port name", key("scrape")));
            continue;
        };

        let scheme = match get("scheme") {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("http") => Some(Scheme::Http),
            Some(s) if s.eq_ignore_ascii_case("https") => Some(Scheme::Https),
            Some(s) => {
                notes.push(format!("ignored {}={s:?}: scheme must be http or https", key("scheme")));
                None
            }
        };

        let path = match get("path") {
            None => None,
            Some(raw) => match prefix_from_profile_path(raw, segments) {
                Some(p) => Some(p),
                None => {
                    notes.push(format!(
                        "ignored {}={raw:?}: must be an absolute path without host, query or unusual characters",
                        key("path")
                    ));
                    None
                }
            },
        };

        return Some(FromAnnotations { port, container, path, scheme });
    }
    None
}

/// Pyroscope's `.path` is the path of one profile (`/debug/pprof/goroutine`); gohealth needs the prefix
/// (`/debug/pprof`). A path not ending in the type's profile name is taken as the prefix itself.
/// None when the value is not a plain absolute path (e.g. carries a scheme or host).
fn prefix_from_profile_path(raw: &str, segments: &[&str]) -> Option<String> {
    if !is_plain_path(raw) {
        return None;
    }
    let trimmed = raw.trim_end_matches('/');
    for seg in segments {
        if let Some(prefix) = trimmed.strip_suffix(seg)
            && prefix.ends_with('/')
        {
            return Some(prefix.to_string());
        }
    }
    Some(trimmed.to_string())
}

/// An absolute URL path made of unreserved characters only: no `//host`, `@`, `?`, `#`, spaces, `..`.
fn is_plain_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && !s.split('/').any(|seg| seg == "..")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
}

fn normalize_prefix(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(seg);
    }
    out
}

fn build(
    scheme: Scheme,
    ip: IpAddr,
    port: u16,
    path: &str,
    container: Option<String>,
    source: EndpointSource,
    notes: Vec<String>,
) -> Endpoint {
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    Endpoint {
        base_url: format!("{}://{host}:{port}{}", scheme.as_str(), normalize_prefix(path)),
        container,
        source,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::PprofSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn pod(ip: Option<&str>, ann: &[(&str, &str)], ports: &[(&str, &str, i32)]) -> Pod {
        let mut containers: Vec<Container> = Vec::new();
        for (cname, pname, num) in ports {
            let cp = ContainerPort {
                name: (!pname.is_empty()).then(|| pname.to_string()),
                container_port: *num,
                ..Default::default()
            };
            match containers.iter_mut().find(|c| c.name == *cname) {
                Some(c) => c.ports.get_or_insert_with(Vec::new).push(cp),
                None => {
                    containers.push(Container { name: cname.to_string(), ports: Some(vec![cp]), ..Default::default() })
                }
            }
        }
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                annotations: Some(ann.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            spec: Some(PodSpec { containers, ..Default::default() }),
            status: Some(PodStatus { pod_ip: ip.map(String::from), ..Default::default() }),
        }
    }

    fn spec() -> PprofSpec {
        PprofSpec::default()
    }

    /// `spec.pprof` as a namespaced audit sees it, with the cluster's infrastructure addresses.
    fn tenant(port: Option<i32>, infrastructure: &[&str]) -> PprofConfig {
        let spec = PprofSpec { port: port.map(IntOrString::Int), ..PprofSpec::default() };
        let mut c = crate::validate::scoped_pprof(&spec, Scope::Namespaced).unwrap();
        c.infrastructure = infrastructure.iter().map(|a| a.parse().unwrap()).collect();
        c
    }

    #[test]
    fn a_namespaced_audit_reaches_its_pods_declared_ports_only() {
        let refused = |r: Result<Endpoint, ScrapeError>| match r {
            Err(ScrapeError::TargetRefused(m)) => m,
            other => panic!("expected TargetRefused, got {other:?}"),
        };
        let ok = pod(Some("10.1.2.3"), &[], &[("app", "pprof", 6060)]);
        assert!(super::resolve(&ok, &tenant(None, &["10.0.0.1"])).is_ok());
        // the same pod through an annotation naming a port no container declares
        let ann = pod(
            Some("10.1.2.3"),
            &[("profiles.grafana.com/goroutine.scrape", "true"), ("profiles.grafana.com/goroutine.port", "6443")],
            &[("app", "pprof", 6060)],
        );
        assert!(refused(super::resolve(&ann, &tenant(None, &[]))).contains("not declared"));
        assert!(refused(super::resolve(&ok, &tenant(Some(10250), &[]))).contains("not declared"));
        // the cluster kind may (control-plane and host-network targets are its job)
        assert!(super::resolve(&ann, &crate::validate::pprof(&spec()).unwrap()).is_ok());
        // host network
        let mut host = ok.clone();
        host.spec.as_mut().unwrap().host_network = Some(true);
        assert!(refused(super::resolve(&host, &tenant(None, &[]))).contains("host-network"));
        // pod IP = its node's
        let mut on_node = ok.clone();
        on_node.status.as_mut().unwrap().host_ip = Some("10.1.2.3".into());
        assert!(refused(super::resolve(&on_node, &tenant(None, &[]))).contains("node"));
        // pod IP = the apiserver's or another node's
        assert!(refused(super::resolve(&ok, &tenant(None, &["10.1.2.3"]))).contains("apiserver"));
    }

    /// Resolves with the spec as the validate step types it.
    fn resolve(pod: &Pod, spec: &PprofSpec) -> Result<Endpoint, ScrapeError> {
        super::resolve(pod, &crate::validate::pprof(spec).expect("valid spec.pprof"))
    }

    #[test]
    fn named_port_pprof_is_the_fallback() {
        let p = pod(Some("10.1.2.3"), &[], &[("app", "pprof", 6060)]);
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:6060/debug/pprof");
        assert_eq!(e.container.as_deref(), Some("app"));
        assert_eq!(e.source, EndpointSource::NamedPort);
        assert_eq!(e.url(""), "http://10.1.2.3:6060/debug/pprof/");
        assert_eq!(e.url("goroutine?debug=1"), "http://10.1.2.3:6060/debug/pprof/goroutine?debug=1");
    }

    #[test]
    fn named_port_http_pprof_and_https_pprof() {
        let p = pod(Some("10.1.2.3"), &[], &[("side", "http-pprof", 7070)]);
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:7070/debug/pprof");
        assert_eq!(e.container.as_deref(), Some("side"));
        let p = pod(Some("10.1.2.3"), &[], &[("side", "https-pprof", 7443)]);
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "https://10.1.2.3:7443/debug/pprof");
    }

    #[test]
    fn named_port_order_prefers_pprof() {
        let p = pod(Some("10.1.2.3"), &[], &[("a", "http-pprof", 7070), ("b", "pprof", 6060)]);
        assert_eq!(resolve(&p, &spec()).unwrap().base_url, "http://10.1.2.3:6060/debug/pprof");
    }

    #[test]
    fn no_rule_is_no_endpoint() {
        let p = pod(Some("10.1.2.3"), &[], &[("app", "http", 8080)]);
        let err = resolve(&p, &spec()).unwrap_err();
        assert_eq!(err.reason(), "NoEndpoint");
    }

    #[test]
    fn missing_or_bogus_pod_ip_is_no_endpoint() {
        let p = pod(None, &[], &[("app", "pprof", 6060)]);
        assert!(matches!(
            resolve(&p, &spec()),
            Err(ScrapeError::NoEndpoint(m)) if m.contains("no IP")
        ));
        let p = pod(Some("evil.example.com"), &[], &[("app", "pprof", 6060)]);
        assert!(matches!(
            resolve(&p, &spec()),
            Err(ScrapeError::NoEndpoint(m)) if m.contains("not an IP")
        ));
    }

    #[test]
    fn ipv6_pod_ip_is_bracketed() {
        let p = pod(Some("fd00::5"), &[], &[("app", "pprof", 6060)]);
        assert_eq!(resolve(&p, &spec()).unwrap().base_url, "http://[fd00::5]:6060/debug/pprof");
    }

    #[test]
    fn spec_port_number_beats_named_port() {
        let p = pod(Some("10.1.2.3"), &[], &[("app", "pprof", 6060), ("app", "admin", 9090)]);
        let s = PprofSpec {
            port: Some(IntOrString::Int(9090)),
            path: "/admin/pprof/".into(),
            scheme: Scheme::Https,
            ..spec()
        };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "https://10.1.2.3:9090/admin/pprof");
        assert_eq!(e.source, EndpointSource::Spec);
        assert_eq!(e.container.as_deref(), Some("app"));
    }

    #[test]
    fn spec_port_number_not_declared_has_no_container() {
        let p = pod(Some("10.1.2.3"), &[], &[]);
        let s = PprofSpec { port: Some(IntOrString::Int(6061)), ..spec() };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:6061/debug/pprof");
        assert_eq!(e.container, None);
    }

    #[test]
    fn spec_port_name_and_numeric_string() {
        let p = pod(Some("10.1.2.3"), &[], &[("app", "http", 8080), ("debug", "diag", 9999)]);
        let s = PprofSpec { port: Some(IntOrString::String("diag".into())), ..spec() };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:9999/debug/pprof");
        assert_eq!(e.container.as_deref(), Some("debug"));

        let s = PprofSpec { port: Some(IntOrString::String("8080".into())), ..spec() };
        assert_eq!(resolve(&p, &s).unwrap().base_url, "http://10.1.2.3:8080/debug/pprof");

        let s = PprofSpec { port: Some(IntOrString::String("nope".into())), ..spec() };
        assert!(matches!(resolve(&p, &s), Err(ScrapeError::NoEndpoint(m)) if m.contains("\"nope\"")));
        // An impossible port number never reaches resolve: validate names the field.
        let s = PprofSpec { port: Some(IntOrString::Int(70000)), ..spec() };
        assert_eq!(crate::validate::pprof(&s).unwrap_err().field, "spec.pprof.port");
    }

    #[test]
    fn annotation_port_beats_spec_and_named_port() {
        let p = pod(
            Some("10.1.2.3"),
            &[("profiles.grafana.com/goroutine.scrape", "true"), ("profiles.grafana.com/goroutine.port", "8181")],
            &[("app", "pprof", 6060), ("app", "x", 8181)],
        );
        let s = PprofSpec { port: Some(IntOrString::Int(9090)), ..spec() };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:8181/debug/pprof");
        assert_eq!(e.source, EndpointSource::Annotation);
        assert_eq!(e.container.as_deref(), Some("app"));
        assert!(e.notes.is_empty());
    }

    #[test]
    fn annotation_port_name_path_and_scheme() {
        let p = pod(
            Some("10.1.2.3"),
            &[
                ("profiles.grafana.com/goroutine.scrape", "true"),
                ("profiles.grafana.com/goroutine.port_name", "prof"),
                ("profiles.grafana.com/goroutine.path", "/internal/pprof/goroutine"),
                ("profiles.grafana.com/goroutine.scheme", "https"),
            ],
            &[("app", "http", 8080), ("sidecar", "prof", 4040)],
        );
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "https://10.1.2.3:4040/internal/pprof");
        assert_eq!(e.container.as_deref(), Some("sidecar"));
    }

    #[test]
    fn annotation_scrape_must_be_true() {
        let p = pod(
            Some("10.1.2.3"),
            &[("profiles.grafana.com/goroutine.scrape", "false"), ("profiles.grafana.com/goroutine.port", "8181")],
            &[("app", "pprof", 6060)],
        );
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.source, EndpointSource::NamedPort);
        assert_eq!(e.base_url, "http://10.1.2.3:6060/debug/pprof");
    }

    #[test]
    fn goroutine_annotations_preferred_over_other_types() {
        let p = pod(
            Some("10.1.2.3"),
            &[
                ("profiles.grafana.com/memory.scrape", "true"),
                ("profiles.grafana.com/memory.port", "7000"),
                ("profiles.grafana.com/goroutine.scrape", "true"),
                ("profiles.grafana.com/goroutine.port", "7001"),
            ],
            &[],
        );
        assert_eq!(resolve(&p, &spec()).unwrap().base_url, "http://10.1.2.3:7001/debug/pprof");
    }

    #[test]
    fn other_type_annotation_used_when_no_goroutine_one() {
        let p = pod(
            Some("10.1.2.3"),
            &[
                ("profiles.grafana.com/memory.scrape", "true"),
                ("profiles.grafana.com/memory.port", "7000"),
                ("profiles.grafana.com/memory.path", "/x/debug/pprof/allocs"),
            ],
            &[],
        );
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:7000/x/debug/pprof");
        assert_eq!(e.source, EndpointSource::Annotation);
    }

    #[test]
    fn annotation_without_port_uses_pyroscope_default_port_names() {
        let p = pod(
            Some("10.1.2.3"),
            &[("profiles.grafana.com/goroutine.scrape", "true")],
            &[("app", "http", 8080), ("app", "http-metrics", 9100)],
        );
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:9100/debug/pprof");
        assert_eq!(e.source, EndpointSource::Annotation);
    }

    #[test]
    fn annotation_without_any_port_falls_through_with_note() {
        let p = pod(Some("10.1.2.3"), &[("profiles.grafana.com/goroutine.scrape", "true")], &[("app", "pprof", 6060)]);
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.source, EndpointSource::NamedPort);
        assert_eq!(e.notes.len(), 1, "{:?}", e.notes);
    }

    #[test]
    fn annotation_host_in_port_or_path_is_ignored() {
        let p = pod(
            Some("10.1.2.3"),
            &[
                ("profiles.grafana.com/goroutine.scrape", "true"),
                ("profiles.grafana.com/goroutine.port", "169.254.169.254:80"),
                ("profiles.grafana.com/goroutine.port_name", "pprof"),
                ("profiles.grafana.com/goroutine.path", "http://169.254.169.254/latest/meta-data"),
            ],
            &[("app", "pprof", 6060)],
        );
        let e = resolve(&p, &spec()).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:6060/debug/pprof");
        assert_eq!(e.source, EndpointSource::Annotation);
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
        assert!(e.notes.iter().all(|n| n.starts_with("ignored")));
    }

    #[test]
    fn annotation_bad_paths_ignored() {
        for bad in ["//evil.com/debug/pprof", "/a/../b", "/debug/pprof?x=1", "debug/pprof", "/a@b"] {
            let p = pod(
                Some("10.1.2.3"),
                &[
                    ("profiles.grafana.com/goroutine.scrape", "true"),
                    ("profiles.grafana.com/goroutine.port", "6060"),
                    ("profiles.grafana.com/goroutine.path", bad),
                ],
                &[],
            );
            let e = resolve(&p, &spec()).unwrap();
            assert_eq!(e.base_url, "http://10.1.2.3:6060/debug/pprof", "{bad}");
            assert_eq!(e.notes.len(), 1, "{bad}");
        }
    }

    #[test]
    fn annotation_bad_scheme_ignored() {
        let p = pod(
            Some("10.1.2.3"),
            &[
                ("profiles.grafana.com/goroutine.scrape", "true"),
                ("profiles.grafana.com/goroutine.port", "6060"),
                ("profiles.grafana.com/goroutine.scheme", "gopher"),
            ],
            &[],
        );
        let s = PprofSpec { scheme: Scheme::Https, ..spec() };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "https://10.1.2.3:6060/debug/pprof");
        assert_eq!(e.notes.len(), 1);
    }

    #[test]
    fn annotation_path_prefix_forms() {
        assert_eq!(
            prefix_from_profile_path("/debug/pprof/goroutine", &["goroutine"]).as_deref(),
            Some("/debug/pprof/")
        );
        assert_eq!(prefix_from_profile_path("/debug/pprof/", &["goroutine"]).as_deref(), Some("/debug/pprof"));
        // a prefix that merely ends in the same letters is not split
        assert_eq!(prefix_from_profile_path("/mygoroutine", &["goroutine"]).as_deref(), Some("/mygoroutine"));
        assert_eq!(normalize_prefix("//debug//pprof/"), "/debug/pprof".to_string());
        assert_eq!(normalize_prefix("/"), String::new());
    }

    #[test]
    fn root_path_prefix() {
        let p = pod(Some("10.1.2.3"), &[], &[("app", "pprof", 6060)]);
        let s = PprofSpec { path: "/".into(), ..spec() };
        let e = resolve(&p, &s).unwrap();
        assert_eq!(e.base_url, "http://10.1.2.3:6060");
        assert_eq!(e.url("goroutine"), "http://10.1.2.3:6060/goroutine");
    }
}
