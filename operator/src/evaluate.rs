//! The `evaluate` step: scrape results in, findings and per-target reports out. No I/O: it runs the
//! core's checks over each snapshot and the audit's history, which it updates.

use std::collections::{BTreeSet, HashMap};

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::dump_schedule::DumpBaseline;
use gohealth_core::diagnose::history::{History, TargetHistoryRing};
use gohealth_core::diagnose::{diagnose, panic_restarts, scrape_failed};
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::scrape_error::ScrapeError;
use gohealth_core::snapshot::Snapshot;
use gohealth_core::target::ContainerRestarts;

use crate::report::{FullDumps, TargetReport};

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
    let mut evaluation = Evaluation::new(checks, now_secs);
    for (position, s) in scraped.into_iter().enumerate() {
        evaluation.add(position, s, history);
    }
    evaluation.finish(history, last_leak_fetch)
}

/// [`evaluate`] one target at a time, in any order: the cycle evaluates each target as its scrape
/// completes, so it holds the snapshots in flight rather than one per target (a snapshot of a
/// program with 1,000 goroutines is about 100 KiB; at 10,000 targets that was most of the memory).
pub struct Evaluation<'a> {
    checks: &'a ChecksConfig,
    now_secs: i64,
    /// Per target: its position among the audit's targets, its findings and report.
    done: Vec<(usize, Vec<Finding>, TargetReport)>,
    /// Targets whose goroutineleak profile was fetched (their clock restarts at `now_secs`).
    leak_fetched: Vec<String>,
    full_dumps: FullDumps,
}

