//! One audit cycle: discover → collect → diagnose → (admission) → report data. The controller calls
//! `due` to decide whether to run and `run_cycle` to run; everything it returns is plain data.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client, ResourceExt};

use crate::collect::endpoint;
use crate::collect::http::{Collector, CollectorOptions};
use crate::collect::scrape::ScrapePlan;
use crate::crd::{GoHealthAudit, GoHealthAuditStatus, PprofSpec, TargetHistory};
use crate::discover::Target;
use crate::report::{AuditReport, ConditionUpdate, TargetReport};
use gohealth_core::diagnose::history::{History, TargetHistoryRing};
use gohealth_core::duration::parse_go_duration;
use gohealth_core::finding::Finding;
use gohealth_core::scrape_error::ScrapeError;

/// Budget for `status.history` (JSON bytes); the whole status stays well under etcd's object limit.
pub const STATUS_HISTORY_BUDGET: usize = 96 * 1024;
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What the operator remembers about one audit between cycles. Rebuilt from status after a restart.
#[derive(Debug, Default)]
pub struct AuditState {
    pub history: History,
    /// Selected pods (namespace/pod, IP) at the last audit.
    pub fingerprint: Option<Vec<(String, Option<String>)>>,
    pub last_audit: Option<jiff::Timestamp>,
    pub observed_generation: Option<i64>,
    /// Unix seconds of the last goroutineleak fetch, per target (it forces a GC: own interval).
    pub last_leak_fetch: HashMap<String, i64>,
    /// All findings of the last audit (status lists only the top ones), for firstSeen.
    pub previous_findings: Vec<Finding>,
}

impl AuditState {
    pub fn from_status(status: Option<&GoHealthAuditStatus>) -> AuditState {
        let Some(status) = status else { return AuditState::default() };
        let (history, errors) = History::from_status(&status.history);
        if !errors.is_empty() {
            tracing::warn!(skipped = errors.len(), "some history entries in status could not be decoded");
        }
        // A goroutineleak fetch forces a GC, which the sample records: its time restores the proven-leak
        // clock, so a restart does not force another GC in every target.
        let last_leak_fetch = history
            .rings()
            .filter_map(|(key, ring)| {
                ring.samples().rev().find(|s| s.scrape_forced_gcs > 0).map(|s| (key.to_string(), s.at))
            })
            .collect();
        AuditState {
            history,
            fingerprint: None,
            last_audit: status.last_audit_time.as_deref().and_then(|t| t.parse().ok()),
            observed_generation: status.observed_generation,
            last_leak_fetch,
            previous_findings: status.findings.clone(),
        }
    }

    pub fn history_status(&self) -> Vec<TargetHistory> {
        self.history.to_status(STATUS_HISTORY_BUDGET)
    }
}

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
    audit: &GoHealthAudit,
    fingerprint: &[(String, Option<String>)],
    interval: Duration,
    now: jiff::Timestamp,
) -> Due {
    let now_due = |reason| Due { wait: None, reason };
    if state.observed_generation != audit.metadata.generation {
        return now_due("SpecChanged");
    }
    if state.fingerprint.as_deref() != Some(fingerprint) {
        return now_due("TargetsChanged");
    }
    let Some(last) = state.last_audit else { return now_due("FirstAudit") };
    let elapsed = now.duration_since(last).unsigned_abs();
    if elapsed >= interval {
        return now_due("IntervalElapsed");
    }
    Due { wait: Some(interval - elapsed), reason: "NotDue" }
}

pub struct CycleOutcome {
    pub report: AuditReport,
    pub conditions: Vec<ConditionUpdate>,
}

