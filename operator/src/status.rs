//! The status an audit writes: bounded lists, exact counts, conditions whose `lastTransitionTime`
//! changes only with their status. Pure; the controller applies it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{
    GoHealthAuditStatus, MAX_STATUS_FINDINGS, MAX_STATUS_TARGETS, Summary, TargetHistory, TargetStatus, TargetsStatus,
};
use gohealth_core::finding::Severity;

use crate::report::AuditReport;

/// Budget for `status.history` (JSON bytes): the core's default, so the whole status stays well under
/// etcd's object limit.
pub const STATUS_HISTORY_BUDGET: usize = gohealth_core::diagnose::history::DEFAULT_STATUS_HISTORY_BYTES;

pub const CONDITION_READY: &str = "Ready";
pub const CONDITION_DEGRADED: &str = "Degraded";
pub const CONDITION_ADMISSION: &str = "AdmissionObserved";

/// A condition to set; `lastTransitionTime` is managed by [`set_condition`].
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionUpdate {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

/// Set a condition keeping `lastTransitionTime` unless its status changes (the common bug is to bump it on
/// every write, which makes `kubectl wait` and alerting on transitions useless).
pub fn set_condition(conditions: &mut Vec<Condition>, update: ConditionUpdate, generation: Option<i64>, now: &Time) {
    let status = if update.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = update.reason;
            c.message = update.message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: update.type_.to_string(),
            status,
            reason: update.reason,
            message: update.message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Findings ordered most severe first, then by count, then by key (stable across audits).
pub fn rank_findings(findings: &mut [gohealth_core::finding::Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.count.unwrap_or(0).cmp(&a.count.unwrap_or(0)))
            .then_with(|| a.key().cmp(&b.key()))
    });
}

pub fn summarize(findings: &[gohealth_core::finding::Finding]) -> Summary {
    let mut s = Summary::default();
    for f in findings {
        match f.severity {
            Severity::Critical => s.critical += 1,
            Severity::Warning => s.warning += 1,
            Severity::Info => s.info += 1,
        }
        s.total += 1;
    }
    s
}

/// Build the status an audit writes: bounded lists, exact counts, conditions with stable transition times.
pub fn build_status(
    previous: Option<&GoHealthAuditStatus>,
    generation: Option<i64>,
    report: &AuditReport,
    extra_conditions: Vec<ConditionUpdate>,
    history: Vec<TargetHistory>,
    now: &Time,
) -> GoHealthAuditStatus {
    let mut findings = report.findings.clone();
    rank_findings(&mut findings);
    let summary = summarize(&findings);
    findings.truncate(MAX_STATUS_FINDINGS);

    let failed = report.targets.iter().filter(|t| !t.ok()).count();
    let mut items: Vec<TargetStatus> = report
        .targets
        .iter()
        .map(|t| TargetStatus {
            namespace: t.target.namespace.clone(),
            pod: t.target.pod.clone(),
            url: t.url.clone(),
            result: t.result.clone(),
            goroutines: t.goroutines,
            findings: report.findings.iter().filter(|f| f.target.as_ref() == Some(&t.target)).count() as u32,
            message: t.message.clone(),
        })
        .collect();
    items.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    // Failed targets first when the list must be cut: they are what a reader looks for.
    if items.len() > MAX_STATUS_TARGETS {
        items.sort_by_key(|t| t.result == "Ok");
        items.truncate(MAX_STATUS_TARGETS);
        items.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    }

    let mut conditions = previous.map(|p| p.conditions.clone()).unwrap_or_default();
    let total = report.targets.len();
    let ready_message = format!(
        "audited {total} target(s): {} ok, {failed} failed; {} finding(s) ({} critical, {} warning)",
        total - failed,
        summary.total,
        summary.critical,
        summary.warning
    );
    let ready_reason = if total == 0 { "NoTargets" } else { "AuditComplete" };
    set_condition(
        &mut conditions,
        ConditionUpdate { type_: CONDITION_READY, status: true, reason: ready_reason.into(), message: ready_message },
        generation,
        now,
    );
    let (degraded, reason, message) = if failed > 0 {
        (true, "ScrapesFailing", format!("{failed} of {total} target(s) could not be scraped"))
    } else if summary.critical > 0 {
        (true, "CriticalFindings", format!("{} critical finding(s)", summary.critical))
    } else {
        (false, "Healthy", "no failed scrapes and no critical findings".to_string())
    };
    set_condition(
        &mut conditions,
        ConditionUpdate { type_: CONDITION_DEGRADED, status: degraded, reason: reason.into(), message },
        generation,
        now,
    );
    for c in extra_conditions {
        set_condition(&mut conditions, c, generation, now);
    }

    GoHealthAuditStatus {
        conditions,
        observed_generation: generation,
        last_audit_time: Some(now.0.to_string()),
        targets: Some(TargetsStatus {
            count: total as u32,
            healthy: (total - failed) as u32,
            failed: failed as u32,
            items,
        }),
        summary,
        findings,
        history,
        admission: report.admission.clone(),
    }
}

/// Status for an audit that could not run at all (bad spec, API errors): keeps what was there, flips Ready.
pub fn failed_status(
    previous: Option<&GoHealthAuditStatus>,
    generation: Option<i64>,
    reason: &str,
    message: String,
    now: &Time,
) -> GoHealthAuditStatus {
    let mut status = previous.cloned().unwrap_or_default();
    set_condition(
        &mut status.conditions,
        ConditionUpdate { type_: CONDITION_READY, status: false, reason: reason.into(), message },
        generation,
        now,
    );
    status.observed_generation = generation;
    status
}

