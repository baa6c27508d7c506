//! The status an audit writes: bounded lists, exact counts, conditions whose `lastTransitionTime`
//! changes only with their status. Pure; the controller applies it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{
    GoHealthAuditStatus, MAX_STATUS_FINDINGS, MAX_STATUS_TARGETS, Summary, TargetHistory, TargetStatus, TargetsStatus,
};
use gohealth_core::finding::Severity;

use crate::report::{AuditReport, TargetReport};

/// Budget for `status.history` (JSON bytes): the core's default, so the whole status stays well under
/// etcd's object limit.
pub const STATUS_HISTORY_BUDGET: usize = gohealth_core::diagnose::history::DEFAULT_STATUS_HISTORY_BYTES;

pub const CONDITION_READY: &str = "Ready";
pub const CONDITION_DEGRADED: &str = "Degraded";
pub const CONDITION_ADMISSION: &str = "AdmissionObserved";
/// Only with `spec.checks.benignSitesConfigMap`: whether its entries were read.
pub const CONDITION_BENIGN_SITES: &str = "BenignSitesLoaded";

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

/// The targets listed in status, at most `MAX_STATUS_TARGETS`, sorted by namespace and name. When the
/// list must be cut, failed targets come first, then those with the most findings, then healthy ones
/// by name: a reader looks for what is wrong, and a stable choice keeps the status from churning.
/// The counts in `status.targets` are always exact.
fn target_items(targets: &[TargetReport]) -> Vec<TargetStatus> {
    let mut chosen: Vec<&TargetReport> = targets.iter().collect();
    let by_name = |a: &&TargetReport, b: &&TargetReport| {
        (&a.target.namespace, &a.target.pod).cmp(&(&b.target.namespace, &b.target.pod))
    };
    if chosen.len() > MAX_STATUS_TARGETS {
        chosen
            .sort_by(|a, b| a.ok().cmp(&b.ok()).then_with(|| b.findings.cmp(&a.findings)).then_with(|| by_name(a, b)));
        chosen.truncate(MAX_STATUS_TARGETS);
    }
    chosen.sort_by(by_name);
    chosen
        .into_iter()
        .map(|t| TargetStatus {
            namespace: t.target.namespace.clone(),
            pod: t.target.pod.clone(),
            url: t.url.clone(),
            result: t.result.clone(),
            goroutines: t.goroutines,
            findings: t.findings,
            message: t.message.clone(),
        })
        .collect()
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
    let items = target_items(&report.targets);

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
        // Owned by its own field manager (controller::patch_in_progress), never by this apply.
        in_progress: None,
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
    status.in_progress = None;
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
            findings: 0,
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
                .map(|i| {
                    let mut t = target(&format!("p{i:03}"), if i % 50 == 0 { "Timeout" } else { "Ok" });
                    t.findings = u32::from(i % 7 == 3);
                    t
                })
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
        assert_eq!(targets.items.iter().filter(|t| t.findings > 0).count(), 36, "then those with findings");
        assert!(targets.items.windows(2).all(|w| w[0].pod < w[1].pod), "listed by name");
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

    #[test]
    fn a_grouped_finding_is_not_new_when_its_worst_pod_changes() {
        let leak = |pod: &str, count: u64| {
            let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "m").with_target(TargetRef {
                namespace: "ns".into(),
                pod: pod.into(),
                container: None,
            });
            f.function = Some("main.leak".into());
            f.count = Some(count);
            f
        };
        let workloads: std::collections::HashMap<String, String> =
            ["ns/web-a", "ns/web-b"].iter().map(|p| (p.to_string(), "Deployment/web".to_string())).collect();
        let group = |f| gohealth_core::diagnose::by_workload::by_workload(f, &workloads);
        let first = gohealth_core::diagnose::merge_seen(&[], group(vec![leak("web-a", 9)]), "2026-01-01T00:00:00Z");
        let prev = GoHealthAuditStatus { findings: first, ..Default::default() };
        let now = group(vec![leak("web-a", 9), leak("web-b", 90)]);
        let now = gohealth_core::diagnose::merge_seen(&prev.findings, now, "2026-01-01T00:05:00Z");
        assert_eq!(now[0].target.as_ref().map(|t| t.pod.as_str()), Some("web-b"));
        assert_eq!(now[0].first_seen.as_deref(), Some("2026-01-01T00:00:00Z"), "firstSeen kept by the workload key");
        assert!(new_findings(Some(&prev), &now).is_empty(), "no second Event");
    }
}

