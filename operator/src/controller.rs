//! The controller wiring: one watch per kind (GoHealthAudits and ClusterGoHealthAudits, each with its
//! controller; Pods and Namespaces through shared reflectors whose caches the audits select from and
//! whose events trigger the audits they concern), and one short reconcile for both kinds — validate,
//! select targets from the caches, run the cycle when due, apply status, publish metrics and Events.

use std::fmt::Debug;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use thiserror::Error;
use tracing::{info, warn};

use crate::crd::{
    AuditInProgress, ClusterGoHealthAudit, ControlPlaneSpec, GoHealthAudit, GoHealthAuditSpec, GoHealthAuditStatus,
};
use crate::cycle;
use crate::dereference::targets::{self, Selection};
use crate::events;
use crate::scrape;
use crate::scrape::http::Limiter;
use crate::shard::{Membership, ShardView, Turn};
use crate::state::{AuditState, AuditStates};
use crate::status;
use crate::validate::{self, InvalidSpec, Scope, validate};

/// How long a reconcile waits for the pod cache's first fill before it backs off.
const CACHE_WAIT: Duration = Duration::from_secs(30);

/// The one field manager that owns status.
pub const FIELD_MANAGER: &str = "gohealth-operator";

#[derive(clap::Parser, Debug, Clone)]
pub struct RunArgs {
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "GOHEALTH_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Take a Lease before auditing, so only one replica audits and writes status.
    #[arg(long, env = "GOHEALTH_LEADER_ELECTION", default_value_t = false, conflicts_with = "sharding")]
    pub leader_election: bool,
    /// Share the audits between all replicas: each holds a membership Lease (`<lease-name>-shard-<pod>`)
    /// and audits only the audits that hash to it; a replica leaving hands its audits to the others.
    #[arg(long, env = "GOHEALTH_SHARDING", default_value_t = false)]
    pub sharding: bool,
    /// Seconds a membership Lease stays valid without renewal: how soon a killed replica's audits move.
    #[arg(long, env = "GOHEALTH_SHARD_LEASE_SECONDS", default_value_t = 15)]
    pub shard_lease_seconds: u64,
    /// Name of the leader-election Lease, and prefix of the membership Leases.
    #[arg(long, env = "GOHEALTH_LEASE_NAME", default_value = "gohealth-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Export per-target goroutine series.
    #[arg(long, env = "GOHEALTH_PER_TARGET_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub per_target_metrics: bool,
    /// Most per-target series exported.
    #[arg(long, env = "GOHEALTH_MAX_TARGET_SERIES", default_value_t = 2000)]
    pub max_target_series: usize,
    /// Scrapes in flight across all audits.
    #[arg(long, env = "GOHEALTH_SCRAPE_CONCURRENCY", default_value_t = 16)]
    pub scrape_concurrency: usize,
    /// Log format: json or text.
    #[arg(long, env = "GOHEALTH_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

#[derive(Debug, Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] InvalidSpec),
    #[error("audit has no namespace")]
    NoNamespace,
    #[error("the pod cache is not ready yet")]
    CacheNotReady,
    #[error("serializing status: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Stable, bounded category for metric labels and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            // A field the audit's kind may not use has its own reason (e.g. NamespaceSelectorNotAllowed).
            Error::InvalidSpec(e) => e.reason,
            Error::NoNamespace => "InvalidSpec",
            Error::CacheNotReady => "CacheNotReady",
            Error::Serialize(_) => "SerializeError",
        }
    }
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Scrapes in flight across all audits.
    pub limiter: Limiter,
    /// Pods and namespaces as the reflectors last saw them: an audit never lists pods itself.
    pub pods: Store<Pod>,
    pub namespaces: Store<Namespace>,
    /// The audits themselves (the controllers' own caches), to drop the state of deleted ones.
    pub audits: Store<GoHealthAudit>,
    pub cluster_audits: Store<ClusterGoHealthAudit>,
    pub states: AuditStates,
    /// Where the Secrets and ConfigMaps a ClusterGoHealthAudit names are read (the operator's namespace).
    pub operator_namespace: String,
    /// The apiserver's addresses: never a target of a namespaced audit.
    pub apiserver_addresses: Vec<IpAddr>,
    /// The API connection's URL and CA bundle (PEM): where `spec.controlPlane.apiServer` is scraped.
    pub api_url: String,
    pub api_ca_pem: Option<Vec<u8>>,
    /// With `--sharding`: this replica and the live members; it audits only what hashes to it.
    pub shard: Option<ShardView>,
}

