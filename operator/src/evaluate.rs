//! The `evaluate` step: scrape results in, findings and per-target reports out. No I/O: it runs the
//! core's checks over each snapshot and the audit's history, which it updates.

use std::collections::{BTreeSet, HashMap};

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::history::{History, TargetHistoryRing};
use gohealth_core::diagnose::{diagnose, panic_restarts, scrape_failed};
use gohealth_core::finding::{CheckId, Finding, TargetRef};
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

/// The workload a pod belongs to, for notes that are about how the workload is built: its
/// controller owner (`Deployment/x` for a ReplicaSet made by a Deployment), else the pod itself.
pub fn workload_of(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let owner = pod.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))?;
    let hash = pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
    match (owner.kind.as_str(), hash) {
        ("ReplicaSet", Some(h)) => match owner.name.strip_suffix(&format!("-{h}")) {
            Some(deployment) => Some(format!("Deployment/{deployment}")),
            None => Some(format!("ReplicaSet/{}", owner.name)),
        },
        (kind, _) => Some(format!("{kind}/{}", owner.name)),
    }
}

/// `ContentionProfilingDisabled` is a property of how a workload is built, not of each pod: 1,000
/// replicas give one note (on the workload's first pod, with the pod count), not 1,000 infos.
/// `workload` maps a target key (`namespace/pod`) to its workload; pods without one stay per pod.
pub fn one_note_per_workload(findings: Vec<Finding>, workload: &HashMap<String, String>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    // (namespace, workload, profile) → index of the kept finding in `out`
    let mut kept: HashMap<(String, String, String), usize> = HashMap::new();
    for f in findings {
        let group = match (f.check, &f.target) {
            (CheckId::ContentionProfilingDisabled, Some(t)) => workload.get(&t.key()).map(|w| {
                let profile = f.evidence.get("reason").cloned().unwrap_or_default();
                (t.namespace.clone(), w.clone(), profile)
            }),
            _ => None,
        };
        let Some(group) = group else {
            out.push(f);
            continue;
        };
        match kept.get(&group) {
            Some(&i) => {
                if let Some(k) = out.get_mut(i) {
                    let pods = k.evidence.get("pods").and_then(|p| p.parse::<u64>().ok()).unwrap_or(1) + 1;
                    k.evidence.insert("pods".into(), pods.to_string());
                    k.count = Some(pods);
                }
            }
            None => {
                let mut f = f;
                f.evidence.insert("workload".into(), group.1.clone());
                f.evidence.insert("pods".into(), "1".into());
                f.count = Some(1);
                kept.insert(group, out.len());
                out.push(f);
            }
        }
    }
    for f in out.iter_mut().filter(|f| f.check == CheckId::ContentionProfilingDisabled) {
        if let (Some(w), Some(n)) = (f.evidence.get("workload"), f.evidence.get("pods"))
            && n != "1"
        {
            f.message = format!("{} (same for all {n} pods of {w}; reported once)", f.message);
        }
    }
    out
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

    #[test]
    fn profiling_disabled_is_one_note_per_workload() {
        use gohealth_core::finding::Severity;
        let off = |pod: &str, profile: &str| {
            Finding::new(CheckId::ContentionProfilingDisabled, Severity::Info, "Mutex profiling is off")
                .with_target(target(pod))
                .with_evidence("reason", profile)
        };
        let mut findings: Vec<Finding> = (0..1000).map(|i| off(&format!("web-{i}"), "mutex")).collect();
        findings.extend((0..1000).map(|i| off(&format!("web-{i}"), "block")));
        findings.push(off("lonely", "mutex"));
        let leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak").with_target(target("web-3"));
        findings.push(leak.clone());
        let workload: HashMap<String, String> =
            (0..1000).map(|i| (format!("ns/web-{i}"), "Deployment/web".to_string())).collect();
        let out = one_note_per_workload(findings, &workload);
        assert_eq!(out.len(), 4, "{out:#?}");
        assert_eq!(out[0].evidence.get("pods").map(String::as_str), Some("1000"));
        assert_eq!(out[0].count, Some(1000));
        assert!(out[0].message.contains("all 1000 pods of Deployment/web"));
        assert_eq!(out[2].target.as_ref().map(|t| t.pod.as_str()), Some("lonely"), "no workload: kept per pod");
        assert_eq!(out[3], leak, "other checks untouched");
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
    }
}
