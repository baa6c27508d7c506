//! The credentials an audit's `spec.pprof` names (a bearer token and a CA bundle from Secrets in the
//! audit's namespace, or the operator's own ServiceAccount token) and the knowledge-base ConfigMap of
//! `spec.admission`. Read once per audit cycle; nothing else in the cycle talks to the API.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use thiserror::Error;

use gohealth_core::admission::kb::KB_CONFIGMAP_KEY;

use crate::crd::SecretKeyRef;
use crate::validate::{ControlPlaneConfig, PprofConfig, Scope};

const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A referenced object that cannot be read. The message names the object and the key.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReadError {
    #[error("secret {name}: {message}")]
    Secret { name: String, message: String },
    #[error("secret {name} has no key {key}")]
    SecretKey { name: String, key: String },
    #[error("service account token: {0}")]
    ServiceAccountToken(String),
    #[error("ConfigMap {namespace}/{name}: {message}")]
    ConfigMap { namespace: String, name: String, message: String },
    #[error("ConfigMap {namespace}/{name} has no key {key}")]
    ConfigMapKey { namespace: String, name: String, key: &'static str },
}

/// What the scraper sends. Debug never prints the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub bearer_token: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// Reads the token and CA bundle `pprof` names.
pub async fn read(client: &Client, namespace: &str, pprof: &PprofConfig) -> Result<Credentials, ReadError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let bearer_token = match (&pprof.bearer_token_secret, pprof.service_account_token) {
        (Some(r), _) => Some(String::from_utf8_lossy(&secret_key(&secrets, r).await?).trim().to_string()),
        // Defence in depth: `validate` refuses the field for a namespaced audit already.
        (None, true) if pprof.scope != Scope::Cluster => {
            return Err(ReadError::ServiceAccountToken("only a ClusterGoHealthAudit may send it".into()));
        }
        (None, true) => Some(service_account_token()?),
        (None, false) => None,
    };
    let ca_pem = match &pprof.ca_secret {
        Some(r) => Some(secret_key(&secrets, r).await?),
        None => None,
    };
    Ok(Credentials { bearer_token, ca_pem })
}

/// The operator's own ServiceAccount token, read each cycle: the kubelet rotates the projected token.
pub fn service_account_token() -> Result<String, ReadError> {
    std::fs::read_to_string(SERVICE_ACCOUNT_TOKEN)
        .map(|t| t.trim().to_string())
        .map_err(|e| ReadError::ServiceAccountToken(format!("{SERVICE_ACCOUNT_TOKEN}: {e}")))
}

/// What the control-plane targets of a ClusterGoHealthAudit are scraped with: the operator's token, and
/// the CA bundle `spec.controlPlane.tls.caSecret` names (a Secret in the operator's namespace).
pub async fn control_plane(
    client: &Client,
    namespace: &str,
    cfg: &ControlPlaneConfig,
) -> Result<Credentials, ReadError> {
    let bearer_token = Some(service_account_token()?);
    let ca_pem = match &cfg.ca_secret {
        Some(r) => Some(secret_key(&Api::namespaced(client.clone(), namespace), r).await?),
        None => None,
    };
    Ok(Credentials { bearer_token, ca_pem })
}

async fn secret_key(secrets: &Api<Secret>, r: &SecretKeyRef) -> Result<Vec<u8>, ReadError> {
    let secret =
        secrets.get(&r.name).await.map_err(|e| ReadError::Secret { name: r.name.clone(), message: e.to_string() })?;
    secret
        .data
        .and_then(|d| d.get(&r.key).map(|b| b.0.clone()))
        .ok_or_else(|| ReadError::SecretKey { name: r.name.clone(), key: r.key.clone() })
}

/// `plugins.yaml` of the knowledge-base ConfigMap named in the spec.
pub async fn knowledge_base(client: &Client, namespace: &str, name: &str) -> Result<String, ReadError> {
    config_map_value(client, namespace, name, KB_CONFIGMAP_KEY).await
}

/// `key` of ConfigMap `namespace/name`.
pub async fn config_map_value(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &'static str,
) -> Result<String, ReadError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api.get(name).await.map_err(|e| ReadError::ConfigMap {
        namespace: namespace.into(),
        name: name.into(),
        message: e.to_string(),
    })?;
    cm.data.and_then(|mut d| d.remove(key)).ok_or_else(|| ReadError::ConfigMapKey {
        namespace: namespace.into(),
        name: name.into(),
        key,
    })
}

/// The CA bundle a kube client configuration trusts, as PEM: the in-cluster file when there is one, else
/// the kubeconfig's certificates. None: the system roots.
pub fn api_ca_pem(config: &kube::Config) -> Option<Vec<u8>> {
    if let Some(pem) = config.root_cert_file.as_ref().and_then(|f| std::fs::read(f).ok()) {
        return Some(pem);
    }
    let certs: Vec<pem::Pem> =
        config.root_cert.iter().flatten().map(|der| pem::Pem::new("CERTIFICATE", der.clone())).collect();
    (!certs.is_empty()).then(|| pem::encode_many(&certs).into_bytes())
}
