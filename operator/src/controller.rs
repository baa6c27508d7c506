//! The operator shell: watches GoHealthAudits (and Pods, so target churn triggers a reconcile), runs the
//! audit cycle (`audit`), writes status by server-side apply, publishes Events and metrics.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use thiserror::Error;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::audit::{self, AuditState};
use crate::crd::{GoHealthAudit, GoHealthAuditStatus};
use crate::discover::{self, SelectorError};
use crate::report;
use gohealth_core::duration::{DurationError, parse_go_duration};

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
    Duration(#[from] DurationError),
    #[error("invalid spec: {0}")]
    Selector(#[from] SelectorError),
    #[error("audit has no namespace")]
    NoNamespace,
    #[error("serializing status: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Stable, bounded category for metric labels and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Duration(_) | Error::Selector(_) | Error::NoNamespace => "InvalidSpec",
            Error::Serialize(_) => "SerializeError",
        }
    }
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub collector: crate::collect::http::Collector,
    /// Per-audit memory: history rings, last target set, due times.
    pub state: Mutex<HashMap<String, AuditState>>,
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

    let collector = crate::collect::http::Collector::new(&crate::collect::http::CollectorOptions {
        concurrency: args.scrape_concurrency.max(1),
        ..Default::default()
    })
    .map_err(|e| RunError::Collector(e.to_string()))?;
    let recorder =
        Recorder::new(client.clone(), Reporter { controller: FIELD_MANAGER.into(), instance: Some(identity) });
    let ctx =
        Arc::new(Context { client: client.clone(), recorder, metrics, collector, state: Mutex::new(HashMap::new()) });

    let controller = Controller::new(audits, watcher::Config::default().any_semantic());
    let store = controller.store();
    info!("gohealth operator started");
    controller
        .watches(Api::<Pod>::all(client.clone()), watcher::Config::default().any_semantic(), move |pod: Pod| {
            audits_selecting(&store.state(), &pod)
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|res| {
            let ctx = ctx.clone();
            async move {
                match res {
                    Ok((obj, _)) => tracing::debug!(audit = %obj, "reconciled"),
                    // A deleted audit is queued once more and no longer found: drop what we kept for it.
                    Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                        let namespace = obj.namespace.clone().unwrap_or_default();
                        ctx.metrics.forget_audit(&namespace, &obj.name);
                        ctx.state.lock().await.remove(&format!("{namespace}/{}", obj.name));
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

/// Audits a pod event concerns: same namespace (or any, with a namespaceSelector) and a matching selector.
fn audits_selecting(audits: &[Arc<GoHealthAudit>], pod: &Pod) -> Vec<ObjectRef<GoHealthAudit>> {
    let labels = pod.labels();
    audits
        .iter()
        .filter(|a| a.spec.namespace_selector.is_some() || a.namespace() == pod.namespace())
        .filter(|a| discover::selector_matches(&a.spec.selector, labels))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

fn error_policy(audit: Arc<GoHealthAudit>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(audit = %audit.name_any(), error = %error, "reconcile failed");
    ctx.metrics.observe_reconcile(
        &audit.namespace().unwrap_or_default(),
        &audit.name_any(),
        0.0,
        Some(error.category()),
    );
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
    let result = reconcile_inner(&audit, &ctx, &namespace, &name).await;
    let seconds = started.elapsed().as_secs_f64();
    if let Ok(action) = &result {
        ctx.metrics.observe_reconcile(&namespace, &name, seconds, None);
        return Ok(action.clone());
    }
    if let Err(e) = &result {
        // Tell the user on the object itself, not only in our logs.
        let now = Time(jiff::Timestamp::now());
        let status =
            report::failed_status(audit.status.as_ref(), audit.metadata.generation, e.category(), e.to_string(), &now);
        if let Err(pe) = patch_status(&ctx.client, &namespace, &name, &status).await {
            warn!(error = %pe, "could not record the failure in status");
        }
    }
    result
}

async fn reconcile_inner(audit: &GoHealthAudit, ctx: &Context, namespace: &str, name: &str) -> Result<Action, Error> {
    let interval = parse_go_duration(&audit.spec.interval)?;
    // The staleness alert compares the last successful audit against twice this interval.
    ctx.metrics.set_audit_interval(namespace, name, interval.as_secs_f64());
    let selector = discover::selector_string(&audit.spec.selector)?;
    let key = format!("{namespace}/{name}");

    // dereference: the pods the audit selects
    let pods = list_pods(&ctx.client, audit, namespace, &selector).await?;
    let targets = discover::select_targets(pods);
    let fingerprint: Vec<(String, Option<String>)> =
        targets.iter().map(|t| (t.target.key(), t.pod.status.as_ref().and_then(|s| s.pod_ip.clone()))).collect();

    let now = jiff::Timestamp::now();
    // The state is taken out of the shared map for the audit, so audits of different resources run in
    // parallel (the controller never reconciles one object twice at once).
    let mut state =
        ctx.state.lock().await.remove(&key).unwrap_or_else(|| AuditState::from_status(audit.status.as_ref()));
    let due = audit::due(&state, audit, &fingerprint, interval, now);
    if let Some(wait) = due.wait {
        ctx.state.lock().await.insert(key, state);
        return Ok(Action::requeue(wait));
    }

    info!(audit = %key, targets = targets.len(), reason = due.reason, "audit starting");
    let outcome = audit::run_cycle(&ctx.client, &ctx.collector, audit, targets, &mut state, now).await;
    state.fingerprint = Some(fingerprint);
    state.last_audit = Some(now);
    let history = state.history_status();
    ctx.state.lock().await.insert(key.clone(), state);

    let now_time = Time(jiff::Timestamp::now());
    let status = report::build_status(
        audit.status.as_ref(),
        audit.metadata.generation,
        &outcome.report,
        outcome.conditions,
        history,
        &now_time,
    );
    patch_status(&ctx.client, namespace, name, &status).await?;
    ctx.metrics.publish_audit(namespace, name, &outcome.report);
    publish_events(ctx, audit, &status).await;
    info!(
        audit = %key,
        targets = outcome.report.targets.len(),
        findings = outcome.report.findings.len(),
        seconds = outcome.report.duration_seconds,
        "audit complete"
    );
    Ok(Action::requeue(interval))
}

async fn list_pods(client: &Client, audit: &GoHealthAudit, namespace: &str, selector: &str) -> Result<Vec<Pod>, Error> {
    let lp = ListParams::default().labels(selector);
    let Some(ns_selector) = &audit.spec.namespace_selector else {
        return Ok(Api::<Pod>::namespaced(client.clone(), namespace).list(&lp).await?.items);
    };
    let ns_lp = ListParams::default().labels(&discover::selector_string(ns_selector)?);
    let namespaces = Api::<Namespace>::all(client.clone()).list(&ns_lp).await?;
    let mut pods = Vec::new();
    for ns in namespaces.items {
        let ns_name = ns.name_any();
        pods.extend(Api::<Pod>::namespaced(client.clone(), &ns_name).list(&lp).await?.items);
    }
    Ok(pods)
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

/// Events for changes that matter: new warning/critical findings and Ready/Degraded transitions.
async fn publish_events(ctx: &Context, audit: &GoHealthAudit, status: &GoHealthAuditStatus) {
    let reference = audit.object_ref(&());
    let mut events = Vec::new();
    for f in report::new_findings(audit.status.as_ref(), &status.findings).into_iter().take(10) {
        let where_ = f.target.as_ref().map(|t| format!("{}: ", t.key())).unwrap_or_default();
        let mut note = format!("{where_}{}", f.message);
        note.truncate(1000);
        events.push(Event {
            type_: EventType::Warning,
            reason: f.check.as_str().to_string(),
            note: Some(note),
            action: "Audit".into(),
            secondary: None,
        });
    }
    let before: BTreeMap<&str, &str> = audit
        .status
        .as_ref()
        .map(|s| s.conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str())).collect())
        .unwrap_or_default();
    for c in &status.conditions {
        if before.get(c.type_.as_str()) != Some(&c.status.as_str()) {
            let bad = (c.type_ == report::CONDITION_DEGRADED) == (c.status == "True");
            events.push(Event {
                type_: if bad { EventType::Warning } else { EventType::Normal },
                reason: c.reason.clone(),
                note: Some(format!("{}={}: {}", c.type_, c.status, c.message)),
                action: "Audit".into(),
                secondary: None,
            });
        }
    }
    for ev in events {
        if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
            warn!(error = %e, reason = %ev.reason, "could not publish event");
        }
    }
}
