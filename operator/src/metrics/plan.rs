//! Pure: an `AuditReport` → the series values to publish for it, within a per-target series budget.

use std::collections::BTreeMap;

use gohealth_core::finding::CheckId;

use super::labels::{AdmissionLabels, AuditLabels, FindingLabels, LeakSiteLabels, ReasonLabels, TargetLabels};
use crate::report::AuditReport;

/// Leak sites exported per audit (the largest by goroutine count).
pub const MAX_LEAK_SITES_PER_AUDIT: usize = 10;

/// Checks whose findings describe a goroutine leak site (used by `gohealth_leak_site_goroutines`).
const LEAK_CHECKS: [CheckId; 5] = [
    CheckId::GoroutineLeak,
    CheckId::ProvenGoroutineLeak,
    CheckId::TickerLoopGrowth,
    CheckId::GoexitInDefer,
    CheckId::LongBlockedGoroutines,
];

/// What a report turns into, computed without touching the registry.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ReportPlan {
    /// `gohealth_findings`: only pairs with findings (no zero series).
    pub findings: BTreeMap<FindingLabels, f64>,
    pub admission: BTreeMap<AdmissionLabels, f64>,
    /// Largest first, at most `MAX_LEAK_SITES_PER_AUDIT`.
    pub leak_sites: Vec<(LeakSiteLabels, f64)>,
    /// `gohealth_targets`, and the increments of `gohealth_scrapes_total`.
    pub targets_by_reason: BTreeMap<ReasonLabels, u64>,
    pub goroutines: u64,
    /// Largest first, at most the budget.
    pub target_goroutines: Vec<(TargetLabels, u64)>,
    /// Successfully scraped targets left without a per-target series.
    pub omitted: usize,
    /// `gohealth_audit_last_success_timestamp_seconds`.
    pub finished: f64,
    /// The observation for `gohealth_audit_duration_seconds`, when the duration is a real one.
    pub duration: Option<f64>,
}

