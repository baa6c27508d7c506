//! The `evaluate` step: scrape results in, findings and per-target reports out. No I/O: it runs the
//! core's checks over each snapshot and the audit's history, which it updates.

use std::collections::{BTreeSet, HashMap};

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::history::{History, TargetHistoryRing};
use gohealth_core::diagnose::{diagnose, panic_restarts, scrape_failed};
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::scrape_error::ScrapeError;
use gohealth_core::snapshot::Snapshot;
use gohealth_core::target::ContainerRestarts;

use crate::report::TargetReport;

/// What scraping one target gave.
#[derive(Debug)]
pub struct Scraped {
    pub target: TargetRef,
    pub containers: Vec<ContainerRestarts>,
    /// The pprof base URL and snapshot, or why not (with the URL when one was resolved).
    pub result: Result<(String, Snapshot), (ScrapeError, Option<String>)>,
}

/// Findings and reports of every target; `history` and `last_leak_fetch` are updated and pruned to
/// the targets seen.
pub fn evaluate(
    checks: &ChecksConfig,
    scraped: Vec<Scraped>,
    history: &mut History,
    last_leak_fetch: &mut HashMap<String, i64>,
    now_secs: i64,
) -> (Vec<Finding>, Vec<TargetReport>) {
    let mut findings = Vec::new();
    let mut reports = Vec::new();
    let alive: BTreeSet<String> = scraped.iter().map(|s| s.target.key()).collect();
    for s in scraped {
        let key = s.target.key();
        findings.extend(panic_restarts(&s.target, &s.containers, &checks.go_panic_restarts));
        match s.result {
            Ok((url, snap)) => {
                history.record(&key, &snap);
                if snap.leaks.is_some() {
                    last_leak_fetch.insert(key.clone(), now_secs);
                }
                let empty = TargetHistoryRing::new(1);
                let ring = history.ring(&key).unwrap_or(&empty);
                findings.extend(diagnose(&s.target, &snap, ring, checks));
                reports.push(TargetReport {
                    target: s.target,
                    url: Some(url),
                    result: "Ok".into(),
                    message: (!snap.notes.is_empty()).then(|| snap.notes.join("; ")),
                    goroutines: snap.goroutines.as_ref().map(|g| g.total),
                });
            }
            Err((err, url)) => {
                findings.push(scrape_failed(&s.target, &err));
                reports.push(TargetReport {
                    target: s.target,
                    url,
                    result: err.reason().to_string(),
                    message: Some(err.to_string()),
                    goroutines: None,
                });
            }
        }
    }
    history.retain(|k| alive.contains(k));
    last_leak_fetch.retain(|k, _| alive.contains(k));
    (findings, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::CheckId;
    use gohealth_pprof::model::GoroutineProfile;

    fn target(pod: &str) -> TargetRef {
        TargetRef { namespace: "ns".into(), pod: pod.into(), container: None }
    }

    #[test]
    fn each_target_gets_a_report_and_failures_become_findings() {
        let mut history = History::default();
        let mut leak_clock = HashMap::from([("ns/gone".to_string(), 1)]);
        history.record("ns/gone", &Snapshot { at: 1, ..Default::default() });
        let ok = Snapshot {
            at: 100,
            goroutines: Some(GoroutineProfile { total: 12, ..Default::default() }),
            leaks: Some(GoroutineProfile::default()),
            ..Default::default()
        };
        let scraped = vec![
            Scraped {
                target: target("a"),
                containers: vec![],
                result: Ok(("http://10.0.0.1:6060/debug/pprof".into(), ok)),
            },
            Scraped { target: target("b"), containers: vec![], result: Err((ScrapeError::Timeout(3000), None)) },
        ];
        let (findings, reports) = evaluate(&ChecksConfig::default(), scraped, &mut history, &mut leak_clock, 100);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].goroutines, Some(12));
        assert_eq!(reports[1].result, "Timeout");
        assert!(findings.iter().any(|f| f.check == CheckId::ScrapeFailed));
        assert_eq!(leak_clock.get("ns/a"), Some(&100), "a goroutineleak fetch restarts the clock");
        assert!(!leak_clock.contains_key("ns/gone") && history.ring("ns/gone").is_none(), "gone targets are pruned");
    }
}