/// Findings that are new since the previous status (by key): these get a Kubernetes Event.
pub fn new_findings<'a>(
    previous: Option<&GoHealthAuditStatus>,
    current: &'a [gohealth_core::finding::Finding],
) -> Vec<&'a gohealth_core::finding::Finding> {
    let seen: std::collections::BTreeSet<String> =
        previous.map(|p| p.findings.iter().map(|f| f.key()).collect()).unwrap_or_default();
    current.iter().filter(|f| f.severity >= Severity::Warning && !seen.contains(&f.key())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TargetReport;
    use gohealth_core::finding::{CheckId, Finding, TargetRef};

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn target(pod: &str, result: &str) -> TargetReport {
        TargetReport {
            target: TargetRef { namespace: "ns".into(), pod: pod.into(), container: None },
            url: Some(format!("http://127.0.0.1:1/{pod}")),
            result: result.into(),
            message: None,
            goroutines: Some(10),
        }
    }

    #[test]
    fn transition_time_changes_only_with_status() {
        let mut c = Vec::new();
        let up = |s: bool, r: &str| ConditionUpdate {
            type_: CONDITION_READY,
            status: s,
            reason: r.into(),
            message: "m".into(),
        };
        set_condition(&mut c, up(true, "A"), Some(1), &t("2026-01-01T00:00:00Z"));
        set_condition(&mut c, up(true, "B"), Some(2), &t("2026-01-01T01:00:00Z"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(c[0].reason, "B");
        assert_eq!(c[0].observed_generation, Some(2));
        set_condition(&mut c, up(false, "C"), Some(2), &t("2026-01-01T02:00:00Z"));
        assert_eq!(c[0].last_transition_time, t("2026-01-01T02:00:00Z"));
    }

    #[test]
    fn status_is_bounded_and_counts_are_exact() {
        let report = AuditReport {
            targets: (0..250)
                .map(|i| target(&format!("p{i:03}"), if i % 50 == 0 { "Timeout" } else { "Ok" }))
                .collect(),
            findings: (0..120)
                .map(|i| {
                    let sev = if i % 3 == 0 { Severity::Critical } else { Severity::Info };
                    let mut f = Finding::new(CheckId::GoroutineLeak, sev, "m");
                    f.function = Some(format!("main.f{i}"));
                    f
                })
                .collect(),
            ..Default::default()
        };
        let s = build_status(None, Some(3), &report, vec![], vec![], &t("2026-01-01T00:00:00Z"));
        let targets = s.targets.unwrap();
        assert_eq!(targets.count, 250);
        assert_eq!(targets.failed, 5);
        assert_eq!(targets.items.len(), MAX_STATUS_TARGETS);
        assert_eq!(targets.items.iter().filter(|t| t.result != "Ok").count(), 5, "failed targets are kept");
        assert_eq!(s.summary.total, 120);
        assert_eq!(s.summary.critical, 40);
        assert_eq!(s.findings.len(), MAX_STATUS_FINDINGS);
        assert!(s.findings[..40].iter().all(|f| f.severity == Severity::Critical));
        let degraded = s.conditions.iter().find(|c| c.type_ == CONDITION_DEGRADED).unwrap();
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "ScrapesFailing");
    }

    #[test]
    fn only_new_warning_findings_raise_events() {
        let mut a = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "m");
        a.function = Some("main.a".into());
        let mut b = a.clone();
        b.function = Some("main.b".into());
        let info = Finding::new(CheckId::ContentionProfilingDisabled, Severity::Info, "m");
        let prev = GoHealthAuditStatus { findings: vec![a.clone()], ..Default::default() };
        let current = vec![a, b.clone(), info];
        let fresh = new_findings(Some(&prev), &current);
        assert_eq!(fresh, vec![&b]);
    }
}

#[cfg(test)]
mod status_size {
    use super::*;
    use crate::report::TargetReport;
    use gohealth_core::diagnose::history::History;
    use gohealth_core::finding::{CheckId, Finding, Severity, TargetRef};
    use gohealth_pprof::model::{Frame, GoroutineGroup, GoroutineProfile};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// Status stays well under etcd's 1.5 MiB object limit (and our 256 KiB goal) at 5,000 targets, with
    /// history for every target and a finding on every target.
    #[test]
    fn status_at_5000_targets_is_well_under_256_kib() {
        let mut history = History::default();
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
                        frames: vec![Frame::new(format!("main.site{g}"), "/app/main.go", 40 + g as u32)].into(),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>();
                let total = groups.iter().map(|g| g.count).sum();
                let snap = gohealth_core::snapshot::Snapshot {
                    at: 1_700_000_000 + round * 300,
                    goroutines: Some(GoroutineProfile { total, groups: groups.into(), leak_profile: false }),
                    ..Default::default()
                };
                history.record(&target.key(), &snap);
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
        let history = history.to_status(STATUS_HISTORY_BUDGET);
        let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let status = build_status(None, Some(1), &report, vec![], history, &now);
        let bytes = serde_json::to_vec(&status).unwrap().len();
        println!("status at 5000 targets: {bytes} bytes ({} history entries)", status.history.len());
        assert!(bytes < 200 * 1024, "status is {bytes} bytes");
        assert_eq!(status.targets.as_ref().unwrap().count, 5000);
        assert_eq!(status.summary.total, 5000);
    }
}