pub(crate) fn plan_report(audit: &AuditLabels, report: &AuditReport, target_budget: usize) -> ReportPlan {
    let mut plan = ReportPlan::default();
    let mut sites: BTreeMap<LeakSiteLabels, f64> = BTreeMap::new();
    for f in &report.findings {
        let check = f.check.as_str();
        let severity = f.severity.as_str();
        let finding = FindingLabels { audit: audit.clone(), check: check.to_string(), severity: severity.to_string() };
        *plan.findings.entry(finding).or_default() += 1.0;
        if f.check.is_admission() {
            let admission = AdmissionLabels {
                audit: audit.clone(),
                plugin: f.plugin.clone().unwrap_or_else(|| "none".to_string()),
                check: check.to_string(),
                severity: severity.to_string(),
            };
            *plan.admission.entry(admission).or_default() += 1.0;
        }
        if LEAK_CHECKS.contains(&f.check)
            && let Some(function) = &f.function
        {
            // Cut before summing: functions that share the cut prefix share the series.
            let site = LeakSiteLabels::new(audit.clone(), check, function);
            // Over every pod of a finding grouped by workload, not only its worst one.
            *sites.entry(site).or_default() += f.total_count().unwrap_or(1) as f64;
        }
    }
    let mut sites: Vec<_> = sites.into_iter().collect();
    // Largest first; ties by name so the chosen set is deterministic.
    sites.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sites.truncate(MAX_LEAK_SITES_PER_AUDIT);
    plan.leak_sites = sites;

    // One series per pod even if the report lists a pod twice (the last entry wins).
    let mut per_pod: BTreeMap<TargetLabels, u64> = BTreeMap::new();
    for t in &report.targets {
        let reason = ReasonLabels { audit: audit.clone(), reason: t.result.clone() };
        *plan.targets_by_reason.entry(reason).or_default() += 1;
        if t.ok()
            && let Some(n) = t.goroutines
        {
            plan.goroutines += n;
            let pod = TargetLabels {
                audit: audit.clone(),
                target_namespace: t.target.namespace.clone(),
                target_pod: t.target.pod.clone(),
            };
            per_pod.insert(pod, n);
        }
    }
    let mut pods: Vec<_> = per_pod.into_iter().collect();
    // When capped, keep the targets with the most goroutines: those are the ones worth graphing.
    pods.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total_ok = pods.len();
    pods.truncate(target_budget);
    // Failed targets have no goroutine count to export, so only the capped ones count as omitted.
    plan.omitted = total_ok - pods.len();
    plan.target_goroutines = pods;

    plan.finished = report.started_at as f64 + report.duration_seconds.max(0.0);
    plan.duration =
        (report.duration_seconds.is_finite() && report.duration_seconds >= 0.0).then_some(report.duration_seconds);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::labels::MAX_FUNCTION_LABEL_LEN;
    use crate::metrics::tests::synthetic;
    use gohealth_core::finding::{Finding, Severity};

    fn audit() -> AuditLabels {
        AuditLabels { namespace: "team-a".into(), audit: "fleet".into() }
    }

    fn finding(check: &str, severity: &str) -> FindingLabels {
        FindingLabels { audit: audit(), check: check.into(), severity: severity.into() }
    }

    #[test]
    fn plans_a_synthetic_report() {
        let plan = plan_report(&audit(), &synthetic(3), 100);
        assert_eq!(plan.findings.len(), 5);
        assert_eq!(plan.findings.get(&finding("GoroutineLeak", "warning")), Some(&1.0));
        assert_eq!(plan.findings.get(&finding("ScrapeFailed", "warning")), Some(&1.0));
        let plugins: Vec<(&str, &str)> = plan.admission.keys().map(|a| (a.plugin.as_str(), a.check.as_str())).collect();
        assert_eq!(
            plugins,
            [("AlwaysAdmit", "InsecureAdmissionPlugin"), ("PodSecurityPolicy", "RemovedAdmissionPlugin")]
        );
        // GoroutineLeak (500) before ProvenGoroutineLeak (480), same function
        let sites: Vec<(&str, f64)> = plan.leak_sites.iter().map(|(l, n)| (l.function(), *n)).collect();
        assert_eq!(sites, [("main.leakyHandler.func1", 500.0), ("main.leakyHandler.func1", 480.0)]);
        let reasons: Vec<(&str, u64)> = plan.targets_by_reason.iter().map(|(r, n)| (r.reason.as_str(), *n)).collect();
        assert_eq!(reasons, [("ConnectionRefused", 1), ("Ok", 3)]);
        assert_eq!(plan.goroutines, 10 + 11 + 12);
        let pods: Vec<(&str, u64)> = plan.target_goroutines.iter().map(|(t, n)| (t.target_pod.as_str(), *n)).collect();
        assert_eq!(pods, [("pod-2", 12), ("pod-1", 11), ("pod-0", 10)]);
        assert_eq!(plan.omitted, 0);
        assert_eq!(plan.finished, 1_790_000_002.5);
        assert_eq!(plan.duration, Some(2.5));
    }

    #[test]
    fn budget_keeps_the_largest_targets_and_counts_the_rest() {
        let plan = plan_report(&audit(), &synthetic(40), 5);
        let pods: Vec<&str> = plan.target_goroutines.iter().map(|(t, _)| t.target_pod.as_str()).collect();
        assert_eq!(pods, ["pod-39", "pod-38", "pod-37", "pod-36", "pod-35"]);
        // the refused target has no count, so it is not "omitted"
        assert_eq!(plan.omitted, 35);
        assert_eq!(plan.goroutines, (10..50).sum::<u64>());
        let none = plan_report(&audit(), &synthetic(40), 0);
        assert!(none.target_goroutines.is_empty());
        assert_eq!(none.omitted, 40);
    }

    #[test]
    fn a_pod_listed_twice_is_one_series() {
        let mut report = synthetic(2);
        let mut again = report.targets[0].clone();
        again.goroutines = Some(99);
        report.targets.push(again);
        let plan = plan_report(&audit(), &report, 100);
        assert_eq!(plan.target_goroutines.len(), 2);
        assert_eq!(plan.target_goroutines[0].1, 99);
        assert_eq!(plan.targets_by_reason.values().sum::<u64>(), 4);
    }

    #[test]
    fn bogus_durations_are_not_observed() {
        let mut report = synthetic(1);
        report.duration_seconds = f64::NAN;
        let plan = plan_report(&audit(), &report, 10);
        assert_eq!(plan.duration, None);
        report.duration_seconds = -3.0;
        let plan = plan_report(&audit(), &report, 10);
        assert_eq!(plan.duration, None);
        assert_eq!(plan.finished, 1_790_000_000.0);
    }

    #[test]
    fn leak_sites_are_capped_and_truncated() {
        let mut report = synthetic(1);
        for i in 0..30 {
            let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "x");
            f.function = Some(format!("main.site{i}{}", "x".repeat(300)));
            f.count = Some(i);
            report.findings.push(f);
        }
        let plan = plan_report(&audit(), &report, 10);
        assert_eq!(plan.leak_sites.len(), MAX_LEAK_SITES_PER_AUDIT);
        assert_eq!(plan.leak_sites[0].1, 500.0);
        assert!(plan.leak_sites.iter().all(|(l, _)| l.function().len() <= MAX_FUNCTION_LABEL_LEN + '…'.len_utf8()));
    }
}