#[cfg(test)]
mod status_size {
    use std::collections::HashMap;

    use super::*;
    use crate::report::TargetReport;
    use gohealth_core::diagnose::by_workload::by_workload;
    use gohealth_core::diagnose::history::History;
    use gohealth_core::diagnose::merge_seen;
    use gohealth_core::finding::{CheckId, Confidence, Finding, Severity, TargetRef};
    use gohealth_pprof::model::{Frame, GoroutineGroup, GoroutineProfile};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const DEPLOYMENTS: usize = 10;
    const REPLICAS: usize = 1000;

    /// 10 Deployments × 1,000 pods; every 100th pod's scrape timed out (100 failed targets), every
    /// other pod has two findings (a leak and long-blocked goroutines at its Deployment's sites),
    /// history for every target. Returns the findings as the checks give them (per pod), the workload
    /// of each pod, the reports and the history.
    fn fleet() -> (Vec<Finding>, HashMap<String, String>, Vec<TargetReport>, History) {
        let mut findings = Vec::new();
        let mut workloads = HashMap::new();
        let mut reports = Vec::new();
        let mut history = History::default();
        for d in 0..DEPLOYMENTS {
            for r in 0..REPLICAS {
                let target = TargetRef {
                    namespace: format!("team-{}", d % 4),
                    pod: format!("service-{d:02}-7d9f8c6b5-{r:05}"),
                    container: None,
                };
                workloads.insert(target.key(), format!("Deployment/service-{d:02}"));
                for round in 0..4i64 {
                    let groups = (0..6)
                        .map(|g| GoroutineGroup {
                            count: 10 + g * 7 + round as u64,
                            frames: vec![Frame::new(format!("main.site{g}"), "/app/main.go", 40 + g as u32)].into(),
                            ..Default::default()
                        })
                        .collect::<Vec<_>>();
                    let snap = gohealth_core::snapshot::Snapshot {
                        at: 1_700_000_000 + round * 300,
                        goroutines: Some(GoroutineProfile {
                            total: groups.iter().map(|g| g.count).sum(),
                            groups: groups.into(),
                            leak_profile: false,
                        }),
                        ..Default::default()
                    };
                    history.record(&target.key(), &snap);
                }
                let failed = r % 100 == 0;
                let mut mine = Vec::new();
                if failed {
                    let mut f = Finding::new(
                        CheckId::ScrapeFailed,
                        Severity::Warning,
                        format!(
                            "Timeout: no answer from {} within 3000 ms; {}",
                            "http://10.1.2.3:6060",
                            "x".repeat(80)
                        ),
                    )
                    .with_target(target.clone());
                    f.evidence.insert("reason".into(), "Timeout".into());
                    mine.push(f);
                } else {
                    mine.push(site_finding(CheckId::GoroutineLeak, &target, 1500 + r as u64, 214));
                    mine.push(site_finding(CheckId::LongBlockedGoroutines, &target, 40 + (r % 7) as u64, 97));
                }
                reports.push(TargetReport {
                    target: target.clone(),
                    url: Some(format!("http://10.{d}.{}.{}:6060/debug/pprof", r / 250, r % 250)),
                    result: if failed { "Timeout".into() } else { "Ok".into() },
                    message: failed.then(|| "timed out after 3000 ms".to_string()),
                    goroutines: (!failed).then_some(1600),
                    findings: mine.len() as u32,
                });
                findings.extend(mine);
            }
        }
        (findings, workloads, reports, history)
    }

