//! The nodes whose kubelets a ClusterGoHealthAudit audits (`spec.controlPlane.kubelets`): listed once per
//! audit cycle, only when asked for (pods come from the caches; nodes are few and change rarely).

use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams};

pub async fn nodes(client: &Client) -> Result<Vec<Node>, kube::Error> {
    Ok(Api::<Node>::all(client.clone()).list(&ListParams::default()).await?.items)
}
