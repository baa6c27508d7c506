//! Label selectors as the apiserver reads them: the query string for a list, and matching labels
//! in memory (the caches are filtered with the same semantics).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use thiserror::Error;

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

/// A selector with no labels and no expressions (selects everything where one is allowed).
pub fn is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
