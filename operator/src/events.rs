//! Kubernetes Events for changes that matter: new warning/critical findings and condition
//! transitions. [`plan`] decides (pure, unit-tested); [`publish`] sends.

use std::collections::BTreeMap;

use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use crate::crd::GoHealthAuditStatus;
use crate::status::{CONDITION_DEGRADED, new_findings};

/// Most finding events per audit cycle; the rest are in status.
const MAX_FINDING_EVENTS: usize = 10;
/// Longest event note, in bytes (the API limit is 1 KiB).
const MAX_NOTE_BYTES: usize = 1000;

/// The events a status change deserves.
pub fn plan(previous: Option<&GoHealthAuditStatus>, current: &GoHealthAuditStatus) -> Vec<Event> {
    let mut events = Vec::new();
    for f in new_findings(previous, &current.findings).into_iter().take(MAX_FINDING_EVENTS) {
        let where_ = f.target.as_ref().map(|t| format!("{}: ", t.key())).unwrap_or_default();
        events.push(Event {
            type_: EventType::Warning,
            reason: f.check.as_str().to_string(),
            note: Some(truncate(format!("{where_}{}", f.message), MAX_NOTE_BYTES)),
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
    use gohealth_core::finding::{CheckId, Finding, Severity};
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
}
