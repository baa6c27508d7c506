//! The knowledge base of benign idle wait sites: goroutines that widely used libraries park while the
//! object that owns them is alive (a workqueue worker waiting for items, an informer's listener waiting
//! for notifications, a connection's read loop waiting for bytes). A single snapshot of such a site is
//! no evidence of a leak however many goroutines wait there; growth across audits still is.
//!
//! The embedded list is `config/benign-sites.yaml`; `spec.checks.goroutineLeak.benignSites` adds
//! entries. Each entry names the upstream code that shows who owns the goroutine.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::site::normalize_function;

/// The embedded knowledge base (`config/benign-sites.yaml`).
pub const EMBEDDED: &str = include_str!("../../../../config/benign-sites.yaml");

/// One benign idle wait site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenignSite {
    /// The blocking site's function as gohealth reports it (type arguments as `[...]`); a trailing `*`
    /// matches any function with that prefix.
    pub function: String,
    /// What owns the goroutine and ends it (for the reader; not interpreted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// Upstream code showing the ownership (a URL at a pinned version).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Goroutines a healthy process keeps at this site at most (e.g. HTTP keep-alive loops of a few
    /// pooled connections). Above it the entry no longer explains the site. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl BenignSite {
    pub fn matches(&self, function: &str) -> bool {
        let pattern = normalize_function(&self.function);
        match pattern.strip_suffix('*') {
            Some(prefix) => function.starts_with(prefix),
            None => function == pattern,
        }
    }

    /// The entry explains `count` goroutines at `function`.
    pub fn explains(&self, function: &str, count: u64) -> bool {
        self.matches(function) && self.limit.is_none_or(|l| count <= l)
    }
}

#[derive(Debug, Error)]
pub enum BenignSitesError {
    #[error("benign-sites knowledge base does not parse: {0}")]
    Parse(String),
    #[error("benign-sites entry {index} has an empty function")]
    EmptyFunction { index: usize },
}

#[derive(Deserialize)]
struct File {
    sites: Vec<BenignSite>,
}

/// Parses a knowledge base in the `config/benign-sites.yaml` form.
pub fn parse(yaml: &str) -> Result<Vec<BenignSite>, BenignSitesError> {
    let file: File = serde_norway::from_str(yaml).map_err(|e| BenignSitesError::Parse(e.to_string()))?;
    if let Some(index) = file.sites.iter().position(|s| s.function.trim().is_empty()) {
        return Err(BenignSitesError::EmptyFunction { index });
    }
    Ok(file.sites)
}

/// The embedded entries (parsed once; a broken file is caught by the unit test, and leaves the list
/// empty rather than failing every audit).
pub fn embedded() -> &'static [BenignSite] {
    static KB: OnceLock<Vec<BenignSite>> = OnceLock::new();
    KB.get_or_init(|| parse(EMBEDDED).unwrap_or_default())
}

/// The entry (embedded first, then `extra`) that explains `count` goroutines at `function`.
pub fn explained_by<'a>(extra: &'a [BenignSite], function: &str, count: u64) -> Option<&'a BenignSite> {
    embedded().iter().chain(extra.iter()).find(|e| e.explains(function, count))
}

/// An entry matches `function` but `count` is above its limit.
pub fn over_limit<'a>(extra: &'a [BenignSite], function: &str, count: u64) -> Option<&'a BenignSite> {
    embedded().iter().chain(extra.iter()).find(|e| e.matches(function) && !e.explains(function, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_parses_and_every_entry_is_sourced() {
        let kb = parse(EMBEDDED).unwrap();
        assert!(kb.len() >= 10);
        for e in &kb {
            assert!(e.source.starts_with("https://"), "{}: no source", e.function);
            assert!(!e.owner.is_empty(), "{}: no owner", e.function);
        }
    }

    #[test]
    fn matching_normalizes_shapes_prefixes_and_limits() {
        let e = BenignSite {
            function: "k8s.io/client-go/util/workqueue.(*Typed[go.shape.string]).Get".into(),
            owner: String::new(),
            source: String::new(),
            limit: None,
        };
        assert!(e.matches("k8s.io/client-go/util/workqueue.(*Typed[...]).Get"));
        let p = BenignSite { function: "net/http.(*persistConn).*".into(), limit: Some(500), ..e.clone() };
        assert!(p.explains("net/http.(*persistConn).readLoop", 10));
        assert!(!p.explains("net/http.(*persistConn).readLoop", 5000));
        assert!(over_limit(std::slice::from_ref(&p), "net/http.(*persistConn).readLoop", 5000).is_some());
        assert!(explained_by(&[], "k8s.io/client-go/util/workqueue.(*Typed[...]).Get", 284).is_some());
        assert!(explained_by(&[], "main.worker", 284).is_none());
        assert!(matches!(parse("sites: [{function: ''}]"), Err(BenignSitesError::EmptyFunction { index: 0 })));
    }
}
