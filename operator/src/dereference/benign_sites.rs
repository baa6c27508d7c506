//! `spec.checks.benignSitesConfigMap`: more benign idle wait sites, shared by many audits through one
//! ConfigMap (key `benign-sites.yaml`, in the form of config/benign-sites.yaml), read once per audit.

use kube::Client;

use gohealth_core::diagnose::benign::{self, BenignSite};

use super::credentials::{self, ReadError};

/// The ConfigMap key holding the entries.
pub const BENIGN_SITES_KEY: &str = "benign-sites.yaml";

/// What reading the ConfigMap gave: its entries (none when it could not be read or parsed: the embedded
/// list and `benignSites` of the spec still apply), and whether, why and what for the condition
/// BenignSitesLoaded.
#[derive(Debug)]
pub struct Read {
    pub sites: Vec<BenignSite>,
    pub loaded: bool,
    pub reason: &'static str,
    pub message: String,
}

pub async fn read(client: &Client, namespace: &str, name: &str) -> Read {
    let yaml = credentials::config_map_value(client, namespace, name, BENIGN_SITES_KEY).await;
    outcome(namespace, name, yaml)
}

/// Pure: what was read becomes entries and a stable reason.
pub fn outcome(namespace: &str, name: &str, yaml: Result<String, ReadError>) -> Read {
    let failed = |reason, message| Read { sites: Vec::new(), loaded: false, reason, message };
    match yaml {
        Err(e @ ReadError::ConfigMapKey { .. }) => failed("ConfigMapKeyMissing", e.to_string()),
        Err(e) => failed("ConfigMapUnreadable", e.to_string()),
        Ok(yaml) => match benign::parse(&yaml) {
            Ok(sites) => {
                let message = format!("{} benign site(s) from ConfigMap {namespace}/{name}", sites.len());
                Read { sites, loaded: true, reason: "Loaded", message }
            }
            Err(e) => failed("InvalidBenignSites", format!("ConfigMap {namespace}/{name}: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_or_a_typed_reason() {
        let yaml = "sites:\n  - function: \"example.com/pool.(*Pool).worker\"\n    owner: a pool worker\n    source: https://example.com\n";
        let c = outcome("ops", "sites", Ok(yaml.into()));
        assert_eq!((c.sites.len(), c.loaded, c.reason), (1, true, "Loaded"));
        assert!(c.sites[0].matches("example.com/pool.(*Pool).worker"));

        let c = outcome("ops", "sites", Ok("sites: [{function: \"\"}]".into()));
        assert_eq!((c.sites.len(), c.loaded, c.reason), (0, false, "InvalidBenignSites"));
        let c = outcome("ops", "sites", Ok("{not yaml".into()));
        assert_eq!(c.reason, "InvalidBenignSites");

        let missing = ReadError::ConfigMapKey { namespace: "ops".into(), name: "sites".into(), key: BENIGN_SITES_KEY };
        let c = outcome("ops", "sites", Err(missing));
        assert_eq!(c.reason, "ConfigMapKeyMissing");
        assert!(c.message.contains("benign-sites.yaml"), "{}", c.message);
        let gone = ReadError::ConfigMap { namespace: "ops".into(), name: "sites".into(), message: "not found".into() };
        assert_eq!(outcome("ops", "sites", Err(gone)).reason, "ConfigMapUnreadable");
    }
}
