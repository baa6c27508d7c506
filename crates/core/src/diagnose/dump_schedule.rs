//! When a target's next `goroutine?debug=2` dump is taken.
//!
//! The dump stops the world in the target, and parsing it is most of what an audit costs the
//! operator. On a quiet program it tells the same thing audit after audit. So after a dump whose
//! audit raised nothing from the checks that read it ([`DUMP_CHECKS`]), the next dump is deferred
//! while the cheap debug=1 profile shows no blocked site that is new or larger than at that dump.
//! It is taken again at the latest when a wait the dump saw could reach a wait threshold, and after
//! `fullDumpMaxAge` in any case. In the audits between, those checks keep the dump's verdict: nothing
//! to report. The deferral is lost on restart (the first audit takes a dump).

use crate::finding::{CheckId, Finding};
use crate::snapshot::Snapshot;
use gohealth_pprof::model::GoroutineProfile;

use super::config::ChecksConfig;
use super::site::{block_kind, blocked_sites};

/// Checks whose verdict depends on the debug=2 dump (wait reasons, wait minutes, `(leaked)` marks,
/// exact frames). Any of their findings makes the next audit take a dump too.
pub const DUMP_CHECKS: [CheckId; 5] = [
    CheckId::GoroutineLeak,
    CheckId::LongBlockedGoroutines,
    CheckId::TickerLoopGrowth,
    CheckId::GoexitInDefer,
    CheckId::ProvenGoroutineLeak,
];

/// Below this wait threshold every audit takes a dump. The runtime can print a few minutes of wait
/// on goroutines that woke seconds ago (it stamps the wait start with a stale GC cycle start, and a GC
/// runs at least every 2 minutes); the checks tell those apart by dumps in which the same site shows
/// no minutes, so they need one every audit.
pub const MIN_DEFERRING_WAIT_MINUTES: u64 = 5;

fn any_dump_finding(findings: &[Finding]) -> bool {
    findings.iter().any(|f| DUMP_CHECKS.contains(&f.check))
}

/// What a dump without findings leaves for deciding on the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpBaseline {
    /// When the dump was taken (Unix seconds).
    pub at: i64,
    /// The next dump is taken by then at the latest (Unix seconds).
    pub due_by: i64,
    /// Blocked sites of that audit's debug=1 profile with at least `min_count` goroutines: (hash,
    /// goroutines), by hash.
    sites: Vec<(u32, u64)>,
    /// Smallest site the dump checks look at (`minGoroutines` of the enabled ones).
    min_count: u64,
}

impl DumpBaseline {
    /// The baseline an audit leaves, or `None` when the next audit must take a dump: no dump or no
    /// debug=1 profile this time, a finding of a [`DUMP_CHECKS`] check, a wait threshold under
    /// [`MIN_DEFERRING_WAIT_MINUTES`], or deferral switched off (`fullDumpMaxAge: 0s`).
    pub fn after(snapshot: &Snapshot, findings: &[Finding], checks: &ChecksConfig) -> Option<DumpBaseline> {
        let max_age = i64::try_from(checks.full_dump_max_age.as_secs()).unwrap_or(i64::MAX);
        let threshold = wait_threshold_minutes(checks);
        if max_age == 0 || threshold.is_some_and(|t| t < MIN_DEFERRING_WAIT_MINUTES) || any_dump_finding(findings) {
            return None;
        }
        let (full, debug1) = (snapshot.goroutines_full.as_ref()?, snapshot.goroutines.as_ref()?);
        let min_count = min_site_count(checks);
        let at = snapshot.at;
        let mut due_by = at.saturating_add(max_age);
        if let Some(threshold) = threshold {
            // A goroutine that waited `w` minutes at the dump shows the threshold `threshold - w`
            // minutes later: its wait started at a fixed time, and minutes only grow.
            for g in full.groups.iter().filter(|g| g.count() > 0 && block_kind(g).is_blocked()) {
                let waited = g.wait_minutes_min().unwrap_or(0);
                if waited < threshold {
                    let crossing = i64::try_from(threshold - waited).unwrap_or(i64::MAX).saturating_mul(60);
                    due_by = due_by.min(at.saturating_add(crossing));
                }
            }
        }
        Some(DumpBaseline { at, due_by, sites: counted_sites(debug1, min_count), min_count })
    }

    /// The baseline a target keeps after an audit: a deferred dump keeps `previous`, unless a dump
    /// check found something without it (a goroutineleak profile); a dump leaves [`Self::after`];
    /// no dump at all (over the goroutine cap, failed) leaves none.
    pub fn next(
        previous: Option<&DumpBaseline>,
        snapshot: &Snapshot,
        findings: &[Finding],
        checks: &ChecksConfig,
    ) -> Option<DumpBaseline> {
        if snapshot.full_dump_deferred.is_none() {
            return DumpBaseline::after(snapshot, findings, checks);
        }
        previous.filter(|_| !any_dump_finding(findings)).cloned()
    }

    /// Whether the dump may still be deferred at `now` (before the debug=1 profile is known).
    pub fn fresh_at(&self, now: i64) -> bool {
        now < self.due_by
    }

    /// Whether `debug1` shows nothing a dump could turn into a finding: no blocked site with
    /// `min_count` goroutines or more that is new or has more goroutines than at the dump.
    pub fn covers(&self, debug1: &GoroutineProfile) -> bool {
        counted_sites(debug1, self.min_count).iter().all(|(hash, count)| {
            match self.sites.binary_search_by_key(hash, |(h, _)| *h) {
                Ok(i) => self.sites.get(i).is_some_and(|(_, then)| count <= then),
                Err(_) => false,
            }
        })
    }
}

/// Blocked sites with at least `min_count` goroutines, by hash, in a list of its own length: every
/// target keeps one. (Collected from `into_iter()`, the list would reuse the allocation of all the
/// blocked sites, about 10 KiB for a large program, 100 MiB at 10,000 targets.)
fn counted_sites(profile: &GoroutineProfile, min_count: u64) -> Vec<(u32, u64)> {
    let all = blocked_sites(profile);
    let mut sites: Vec<(u32, u64)> = all.iter().filter(|s| s.count >= min_count).map(|s| (s.hash, s.count)).collect();
    sites.sort_unstable();
    sites.shrink_to_fit();
    sites
}

/// The smallest site the enabled dump checks report on (at least 1).
fn min_site_count(checks: &ChecksConfig) -> u64 {
    [
        (checks.goroutine_leak.enabled, checks.goroutine_leak.min_goroutines),
        (checks.long_blocked_goroutines.enabled, checks.long_blocked_goroutines.min_goroutines),
        (checks.ticker_loop_growth.enabled, checks.ticker_loop_growth.min_goroutines),
        (checks.goexit_in_defer.enabled, checks.goexit_in_defer.min_goroutines),
    ]
    .into_iter()
    .filter_map(|(on, n)| on.then_some(n))
    .min()
    .unwrap_or(1)
    .max(1)
}

/// The smallest wait (minutes) an enabled check turns into a finding or raises a finding on.
fn wait_threshold_minutes(checks: &ChecksConfig) -> Option<u64> {
    [
        (checks.long_blocked_goroutines.enabled, checks.long_blocked_goroutines.min_wait_minutes),
        (checks.goroutine_leak.enabled, checks.goroutine_leak.min_wait_minutes),
    ]
    .into_iter()
    .filter_map(|(on, m)| on.then_some(m.max(1)))
    .min()
}

#[cfg(test)]
mod tests;
