//! Findings per workload: the same check at the same site in several pods of one workload is one
//! finding with the number of pods (`replicas`) and the worst of them (`pods`), so 1,000 replicas with
//! the same leak read as one leak with a blast radius and the status stays small.
//!
//! Pure: the caller says which workload each pod belongs to (`namespace/pod` → `Deployment/web`); how
//! that is read from owner references is the operator's business.

use std::collections::{BTreeMap, HashMap};

use crate::finding::{Confidence, Finding, TOTAL_COUNT};

/// Pods named in a grouped finding at most (the worst first): enough to start looking, few enough to
/// keep the status small.
pub const MAX_PODS_NAMED: usize = 5;

/// Groups the findings of pods that belong to a workload (by [`Finding::key`] with the workload in
/// place of the pod); findings of pods without one, and cluster-level findings, pass through as they
/// are. Order: first appearance.
///
/// A group speaks through its worst pod (severity, then confidence, then count, then pod name):
/// its target, message, site, count and evidence. Severity is therefore the worst; confidence the
/// best of any pod; `count` stays the worst pod's (it is what the message and the thresholds are
/// about) and `evidence.totalCount` sums the pods' counts. A workload with one affected pod is
/// grouped too (`replicas: 1`), so the key and firstSeen do not change when a second pod joins.
pub fn by_workload(findings: Vec<Finding>, workload_of: &HashMap<String, String>) -> Vec<Finding> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut groups: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for mut f in findings {
        let workload = f.target.as_ref().and_then(|t| workload_of.get(&t.key()));
        let Some(workload) = workload else {
            slots.push(Slot::Alone(Box::new(f)));
            continue;
        };
        f.workload = Some(workload.clone());
        let key = f.key();
        let members = groups.entry(key.clone()).or_default();
        if members.is_empty() {
            slots.push(Slot::Group(key));
        }
        members.push(f);
    }
    slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Alone(f) => Some(*f),
            Slot::Group(key) => groups.remove(&key).and_then(merge),
        })
        .collect()
}

/// A place in the output, in first-appearance order.
enum Slot {
    /// A finding that is not grouped.
    Alone(Box<Finding>),
    /// The group with this key.
    Group(String),
}

/// Worst first: severity, confidence, count; ties by pod name so the choice is deterministic.
fn worst_first(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (b.severity, b.confidence, b.count.unwrap_or(0))
        .cmp(&(a.severity, a.confidence, a.count.unwrap_or(0)))
        .then_with(|| pod(a).cmp(pod(b)))
}

fn pod(f: &Finding) -> &str {
    f.target.as_ref().map(|t| t.pod.as_str()).unwrap_or_default()
}

