//! The controller wiring: one watch per kind (GoHealthAudits; Pods and Namespaces through reflectors
//! whose caches the audits select from and whose events trigger the audits they concern), and a short
//! reconcile — validate, select targets from the caches, run the cycle when due, apply status, publish
//! metrics and Events.

use std::net::SocketAddr;
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

use crate::crd::{GoHealthAudit, GoHealthAuditStatus};
use crate::cycle;
use crate::dereference::targets::{self, Selection};
use crate::events;
use crate::scrape::http::Limiter;
use crate::state::{AuditState, AuditStates};
use crate::status;
use crate::validate::{InvalidSpec, validate};

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
    #[arg(long, env = "GOHEALTH_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
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
            Error::InvalidSpec(_) | Error::NoNamespace => "InvalidSpec",
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
    /// The audits themselves (the controller's own cache), to drop the state of deleted ones.
    pub audits: Store<GoHealthAudit>,
    pub states: AuditStates,
}

pub fn main(args: RunArgs) -> ExitCode {
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
    #[error("scrape client: {0}")]
    Collector(String),
    #[error("metrics server: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    let metrics = Arc::new(crate::metrics::Metrics::new(crate::metrics::MetricsOptions {
        per_target_series: args.per_target_metrics,
        max_target_series: args.max_target_series,
    }));
    let health = Arc::new(crate::telemetry::Health::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let metrics = metrics.clone();
        let health = health.clone();
        let mut stop = stop_rx.clone();
        let addr = args.metrics_addr;
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::telemetry::serve(addr, metrics, health, shutdown).await {
                tracing::error!(error = %e, %addr, "metrics server failed");
            }
        });
    }

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("gohealth-{}", std::process::id()));
    let audits: Api<GoHealthAudit> = Api::all(client.clone());
    // First successful list: the CRD is installed and RBAC allows us to read audits. A standby replica is
    // ready too (it serves metrics and can take over); only the leader audits.
    audits.list(&ListParams::default().limit(1)).await?;
    health.set_ready();
    let _lease = if args.leader_election {
        Some(crate::leader::acquire(client.clone(), &args.lease_name, &args.lease_namespace, &identity).await?)
    } else {
        None
    };

    let limiter = Limiter::new(args.scrape_concurrency.max(1));
    let recorder =
        Recorder::new(client.clone(), Reporter { controller: FIELD_MANAGER.into(), instance: Some(identity) });

    // One watch per kind, shared: the reflectors fill the caches audits select from, and the same
    // streams trigger the audits a change concerns.
    let (pods, pod_writer) = reflector::store::<Pod>();
    let pod_events =
        reflector(pod_writer, watcher(Api::<Pod>::all(client.clone()), watcher::Config::default().any_semantic()))
            .default_backoff()
            .touched_objects();
    let (namespaces, ns_writer) = reflector::store::<Namespace>();
    let ns_events =
        reflector(ns_writer, watcher(Api::<Namespace>::all(client.clone()), watcher::Config::default().any_semantic()))
            .default_backoff()
            .touched_objects();

    let controller = Controller::new(audits, watcher::Config::default().any_semantic());
    let audit_store = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder,
        metrics,
        limiter,
        pods,
        namespaces: namespaces.clone(),
        audits: audit_store.clone(),
        states: AuditStates::default(),
    });
    info!("gohealth operator started");
    let for_pods = (audit_store.clone(), namespaces.clone());
    let for_namespaces = audit_store.clone();
    controller
        .watches_stream(pod_events, move |pod: Pod| audits_selecting(&for_pods.0.state(), &for_pods.1, &pod))
        .watches_stream(ns_events, move |_: Namespace| audits_with_namespace_selector(&for_namespaces.state()))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|res| {
            let ctx = ctx.clone();
            async move {
                match res {
                    Ok((obj, _)) => tracing::debug!(audit = %obj, "reconciled"),
                    // A deleted audit is queued once more and no longer found: drop what we kept for it.
                    Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                        let key = format!("{}/{}", obj.namespace.clone().unwrap_or_default(), obj.name);
                        ctx.states.forget(&key, &ctx.metrics).await;
                        info!(audit = %obj, "audit deleted; its series and history are dropped");
                    }
                    Err(e) => tracing::debug!(error = %e, "reconcile failed"),
                }
            }
        })
        .await;
    let _ = stop_tx.send(true);
    info!("gohealth operator stopped");
    Ok(())
}

/// Audits a pod event concerns: namespace (own, or by namespace selector) and pod selector match.
fn audits_selecting(
    audits: &[Arc<GoHealthAudit>],
    namespaces: &Store<Namespace>,
    pod: &Pod,
) -> Vec<ObjectRef<GoHealthAudit>> {
    let namespace = namespace_lookup(namespaces);
    audits
        .iter()
        .filter(|a| selection(a).is_some_and(|by| by.concerns(pod, &namespace)))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// Audits that select namespaces by label: a namespace's labels changing may change their targets.
fn audits_with_namespace_selector(audits: &[Arc<GoHealthAudit>]) -> Vec<ObjectRef<GoHealthAudit>> {
    audits.iter().filter(|a| a.spec.namespace_selector.is_some()).map(|a| ObjectRef::from_obj(a.as_ref())).collect()
}

/// A namespace by name from the cache (a hash lookup; nothing is copied).
fn namespace_lookup(store: &Store<Namespace>) -> impl Fn(&str) -> Option<Arc<Namespace>> + '_ {
    |name| store.get(&ObjectRef::new(name))
}