/// What the one pipeline needs from either kind of audit.
pub trait AuditKind:
    Resource<DynamicType = ()> + Clone + Debug + serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static
{
    const SCOPE: Scope;
    const KIND: &'static str;
    fn spec(&self) -> &GoHealthAuditSpec;
    fn status(&self) -> Option<&GoHealthAuditStatus>;
    /// `spec.controlPlane`: the cluster-scoped kind only.
    fn control_plane(&self) -> Option<&ControlPlaneSpec> {
        None
    }
    /// The API of this object (namespaced or cluster-wide).
    fn api(client: Client, namespace: Option<&str>) -> Api<Self>;
}

impl AuditKind for GoHealthAudit {
    const SCOPE: Scope = Scope::Namespaced;
    const KIND: &'static str = "GoHealthAudit";
    fn spec(&self) -> &GoHealthAuditSpec {
        &self.spec
    }
    fn status(&self) -> Option<&GoHealthAuditStatus> {
        self.status.as_ref()
    }
    fn api(client: Client, namespace: Option<&str>) -> Api<Self> {
        Api::namespaced(client, namespace.unwrap_or_default())
    }
}

impl AuditKind for ClusterGoHealthAudit {
    const SCOPE: Scope = Scope::Cluster;
    const KIND: &'static str = "ClusterGoHealthAudit";
    fn spec(&self) -> &GoHealthAuditSpec {
        &self.spec.audit
    }
    fn status(&self) -> Option<&GoHealthAuditStatus> {
        self.status.as_ref()
    }
    fn control_plane(&self) -> Option<&ControlPlaneSpec> {
        self.spec.control_plane.as_ref()
    }
    fn api(client: Client, _namespace: Option<&str>) -> Api<Self> {
        Api::all(client)
    }
}

/// The state key of an audit: `namespace/name`, and `/name` for the cluster-scoped kind.
pub fn audit_key(namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", namespace.unwrap_or_default())
}

