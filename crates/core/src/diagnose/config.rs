//! The checks' switches and thresholds, as the checks read them: every duration already parsed.
//!
//! The per-check threshold types are plain serde data that the operator's CRD embeds as they are
//! (`spec.checks.<check>`); the durations (`trendWindow`, `fullDumpMaxAge`, `provenGoroutineLeak.interval`) are strings in
//! the CRD and become [`Duration`]s when the operator validates a spec, once.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::benign::BenignSite;

fn yes() -> bool {
    true
}

/// Default trend window of the growth and GC checks.
pub const DEFAULT_TREND_WINDOW: Duration = Duration::from_secs(3600);
/// Default interval between goroutineleak fetches (each forces a GC in the target).
pub const DEFAULT_PROVEN_LEAK_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Default longest time a quiet target goes without a debug=2 dump (see `dump_schedule`).
pub const DEFAULT_FULL_DUMP_MAX_AGE: Duration = Duration::from_secs(1800);

/// Per-check configuration. Every check is on by default.
#[derive(Clone, Debug, PartialEq)]
pub struct ChecksConfig {
    /// How far back trend checks (growth, GC pressure) look.
    pub trend_window: Duration,
    /// Longest a target goes without a debug=2 dump while nothing in its debug=1 profile changes;
    /// zero takes one every audit.
    pub full_dump_max_age: Duration,
    pub goroutine_leak: GoroutineLeakCheck,
    pub proven_goroutine_leak: ProvenLeakConfig,
    pub long_blocked_goroutines: LongBlockedCheck,
    pub ticker_loop_growth: SimpleThresholdCheck,
    pub goexit_in_defer: SimpleThresholdCheck,
    pub lock_contention: LockContentionCheck,
    pub gc_pressure: GcPressureCheck,
    pub go_panic_restarts: PanicRestartsCheck,
    pub goroutine_growth: GoroutineGrowthCheck,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            trend_window: DEFAULT_TREND_WINDOW,
            full_dump_max_age: DEFAULT_FULL_DUMP_MAX_AGE,
            goroutine_leak: Default::default(),
            proven_goroutine_leak: Default::default(),
            long_blocked_goroutines: Default::default(),
            ticker_loop_growth: Default::default(),
            goexit_in_defer: Default::default(),
            lock_contention: Default::default(),
            gc_pressure: Default::default(),
            go_panic_restarts: Default::default(),
            goroutine_growth: Default::default(),
        }
    }
}

/// ProvenGoroutineLeak: the runtime's goroutineleak profile (Go 1.27; 1.26 with the experiment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenLeakConfig {
    pub enabled: bool,
    /// Fetching the profile forces a GC in the target, so it runs on its own interval.
    pub interval: Duration,
}

impl Default for ProvenLeakConfig {
    fn default() -> Self {
        ProvenLeakConfig { enabled: true, interval: DEFAULT_PROVEN_LEAK_INTERVAL }
    }
}

/// GoroutineLeak: many goroutines parked at one blocking site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineLeakCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Goroutines parked at one site before it is suspected. Default 100.
    #[serde(default = "d_leak_min")]
    pub min_goroutines: u64,
    /// Growth per hour at a site that raises the finding to `likely`. Default 50.
    #[serde(default = "d_leak_growth")]
    pub min_growth_per_hour: f64,
    /// Wait (minutes) that raises the finding to `likely`. Default 30.
    #[serde(default = "d_leak_wait")]
    pub min_wait_minutes: u64,
    /// Single-snapshot evidence for channel/select sites, which healthy per-object loops show too:
    /// one site holding at least this many goroutines... Default 2000.
    #[serde(default = "d_egregious_min")]
    pub egregious_min_goroutines: u64,
    /// ...and at least this share (0..1) of all the process's goroutines, with no sibling site of the
    /// same count (per-object loops come in families). Default 0.5.
    #[serde(default = "d_egregious_share")]
    pub egregious_share: f64,
    /// Benign idle wait sites added to the embedded knowledge base (config/benign-sites.yaml): a
    /// single snapshot of these is not reported, growth still is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub benign_sites: Vec<BenignSite>,
}
fn d_leak_min() -> u64 {
    100
}
fn d_egregious_min() -> u64 {
    2000
}
fn d_egregious_share() -> f64 {
    0.5
}
fn d_leak_growth() -> f64 {
    50.0
}
fn d_leak_wait() -> u64 {
    30
}
impl Default for GoroutineLeakCheck {
    fn default() -> Self {
        GoroutineLeakCheck {
            enabled: true,
            min_goroutines: d_leak_min(),
            min_growth_per_hour: d_leak_growth(),
            min_wait_minutes: d_leak_wait(),
            egregious_min_goroutines: d_egregious_min(),
            egregious_share: d_egregious_share(),
            benign_sites: Vec::new(),
        }
    }
}

