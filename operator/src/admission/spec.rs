//! `spec.admission`: the admission-plugin audit of the cluster's kube-apiserver.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionSpec {
    /// Audit the kube-apiserver admission-plugin configuration. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Preview an upgrade: compute findings for this Kubernetes version (e.g. "1.25") instead of the running one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// Name of a ConfigMap in the audit's namespace whose `plugins.yaml` key extends or overrides
    /// the embedded knowledge base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_base_config_map: Option<String>,
}
