//! One audit cycle: [`due`] decides whether to run; [`run`] reads what the audit references
//! (dereference), scrapes its targets (I/O), then evaluates (pure). Everything it returns is plain data.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use kube::Client;

use gohealth_core::diagnose::by_workload::by_workload;
use gohealth_core::diagnose::dump_schedule::DumpBaseline;
use gohealth_core::diagnose::merge_seen;
use gohealth_core::scrape_error::ScrapeError;

use crate::dereference::credentials;
use crate::dereference::targets::{Target, container_restarts};
use crate::evaluate::{Evaluation, Scraped, workload_of};
use crate::report::AuditReport;
use crate::scrape::control_plane::{self, Component, ControlPlaneTarget};
use crate::scrape::endpoint;
use crate::scrape::http::{Collector, CollectorOptions, Limiter};
use crate::scrape::profiles::ScrapePlan;
use crate::state::{AuditState, Fingerprint};
use crate::status::{CONDITION_ADMISSION, CONDITION_BENIGN_SITES, ConditionUpdate};
use crate::validate::AuditConfig;

/// Whether to audit now, and why; or how long to wait.
#[derive(Debug, PartialEq)]
pub struct Due {
    pub wait: Option<Duration>,
    pub reason: &'static str,
}

/// Pod and status events trigger reconciles all the time; an audit runs only when the spec changed,
/// the selected pods changed, or the interval elapsed.
pub fn due(
    state: &AuditState,
    generation: Option<i64>,
    fingerprint: &Fingerprint,
    interval: Duration,
    now: jiff::Timestamp,
) -> Due {
    let now_due = |reason| Due { wait: None, reason };
    if state.observed_generation != generation {
        return now_due("SpecChanged");
    }
    // A state rebuilt from status (a restart, or an audit taken over from another replica) has no
    // fingerprint: its next audit comes at the interval, not at once.
    if state.fingerprint.as_ref().is_some_and(|f| f != fingerprint) {
        return now_due("TargetsChanged");
    }
    let Some(last) = state.last_audit else { return now_due("FirstAudit") };
    let elapsed = now.duration_since(last).unsigned_abs();
    if elapsed >= interval {
        return now_due("IntervalElapsed");
    }
    Due { wait: Some(interval - elapsed), reason: "NotDue" }
}

/// The selected pods and their IPs, and the control-plane endpoints: a change makes an audit due.
pub fn fingerprint(targets: &[Target], control_plane: &[ControlPlaneTarget]) -> Fingerprint {
    let pods = targets.iter().map(|t| (t.target.key(), t.pod.status.as_ref().and_then(|s| s.pod_ip.clone())));
    let components =
        control_plane.iter().map(|t| (t.target.key(), t.endpoint.as_ref().ok().map(|e| e.base_url.clone())));
    pods.chain(components).collect()
}

pub struct CycleOutcome {
    pub report: AuditReport,
    pub conditions: Vec<ConditionUpdate>,
}

/// What a cycle needs from the audit object besides its validated config.
pub struct AuditRef<'a> {
    pub namespace: &'a str,
    pub generation: Option<i64>,
}

