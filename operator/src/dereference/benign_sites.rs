//! `spec.checks.benignSitesConfigMap`: more benign idle wait sites, shared by many audits through one
//! ConfigMap (key `benign-sites.yaml`, in the form of config/benign-sites.yaml), read once per audit.

use kube::Client;

use gohealth_core::diagnose::benign::{self, BenignSite};

use super::credentials::{self, ReadError};
use crate::status::{CONDITION_BENIGN_SITES, ConditionUpdate};

/// The ConfigMap key holding the entries.
pub const BENIGN_SITES_KEY: &str = "benign-sites.yaml";

/// The entries of the ConfigMap, and the condition that says whether they were read. A ConfigMap that
/// cannot be read or parsed adds nothing: the embedded list and `benignSites` of the spec still apply.
pub async fn read(client: &Client, namespace: &str, name: &str) -> (Vec<BenignSite>, ConditionUpdate) {
    let yaml = credentials::config_map_value(client, namespace, name, BENIGN_SITES_KEY).await;
    outcome(namespace, name, yaml)
}

/// Pure: what was read becomes entries and a condition with a stable reason.
pub fn outcome(namespace: &str, name: &str, yaml: Result<String, ReadError>) -> (Vec<BenignSite>, ConditionUpdate) {
    let condition = |status, reason: &str, message: String| ConditionUpdate {
        type_: CONDITION_BENIGN_SITES,
        status,
        reason: reason.into(),
        message,
    };
    match yaml {
        Err(e @ ReadError::ConfigMapKey { .. }) => (Vec::new(), condition(false, "ConfigMapKeyMissing", e.to_string())),
        Err(e) => (Vec::new(), condition(false, "ConfigMapUnreadable", e.to_string())),
        Ok(yaml) => match benign::parse(&yaml) {
            Ok(sites) => {
                let message = format!("{} benign site(s) from ConfigMap {namespace}/{name}", sites.len());
                (sites, condition(true, "Loaded", message))
            }
            Err(e) => {
                (Vec::new(), condition(false, "InvalidBenignSites", format!("ConfigMap {namespace}/{name}: {e}")))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_or_a_typed_reason() {
        let yaml = "sites:\n  - function: \"example.com/pool.(*Pool).worker\"\n    owner: a pool worker\n    source: https://example.com\n";
        let (sites, c) = outcome("ops", "sites", Ok(yaml.into()));
        assert_eq!((sites.len(), c.status, c.reason.as_str()), (1, true, "Loaded"));
        assert!(sites[0].matches("example.com/pool.(*Pool).worker"));

        let (sites, c) = outcome("ops", "sites", Ok("sites: [{function: \"\"}]".into()));
        assert_eq!((sites.len(), c.status, c.reason.as_str()), (0, false, "InvalidBenignSites"));
        let (_, c) = outcome("ops", "sites", Ok("{not yaml".into()));
        assert_eq!(c.reason, "InvalidBenignSites");

        let missing = ReadError::ConfigMapKey { namespace: "ops".into(), name: "sites".into(), key: BENIGN_SITES_KEY };
        let (_, c) = outcome("ops", "sites", Err(missing));
        assert_eq!(c.reason, "ConfigMapKeyMissing");
        assert!(c.message.contains("benign-sites.yaml"), "{}", c.message);
        let gone = ReadError::ConfigMap { namespace: "ops".into(), name: "sites".into(), message: "not found".into() };
        assert_eq!(outcome("ops", "sites", Err(gone)).1.reason, "ConfigMapUnreadable");
    }
}
