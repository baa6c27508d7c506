//! One report across the replicas of a workload: the same check at the same site in several pods is
//! one finding with the replica count and the worst pods, so ten replicas with one leak read as one
//! leak with a blast radius, not ten rows.

use std::collections::BTreeMap;

use gohealth_core::finding::Finding;

/// Pods named in a grouped finding's evidence at most (the worst first).
const MAX_PODS_NAMED: usize = 5;

/// Groups findings by check and site across targets. A site found in one target only is returned as
/// it is. Order: first appearance.
pub fn group(findings: Vec<Finding>) -> Vec<Finding> {
    let mut order: Vec<String> = Vec::new();
    let mut by_site: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        let key = site_key(&f);
        if !by_site.contains_key(&key) {
            order.push(key.clone());
        }
        by_site.entry(key).or_default().push(f);
    }
    order.into_iter().filter_map(|k| by_site.remove(&k)).map(merge).collect()
}

/// Check, site and plugin; the target left out.
fn site_key(f: &Finding) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        f.check.as_str(),
        f.function.as_deref().unwrap_or(""),
        f.file.as_deref().unwrap_or(""),
        f.line.unwrap_or(0),
        f.plugin.as_deref().unwrap_or("")
    )
}

fn merge(mut group: Vec<Finding>) -> Finding {
    if group.len() == 1 {
        return group.swap_remove(0);
    }
    // The worst replica speaks for the group: highest severity, confidence, then count.
    group.sort_by(|a, b| {
        (b.severity, b.confidence, b.count.unwrap_or(0)).cmp(&(a.severity, a.confidence, a.count.unwrap_or(0)))
    });
    let replicas = group.len();
    let total: Option<u64> = group.iter().map(|f| f.count).sum();
    let pods: Vec<String> = group
        .iter()
        .filter_map(|f| f.target.as_ref())
        .take(MAX_PODS_NAMED)
        .map(|t| format!("{}/{}", t.namespace, t.pod))
        .collect();
    let mut worst = group.swap_remove(0);
    worst.message = format!("In {replicas} replicas (worst: {}). {}", pods.join(", "), worst.message);
    worst.evidence.insert("replicas".into(), replicas.to_string());
    worst.evidence.insert("pods".into(), pods.join(","));
    if let (Some(total), Some(worst_count)) = (total, worst.count) {
        worst.evidence.insert("worstReplicaCount".into(), worst_count.to_string());
        worst.count = Some(total);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::{CheckId, Confidence, Severity, TargetRef};

    fn leak(pod: &str, count: u64, confidence: Confidence) -> Finding {
        let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak at main.leak")
            .with_target(TargetRef { namespace: "shop".into(), pod: pod.into(), container: None });
        f.function = Some("main.leak".into());
        f.file = Some("/app/main.go".into());
        f.line = Some(47);
        f.count = Some(count);
        f.confidence = Some(confidence);
        f
    }

    #[test]
    fn one_site_in_many_replicas_is_one_finding_with_its_blast_radius() {
        let other = Finding::new(CheckId::LockContention, Severity::Warning, "c");
        let out = group(vec![
            leak("a", 100, Confidence::Suspected),
            other.clone(),
            leak("b", 300, Confidence::Likely),
            leak("c", 200, Confidence::Suspected),
        ]);
        assert_eq!(out.len(), 2);
        let g = &out[0];
        assert_eq!(g.count, Some(600));
        assert_eq!(g.confidence, Some(Confidence::Likely), "the worst replica speaks");
        assert_eq!(g.evidence["replicas"], "3");
        assert_eq!(g.evidence["pods"], "shop/b,shop/c,shop/a");
        assert_eq!(g.evidence["worstReplicaCount"], "300");
        assert!(g.message.starts_with("In 3 replicas"));
        assert_eq!(out[1], other);
    }

    #[test]
    fn a_single_target_is_unchanged() {
        let f = leak("a", 10, Confidence::Suspected);
        assert_eq!(group(vec![f.clone()]), vec![f]);
    }
}
