//! `LongBlockedGoroutines`: goroutines whose debug=2 header says they waited long
//! (`[chan receive, 45 minutes]`), grouped by site. Minutes count from the first GC that saw the
//! goroutine blocked, so they are a lower bound. When the collector skipped debug=2 (it stops the
//! world; only below a goroutine cap) an info finding says so.
//!
//! A site whose goroutines have all waited about as long as the longest-waiting goroutine of the
//! process is not reported: they were parked at start-up and live as long as the process (an
//! informer's stop watcher, a broadcaster's loop, a queue's shutdown goroutine). A leak or a deadlock
//! that set in later leaves goroutines that waited less than that.

use gohealth_pprof::model::GoroutineProfile;

use crate::finding::{CheckId, Finding, Severity};

use super::site::{block_kind, sites_where};
use super::{Input, Periodicity, created_by_text, site_finding, thousands};

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.long_blocked_goroutines;
    if !cfg.enabled {
        return Vec::new();
    }
    let Some(full) = &input.snapshot.goroutines_full else {
        return skipped(input);
    };
    let threshold = cfg.min_wait_minutes.max(1);
    let sites = sites_where(full, |g| block_kind(g).is_blocked() && g.wait_minutes_max().unwrap_or(0) >= threshold);
    // debug=2 groups merge goroutines of one stack whatever their minutes: a group whose shortest
    // wait is under the threshold counts toward an upper bound only.
    let sure = sites_where(full, |g| block_kind(g).is_blocked() && g.wait_minutes_min().unwrap_or(0) >= threshold);
    let parked_later = parked_after_start_up(full);
    sites
        .iter()
        .filter(|s| s.count >= cfg.min_goroutines)
        // Idle workers of a live queue, informer or connection wait for hours by design; a leak at
        // such a site shows as growth (GoroutineLeak), not as a long wait.
        .filter(|s| {
            super::benign::explained_by(&input.checks.goroutine_leak.benign_sites, &s.function, s.count).is_none()
        })
        // Not a single goroutine parked after start-up: the site lives as long as the process.
        .filter(|s| parked_later.as_ref().is_none_or(|later| later.contains(&s.hash)))
        // Minutes on goroutines that demonstrably wake up (or younger than a minute) are a runtime
        // artifact, not a long wait.
        .filter(|s| match input.sites.iter().find(|all| all.hash == s.hash) {
            Some(all) => input.genuine_minutes(all) && input.periodicity(all) != Periodicity::WakesUp,
            None => true,
        })
        .map(|site| {
            let longest = site.wait_minutes_max.unwrap_or(threshold);
            let at_least = sure.iter().find(|x| x.hash == site.hash).map_or(0, |x| x.count);
            let waited = if at_least >= site.count {
                format!("have all been blocked in {} for at least {threshold} minutes (longest {longest})", site.kind.describe())
            } else if at_least > 0 {
                format!(
                    "are blocked in {}: {} of them for at least {threshold} minutes, the longest for {longest}",
                    site.kind.describe(),
                    thousands(at_least)
                )
            } else {
                format!(
                    "are blocked in {}, the longest for {longest} minutes (threshold {threshold}; the dump merges their waits, so how many passed it is not known)",
                    site.kind.describe()
                )
            };
            let message = format!(
                "{} goroutines at {} ({}){} {waited}. Goroutines that wait this long are usually stuck for good: check what should wake them, or give them an exit path (ctx.Done()).",
                thousands(site.count),
                site.function,
                site.location(),
                created_by_text(site),
            );
            let mut f = site_finding(
                Finding::new(CheckId::LongBlockedGoroutines, Severity::Warning, message),
                input.target,
                site,
                site.count,
            );
            f.evidence.insert("minWaitMinutes".into(), threshold.to_string());
            if at_least < site.count {
                f.evidence.insert("countAtLeast".into(), at_least.to_string());
            }
            f
        })
        .collect()
}

/// Slack under the process's longest wait within which a goroutine still counts as parked at
/// start-up: start-up takes a minute or two, the runtime notes a wait only at the next GC (forced
/// every 2 minutes when idle), and long-lived processes start parts of themselves lazily.
fn start_up_slack(oldest: u64) -> u64 {
    (oldest / 20).max(3)
}

/// Sites (hashes) with a blocked goroutine that waited less than the longest wait in the dump minus
/// the start-up slack (or printed no minutes at all): it got there after start-up. The longest wait is
/// a lower bound of the process's age. None when no goroutine printed minutes.
fn parked_after_start_up(full: &GoroutineProfile) -> Option<Vec<u32>> {
    let oldest = full.groups.iter().filter_map(|g| g.wait_minutes_max()).max()?;
    // A goroutine that printed no minutes (min 0) waited under a minute: never start-up.
    let since = oldest.saturating_sub(start_up_slack(oldest)).max(1);
    let later = sites_where(full, |g| block_kind(g).is_blocked() && g.wait_minutes_min().is_none_or(|m| m < since));
    Some(later.iter().map(|s| s.hash).collect())
}

/// The collector skips debug=2 above the goroutine cap and leaves a note: surface it.
fn skipped(input: &Input) -> Vec<Finding> {
    let notes: Vec<&String> = input.snapshot.notes.iter().filter(|n| n.contains("debug=2")).collect();
    if notes.is_empty() {
        return Vec::new();
    }
    let text = notes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ");
    let mut f = Finding::new(
        CheckId::LongBlockedGoroutines,
        Severity::Info,
        format!(
            "Long waits were not checked: {text}. goroutine?debug=2 stops the world in the target, so it is only fetched below spec.checks.longBlockedGoroutines.maxGoroutinesForFullDump."
        ),
    )
    .with_target(input.target.clone())
    .with_evidence("reason", "debug2Skipped")
    .with_evidence("note", text);
    if let Some(total) = input.snapshot.goroutines.as_ref().map(|p| p.total) {
        f.count = Some(total);
    }
    vec![f]
}