fn merge(mut members: Vec<Finding>) -> Option<Finding> {
    // One pod may report the same site twice (e.g. two containers): it counts once, by its worst.
    members.sort_by(|a, b| pod(a).cmp(pod(b)).then_with(|| worst_first(a, b)));
    members.dedup_by(|later, earlier| pod(later) == pod(earlier));
    members.sort_by(worst_first);
    let confidence: Option<Confidence> = members.iter().filter_map(|f| f.confidence).max();
    let total: Option<u64> = members.iter().filter_map(|f| f.count).reduce(u64::saturating_add);
    let replicas = members.len();
    let pods: Vec<String> = members.iter().take(MAX_PODS_NAMED).map(|f| pod(f).to_string()).collect();
    let mut worst = members.into_iter().next()?;
    worst.confidence = confidence;
    worst.replicas = Some(u32::try_from(replicas).unwrap_or(u32::MAX));
    worst.pods = pods;
    if replicas > 1 {
        if let Some(total) = total {
            worst.evidence.insert(TOTAL_COUNT.into(), total.to_string());
        }
        if worst.check == crate::finding::CheckId::ContentionProfilingDisabled
            && let Some(w) = &worst.workload
        {
            // The same for every replica by construction: say so rather than name one pod as "worst".
            worst.message = format!("{} (same for all {replicas} pods of {w}; reported once)", worst.message);
        }
    }
    Some(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckId, Severity, TargetRef};

    fn target(ns: &str, pod: &str) -> TargetRef {
        TargetRef { namespace: ns.into(), pod: pod.into(), container: None }
    }

    fn leak(pod: &str, function: &str, count: u64) -> Finding {
        let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, format!("{count} goroutines leak"))
            .with_target(target("shop", pod));
        f.function = Some(function.into());
        f.file = Some("/app/main.go".into());
        f.line = Some(47);
        f.count = Some(count);
        f.confidence = Some(Confidence::Suspected);
        f
    }

    fn deployment(n: usize, name: &str) -> HashMap<String, String> {
        (0..n).map(|i| (format!("shop/{name}-{i:04}"), format!("Deployment/{name}"))).collect()
    }

    #[test]
    fn a_thousand_replicas_with_one_leak_are_one_finding() {
        let findings: Vec<Finding> = (0..1000).map(|i| leak(&format!("web-{i:04}"), "main.leak", 100 + i)).collect();
        let out = by_workload(findings, &deployment(1000, "web"));
        assert_eq!(out.len(), 1);
        let g = &out[0];
        assert_eq!(g.replicas, Some(1000));
        assert_eq!(g.workload.as_deref(), Some("Deployment/web"));
        assert_eq!(g.target.as_ref().map(|t| t.pod.as_str()), Some("web-0999"), "the worst pod is the target");
        assert_eq!(g.count, Some(1099), "count is the worst pod's, as its message says");
        assert_eq!(g.message, "1099 goroutines leak");
        let total: u64 = (0..1000).map(|i| 100 + i).sum();
        assert_eq!(g.evidence.get(TOTAL_COUNT), Some(&total.to_string()));
        assert_eq!(g.total_count(), Some(total));
        assert_eq!(g.pods, vec!["web-0999", "web-0998", "web-0997", "web-0996", "web-0995"], "capped, worst first");
    }

    #[test]
    fn severity_is_the_worst_and_confidence_the_best() {
        let mut critical = leak("web-0001", "main.leak", 10);
        critical.severity = Severity::Critical;
        let mut likely = leak("web-0002", "main.leak", 500);
        likely.confidence = Some(Confidence::Likely);
        let out = by_workload(vec![likely, critical, leak("web-0003", "main.leak", 7)], &deployment(4, "web"));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].severity, Severity::Critical);
        assert_eq!(out[0].confidence, Some(Confidence::Likely));
        assert_eq!(out[0].pods, vec!["web-0001", "web-0002", "web-0003"]);
        assert_eq!(out[0].replicas, Some(3));
    }

    #[test]
    fn different_sites_workloads_and_namespaces_stay_separate() {
        let mut map = deployment(3, "web");
        map.extend(deployment(3, "api"));
        map.insert("other/web-0000".into(), "Deployment/web".into());
        let mut elsewhere = leak("web-0000", "main.leak", 5);
        elsewhere.target = Some(target("other", "web-0000"));
        let mut other_line = leak("web-0001", "main.leak", 5);
        other_line.line = Some(90);
        let findings = vec![
            leak("web-0000", "main.leak", 5),
            leak("web-0001", "main.other", 5),
            leak("api-0000", "main.leak", 5),
            elsewhere,
            other_line,
            leak("web-0002", "main.leak", 5),
        ];
        let out = by_workload(findings, &map);
        let seen: Vec<(Option<u32>, String)> = out.iter().map(|f| (f.replicas, f.key())).collect();
        assert_eq!(
            seen,
            vec![
                (Some(2), "GoroutineLeak|shop/Deployment/web|main.leak:47".to_string()),
                (Some(1), "GoroutineLeak|shop/Deployment/web|main.other:47".to_string()),
                (Some(1), "GoroutineLeak|shop/Deployment/api|main.leak:47".to_string()),
                (Some(1), "GoroutineLeak|other/Deployment/web|main.leak:47".to_string()),
                (Some(1), "GoroutineLeak|shop/Deployment/web|main.leak:90".to_string()),
            ]
        );
        assert!(out.iter().filter(|f| f.replicas == Some(1)).all(|f| !f.evidence.contains_key(TOTAL_COUNT)));
    }

    #[test]
    fn pods_without_a_workload_and_cluster_findings_pass_through() {
        let lonely = leak("lonely", "main.leak", 5);
        let lonely2 = leak("lonely2", "main.leak", 5);
        let mut plugin = Finding::new(CheckId::RemovedAdmissionPlugin, Severity::Critical, "removed");
        plugin.plugin = Some("PodSecurityPolicy".into());
        let input = vec![lonely.clone(), plugin.clone(), lonely2.clone()];
        assert_eq!(by_workload(input.clone(), &deployment(3, "web")), input);
        assert_eq!(lonely.key(), "GoroutineLeak|shop/lonely|main.leak:47");
    }

    #[test]
    fn the_key_does_not_follow_the_worst_pod() {
        let map = deployment(3, "web");
        let before = by_workload(vec![leak("web-0000", "main.leak", 50), leak("web-0001", "main.leak", 10)], &map);
        let after = by_workload(
            vec![
                leak("web-0000", "main.leak", 10),
                leak("web-0001", "main.leak", 60),
                leak("web-0002", "main.leak", 1),
            ],
            &map,
        );
        assert_ne!(before[0].target, after[0].target);
        assert_eq!(before[0].key(), after[0].key());
        // One affected pod is already keyed by its workload: a second one joining keeps the key.
        let one = by_workload(vec![leak("web-0002", "main.leak", 3)], &map);
        assert_eq!(one[0].replicas, Some(1));
        assert_eq!(one[0].key(), after[0].key());
    }

    #[test]
    fn one_pod_twice_counts_once() {
        let mut again = leak("web-0000", "main.leak", 9);
        again.target = Some(TargetRef { container: Some("sidecar".into()), ..target("shop", "web-0000") });
        let out = by_workload(
            vec![leak("web-0000", "main.leak", 5), leak("web-0001", "main.leak", 7), again],
            &deployment(2, "web"),
        );
        assert_eq!(out[0].replicas, Some(2));
        assert_eq!(out[0].count, Some(9));
        assert_eq!(out[0].pods, vec!["web-0000", "web-0001"]);
        assert_eq!(out[0].total_count(), Some(16), "the pod's worst report only");
    }

    #[test]
    fn profiling_disabled_is_one_note_per_workload_and_profile() {
        let off = |pod: &str, profile: &str| {
            Finding::new(CheckId::ContentionProfilingDisabled, Severity::Info, "Mutex profiling is off")
                .with_target(target("shop", pod))
                .with_evidence("reason", profile)
        };
        let mut findings: Vec<Finding> = (0..1000).map(|i| off(&format!("web-{i:04}"), "mutex")).collect();
        findings.extend((0..1000).map(|i| off(&format!("web-{i:04}"), "block")));
        findings.push(off("lonely", "mutex"));
        let out = by_workload(findings, &deployment(1000, "web"));
        assert_eq!(out.len(), 3, "{out:#?}");
        assert_eq!(out[0].replicas, Some(1000));
        assert_eq!(out[0].evidence.get("reason").map(String::as_str), Some("mutex"));
        assert_eq!(out[1].evidence.get("reason").map(String::as_str), Some("block"));
        assert_eq!(out[0].target.as_ref().map(|t| t.pod.as_str()), Some("web-0000"), "ties go to the first name");
        assert!(out[0].message.ends_with("(same for all 1000 pods of Deployment/web; reported once)"));
        assert_eq!(out[2].message, "Mutex profiling is off", "no workload: kept per pod, message untouched");
    }
}