/// LongBlockedGoroutines: debug=2 waits above a threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LongBlockedCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Minimum wait in minutes. Default 30.
    #[serde(default = "d_leak_wait")]
    pub min_wait_minutes: u64,
    /// Goroutines at one site before a finding is raised. Default 10.
    #[serde(default = "d_blocked_min")]
    pub min_goroutines: u64,
    /// debug=2 stops the world in the target: it is only fetched below this goroutine count. Default 10000.
    #[serde(default = "d_debug2_cap")]
    pub max_goroutines_for_full_dump: u64,
}
fn d_blocked_min() -> u64 {
    10
}
fn d_debug2_cap() -> u64 {
    10_000
}
impl Default for LongBlockedCheck {
    fn default() -> Self {
        LongBlockedCheck {
            enabled: true,
            min_wait_minutes: d_leak_wait(),
            min_goroutines: d_blocked_min(),
            max_goroutines_for_full_dump: d_debug2_cap(),
        }
    }
}

/// A check with a switch and a goroutine-count threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimpleThresholdCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Goroutines at one site before a finding is raised. Default 10.
    #[serde(default = "d_blocked_min")]
    pub min_goroutines: u64,
}
impl Default for SimpleThresholdCheck {
    fn default() -> Self {
        SimpleThresholdCheck { enabled: true, min_goroutines: d_blocked_min() }
    }
}

/// LockContention and ContentionProfilingDisabled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockContentionCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Delay added at one site per minute of wall time between two audits, in milliseconds, before
    /// a warning is raised. Default 3000 (goroutines spent 5 % of the time waiting for the lock).
    #[serde(default = "d_contention_rate")]
    pub min_delay_ms_per_minute: f64,
    /// Total delay at one site since the process started, in milliseconds, before it is reported
    /// as info when no earlier audit gives a rate (first audit, `gohealth analyze`). Default 100.
    #[serde(default = "d_contention_ms")]
    pub min_delay_ms: u64,
    /// Sites reported per target. Default 3.
    #[serde(default = "d_top")]
    pub top: u32,
    /// Report targets whose mutex/block profiling is off (sampling rate 0). Default true.
    #[serde(default = "yes")]
    pub report_disabled_profiling: bool,
}
fn d_contention_ms() -> u64 {
    100
}
fn d_contention_rate() -> f64 {
    3000.0
}
fn d_top() -> u32 {
    3
}
impl Default for LockContentionCheck {
    fn default() -> Self {
        LockContentionCheck {
            enabled: true,
            min_delay_ms_per_minute: d_contention_rate(),
            min_delay_ms: d_contention_ms(),
            top: d_top(),
            report_disabled_profiling: true,
        }
    }
}

/// GCPressure from MemStats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcPressureCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// GC CPU fraction (0..1) above which a warning is raised. Default 0.05.
    #[serde(default = "d_gc_frac")]
    pub max_gc_cpu_fraction: f64,
    /// GCs per minute (not counting forced ones) above which a warning is raised. Default 60.
    #[serde(default = "d_gc_rate")]
    pub max_gcs_per_minute: f64,
}
fn d_gc_frac() -> f64 {
    0.05
}
fn d_gc_rate() -> f64 {
    60.0
}
impl Default for GcPressureCheck {
    fn default() -> Self {
        GcPressureCheck { enabled: true, max_gc_cpu_fraction: d_gc_frac(), max_gcs_per_minute: d_gc_rate() }
    }
}

/// GoPanicRestarts from pod status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PanicRestartsCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Restarts (with last exit code 2) before a finding is raised. Default 3.
    #[serde(default = "d_restarts")]
    pub min_restarts: i32,
}
fn d_restarts() -> i32 {
    3
}
impl Default for PanicRestartsCheck {
    fn default() -> Self {
        PanicRestartsCheck { enabled: true, min_restarts: d_restarts() }
    }
}

/// GoroutineGrowth: the total rising steadily (fitted slope).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineGrowthCheck {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Fitted growth (goroutines per hour) above which a warning is raised. Default 100.
    #[serde(default = "d_growth")]
    pub min_growth_per_hour: f64,
    /// Samples needed before a slope is trusted. Default 4.
    #[serde(default = "d_samples")]
    pub min_samples: u32,
    /// Goroutines the total must really have risen by over the window. A slope fitted to a few minutes
    /// turns a start-up ramp (27 → 44 in 90 s, Prometheus opening its scrape connections) into
    /// hundreds per hour. Default 50.
    #[serde(default = "d_growth_min_increase")]
    pub min_increase: u64,
}
fn d_growth() -> f64 {
    100.0
}
fn d_growth_min_increase() -> u64 {
    50
}
fn d_samples() -> u32 {
    4
}
impl Default for GoroutineGrowthCheck {
    fn default() -> Self {
        GoroutineGrowthCheck {
            enabled: true,
            min_growth_per_hour: d_growth(),
            min_samples: d_samples(),
            min_increase: d_growth_min_increase(),
        }
    }
}
