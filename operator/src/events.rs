//! Kubernetes Events for changes that matter: new warning/critical findings and condition
//! transitions. [`plan`] decides (pure, unit-tested); [`publish`] sends.

use std::collections::BTreeMap;

use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use gohealth_core::finding::Finding;

use crate::crd::GoHealthAuditStatus;
use crate::status::{CONDITION_DEGRADED, new_findings};

/// Most finding events per audit cycle; the rest are in status.
const MAX_FINDING_EVENTS: usize = 10;
/// Longest event note, in bytes (the API limit is 1 KiB).
const MAX_NOTE_BYTES: usize = 1000;

/// The events a status change deserves.
pub fn plan(previous: Option<&GoHealthAuditStatus>, current: &GoHealthAuditStatus) -> Vec<Event> {
    let mut events = Vec::new();
    // One event per finding: a site in 1,000 replicas of a workload is one finding, hence one event.
    for f in new_findings(previous, &current.findings).into_iter().take(MAX_FINDING_EVENTS) {
        events.push(Event {
            type_: EventType::Warning,
            reason: f.check.as_str().to_string(),
            note: Some(truncate(format!("{}{}", where_(f), f.message), MAX_NOTE_BYTES)),
            action: "Audit".into(),
            secondary: None,
        });
    }
    let before: BTreeMap<&str, &str> = previous
        .map(|s| s.conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str())).collect())
        .unwrap_or_default();
    for c in &current.conditions {
        if before.get(c.type_.as_str()) != Some(&c.status.as_str()) {
            let bad = (c.type_ == CONDITION_DEGRADED) == (c.status == "True");
            events.push(Event {
                type_: if bad { EventType::Warning } else { EventType::Normal },
                reason: c.reason.clone(),
                note: Some(truncate(format!("{}={}: {}", c.type_, c.status, c.message), MAX_NOTE_BYTES)),
                action: "Audit".into(),
                secondary: None,
            });
        }
    }
    events
}

/// `ns/pod: `, or `ns/Deployment/web (12 pods, worst web-7d9f-x2x9z): ` for a finding grouped by
/// workload; nothing for a cluster-level finding.
fn where_(f: &Finding) -> String {
    let Some(t) = &f.target else { return String::new() };
    match (&f.workload, f.replicas) {
        (Some(w), Some(n)) => {
            format!("{}/{w} ({n} pod{}, worst {}): ", t.namespace, if n == 1 { "" } else { "s" }, t.pod)
        }
        _ => format!("{}: ", t.key()),
    }
}

/// Cuts at a character boundary at or below `max` bytes.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
    }
    s
}

/// Sends the planned events; a failure is logged, never fatal to the audit.
pub async fn publish(recorder: &Recorder, reference: &k8s_openapi::api::core::v1::ObjectReference, events: Vec<Event>) {
    for ev in events {
        if let Err(e) = recorder.publish(&ev, reference).await {
            warn!(error = %e, reason = %ev.reason, "could not publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::{CheckId, Severity};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn condition(type_: &str, status: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: "m".into(),
            observed_generation: None,
            last_transition_time: Time("2026-01-01T00:00:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn new_findings_and_transitions_only() {
        let leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "é".repeat(800));
        let info = Finding::new(CheckId::GoroutineGrowth, Severity::Info, "fyi");
        let before = GoHealthAuditStatus { conditions: vec![condition("Ready", "True")], ..Default::default() };
        let after = GoHealthAuditStatus {
            conditions: vec![condition("Degraded", "True"), condition("Ready", "True")],
            findings: vec![leak.clone(), info],
            ..Default::default()
        };
        let events = plan(Some(&before), &after);
        let reasons: Vec<_> = events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, vec!["GoroutineLeak", "R"], "one new warning finding, one transition");
        assert!(events[0].note.as_ref().is_some_and(|n| n.len() <= MAX_NOTE_BYTES));
        assert!(matches!(events[1].type_, EventType::Warning), "Degraded=True is bad news");
        assert!(plan(Some(&after), &after).is_empty(), "nothing new, nothing sent");
    }

    #[test]
    fn a_grouped_finding_is_one_event_naming_its_workload() {
        let mut leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak at main.leak").with_target(
            gohealth_core::finding::TargetRef { namespace: "shop".into(), pod: "web-x2".into(), container: None },
        );
        leak.workload = Some("Deployment/web".into());
        leak.replicas = Some(1000);
        let after = GoHealthAuditStatus { findings: vec![leak.clone()], ..Default::default() };
        let events = plan(Some(&GoHealthAuditStatus::default()), &after);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].note.as_deref(), Some("shop/Deployment/web (1000 pods, worst web-x2): leak at main.leak"));
        let mut unowned = leak;
        (unowned.workload, unowned.replicas) = (None, None);
        let events = plan(None, &GoHealthAuditStatus { findings: vec![unowned], ..Default::default() });
        assert_eq!(events[0].note.as_deref(), Some("shop/web-x2: leak at main.leak"));
    }
}
