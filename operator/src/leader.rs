//! Leader election through a coordination.k8s.io Lease (kube-lease-manager): with `replicas > 1` only
//! the leader audits and writes status. Losing the lease ends the process; Kubernetes restarts it as a
//! standby, which is simpler and safer than stopping an audit half-way.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tracing::{error, info};

/// Holds the lease while alive.
pub struct LeaseGuard {
    _task: tokio::task::JoinHandle<()>,
}

/// Wait until this replica holds the lease.
pub async fn acquire(
    client: Client,
    name: &str,
    namespace: &str,
    identity: &str,
) -> Result<LeaseGuard, LeaseManagerError> {
    let manager =
        LeaseManagerBuilder::new(client, name).with_namespace(namespace).with_identity(identity).build().await?;
    let (mut leader, task) = manager.watch().await;
    info!(lease = name, namespace, identity, "waiting for leadership");
    while !*leader.borrow_and_update() {
        if leader.changed().await.is_err() {
            break;
        }
    }
    info!(lease = name, identity, "leading");
    let watch = tokio::spawn(async move {
        loop {
            if leader.changed().await.is_err() || !*leader.borrow_and_update() {
                error!("lost the lease; exiting so a standby can take over");
                std::process::exit(1);
            }
        }
    });
    // Keep the manager's renew task alive for as long as the guard lives.
    let _renew = task;
    Ok(LeaseGuard { _task: watch })
}
