//! The `discover` step: which pods an audit selects, as plain functions over Pod objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use thiserror::Error;

use gohealth_core::finding::TargetRef;
use gohealth_core::target::{ContainerRestarts, Termination};

#[derive(Debug, Error, PartialEq)]
pub enum SelectorError {
    #[error("selector is empty: an audit never selects every pod")]
    Empty,
    #[error("unsupported selector operator {0:?}")]
    Operator(String),
    #[error("operator {0} needs values")]
    MissingValues(String),
}

impl SelectorError {
    pub fn reason(&self) -> &'static str {
        "InvalidSelector"
    }
}

/// A selected pod.
#[derive(Clone, Debug)]
pub struct Target {
    pub target: TargetRef,
    pub pod: Pod,
}

/// The label-selector query string the apiserver understands (`a=b,c in (d,e),!f`).
pub fn selector_string(sel: &LabelSelector) -> Result<String, SelectorError> {
    let mut parts = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        parts.push(format!("{k}={v}"));
    }
    for req in sel.match_expressions.iter().flatten() {
        parts.push(requirement_string(req)?);
    }
    if parts.is_empty() {
        return Err(SelectorError::Empty);
    }
    Ok(parts.join(","))
}

fn requirement_string(req: &LabelSelectorRequirement) -> Result<String, SelectorError> {
    let values = || -> Result<String, SelectorError> {
        match &req.values {
            Some(v) if !v.is_empty() => Ok(v.join(",")),
            _ => Err(SelectorError::MissingValues(req.operator.clone())),
        }
    };
    Ok(match req.operator.as_str() {
        "In" => format!("{} in ({})", req.key, values()?),
        "NotIn" => format!("{} notin ({})", req.key, values()?),
        "Exists" => req.key.clone(),
        "DoesNotExist" => format!("!{}", req.key),
        other => return Err(SelectorError::Operator(other.to_string())),
    })
}

/// Whether labels satisfy a selector (used to map Pod and Namespace events to audits).
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let mut any = false;
    for (k, v) in sel.match_labels.iter().flatten() {
        any = true;
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    for req in sel.match_expressions.iter().flatten() {
        any = true;
        let values = req.values.as_deref().unwrap_or_default();
        let ok = match req.operator.as_str() {
            "In" => labels.get(&req.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&req.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&req.key),
            "DoesNotExist" => !labels.contains_key(&req.key),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// Pods worth auditing: Running, with an IP, not being deleted. Sorted by namespace and name so status
/// and metrics are stable.
pub fn select_targets(pods: impl IntoIterator<Item = Pod>) -> Vec<Target> {
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
    fn selector_string_covers_all_operators() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "api")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["dev".into()]),
                },
                LabelSelectorRequirement { key: "go".into(), operator: "Exists".into(), values: None },
                LabelSelectorRequirement { key: "skip".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert_eq!(selector_string(&sel).unwrap(), "app=api,tier in (a,b),env notin (dev),go,!skip");
        assert!(selector_matches(&sel, &labels(&[("app", "api"), ("tier", "b"), ("go", "")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "api"), ("tier", "c"), ("go", "")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "api"), ("tier", "a"), ("go", ""), ("skip", "1")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "api"), ("tier", "a"), ("go", ""), ("env", "dev")])));
    }

    #[test]
    fn empty_selector_is_refused_and_matches_nothing() {
        let sel = LabelSelector::default();
        assert_eq!(selector_string(&sel), Err(SelectorError::Empty));
        assert!(!selector_matches(&sel, &labels(&[("a", "b")])));
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(selector_string(&bad), Err(SelectorError::MissingValues("In".into())));
    }

    #[test]
    fn only_running_pods_with_ip_are_targets() {
        let mut deleting = pod("a", "gone", "Running", Some("10.0.0.9"));
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T00:00:00Z".parse().unwrap()));
        let targets = select_targets(vec![
            pod("b", "two", "Running", Some("10.0.0.2")),
            pod("a", "one", "Running", Some("10.0.0.1")),
            pod("a", "pending", "Pending", None),
            pod("a", "noip", "Running", None),
            deleting,
        ]);
        let names: Vec<_> = targets.iter().map(|t| t.target.key()).collect();
        assert_eq!(names, vec!["a/one", "b/two"]);
    }
}
