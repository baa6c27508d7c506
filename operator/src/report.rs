//! What one audit cycle produced (the input of status, events and metrics), as plain data.

use serde::{Deserialize, Serialize};

use crate::crd::AdmissionStatus;
use gohealth_core::finding::{Finding, TargetRef};

/// Result of auditing one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    pub target: TargetRef,
    /// pprof base URL, when one could be resolved.
    pub url: Option<String>,
    /// "Ok" or a stable `ScrapeError::reason()`.
    pub result: String,
    pub message: Option<String>,
    /// Goroutine total the runtime reported.
    pub goroutines: Option<u64>,
    /// Findings on this pod (distinct keys), counted before findings are grouped by workload.
    #[serde(default)]
    pub findings: u32,
}

impl TargetReport {
    pub fn ok(&self) -> bool {
        self.result == "Ok"
    }
}

/// Everything one audit produced: the input of status, events and metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// Unix seconds when the audit started.
    pub started_at: i64,
    pub duration_seconds: f64,
    pub targets: Vec<TargetReport>,
    /// All findings (status lists only the top ones).
    pub findings: Vec<Finding>,
    pub admission: Option<AdmissionStatus>,
    /// goroutine?debug=2 dumps this audit took, and those it deferred (`fullDumpMaxAge`).
    #[serde(default)]
    pub full_dumps: FullDumps,
}

/// debug=2 dumps of one audit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullDumps {
    pub taken: u32,
    pub deferred: u32,
}
