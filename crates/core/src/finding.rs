//! The finding: what every check produces, whatever its source (profiles, pod status, admission flags).
//!
//! Check ids are a public interface: they appear in status, Event reasons, metric labels, alert rules and
//! JSON output. Never rename one; add new ones instead.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Stable identifier of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CheckId {
    GoroutineLeak,
    ProvenGoroutineLeak,
    LongBlockedGoroutines,
    TickerLoopGrowth,
    GoexitInDefer,
    LockContention,
    ContentionProfilingDisabled,
    #[serde(rename = "GCPressure")]
    GcPressure,
    GoPanicRestarts,
    GoroutineGrowth,
    ScrapeFailed,
    RemovedAdmissionPlugin,
    DeprecatedAdmissionPlugin,
    InsecureAdmissionPlugin,
    RecommendedAdmissionPluginDisabled,
    ConflictingAdmissionPlugin,
    UnknownAdmissionPlugin,
    DeprecatedAdmissionFlag,
    AdmissionInputNotUnderstood,
}

impl CheckId {
    pub const ALL: [CheckId; 19] = [
        CheckId::GoroutineLeak,
        CheckId::ProvenGoroutineLeak,
        CheckId::LongBlockedGoroutines,
        CheckId::TickerLoopGrowth,
        CheckId::GoexitInDefer,
        CheckId::LockContention,
        CheckId::ContentionProfilingDisabled,
        CheckId::GcPressure,
        CheckId::GoPanicRestarts,
        CheckId::GoroutineGrowth,
        CheckId::ScrapeFailed,
        CheckId::RemovedAdmissionPlugin,
        CheckId::DeprecatedAdmissionPlugin,
        CheckId::InsecureAdmissionPlugin,
        CheckId::RecommendedAdmissionPluginDisabled,
        CheckId::ConflictingAdmissionPlugin,
        CheckId::UnknownAdmissionPlugin,
        CheckId::DeprecatedAdmissionFlag,
        CheckId::AdmissionInputNotUnderstood,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::GoroutineLeak => "GoroutineLeak",
            CheckId::ProvenGoroutineLeak => "ProvenGoroutineLeak",
            CheckId::LongBlockedGoroutines => "LongBlockedGoroutines",
            CheckId::TickerLoopGrowth => "TickerLoopGrowth",
            CheckId::GoexitInDefer => "GoexitInDefer",
            CheckId::LockContention => "LockContention",
            CheckId::ContentionProfilingDisabled => "ContentionProfilingDisabled",
            CheckId::GcPressure => "GCPressure",
            CheckId::GoPanicRestarts => "GoPanicRestarts",
            CheckId::GoroutineGrowth => "GoroutineGrowth",
            CheckId::ScrapeFailed => "ScrapeFailed",
            CheckId::RemovedAdmissionPlugin => "RemovedAdmissionPlugin",
            CheckId::DeprecatedAdmissionPlugin => "DeprecatedAdmissionPlugin",
            CheckId::InsecureAdmissionPlugin => "InsecureAdmissionPlugin",
            CheckId::RecommendedAdmissionPluginDisabled => "RecommendedAdmissionPluginDisabled",
            CheckId::ConflictingAdmissionPlugin => "ConflictingAdmissionPlugin",
            CheckId::UnknownAdmissionPlugin => "UnknownAdmissionPlugin",
            CheckId::DeprecatedAdmissionFlag => "DeprecatedAdmissionFlag",
            CheckId::AdmissionInputNotUnderstood => "AdmissionInputNotUnderstood",
        }
    }

    pub fn parse(s: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Admission checks are about the cluster, not about a Go target.
    pub fn is_admission(self) -> bool {
        matches!(
            self,
            CheckId::RemovedAdmissionPlugin
                | CheckId::DeprecatedAdmissionPlugin
                | CheckId::InsecureAdmissionPlugin
                | CheckId::RecommendedAdmissionPluginDisabled
                | CheckId::ConflictingAdmissionPlugin
                | CheckId::UnknownAdmissionPlugin
                | CheckId::DeprecatedAdmissionFlag
                | CheckId::AdmissionInputNotUnderstood
        )
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// How sure a heuristic check is. Checks without heuristics leave it unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// One snapshot passed the threshold.
    Suspected,
    /// Growth across audits or long waits back the suspicion.
    Likely,
    /// The runtime itself says so (goroutineleak profile, exit code).
    Proven,
}

/// The workload a finding is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    pub namespace: String,
    pub pod: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl TargetRef {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.pod)
    }
}