pub fn main(args: RunArgs) -> ExitCode {
    crate::allocator::return_large_buffers();
    crate::telemetry::init_tracing(args.log_format != "text");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("sharding: {0}")]
    Shard(#[from] crate::shard::ShardError),
    #[error("scrape client: {0}")]
    Collector(String),
    #[error("metrics server: {0}")]
    Io(#[from] std::io::Error),
    /// The /metrics, /healthz, /readyz address cannot be served: without them the kubelet and Prometheus
    /// are blind, so the process stops instead of running on.
    #[error("cannot serve /metrics, /healthz, /readyz on {addr}: {source}")]
    AdminBind { addr: SocketAddr, source: std::io::Error },
    #[error("the /metrics, /healthz, /readyz server stopped: {0}")]
    AdminStopped(String),
    #[error("the {0} watch cannot be shared")]
    SharedWatch(&'static str),
}

/// Buffer of the shared pod/namespace event streams (each controller reads every event).
const SHARED_STREAM_BUFFER: usize = 1024;

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    // Bound first: when the address is taken (e.g. the previous process still drains), exit non-zero now.
    let addr = args.metrics_addr;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| RunError::AdminBind { addr, source })?;
    let config = kube::Config::infer().await.map_err(|e| RunError::Kube(kube::Error::InferConfig(e)))?;
    let apiserver_addresses =
        apiserver_addresses(config.cluster_url.host(), config.cluster_url.port_u16().unwrap_or(443)).await;
    let api_url = config.cluster_url.to_string();
    // Read once: the in-cluster CA file changes only when the cluster CA rotates.
    let api_ca_pem = crate::dereference::credentials::api_ca_pem(&config);
    let client = Client::try_from(config)?;
    let metrics = Arc::new(crate::metrics::Metrics::new(crate::metrics::MetricsOptions {
        per_target_series: args.per_target_metrics,
        max_target_series: args.max_target_series,
    }));
    let health = Arc::new(crate::telemetry::Health::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin = {
        let metrics = metrics.clone();
        let health = health.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            crate::telemetry::serve_on(listener, metrics, health, shutdown).await
        })
    };

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("gohealth-{}", std::process::id()));
    let audits: Api<GoHealthAudit> = Api::all(client.clone());
    let cluster_audits: Api<ClusterGoHealthAudit> = Api::all(client.clone());
    // First successful list: the CRDs are installed and RBAC allows us to read audits. A standby replica
    // is ready too (it serves metrics and can take over); only the leader audits.
    audits.list(&ListParams::default().limit(1)).await?;
    // Helm never upgrades CRDs: after an upgrade from a release without the cluster-scoped kind, serve
    // the namespaced kind alone (and say so) rather than not at all.
    let cluster_kind = match cluster_audits.list(&ListParams::default().limit(1)).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            warn!("the ClusterGoHealthAudit CRD is not installed: serving GoHealthAudits only (docs/install.md)");
            false
        }
        Err(e) => return Err(e.into()),
    };
    health.set_ready();
    let _lease = if args.leader_election {
        Some(crate::leader::acquire(client.clone(), &args.lease_name, &args.lease_namespace, &identity).await?)
    } else {
        None
    };
    let membership = if args.sharding {
        let prefix = format!("{}-shard-", args.lease_name);
        Some(
            Membership::join(client.clone(), &args.lease_namespace, &prefix, &identity, args.shard_lease_seconds)
                .await?,
        )
    } else {
        None
    };

    let limiter = Limiter::new(args.scrape_concurrency.max(1));
    let recorder =
        Recorder::new(client.clone(), Reporter { controller: FIELD_MANAGER.into(), instance: Some(identity) });

    // One watch per kind, shared by both controllers: the reflectors fill the caches audits select from,
    // and the same events trigger the audits a change concerns.
    let (pods, pod_writer) = reflector::store_shared::<Pod>(SHARED_STREAM_BUFFER);
    // A subscriber that is never read would stall the shared stream: one per controller that runs.
    let pod_subs = (
        pod_writer.subscribe().ok_or(RunError::SharedWatch("pod"))?,
        if cluster_kind { Some(pod_writer.subscribe().ok_or(RunError::SharedWatch("pod"))?) } else { None },
    );
    let pod_watch = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default().any_semantic())
        .default_backoff()
        // The cache holds every pod of the cluster: keep out what no audit reads (managedFields are
        // often the largest part of a pod, ~10 MiB per 1,000 pods measured in bench/scale).
        .modify(trim_pod)
        .reflect_shared(pod_writer)
        .for_each(|_| std::future::ready(()));
    let (namespaces, ns_writer) = reflector::store_shared::<Namespace>(SHARED_STREAM_BUFFER);
    let ns_subs = (
        ns_writer.subscribe().ok_or(RunError::SharedWatch("namespace"))?,
        if cluster_kind { Some(ns_writer.subscribe().ok_or(RunError::SharedWatch("namespace"))?) } else { None },
    );
    let ns_watch = watcher(Api::<Namespace>::all(client.clone()), watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect_shared(ns_writer)
        .for_each(|_| std::future::ready(()));

    let controller = Controller::new(audits, watcher::Config::default().any_semantic());
    let cluster_controller = Controller::new(cluster_audits, watcher::Config::default().any_semantic());
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder,
        metrics,
        limiter,
        pods,
        namespaces: namespaces.clone(),
        audits: controller.store(),
        cluster_audits: cluster_controller.store(),
        states: AuditStates::default(),
        operator_namespace: args.lease_namespace.clone(),
        apiserver_addresses,
        api_url,
        api_ca_pem,
        shard: membership.as_ref().map(Membership::view),
    });
    info!("gohealth operator started");
    let namespaced = drive(controller, ctx.clone(), pod_subs.0, ns_subs.0);
    let cluster = async {
        if let (Some(pods), Some(namespaces)) = (pod_subs.1, ns_subs.1) {
            drive(cluster_controller, ctx.clone(), pods, namespaces).await;
        }
    };
    let result = tokio::select! {
        _ = futures::future::join(namespaced, cluster) => Ok(()),
        _ = pod_watch => Ok(()),
        _ = ns_watch => Ok(()),
        served = &mut admin => Err(RunError::AdminStopped(match served {
            Ok(Ok(())) => "stopped".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        })),
    };
    if let Some(membership) = membership {
        membership.leave().await;
    }
    let _ = stop_tx.send(true);
    info!("gohealth operator stopped");
    result
}