fn selection(audit: &GoHealthAudit) -> Option<Selection<'_>> {
    Some(Selection {
        namespace: audit.metadata.namespace.as_deref()?,
        selector: &audit.spec.selector,
        namespace_selector: audit.spec.namespace_selector.as_ref(),
    })
}

fn error_policy(audit: Arc<GoHealthAudit>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(audit = %audit.name_any(), error = %error, "reconcile failed");
    // Invalid specs wait for an edit (which triggers a reconcile anyway); API errors back off.
    match error.category() {
        "InvalidSpec" => Action::requeue(Duration::from_secs(300)),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

async fn reconcile(audit: Arc<GoHealthAudit>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = audit.namespace().ok_or(Error::NoNamespace)?;
    let name = audit.name_any();
    let key = format!("{namespace}/{name}");
    // The state is taken out of the shared map for the reconcile, so audits of different objects run in
    // parallel (the controller never reconciles one object twice at once).
    let mut state = ctx.states.take(&key, &ctx.metrics, &namespace, &name, audit.status.as_ref()).await;
    let last_audit = state.last_audit;
    let result = reconcile_inner(&audit, &ctx, &namespace, &key, &mut state).await;
    let audited = state.last_audit != last_audit;
    match &result {
        Ok(_) => ctx.metrics.record_reconcile(&mut state.series, started.elapsed().as_secs_f64(), None),
        Err(e) => {
            ctx.metrics.record_reconcile(&mut state.series, 0.0, Some(e.category()));
            // Tell the user on the object itself, not only in our logs.
            let now = Time(jiff::Timestamp::now());
            let status = status::failed_status(
                audit.status.as_ref(),
                audit.metadata.generation,
                e.category(),
                e.to_string(),
                &now,
            );
            if let Err(pe) = patch_status(&ctx.client, &namespace, &name, &status).await {
                warn!(error = %pe, "could not record the failure in status");
            }
        }
    }
    ctx.states.put(key.clone(), state).await;
    // A deletion whose event was missed still ends its audit's state, checked once per audit run (not on
    // every pod event): states whose audit is no longer in the controller's cache are dropped.
    if audited {
        let gone = |k: &str| {
            k.split_once('/').is_some_and(|(ns, name)| ctx.audits.get(&ObjectRef::new(name).within(ns)).is_none())
        };
        ctx.states.retain(|k| k == key || !gone(k), &ctx.metrics).await;
    }
    result
}

/// validate → dereference (targets from the caches) → due? → cycle → status → metrics → events.
async fn reconcile_inner(
    audit: &GoHealthAudit,
    ctx: &Context,
    namespace: &str,
    key: &str,
    state: &mut AuditState,
) -> Result<Action, Error> {
    let cfg = validate(&audit.spec)?;
    // The staleness alert compares the last successful audit against twice this interval.
    ctx.metrics.set_interval(&mut state.series, cfg.interval.as_secs_f64());
    // The caches are filled once at start; until then an audit would see no targets at all.
    wait_ready(&ctx.pods).await?;
    if cfg.namespace_selector.is_some() {
        wait_ready(&ctx.namespaces).await?;
    }
    let by = Selection { namespace, selector: &cfg.selector, namespace_selector: cfg.namespace_selector.as_ref() };
    let targets = targets::select(&ctx.pods.state(), &namespace_lookup(&ctx.namespaces), &by);
    let fingerprint = cycle::fingerprint(&targets);

    let now = jiff::Timestamp::now();
    let due = cycle::due(state, audit.metadata.generation, &fingerprint, cfg.interval, now);
    if let Some(wait) = due.wait {
        return Ok(Action::requeue(wait));
    }

    info!(audit = %key, targets = targets.len(), reason = due.reason, "audit starting");
    let audit_ref = cycle::AuditRef { namespace, generation: audit.metadata.generation };
    let outcome = cycle::run(&ctx.client, &ctx.limiter, &audit_ref, &cfg, targets, state, now).await;
    state.fingerprint = Some(fingerprint);
    state.last_audit = Some(now);

    let now_time = Time(jiff::Timestamp::now());
    let status = status::build_status(
        audit.status.as_ref(),
        audit.metadata.generation,
        &outcome.report,
        outcome.conditions,
        state.history_status(),
        &now_time,
    );
    patch_status(&ctx.client, namespace, &audit.name_any(), &status).await?;
    ctx.metrics.publish_report(&mut state.series, &outcome.report);
    events::publish(&ctx.recorder, &audit.object_ref(&()), events::plan(audit.status.as_ref(), &status)).await;
    info!(
        audit = %key,
        targets = outcome.report.targets.len(),
        findings = outcome.report.findings.len(),
        seconds = outcome.report.duration_seconds,
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

async fn patch_status(client: &Client, namespace: &str, name: &str, status: &GoHealthAuditStatus) -> Result<(), Error> {
    let api: Api<GoHealthAudit> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": "gohealth.dev/v1alpha1",
        "kind": "GoHealthAudit",
        "status": serde_json::to_value(status)?,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}