impl<'a> Evaluation<'a> {
    pub fn new(checks: &'a ChecksConfig, now_secs: i64) -> Evaluation<'a> {
        Evaluation { checks, now_secs, done: Vec::new(), leak_fetched: Vec::new(), full_dumps: FullDumps::default() }
    }

    /// Evaluates one target; `position` orders the output as if the targets had come in that order.
    pub fn add(&mut self, position: usize, s: Scraped, history: &mut History) {
        let checks = self.checks;
        let key = s.target.key();
        let mut found = panic_restarts(&s.target, &s.containers, &checks.go_panic_restarts);
        let mut report = match s.result {
            Ok((url, snap)) => {
                history.record(&key, &snap);
                let empty = TargetHistoryRing::new(1);
                let ring = history.ring(&key).unwrap_or(&empty);
                found.extend(diagnose(&s.target, &snap, ring, checks));
                if snap.full_dump_deferred.is_some() {
                    self.full_dumps.deferred += 1;
                } else if snap.goroutines_full.is_some() {
                    self.full_dumps.taken += 1;
                }
                let next = DumpBaseline::next(ring.dump_baseline(), &snap, &found, checks);
                history.set_dump_baseline(&key, next);
                if snap.leaks.is_some() {
                    self.leak_fetched.push(key);
                }
                TargetReport {
                    target: s.target,
                    url: Some(url),
                    result: "Ok".into(),
                    message: (!snap.notes.is_empty()).then(|| snap.notes.join("; ")),
                    goroutines: snap.goroutines.as_ref().map(|g| g.total),
                    findings: 0,
                }
            }
            Err((err, url)) => {
                found.push(scrape_failed(&s.target, &err));
                TargetReport {
                    target: s.target,
                    url,
                    result: err.reason().to_string(),
                    message: Some(err.to_string()),
                    goroutines: None,
                    findings: 0,
                }
            }
        };
        // Counted here, per pod: once grouped by workload, a finding names only its worst pods.
        let distinct: BTreeSet<String> = found.iter().map(Finding::key).collect();
        report.findings = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
        self.done.push((position, found, report));
    }

    /// debug=2 dumps taken and deferred so far.
    pub fn full_dumps(&self) -> FullDumps {
        self.full_dumps
    }

    /// Findings and reports in target order; `history` and `last_leak_fetch` pruned to the targets seen.
    pub fn finish(
        mut self,
        history: &mut History,
        last_leak_fetch: &mut HashMap<String, i64>,
    ) -> (Vec<Finding>, Vec<TargetReport>) {
        self.done.sort_by_key(|(position, _, _)| *position);
        let alive: BTreeSet<String> = self.done.iter().map(|(_, _, r)| r.target.key()).collect();
        for key in self.leak_fetched {
            last_leak_fetch.insert(key, self.now_secs);
        }
        history.retain(|k| alive.contains(k));
        last_leak_fetch.retain(|k, _| alive.contains(k));
        let mut findings = Vec::new();
        let mut reports = Vec::with_capacity(self.done.len());
        for (_, found, report) in self.done {
            findings.extend(found);
            reports.push(report);
        }
        (findings, reports)
    }
}

/// The workload a pod belongs to, by which its findings are grouped (`gohealth_core::diagnose::by_workload`):
/// its controller owner (`Deployment/x` for a ReplicaSet made by a Deployment, else `StatefulSet/x`,
/// `DaemonSet/x`, `Job/x`, ...); none for a pod without one, or whose owner is its Node (a static
/// pod's mirror: the node's static pods are different programs, not replicas).
pub fn workload_of(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let owner = pod.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))?;
    let hash = pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
    match (owner.kind.as_str(), hash) {
        ("Node", _) => None,
        ("ReplicaSet", Some(h)) => match owner.name.strip_suffix(&format!("-{h}")) {
            Some(deployment) => Some(format!("Deployment/{deployment}")),
            None => Some(format!("ReplicaSet/{}", owner.name)),
        },
        (kind, _) => Some(format!("{kind}/{}", owner.name)),
    }
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
        assert_eq!(reports[1].findings, 1, "its ScrapeFailed");
        assert!(findings.iter().any(|f| f.check == CheckId::ScrapeFailed));
        assert_eq!(leak_clock.get("ns/a"), Some(&100), "a goroutineleak fetch restarts the clock");
        assert!(!leak_clock.contains_key("ns/gone") && history.ring("ns/gone").is_none(), "gone targets are pruned");
    }

    #[test]
    fn a_quiet_dump_leaves_a_baseline_that_deferred_audits_keep_and_findings_clear() {
        let mut history = History::default();
        let mut leak_clock = HashMap::new();
        let checks = ChecksConfig::default();
        let quiet = GoroutineProfile { total: 12, ..Default::default() };
        let snap = |at: i64, full: bool, deferred: Option<i64>| Snapshot {
            at,
            goroutines: Some(quiet.clone()),
            goroutines_full: full.then(|| quiet.clone()),
            full_dump_deferred: deferred,
            ..Default::default()
        };
        let mut audit = |s: Snapshot, containers: Vec<ContainerRestarts>| {
            let scraped = vec![Scraped { target: target("a"), containers, result: Ok(("u".into(), s)) }];
            let mut e = Evaluation::new(&checks, 0);
            for (i, s) in scraped.into_iter().enumerate() {
                e.add(i, s, &mut history);
            }
            let dumps = e.full_dumps();
            e.finish(&mut history, &mut leak_clock);
            (dumps, history.ring("ns/a").and_then(|r| r.dump_baseline()).map(|b| b.at))
        };
        assert_eq!(audit(snap(100, true, None), vec![]), (FullDumps { taken: 1, deferred: 0 }, Some(100)));
        assert_eq!(audit(snap(160, false, Some(100)), vec![]), (FullDumps { taken: 0, deferred: 1 }, Some(100)));
        assert_eq!(audit(snap(220, true, None), vec![]), (FullDumps { taken: 1, deferred: 0 }, Some(220)));
        // A goroutineleak profile fetched in a deferred audit proves a leak: the next audit takes a dump.
        let leaked = gohealth_pprof::model::GoroutineGroup {
            count: 3,
            frames: vec![gohealth_pprof::model::Frame::new("main.stuck", "/app/main.go", 7)].into(),
            ..Default::default()
        };
        let proven = Snapshot {
            leaks: Some(GoroutineProfile { total: 3, groups: vec![leaked].into(), leak_profile: true }),
            ..snap(250, false, Some(220))
        };
        assert_eq!(audit(proven, vec![]), (FullDumps { taken: 0, deferred: 1 }, None));
        assert_eq!(audit(snap(260, true, None), vec![]).1, Some(260));
        // No dump at all (e.g. over the goroutine cap): the next audit tries again.
        assert_eq!(audit(snap(280, false, None), vec![]).1, None);
    }

    #[test]
    fn workload_of_a_deployment_pod() {
        use k8s_openapi::api::core::v1::Pod;
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-7d9f-abcde", "labels": {"pod-template-hash": "7d9f"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f",
                    "uid": "u", "controller": true}]}
        }))
        .unwrap();
        assert_eq!(workload_of(&pod).as_deref(), Some("Deployment/web"));
        assert_eq!(workload_of(&Pod::default()), None);
        let owned_by = |kind: &str, name: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p", "ownerReferences": [{"apiVersion": "v1", "kind": kind, "name": name,
                    "uid": "u", "controller": true}]}
            }))
            .unwrap()
        };
        assert_eq!(workload_of(&owned_by("StatefulSet", "db")).as_deref(), Some("StatefulSet/db"));
        assert_eq!(workload_of(&owned_by("ReplicaSet", "bare")).as_deref(), Some("ReplicaSet/bare"));
        assert_eq!(workload_of(&owned_by("Node", "node1")), None, "static pods are not replicas of each other");
    }
}