/// One diagnosed problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable check id, e.g. GoroutineLeak.
    pub check: CheckId,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Pod the finding is about (the worst pod when `workload` is set); unset for cluster-level
    /// (admission) findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetRef>,
    /// What is wrong and what to do, for a human.
    pub message: String,
    /// Function at the faulty site (Go symbol), where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Goroutines (or events) at the site, in the target pod (`evidence.totalCount` sums them over
    /// the pods of a workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Admission plugin, for admission findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Further evidence as short key/value pairs (growthPerHour, longestWaitMinutes, createdBy, reason,
    /// totalCount, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
    /// RFC 3339 time the finding was first seen (kept across audits by its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Workload whose pods share this finding (`Deployment/web`, `StatefulSet/db`, `DaemonSet/agent`,
    /// `Job/backup`, ...), in the target's namespace; unset for pods without a controller owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Pods of `workload` with this finding (same check, same site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Names of the worst pods of `workload` with this finding, worst first (at most 5); the first is
    /// the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
}

impl Finding {
    pub fn new(check: CheckId, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            check,
            severity,
            confidence: None,
            target: None,
            message: message.into(),
            function: None,
            file: None,
            line: None,
            count: None,
            plugin: None,
            evidence: BTreeMap::new(),
            first_seen: None,
            last_seen: None,
            workload: None,
            replicas: None,
            pods: Vec::new(),
        }
    }

    pub fn with_target(mut self, target: TargetRef) -> Self {
        self.target = Some(target);
        self
    }

    pub fn with_evidence(mut self, key: &str, value: impl ToString) -> Self {
        self.evidence.insert(key.to_string(), value.to_string());
        self
    }

    /// Identity across audits: the same problem at the same place keeps its key (and its firstSeen).
    /// A finding grouped by workload is keyed by the workload, not by its worst pod, which may change
    /// from one audit to the next. Pod names are lowercase, so `ns/Deployment/web` is never a pod key.
    pub fn key(&self) -> String {
        let target = match (&self.target, &self.workload) {
            (Some(t), Some(w)) => format!("{}/{w}", t.namespace),
            (t, _) => t.as_ref().map(TargetRef::key).unwrap_or_default(),
        };
        let site = match (&self.plugin, &self.function) {
            (Some(p), _) => p.clone(),
            // Two blocking sites in one function are two problems: the line is part of the site.
            (None, Some(f)) => match self.line {
                Some(line) => format!("{f}:{line}"),
                None => f.clone(),
            },
            (None, None) => self.evidence.get("reason").cloned().unwrap_or_default(),
        };
        format!("{}|{}|{}", self.check.as_str(), target, site)
    }

    /// Goroutines (or events) at the site over every pod the finding stands for: `count` is the worst
    /// pod's, `evidence.totalCount` the sum when the finding groups several pods.
    pub fn total_count(&self) -> Option<u64> {
        self.evidence.get(TOTAL_COUNT).and_then(|t| t.parse().ok()).or(self.count)
    }
}

/// Evidence key of the summed count of a finding grouped over several pods.
pub const TOTAL_COUNT: &str = "totalCount";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CheckId::ALL {
            assert_eq!(CheckId::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
            assert!(seen.insert(c.as_str()));
        }
    }

    #[test]
    fn key_is_stable_for_same_site() {
        let mut a = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "x");
        a.function = Some("main.leak".into());
        a.target = Some(TargetRef { namespace: "n".into(), pod: "p".into(), container: None });
        let mut b = a.clone();
        b.message = "other wording".into();
        b.count = Some(3);
        assert_eq!(a.key(), b.key());
        let mut c = a.clone();
        c.line = Some(12);
        let mut d = a.clone();
        d.line = Some(30);
        assert_ne!(c.key(), d.key(), "another blocking line in the same function");
    }

    #[test]
    fn a_grouped_finding_is_keyed_by_its_workload() {
        let mut a = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "x");
        a.function = Some("main.leak".into());
        a.target = Some(TargetRef { namespace: "n".into(), pod: "web-1".into(), container: None });
        assert_eq!(a.key(), "GoroutineLeak|n/web-1|main.leak");
        a.workload = Some("Deployment/web".into());
        let mut b = a.clone();
        b.target = Some(TargetRef { namespace: "n".into(), pod: "web-2".into(), container: None });
        assert_eq!(a.key(), "GoroutineLeak|n/Deployment/web|main.leak");
        assert_eq!(a.key(), b.key(), "whichever pod is the worst");
        a.count = Some(4);
        assert_eq!(a.total_count(), Some(4));
        a.evidence.insert(TOTAL_COUNT.into(), "40".into());
        assert_eq!(a.total_count(), Some(40));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["workload"], "Deployment/web");
        assert!(json.get("pods").is_none() && json.get("replicas").is_none(), "unset fields are not written");
    }
}