/// What the pod cache does not need: server-side-apply bookkeeping and kubectl's copy of the object.
fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The apiserver's IP addresses, from the client's URL (resolved when it is a name). Best effort: a
/// name that does not resolve adds nothing (host-network and node-address rules still apply).
async fn apiserver_addresses(host: Option<&str>, port: u16) -> Vec<IpAddr> {
    let Some(host) = host else { return Vec::new() };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs one kind's controller until shutdown, triggered by its own objects and the shared pod and
/// namespace events.
async fn drive<K: AuditKind>(
    controller: Controller<K>,
    ctx: Arc<Context>,
    pod_events: impl futures::Stream<Item = Arc<Pod>> + Send + 'static,
    ns_events: impl futures::Stream<Item = Arc<Namespace>> + Send + 'static,
) {
    let audit_store = controller.store();
    let for_pods = (audit_store.clone(), ctx.namespaces.clone());
    let for_namespaces = audit_store;
    let mut controller = controller
        .watches_shared_stream(pod_events, move |pod: Arc<Pod>| {
            audits_selecting(&for_pods.0.state(), &for_pods.1, &pod)
        })
        .watches_shared_stream(ns_events, move |_: Arc<Namespace>| {
            audits_with_namespace_selector(&for_namespaces.state())
        });
    // A member joining or leaving changes who owns what: every audit is looked at again.
    if let Some(shard) = &ctx.shard {
        controller = controller.reconcile_all_on(shard.changes());
    }
    controller
        .shutdown_on_signal()
        .run(reconcile::<K>, error_policy::<K>, ctx.clone())
        .for_each(|res| {
            let ctx = ctx.clone();
            async move {
                match res {
                    Ok((obj, _)) => tracing::debug!(audit = %obj, "reconciled"),
                    // A deleted audit is queued once more and no longer found: drop what we kept for it.
                    Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                        let key = audit_key(obj.namespace.as_deref(), &obj.name);
                        ctx.states.forget(&key, &ctx.metrics).await;
                        info!(audit = %obj, "audit deleted; its series and history are dropped");
                    }
                    Err(e) => tracing::debug!(error = %e, "reconcile failed"),
                }
            }
        })
        .await;
}

/// Audits a pod event concerns: namespace (own, or by namespace selector) and pod selector match.
fn audits_selecting<K: AuditKind>(audits: &[Arc<K>], namespaces: &Store<Namespace>, pod: &Pod) -> Vec<ObjectRef<K>> {
    let namespace = namespace_lookup(namespaces);
    audits
        .iter()
        .filter(|a| selection(a.as_ref()).is_some_and(|by| by.concerns(pod, &namespace)))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// Audits that select namespaces by label: a namespace's labels changing may change their targets.
fn audits_with_namespace_selector<K: AuditKind>(audits: &[Arc<K>]) -> Vec<ObjectRef<K>> {
    audits.iter().filter(|a| a.spec().namespace_selector.is_some()).map(|a| ObjectRef::from_obj(a.as_ref())).collect()
}

/// A namespace by name from the cache (a hash lookup; nothing is copied).
fn namespace_lookup(store: &Store<Namespace>) -> impl Fn(&str) -> Option<Arc<Namespace>> + '_ {
    |name| store.get(&ObjectRef::new(name))
}

/// What an audit selects: a namespaced audit its own namespace only (even if a namespace selector was
/// stored before the schema forbade it: `validate` refuses that audit, and its events select nothing
/// outside); a cluster audit by namespace selector, or every namespace.
fn selection<K: AuditKind>(audit: &K) -> Option<Selection<'_>> {
    let spec = audit.spec();
    Some(match K::SCOPE {
        Scope::Namespaced => Selection {
            namespace: Some(audit.meta().namespace.as_deref()?),
            selector: &spec.selector,
            namespace_selector: None,
        },
        Scope::Cluster => Selection {
            namespace: None,
            selector: &spec.selector,
            namespace_selector: spec.namespace_selector.as_ref(),
        },
    })
}