/// Runs one audit over `targets`. Never fails as a whole: each target's failure is a typed
/// `ScrapeFailed` finding and the others complete.
pub async fn run(
    client: &Client,
    limiter: &Limiter,
    audit: &AuditRef<'_>,
    cfg: &AuditConfig,
    targets: Targets,
    state: &mut AuditState,
    now: jiff::Timestamp,
) -> CycleOutcome {
    let Targets { pods: targets, control_plane } = targets;
    let started = Instant::now();
    let now_secs = now.as_second();

    // dereference: the credentials the spec names, then one collector for the audit
    let collector = match credentials::read(client, audit.namespace, &cfg.pprof).await {
        Ok(creds) => state.collector(&cfg.pprof, creds, |pprof, creds| {
            Collector::with_limiter(&CollectorOptions::for_audit(pprof, creds), limiter.clone())
        }),
        // A credential that cannot be read fails every target of the audit with AuthError, visibly.
        Err(e) => Err(ScrapeError::Auth(e.to_string())),
    };

    // scrape and evaluate: each target is evaluated as soon as its scrape completes, so the audit
    // holds the snapshots in flight, not one per target; a window of scrapes (twice the operator-wide
    // concurrency) exists at a time, the rest are not even started.
    let plans: Vec<ScrapePlan> = targets
        .iter()
        .map(|t| {
            let key = t.target.key();
            let baseline = state.history.ring(&key).and_then(|r| r.dump_baseline());
            plan_for(cfg, &state.last_leak_fetch, baseline, &key, now_secs)
        })
        .collect();
    // The control plane is scraped while the pods' results update the history: its targets' dump
    // baselines are taken out first (every ring that is not a selected pod's).
    let cp_baselines: HashMap<String, DumpBaseline> = if cfg.control_plane.is_some() {
        let pod_keys: HashSet<String> = targets.iter().map(|t| t.target.key()).collect();
        state
            .history
            .rings()
            .filter(|(k, _)| !pod_keys.contains(*k))
            .filter_map(|(k, r)| Some((k.to_string(), r.dump_baseline()?.clone())))
            .collect()
    } else {
        HashMap::new()
    };
    let collector = &collector;
    let pods = &targets;
    // Items are indices, not references: a stream of borrowed items trips the compiler's
    // higher-ranked `Send` check in the controller's future.
    let mut scrapes = futures::stream::iter(plans.into_iter().enumerate())
        .map(|(i, plan)| async move {
            let result = match (collector, pods.get(i)) {
                (Err(e), _) => Err((e.clone(), None)),
                (Ok(_), None) => Err((ScrapeError::NoEndpoint("no such target".into()), None)),
                (Ok(collector), Some(t)) => match endpoint::resolve(&t.pod, &cfg.pprof) {
                    Err(e) => Err((e, None)),
                    Ok(ep) => {
                        let url = ep.base_url.clone();
                        collector.scrape(&ep, &plan).await.map(|s| (url.clone(), s)).map_err(|e| (e, Some(url)))
                    }
                },
            };
            (i, result)
        })
        .buffer_unordered(limiter.total().saturating_mul(2).max(1));
    // Benign sites shared through a ConfigMap join the spec's own before the checks run.
    let mut conditions = Vec::new();
    let mut checks = std::borrow::Cow::Borrowed(&cfg.checks);
    if let Some(name) = &cfg.benign_sites_config_map {
        let read = crate::dereference::benign_sites::read(client, audit.namespace, name).await;
        checks.to_mut().goroutine_leak.benign_sites.extend(read.sites);
        conditions.push(ConditionUpdate {
            type_: CONDITION_BENIGN_SITES,
            status: read.loaded,
            reason: read.reason.into(),
            message: read.message,
        });
    }
    let mut evaluation = Evaluation::new(&checks, now_secs);
    let history = &mut state.history;
    let evaluated = async {
        while let Some((i, result)) = scrapes.next().await {
            if let Some(t) = targets.get(i) {
                let scraped = Scraped { target: t.target.clone(), containers: container_restarts(&t.pod), result };
                evaluation.add(i, scraped, history);
            }
        }
    };
    let last_leak_fetch = &state.last_leak_fetch;
    let ((), cp_scraped) = futures::future::join(
        evaluated,
        scrape_control_plane(client, limiter, audit, cfg, control_plane, &|key: &str| {
            plan_for(cfg, last_leak_fetch, cp_baselines.get(key), key, now_secs)
        }),
    )
    .await;
    for (j, scraped) in cp_scraped.into_iter().enumerate() {
        evaluation.add(targets.len() + j, scraped, &mut state.history);
    }
    let full_dumps = evaluation.full_dumps();
    let (findings, reports) = evaluation.finish(&mut state.history, &mut state.last_leak_fetch);
    let workloads: HashMap<String, String> =
        targets.iter().filter_map(|t| Some((t.target.key(), workload_of(&t.pod)?))).collect();
    let mut findings = by_workload(findings, &workloads);

    let mut admission = None;
    if let Some(adm_cfg) = &cfg.admission {
        let kb = match &adm_cfg.knowledge_base_config_map {
            Some(name) => Some(credentials::knowledge_base(client, audit.namespace, name).await),
            None => None,
        };
        let (kb_yaml, kb_error) = match kb {
            Some(Ok(yaml)) => (Some(yaml), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let mut outcome = crate::dereference::admission::audit_live(client, adm_cfg, kb_yaml).await;
        // The embedded knowledge base still applies; say that the override could not be read.
        if let Some(e) = kb_error {
            outcome.message = format!("{}; knowledge-base override ignored: {e}", outcome.message);
        }
        findings.extend(outcome.findings);
        conditions.push(ConditionUpdate {
            type_: CONDITION_ADMISSION,
            status: outcome.observed,
            reason: outcome.reason,
            message: outcome.message,
        });
        admission = Some(outcome.status);
    }
    let findings = merge_seen(&state.previous_findings, findings, &now.to_string());
    state.previous_findings = findings.clone();
    state.observed_generation = audit.generation;
    CycleOutcome {
        report: AuditReport {
            started_at: now_secs,
            duration_seconds: started.elapsed().as_secs_f64(),
            targets: reports,
            findings,
            admission,
            full_dumps,
        },
        conditions,
    }
}

/// What one cycle scrapes: the selected pods, and the control plane of a ClusterGoHealthAudit.
pub struct Targets {
    pub pods: Vec<Target>,
    pub control_plane: ControlPlane,
}

/// The control-plane targets of a ClusterGoHealthAudit's cycle: those found in the caches by the
/// controller, and the kubelets (the nodes are listed here, only when asked for).
pub struct ControlPlane {
    pub targets: Vec<ControlPlaneTarget>,
    /// The CA bundle (PEM) of the operator's API connection, for the apiserver target.
    pub api_ca_pem: Option<Vec<u8>>,
}

impl ControlPlane {
    pub fn none() -> ControlPlane {
        ControlPlane { targets: Vec::new(), api_ca_pem: None }
    }
}

/// Scrapes the control plane with the operator's token: the apiserver with the API connection's CA, the
/// other components with `spec.controlPlane.tls`.
async fn scrape_control_plane(
    client: &Client,
    limiter: &Limiter,
    audit: &AuditRef<'_>,
    cfg: &AuditConfig,
    control_plane: ControlPlane,
    plan_of: &(dyn Fn(&str) -> ScrapePlan + Sync),
) -> Vec<Scraped> {
    let Some(cp) = &cfg.control_plane else { return Vec::new() };
    let mut targets = control_plane.targets;
    if cp.kubelets {
        match crate::dereference::control_plane::nodes(client).await {
            Ok(nodes) => targets.extend(control_plane::kubelets(&nodes)),
            Err(e) => targets.push(ControlPlaneTarget {
                component: Component::Kubelet,
                target: gohealth_core::finding::TargetRef {
                    namespace: String::new(),
                    pod: "kubelet/*".into(),
                    container: None,
                },
                pod: None,
                endpoint: Err(ScrapeError::NoEndpoint(format!("cannot list nodes: {e}"))),
            }),
        }
    }
    if targets.is_empty() {
        return Vec::new();
    }
    let options = |creds: credentials::Credentials, skip: bool| CollectorOptions {
        insecure_skip_verify: skip,
        ..CollectorOptions::for_audit(&cfg.pprof, creds)
    };
    let components = credentials::control_plane(client, audit.namespace, cp)
        .await
        .map_err(|e| ScrapeError::Auth(e.to_string()))
        .and_then(|creds| {
            let api_creds =
                credentials::Credentials { bearer_token: creds.bearer_token.clone(), ca_pem: control_plane.api_ca_pem };
            let api = Collector::with_limiter(&options(api_creds, false), limiter.clone())?;
            let other = Collector::with_limiter(&options(creds, cp.insecure_skip_verify), limiter.clone())?;
            Ok((api, other))
        });
    let jobs = targets.iter().map(|t| {
        let plan = plan_of(&t.target.key());
        let components = &components;
        async move {
            let (api, other) = components.as_ref().map_err(|e| (e.clone(), None))?;
            let collector = if t.component == Component::ApiServer { api } else { other };
            let ep = t.endpoint.clone().map_err(|e| (e, None))?;
            let url = ep.base_url.clone();
            collector
                .scrape(&ep, &plan)
                .await
                .map(|s| (url.clone(), s))
                .map_err(|e| (explain_denied(e, t.component), Some(url)))
        }
    });
    let results = join_all(jobs).await;
    targets
        .iter()
        .zip(results)
        .map(|(t, result)| Scraped {
            target: t.target.clone(),
            containers: t.pod.as_deref().map(container_restarts).unwrap_or_default(),
            result,
        })
        .collect()
}

/// What to fetch from one target: the profiles the enabled checks need, the goroutineleak profile
/// when its own interval has elapsed for that target, and debug=2 unless the target's last dump may
/// stand for it (`baseline`, when still fresh).
fn plan_for(
    cfg: &AuditConfig,
    last_leak_fetch: &HashMap<String, i64>,
    baseline: Option<&DumpBaseline>,
    key: &str,
    now_secs: i64,
) -> ScrapePlan {
    let leak_interval = i64::try_from(cfg.checks.proven_goroutine_leak.interval.as_secs()).unwrap_or(i64::MAX);
    let leak_due = last_leak_fetch.get(key).is_none_or(|last| now_secs - last >= leak_interval);
    ScrapePlan {
        defer_dump: baseline.filter(|b| b.fresh_at(now_secs)).cloned(),
        ..ScrapePlan::from_checks(&cfg.checks, leak_due)
    }
}

/// A 401/403 from a component names the permission the operator's token lacks.
fn explain_denied(e: ScrapeError, component: Component) -> ScrapeError {
    match e {
        ScrapeError::Auth(msg) => {
            let grant = match component {
                Component::Kubelet => "get on nodes/proxy (chart value controlPlane.kubelets)",
                _ => "get on the non-resource URL /debug/pprof/* (chart value controlPlane.enabled)",
            };
            ScrapeError::Auth(format!("{msg}; the operator's ServiceAccount needs {grant}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn audits_run_on_spec_target_or_interval_change_only() {
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let fp = vec![("ns/a".to_string(), Some("10.0.0.1".to_string()))];
        let interval = Duration::from_secs(300);
        let metrics = Metrics::default();
        let mut state = AuditState::new(metrics.audit_series("ns", "x"), None);
        assert_eq!(due(&state, Some(1), &fp, interval, now).reason, "SpecChanged");
        state.observed_generation = Some(1);
        assert_eq!(due(&state, Some(1), &fp, interval, now).reason, "FirstAudit");
        // Rebuilt from status (restart, or taken over from another replica): no fingerprint, the interval rules.
        state.last_audit = Some("2026-01-01T00:08:00Z".parse().unwrap());
        let d = due(&state, Some(1), &fp, interval, now);
        assert_eq!(d, Due { wait: Some(Duration::from_secs(180)), reason: "NotDue" });
        state.fingerprint = Some(fp.clone());
        let d = due(&state, Some(1), &fp, interval, now);
        assert_eq!(d, Due { wait: Some(Duration::from_secs(180)), reason: "NotDue" });
        state.last_audit = Some("2026-01-01T00:04:00Z".parse().unwrap());
        assert_eq!(due(&state, Some(1), &fp, interval, now).reason, "IntervalElapsed");
        let moved = vec![("ns/a".to_string(), Some("10.0.0.2".to_string()))];
        state.last_audit = Some(now);
        assert_eq!(due(&state, Some(1), &moved, interval, now).reason, "TargetsChanged");
        assert_eq!(due(&state, Some(2), &fp, interval, now).reason, "SpecChanged");
    }
}