/// Run one audit over `targets`. Never fails as a whole: each target's failure is a typed
/// `ScrapeFailed` finding and the others complete.
pub async fn run_cycle(
    client: &Client,
    shared: &Collector,
    audit: &GoHealthAudit,
    targets: Vec<Target>,
    state: &mut AuditState,
    now: jiff::Timestamp,
) -> CycleOutcome {
    let started = Instant::now();
    let spec = &audit.spec;
    let namespace = audit.namespace().unwrap_or_default();
    let now_secs = now.as_second();

    let collector = build_collector(client, &namespace, &spec.pprof, shared).await;
    let leak_interval = parse_go_duration(&spec.checks.proven_goroutine_leak.interval)
        .unwrap_or(Duration::from_secs(4 * 3600))
        .as_secs() as i64;
    let jobs = targets.iter().map(|t| {
        let key = t.target.key();
        let leak_due = state.last_leak_fetch.get(&key).is_none_or(|last| now_secs - last >= leak_interval);
        let plan = ScrapePlan::from_checks(&spec.checks, leak_due);
        let collector = &collector;
        async move {
            let collector = collector.as_ref().map_err(Clone::clone)?;
            let ep = endpoint::resolve(&t.pod, &spec.pprof).map_err(|e| (e, None))?;
            let url = ep.base_url.clone();
            collector.scrape(&ep, &plan).await.map(|s| (url.clone(), s)).map_err(|e| (e, Some(url)))
        }
    });
    let results = join_all(jobs).await;

    let mut findings = Vec::new();
    let mut reports = Vec::new();
    for (t, result) in targets.iter().zip(results) {
        let key = t.target.key();
        findings.extend(gohealth_core::diagnose::panic_restarts(
            &t.target,
            &crate::discover::container_restarts(&t.pod),
            &spec.checks.go_panic_restarts,
        ));
        match result {
            Ok((url, snap)) => {
                state.history.record(&key, &snap);
                if snap.leaks.is_some() {
                    state.last_leak_fetch.insert(key.clone(), now_secs);
                }
                let empty = TargetHistoryRing::new(1);
                let ring = state.history.ring(&key).unwrap_or(&empty);
                findings.extend(gohealth_core::diagnose::diagnose(&t.target, &snap, ring, &spec.checks));
                reports.push(TargetReport {
                    target: t.target.clone(),
                    url: Some(url),
                    result: "Ok".into(),
                    message: (!snap.notes.is_empty()).then(|| snap.notes.join("; ")),
                    goroutines: snap.goroutines.as_ref().map(|g| g.total),
                });
            }
            Err((err, url)) => {
                findings.push(gohealth_core::diagnose::scrape_failed(&t.target, &err));
                reports.push(TargetReport {
                    target: t.target.clone(),
                    url,
                    result: err.reason().to_string(),
                    message: Some(err.to_string()),
                    goroutines: None,
                });
            }
        }
    }
    let alive: BTreeSet<String> = targets.iter().map(|t| t.target.key()).collect();
    state.history.retain(|k| alive.contains(k));
    state.last_leak_fetch.retain(|k, _| alive.contains(k));

    let mut conditions = Vec::new();
    let mut admission = None;
    if let Some(adm) = spec.admission.as_ref().filter(|a| a.enabled) {
        let kb_override = match &adm.knowledge_base_config_map {
            Some(name) => Some(knowledge_base_override(client, &namespace, name).await),
            None => None,
        };
        let (kb_yaml, kb_error) = match kb_override {
            Some(Ok(yaml)) => (Some(yaml), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let mut outcome = crate::admission::live::audit_live(client, adm, kb_yaml).await;
        // The embedded knowledge base still applies; say that the override could not be read.
        if let Some(e) = kb_error {
            outcome.message = format!("{}; knowledge-base override ignored: {e}", outcome.message);
        }
        findings.extend(outcome.findings);
        conditions.push(ConditionUpdate {
            type_: crate::report::CONDITION_ADMISSION,
            status: outcome.observed,
            reason: outcome.reason,
            message: outcome.message,
        });
        admission = Some(outcome.status);
    }
    let findings = gohealth_core::diagnose::merge_seen(&state.previous_findings, findings, &now.to_string());
    state.previous_findings = findings.clone();
    state.observed_generation = audit.metadata.generation;
    CycleOutcome {
        report: AuditReport {
            started_at: now_secs,
            duration_seconds: started.elapsed().as_secs_f64(),
            targets: reports,
            findings,
            admission,
        },
        conditions,
    }
}

/// `plugins.yaml` of the knowledge-base ConfigMap named in the spec.
async fn knowledge_base_override(client: &Client, namespace: &str, name: &str) -> Result<String, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api.get(name).await.map_err(|e| format!("ConfigMap {namespace}/{name}: {e}"))?;
    cm.data
        .and_then(|d| d.get("plugins.yaml").cloned())
        .ok_or_else(|| format!("ConfigMap {namespace}/{name} has no key plugins.yaml"))
}

/// A collector with this audit's timeout, limits and credentials, sharing the operator-wide limiter.
/// A credential that cannot be read fails every target of the audit with `AuthError`, visibly.
async fn build_collector(
    client: &Client,
    namespace: &str,
    pprof: &PprofSpec,
    shared: &Collector,
) -> Result<Collector, (ScrapeError, Option<String>)> {
    let fail = |msg: String| (ScrapeError::Auth(msg), None);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read = |name: String, key: String| {
        let secrets = secrets.clone();
        async move {
            let secret = secrets.get(&name).await.map_err(|e| format!("secret {name}: {e}"))?;
            secret
                .data
                .and_then(|d| d.get(&key).map(|b| b.0.clone()))
                .ok_or_else(|| format!("secret {name} has no key {key}"))
        }
    };
    let auth = pprof.auth.clone().unwrap_or_default();
    let token = match (&auth.bearer_token_secret, auth.service_account_token) {
        (Some(r), _) => {
            let bytes = read(r.name.clone(), r.key.clone()).await.map_err(fail)?;
            Some(String::from_utf8_lossy(&bytes).trim().to_string())
        }
        (None, true) => Some(
            std::fs::read_to_string(SERVICE_ACCOUNT_TOKEN)
                .map_err(|e| fail(format!("service account token: {e}")))?
                .trim()
                .to_string(),
        ),
        (None, false) => None,
    };
    let ca = match pprof.tls.as_ref().and_then(|t| t.ca_secret.clone()) {
        Some(r) => Some(read(r.name, r.key).await.map_err(fail)?),
        None => None,
    };
    let opts: CollectorOptions = CollectorOptions::from_spec(pprof, token, ca)
        .map_err(|e| (ScrapeError::NoEndpoint(format!("invalid spec.pprof: {e}")), None))?;
    Collector::with_limiter(&opts, shared.limiter().clone()).map_err(|e| (e, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::GoHealthAuditSpec;

    fn audit(generation: i64) -> GoHealthAudit {
        let spec: GoHealthAuditSpec =
            serde_json::from_value(serde_json::json!({"selector": {"matchLabels": {"a": "b"}}})).unwrap();
        let mut a = GoHealthAudit::new("x", spec);
        a.metadata.generation = Some(generation);
        a
    }

    #[test]
    fn restart_restores_history_and_the_proven_leak_clock() {
        use gohealth_core::snapshot::Snapshot;
        use gohealth_pprof::model::GoroutineProfile;
        let mut before = AuditState::default();
        let snap = |at: i64, forced_gcs: u64| Snapshot {
            at,
            goroutines: Some(GoroutineProfile { total: 10 + at as u64 % 7, ..Default::default() }),
            forced_gcs,
            ..Default::default()
        };
        before.history.record("ns/a", &snap(1_700_000_000, 1));
        before.history.record("ns/a", &snap(1_700_000_300, 0));
        before.history.record("ns/b", &snap(1_700_000_300, 0));
        let status = GoHealthAuditStatus { history: before.history_status(), ..Default::default() };
        let after = AuditState::from_status(Some(&status));
        assert_eq!(after.history.ring("ns/a").map(|r| r.len()), Some(2));
        assert_eq!(after.last_leak_fetch.get("ns/a"), Some(&1_700_000_000));
        assert_eq!(after.last_leak_fetch.get("ns/b"), None);
    }

    #[test]
    fn audits_run_on_spec_target_or_interval_change_only() {
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let fp = vec![("ns/a".to_string(), Some("10.0.0.1".to_string()))];
        let interval = Duration::from_secs(300);
        let mut state = AuditState::default();
        assert_eq!(due(&state, &audit(1), &fp, interval, now).reason, "SpecChanged");
        state.observed_generation = Some(1);
        assert_eq!(due(&state, &audit(1), &fp, interval, now).reason, "TargetsChanged");
        state.fingerprint = Some(fp.clone());
        assert_eq!(due(&state, &audit(1), &fp, interval, now).reason, "FirstAudit");
        state.last_audit = Some("2026-01-01T00:08:00Z".parse().unwrap());
        let d = due(&state, &audit(1), &fp, interval, now);
        assert_eq!(d, Due { wait: Some(Duration::from_secs(180)), reason: "NotDue" });
        state.last_audit = Some("2026-01-01T00:04:00Z".parse().unwrap());
        assert_eq!(due(&state, &audit(1), &fp, interval, now).reason, "IntervalElapsed");
        let moved = vec![("ns/a".to_string(), Some("10.0.0.2".to_string()))];
        state.last_audit = Some(now);
        assert_eq!(due(&state, &audit(1), &moved, interval, now).reason, "TargetsChanged");
        assert_eq!(due(&state, &audit(2), &fp, interval, now).reason, "SpecChanged");
    }
}

#[cfg(test)]
mod status_size {
    use super::*;
    use gohealth_core::finding::{CheckId, Severity, TargetRef};
    use gohealth_pprof::model::{Frame, GoroutineGroup, GoroutineProfile};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// Status stays well under etcd's 1.5 MiB object limit (and our 256 KiB goal) at 5,000 targets, with
    /// history for every target and a finding on every target.
    #[test]
    fn status_at_5000_targets_is_well_under_256_kib() {
        let mut state = AuditState::default();
        let mut report = AuditReport::default();
        for i in 0..5000u64 {
            let target = TargetRef {
                namespace: format!("team-{}", i % 40),
                pod: format!("api-{i:05}-7d9f8c6b5-x2x9z"),
                container: None,
            };
            for round in 0..16i64 {
                let groups = (0..6)
                    .map(|g| GoroutineGroup {
                        count: 10 + g * 7 + round as u64,
                        frames: vec![Frame::new(format!("main.site{g}"), "/app/main.go", 40 + g as u32)],
                        ..Default::default()
                    })
                    .collect::<Vec<_>>();
                let total = groups.iter().map(|g| g.count).sum();
                let snap = gohealth_core::snapshot::Snapshot {
                    at: 1_700_000_000 + round * 300,
                    goroutines: Some(GoroutineProfile { total, groups, leak_profile: false }),
                    ..Default::default()
                };
                state.history.record(&target.key(), &snap);
            }
            report.targets.push(TargetReport {
                target: target.clone(),
                url: Some(format!("http://10.1.{}.{}:6060/debug/pprof", i / 250, i % 250)),
                result: if i % 10 == 0 { "Timeout".into() } else { "Ok".into() },
                message: None,
                goroutines: Some(120),
            });
            let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "x".repeat(200)).with_target(target);
            f.function = Some("main.(*Server).handleStream.func1".into());
            f.file = Some("/src/app/internal/server/stream.go".into());
            f.line = Some(214);
            f.count = Some(1500);
            report.findings.push(f.with_evidence("growthPerHour", 120).with_evidence("createdBy", "main.serve"));
        }
        let history = state.history_status();
        let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let status = crate::report::build_status(None, Some(1), &report, vec![], history, &now);
        let bytes = serde_json::to_vec(&status).unwrap().len();
        println!("status at 5000 targets: {bytes} bytes ({} history entries)", status.history.len());
        assert!(bytes < 200 * 1024, "status is {bytes} bytes");
        assert_eq!(status.targets.as_ref().unwrap().count, 5000);
        assert_eq!(status.summary.total, 5000);
    }
}