fn error_policy<K: AuditKind>(audit: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(audit = %audit.name_any(), error = %error, "reconcile failed");
    // Invalid specs wait for an edit (which triggers a reconcile anyway); API errors back off.
    match error {
        Error::InvalidSpec(_) | Error::NoNamespace => Action::requeue(Duration::from_secs(300)),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

async fn reconcile<K: AuditKind>(audit: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = audit.namespace();
    if K::SCOPE == Scope::Namespaced && namespace.is_none() {
        return Err(Error::NoNamespace);
    }
    let name = audit.name_any();
    let key = audit_key(namespace.as_deref(), &name);
    if let Some(shard) = &ctx.shard {
        // What another replica audits leaves nothing here: no state, no series (its owner exports them).
        let turn = shard.turn(&key, audit.status().and_then(|s| s.in_progress.as_ref()));
        if turn != Turn::Mine {
            ctx.states.forget(&key, &ctx.metrics).await;
            return Ok(match turn {
                Turn::Wait(wait) => Action::requeue(wait),
                _ => Action::await_change(),
            });
        }
    }
    // The state is taken out of the shared map for the reconcile, so audits of different objects run in
    // parallel (the controller never reconciles one object twice at once).
    let mut state =
        ctx.states.take(&key, &ctx.metrics, namespace.as_deref().unwrap_or_default(), &name, audit.status()).await;
    let last_audit = state.last_audit;
    let result = reconcile_inner(audit.as_ref(), &ctx, namespace.as_deref(), &key, &mut state).await;
    let audited = state.last_audit != last_audit;
    match &result {
        Ok(_) => ctx.metrics.record_reconcile(&mut state.series, started.elapsed().as_secs_f64(), None),
        Err(e) => {
            ctx.metrics.record_reconcile(&mut state.series, 0.0, Some(e.category()));
            // Tell the user on the object itself, not only in our logs.
            let now = Time(jiff::Timestamp::now());
            let status =
                status::failed_status(audit.status(), audit.meta().generation, e.category(), e.to_string(), &now);
            if let Err(pe) = patch_status::<K>(&ctx.client, namespace.as_deref(), &name, &status).await {
                warn!(error = %pe, "could not record the failure in status");
            }
        }
    }
    ctx.states.put(key.clone(), state).await;
    // A deletion whose event was missed still ends its audit's state, checked once per audit run (not on
    // every pod event): states whose audit is in neither controller's cache are dropped.
    if audited {
        let gone = |k: &str| {
            k.split_once('/').is_some_and(|(ns, name)| match ns {
                "" => ctx.cluster_audits.get(&ObjectRef::new(name)).is_none(),
                ns => ctx.audits.get(&ObjectRef::new(name).within(ns)).is_none(),
            })
        };
        ctx.states.retain(|k| k == key || !gone(k), &ctx.metrics).await;
    }
    result
}

/// validate → dereference (targets from the caches) → due? → cycle → status → metrics → events.
async fn reconcile_inner<K: AuditKind>(
    audit: &K,
    ctx: &Context,
    namespace: Option<&str>,
    key: &str,
    state: &mut AuditState,
) -> Result<Action, Error> {
    let mut cfg = validate(audit.spec(), K::SCOPE)?;
    if let Some(cp) = audit.control_plane() {
        cfg.control_plane = Some(validate::control_plane(cp)?);
    }
    // The staleness alert compares the last successful audit against twice this interval.
    ctx.metrics.set_interval(&mut state.series, cfg.interval.as_secs_f64());
    // The caches are filled once at start; until then an audit would see no targets at all.
    wait_ready(&ctx.pods).await?;
    if cfg.namespace_selector.is_some() {
        wait_ready(&ctx.namespaces).await?;
    }
    let by = match K::SCOPE {
        Scope::Namespaced => Selection { namespace, selector: &cfg.selector, namespace_selector: None },
        Scope::Cluster => {
            Selection { namespace: None, selector: &cfg.selector, namespace_selector: cfg.namespace_selector.as_ref() }
        }
    };
    let all_pods = ctx.pods.state();
    let targets = targets::select(&all_pods, &namespace_lookup(&ctx.namespaces), &by);
    if K::SCOPE == Scope::Namespaced {
        cfg.pprof.infrastructure = targets::infrastructure_addresses(&all_pods, &ctx.apiserver_addresses);
    }
    let mut control_plane = cycle::ControlPlane::none();
    if let Some(cp) = &cfg.control_plane {
        if cp.api_server {
            control_plane.targets.push(scrape::control_plane::api_server(&ctx.api_url));
            control_plane.api_ca_pem = ctx.api_ca_pem.clone();
        }
        control_plane.targets.extend(scrape::control_plane::component_pods(&all_pods, cp));
    }
    drop(all_pods);
    let fingerprint = cycle::fingerprint(&targets, &control_plane.targets);

    let now = jiff::Timestamp::now();
    let due = cycle::due(state, audit.meta().generation, &fingerprint, cfg.interval, now);
    if let Some(wait) = due.wait {
        return Ok(Action::requeue(wait));
    }

    info!(
        audit = %key,
        targets = targets.len(),
        control_plane = control_plane.targets.len(),
        reason = due.reason,
        "audit starting"
    );
    // A cluster audit's Secrets and ConfigMaps live in the operator's namespace.
    let reads_from = namespace.unwrap_or(&ctx.operator_namespace);
    let audit_ref = cycle::AuditRef { namespace: reads_from, generation: audit.meta().generation };
    // Each audit scrapes within its fair share of the operator-wide concurrency.
    let limiter = ctx.limiter.for_audit(key);
    let targets = cycle::Targets { pods: targets, control_plane };
    // Shared work: mark the audit as running here, so a replica taking it over meanwhile waits for it.
    if let Some(shard) = &ctx.shard {
        let mark = AuditInProgress { replica: shard.identity.clone(), since: now.to_string() };
        if let Err(e) = patch_in_progress::<K>(&ctx.client, namespace, &audit.name_any(), Some(&mark)).await {
            warn!(audit = %key, error = %e, "could not mark the audit as in progress");
        }
    }
    let outcome = cycle::run(&ctx.client, &limiter, &audit_ref, &cfg, targets, state, now).await;
    state.fingerprint = Some(fingerprint);
    state.last_audit = Some(now);

    let now_time = Time(jiff::Timestamp::now());
    let mut status = status::build_status(
        audit.status(),
        audit.meta().generation,
        &outcome.report,
        outcome.conditions,
        state.history_status(),
        &now_time,
    );
    if cfg.benign_sites_config_map.is_none() {
        // The field was removed from the spec: so is its condition.
        status.conditions.retain(|c| c.type_ != status::CONDITION_BENIGN_SITES);
    }
    let written = patch_status::<K>(&ctx.client, namespace, &audit.name_any(), &status).await;
    if ctx.shard.is_some()
        && let Err(e) = patch_in_progress::<K>(&ctx.client, namespace, &audit.name_any(), None).await
    {
        warn!(audit = %key, error = %e, "could not clear the in-progress mark");
    }
    written?;
    ctx.metrics.publish_report(&mut state.series, &outcome.report);
    events::publish(&ctx.recorder, &audit.object_ref(&()), events::plan(audit.status(), &status)).await;
    info!(
        audit = %key,
        targets = outcome.report.targets.len(),
        findings = outcome.report.findings.len(),
        seconds = outcome.report.duration_seconds,
        full_dumps = outcome.report.full_dumps.taken,
        full_dumps_deferred = outcome.report.full_dumps.deferred,
        "audit complete"
    );
    Ok(Action::requeue(cfg.interval))
}

async fn wait_ready<K: kube::Resource + Clone>(store: &Store<K>) -> Result<(), Error>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    match tokio::time::timeout(CACHE_WAIT, store.wait_until_ready()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Error::CacheNotReady),
    }
}

/// The field manager of `status.inProgress` alone: applying without the mark removes it, and the main
/// status apply (another manager) never touches it.
const PROGRESS_FIELD_MANAGER: &str = "gohealth-operator-progress";

async fn patch_in_progress<K: AuditKind>(
    client: &Client,
    namespace: Option<&str>,
    name: &str,
    mark: Option<&AuditInProgress>,
) -> Result<(), Error> {
    let api = K::api(client.clone(), namespace);
    let status = match mark {
        Some(mark) => serde_json::json!({ "inProgress": mark }),
        None => serde_json::json!({}),
    };
    let patch = serde_json::json!({ "apiVersion": "gohealth.dev/v1alpha1", "kind": K::KIND, "status": status });
    api.patch_status(name, &PatchParams::apply(PROGRESS_FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

async fn patch_status<K: AuditKind>(
    client: &Client,
    namespace: Option<&str>,
    name: &str,
    status: &GoHealthAuditStatus,
) -> Result<(), Error> {
    let api = K::api(client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": "gohealth.dev/v1alpha1",
        "kind": K::KIND,
        "status": serde_json::to_value(status)?,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}
