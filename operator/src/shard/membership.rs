//! The Kubernetes side of sharding: this replica's membership Lease (kept by kube-lease-manager), a
//! watch on the Leases of the operator's namespace, and the live member list published to the
//! controllers whenever it changes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, DeleteParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use super::assign::{self, Turn};
use crate::crd::AuditInProgress;

/// Membership Leases nobody renewed for this long belong to pods that are gone: deleted.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// How long joining may take before the operator gives up (the API is unreachable or RBAC is missing).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum ShardError {
    #[error("membership lease: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("membership lease: not held within {0:?} (reason: ShardJoinTimeout)")]
    JoinTimeout(Duration),
}

/// What a reconcile needs: who this replica is and who the members are now.
#[derive(Clone)]
pub struct ShardView {
    pub identity: String,
    members: watch::Receiver<Arc<Vec<String>>>,
}

impl ShardView {
    pub fn members(&self) -> Arc<Vec<String>> {
        self.members.borrow().clone()
    }

    /// This replica's turn for the audit `key` now.
    pub fn turn(&self, key: &str, in_progress: Option<&AuditInProgress>) -> Turn {
        assign::turn(key, &self.identity, &self.members(), in_progress, jiff::Timestamp::now())
    }

    /// One item per membership change: the controllers re-evaluate every audit on it.
    pub fn changes(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.members.clone(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        })
    }
}

/// This replica as a member: holds its Lease until [`Membership::leave`].
pub struct Membership {
    view: ShardView,
    lease: Option<(
        watch::Receiver<bool>,
        tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
    )>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Membership {
    /// Takes this replica's Lease (`prefix` + identity) and returns once this replica sees itself among
    /// the members, so its first reconciles already split the work with the others.
    pub async fn join(
        client: Client,
        namespace: &str,
        prefix: &str,
        identity: &str,
        lease_seconds: u64,
    ) -> Result<Membership, ShardError> {
        let duration = lease_seconds.max(3);
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), format!("{prefix}{identity}"))
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            .build()
            .await?;
        let (held, lease_task) = manager.watch().await;

        let leases: Api<Lease> = Api::namespaced(client, namespace);
        let (store, writer) = reflector::store();
        let reflect = watcher(leases.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each(|_| std::future::ready(()));
        let (tx, rx) = watch::channel(Arc::new(Vec::new()));
        let tick = Duration::from_millis(duration * 1000 / 5);
        let evaluate = tokio::spawn(publish_members(store, leases, prefix.to_string(), tick, tx));
        let view = ShardView { identity: identity.to_string(), members: rx };
        let membership =
            Membership { view, lease: Some((held, lease_task)), tasks: vec![tokio::spawn(reflect), evaluate] };

        let mut rx = membership.view.members.clone();
        let me = identity.to_string();
        let seen = tokio::time::timeout(JOIN_TIMEOUT, async move {
            let _ = rx.wait_for(|m| m.contains(&me)).await;
        })
        .await;
        if seen.is_err() {
            membership.leave().await;
            return Err(ShardError::JoinTimeout(JOIN_TIMEOUT));
        }
        info!(identity, members = ?membership.view.members(), "joined the shard");
        Ok(membership)
    }

    pub fn view(&self) -> ShardView {
        self.view.clone()
    }

    /// Releases and deletes this replica's Lease, so the others take its audits over at once instead of
    /// after the Lease expires.
    pub async fn leave(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some((held, task)) = self.lease.take() {
            // Closing the channel makes the manager release the Lease and return.
            drop(held);
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(Ok(_))) => info!(identity = %self.view.identity, "left the shard"),
                other => {
                    warn!(identity = %self.view.identity, result = ?other.map(|r| r.map(|m| m.is_ok())), "could not release the membership lease; it expires on its own")
                }
            }
        }
    }
}

/// Recomputes the live members on every tick (an expiry is not an event) and publishes changes; now
/// and then deletes membership Leases of replicas that are long gone.
async fn publish_members(
    store: Store<Lease>,
    api: Api<Lease>,
    prefix: String,
    tick: Duration,
    tx: watch::Sender<Arc<Vec<String>>>,
) {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        let leases = store.state();
        let now = jiff::Timestamp::now();
        let members = assign::live_members(&leases, &prefix, now);
        if **tx.borrow() != members {
            info!(members = ?members, "shard members changed");
            let _ = tx.send(Arc::new(members));
        }
        if sweep.elapsed() >= Duration::from_secs(60) {
            sweep = tokio::time::Instant::now();
            for name in assign::stale_leases(&leases, &prefix, now, STALE_AFTER) {
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => info!(lease = %name, "deleted the membership lease of a replica gone for good"),
                    Err(e) => tracing::debug!(lease = %name, error = %e, "could not delete a stale membership lease"),
                }
            }
        }
    }
}