    /// A site finding with the lengths real ones have (message, site, evidence).
    fn site_finding(check: CheckId, target: &TargetRef, count: u64, line: u32) -> Finding {
        let mut f = Finding::new(
            check,
            Severity::Warning,
            format!(
                "{count} goroutines blocked in chan receive at main.(*Server).handleStream.func1 and growing \
                 by 120/h over 30m (r=0.97); nothing closes the channel they wait on. Close it or select on \
                 ctx.Done() so the goroutines can return."
            ),
        )
        .with_target(target.clone())
        .with_evidence("growthPerHour", 120)
        .with_evidence("createdBy", "main.(*Server).serve")
        .with_evidence("waitState", "chan receive");
        f.function = Some("main.(*Server).handleStream.func1".into());
        f.file = Some("/src/app/internal/server/stream.go".into());
        f.line = Some(line);
        f.count = Some(count);
        f.confidence = Some(Confidence::Likely);
        f
    }

    fn status_of(findings: Vec<Finding>, reports: Vec<TargetReport>, history: &History) -> GoHealthAuditStatus {
        let report = AuditReport {
            targets: reports,
            findings: merge_seen(&[], findings, "2026-01-01T00:00:00Z"),
            ..Default::default()
        };
        let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
        build_status(None, Some(1), &report, vec![], history.to_status(STATUS_HISTORY_BUDGET), &now)
    }

    /// Issue 11's bound: status ≤ 256 KiB at 10,000 targets.
    #[test]
    fn status_at_10000_targets_is_at_most_256_kib() {
        let (findings, workloads, reports, history) = fleet();
        let per_pod = findings.len();
        let grouped = by_workload(findings, &workloads);
        // 2 sites + 1 ScrapeFailed reason per Deployment.
        assert_eq!(grouped.len(), DEPLOYMENTS * 3);
        let leak = grouped.iter().find(|f| f.check == CheckId::GoroutineLeak).unwrap();
        assert_eq!(leak.replicas, Some(990));
        assert_eq!(leak.pods.len(), 5);
        let status = status_of(grouped, reports, &history);
        let bytes = json_len(&status);
        println!(
            "status at 10000 targets: {bytes} bytes (findings {} from {per_pod} per-pod findings: {} bytes; targets.items {}: {} bytes; history {} entries: {} bytes)",
            status.findings.len(),
            json_len(&status.findings),
            status.targets.as_ref().unwrap().items.len(),
            json_len(&status.targets),
            status.history.len(),
            json_len(&status.history),
        );
        assert!(bytes <= 256 * 1024, "status is {bytes} bytes");
        let targets = status.targets.as_ref().unwrap();
        assert_eq!((targets.count, targets.failed, targets.healthy), (10_000, 100, 9_900));
        assert_eq!(targets.items.len(), MAX_STATUS_TARGETS);
        assert_eq!(targets.items.iter().filter(|t| t.result != "Ok").count(), 100, "failed targets listed first");
        assert_eq!(status.summary.total, 30);
        assert!(status.findings.iter().all(|f| f.workload.is_some()));
    }

    /// For comparison: the same fleet without grouping (the status list is capped either way; what
    /// grouping buys there is that one leak in many replicas no longer crowds out the others).
    #[test]
    fn status_at_10000_targets_without_grouping() {
        let (findings, _, reports, history) = fleet();
        let status = status_of(findings, reports, &history);
        let bytes = json_len(&status);
        println!("status at 10000 targets, findings per pod: {bytes} bytes, summary {:?}", status.summary);
        assert_eq!(status.findings.len(), MAX_STATUS_FINDINGS);
        assert!(
            status.findings.iter().all(|f| f.check == CheckId::GoroutineLeak),
            "every slot taken by a pod's copy of the same leak"
        );
    }

    fn json_len<T: serde::Serialize>(v: &T) -> usize {
        serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0)
    }
}
