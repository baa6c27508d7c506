//! What one scrape of one target yields: the input of `diagnose`.

use serde::{Deserialize, Serialize};

use gohealth_pprof::model::{ContentionProfile, GoroutineProfile, MemStats};

/// Profiles collected from one target in one audit. Each part is optional: a target may not serve a
/// profile, a check may be off, or a profile may be skipped on purpose (see `notes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Unix seconds when the scrape finished.
    pub at: i64,
    /// Profiles the target's `/debug/pprof/` index lists (e.g. "goroutine", "goroutineleak", "mutex").
    pub available: Vec<String>,
    /// `goroutine?debug=1` (cheap, aggregated).
    pub goroutines: Option<GoroutineProfile>,
    /// `goroutine?debug=2` (stops the world; only below the configured goroutine cap).
    pub goroutines_full: Option<GoroutineProfile>,
    /// debug=2 was not taken on purpose: nothing in debug=1 changed since the dump taken at this time
    /// (Unix seconds), whose audit found nothing (see `diagnose::dump_schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_dump_deferred: Option<i64>,
    /// `goroutineleak` (forces a GC; on its own interval).
    pub leaks: Option<GoroutineProfile>,
    /// MemStats from `heap?debug=1`.
    pub mem_stats: Option<MemStats>,
    pub mutex: Option<ContentionProfile>,
    pub block: Option<ContentionProfile>,
    /// GCs this scrape forced in the target (goroutineleak fetches), to discount in GC checks.
    pub forced_gcs: u64,
    /// Human-readable notes on what was skipped and why (e.g. "debug=2 skipped: 25000 goroutines > cap 10000").
    pub notes: Vec<String>,
    /// Go version when known (from the build info / runtime metrics), e.g. "go1.27.3".
    pub go_version: Option<String>,
}
