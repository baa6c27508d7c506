//! Checks: snapshots (and their history) in, findings out. Pure functions.
//!
//! `diagnose` runs every snapshot check for one target; `panic_restarts` works on pod status and
//! `scrape_failed` on a failed scrape; `merge_seen` carries firstSeen across audits; `by_workload`
//! folds the pods of a workload into one finding per site. Each check lives in the module named for
//! its check id.

pub mod benign;
pub mod by_workload;
pub mod config;
pub mod contention;
pub mod dump_schedule;
pub mod gc_pressure;
pub mod goexit;
pub mod goroutine_leak;
pub mod growth;
pub mod history;
pub mod long_blocked;
pub mod panic_restarts;
pub mod proven_leak;
pub mod scrape_failed;
pub mod site;
pub mod ticker_loop;

use std::collections::BTreeMap;

use crate::finding::{Finding, TargetRef};
use crate::snapshot::Snapshot;

use self::config::ChecksConfig;
use self::history::{Sample, TargetHistoryRing};
use self::site::{Site, blocked_sites, linear_fit};

pub use self::history::History;
pub use self::panic_restarts::panic_restarts;
pub use self::scrape_failed::scrape_failed;

/// Pearson r a series needs to count as rising steadily (not noise).
pub(crate) const STEADY_R: f64 = 0.8;
/// Points a per-site trend needs before it is trusted either way.
pub(crate) const MIN_SITE_POINTS: usize = 3;
/// A GC must have seen a goroutine blocked this long ago for debug=2 to print `1 minutes`.
pub(crate) const MINUTES_VISIBLE_AFTER_SECS: i64 = 65;

/// Everything a snapshot check reads, computed once per target.
pub(crate) struct Input<'a> {
    pub target: &'a TargetRef,
    pub snapshot: &'a Snapshot,
    pub checks: &'a ChecksConfig,
    /// Samples inside the trend window, oldest first, the snapshot itself last.
    pub series: Vec<Sample>,
    /// Blocked sites of the richest goroutine profile (debug=2 when present, else debug=1/proto).
    pub sites: Vec<Site>,
    /// `sites` come from a debug=2 dump: states and wait minutes are known.
    pub full_dump: bool,
}

impl<'a> Input<'a> {
    pub fn new(
        target: &'a TargetRef,
        snapshot: &'a Snapshot,
        ring: &TargetHistoryRing,
        checks: &'a ChecksConfig,
    ) -> Self {
        let window_secs = checks.trend_window.as_secs_f64();
        let profile = snapshot.goroutines_full.as_ref().or(snapshot.goroutines.as_ref());
        Input {
            target,
            snapshot,
            checks,
            series: history::series(ring, snapshot, window_secs),
            sites: profile.map(blocked_sites).unwrap_or_default(),
            full_dump: snapshot.goroutines_full.is_some(),
        }
    }

    /// Goroutines in the process (the cheapest profile's total).
    pub fn total_goroutines(&self) -> Option<u64> {
        self.snapshot.goroutines.as_ref().or(self.snapshot.goroutines_full.as_ref()).map(|p| p.total)
    }

    pub fn now(&self) -> i64 {
        self.snapshot.at
    }

    /// Trend of one site over the window.
    pub fn site_trend(&self, hash: u32) -> SiteTrend {
        let points: Vec<(f64, f64)> =
            self.series.iter().filter_map(|s| s.site_count(hash).map(|n| (s.at as f64, n as f64))).collect();
        trend_of(&points)
    }

    /// Whether a GC counts are known across the window (heap?debug=1 MemStats).
    fn gc_known(&self) -> bool {
        self.series.iter().filter(|s| s.num_gc.is_some()).count() >= 2
    }

    /// At sample `i`: a GC ran, at least a minute before it, while the site already had goroutines —
    /// a goroutine blocked since then prints `N minutes` in that sample's debug=2 dump.
    fn gc_witness_at(&self, hash: u32, i: usize) -> bool {
        let Some(at) = self.series.get(i).map(|s| s.at) else {
            return false;
        };
        self.series[..=i].windows(2).any(|w| {
            let (a, b) = (&w[0], &w[1]);
            a.site_count(hash).unwrap_or(0) > 0
                && matches!((a.num_gc, b.num_gc), (Some(x), Some(y)) if y > x)
                && at - b.at >= MINUTES_VISIBLE_AFTER_SECS
        })
    }

    /// Wait minutes at the site are real. The runtime stamps a goroutine's wait start at a GC mark
    /// phase and can use a stale cycle start (seen on go1.26.8: right after a GC that followed two
    /// idle minutes, every goroutine, even ones a few seconds old, printed `1 minutes`). Goroutines
    /// younger than a minute cannot have waited a minute: if every goroutine at the site shows
    /// minutes while the site grew over the last minute, the minutes are not evidence.
    pub fn genuine_minutes(&self, site: &Site) -> bool {
        if site.wait_minutes_max.unwrap_or(0) < 1 {
            return false;
        }
        if !site.minutes_all {
            return true;
        }
        let minute_ago = self.now() - 60;
        let before = self.series.iter().rev().filter(|s| s.at <= minute_ago).find_map(|s| s.site_count(site.hash));
        before.is_none_or(|n| site.count <= n)
    }

    /// Whether the site's goroutines wake up by themselves (a loop on a ticker/timer) or stay
    /// blocked, as far as the evidence tells. A goroutine that stays blocked shows wait minutes in
    /// every debug=2 dump taken a minute after a GC saw it blocked; so one such dump without minutes
    /// (or the leaked mark) proves the site's goroutines woke up.
    pub fn periodicity(&self, site: &Site) -> Periodicity {
        if site.leaked > 0 {
            return Periodicity::StaysBlocked;
        }
        if self.gc_known() {
            let woke = (1..self.series.len()).any(|i| {
                let s = &self.series[i];
                s.minutes_known
                    && s.site_count(site.hash).unwrap_or(0) > 0
                    && !s.long_waits.contains(&site.hash)
                    && self.gc_witness_at(site.hash, i)
            });
            if woke {
                return Periodicity::WakesUp;
            }
        }
        if self.genuine_minutes(site) {
            return Periodicity::StaysBlocked;
        }
        // No debug=2 now (e.g. above the goroutine cap): an earlier dump may have told already.
        if !self.full_dump && self.series.iter().any(|s| s.minutes_known && s.long_waits.contains(&site.hash)) {
            return Periodicity::StaysBlocked;
        }
        if !self.full_dump || !self.gc_known() {
            return Periodicity::Unknowable;
        }
        Periodicity::NotYet
    }
}

/// What debug=2 wait minutes tell about a growing channel/select site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Periodicity {
    /// Minutes or the runtime's leaked mark seen: the goroutines do not wake up.
    StaysBlocked,
    /// A GC saw them blocked over a minute ago, yet no minutes: they keep waking (ticker loop).
    WakesUp,
    /// Too early to say: no GC has witnessed the site long enough ago.
    NotYet,
    /// The data cannot tell (no debug=2 dump, or no GC counts).
    Unknowable,
}

/// Fitted trend of a count series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SiteTrend {
    pub points: usize,
    pub span_secs: f64,
    /// Least-squares slope per hour (None below `MIN_SITE_POINTS` points).
    pub per_hour: Option<f64>,
    pub r: f64,
    pub first: f64,
    pub last: f64,
    /// Steps between consecutive samples where the count rose.
    pub rises: usize,
}

impl SiteTrend {
    /// Rising steadily by at least `min_per_hour`: a good linear fit, and a rise in at least two
    /// thirds of the steps — a one-off step (a program starting its 1,000 workers between two audits)
    /// fits a line too, but is not growth.
    pub fn growing(&self, min_per_hour: f64) -> bool {
        let steps = self.points.saturating_sub(1);
        self.per_hour.is_some_and(|g| g >= min_per_hour && g > 0.0 && self.r >= STEADY_R)
            && self.last > self.first
            && self.rises * 3 >= steps * 2
    }

    /// Enough points and no growth worth the name.
    pub fn stable(&self, min_per_hour: f64) -> bool {
        self.per_hour.is_some_and(|g| g < min_per_hour)
    }
}

pub(crate) fn trend_of(points: &[(f64, f64)]) -> SiteTrend {
    let mut t = SiteTrend { points: points.len(), ..Default::default() };
    if let (Some(a), Some(b)) = (points.first(), points.last()) {
        t.span_secs = b.0 - a.0;
        t.first = a.1;
        t.last = b.1;
    }
    t.rises = points.windows(2).filter(|w| w[1].1 > w[0].1).count();
    if points.len() >= MIN_SITE_POINTS
        && let Some((slope, r)) = linear_fit(points)
    {
        t.per_hour = Some(slope * 3600.0);
        t.r = r;
    }
    t
}

/// Human-readable duration for messages: `45s`, `12m`, `3h10m`.
pub(crate) fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `1234` → `1,234` for messages.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Common site fields of a finding: function, file, line, count, site evidence.
pub(crate) fn site_finding(mut f: Finding, target: &TargetRef, site: &Site, count: u64) -> Finding {
    f.target = Some(target.clone());
    f.function = Some(site.function.clone());
    f.file = Some(site.file.clone());
    f.line = Some(site.line);
    f.count = Some(count);
    f.evidence.insert("site".into(), site.location());
    if let Some(c) = &site.created_by {
        f.evidence.insert("createdBy".into(), c.function.to_string());
        f.evidence.insert("createdAt".into(), format!("{}:{}", c.file, c.line));
    }
    if !site.states.is_empty() {
        let states: Vec<&str> = site.states.iter().map(String::as_str).collect();
        f.evidence.insert("state".into(), states.join(","));
    }
    if let Some(w) = site.wait_minutes_max {
        f.evidence.insert("longestWaitMinutes".into(), w.to_string());
    }
    if site.parents.len() > 1 {
        f.evidence.insert("parentGoroutines".into(), site.parents.len().to_string());
    }
    f
}

/// ` created by X (file:line)` or nothing, for messages.
pub(crate) fn created_by_text(site: &Site) -> String {
    site.created_by.as_ref().map(|c| format!(", created by {}", c.function)).unwrap_or_default()
}

/// Runs every enabled snapshot check for one target. `history` may or may not already contain the
/// snapshot; samples at or after `snapshot.at` are ignored.
pub fn diagnose(
    target: &TargetRef,
    snapshot: &Snapshot,
    history: &TargetHistoryRing,
    checks: &ChecksConfig,
) -> Vec<Finding> {
    let input = Input::new(target, snapshot, history, checks);
    let mut out = Vec::new();
    out.extend(proven_leak::check(&input));
    // A deferred dump keeps the verdict of the last one, which found nothing (`dump_schedule`).
    if snapshot.full_dump_deferred.is_none() {
        out.extend(goexit::check(&input));
        out.extend(ticker_loop::check(&input));
        out.extend(goroutine_leak::check(&input));
        out.extend(long_blocked::check(&input));
    }
    out.extend(contention::check(&input));
    out.extend(gc_pressure::check(&input));
    out.extend(growth::check(&input));
    out
}

/// Dedupes by `Finding::key()` (keeping the most severe) and carries `firstSeen` over from the
/// previous audit's findings; `lastSeen` becomes `now`.
pub fn merge_seen(previous: &[Finding], current: Vec<Finding>, now_rfc3339: &str) -> Vec<Finding> {
    let prev: BTreeMap<String, &Finding> = previous.iter().map(|f| (f.key(), f)).collect();
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Finding> = BTreeMap::new();
    for f in current {
        let key = f.key();
        match by_key.get(&key) {
            Some(existing) if existing.severity >= f.severity => {}
            Some(_) => {
                by_key.insert(key, f);
            }
            None => {
                order.push(key.clone());
                by_key.insert(key, f);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| {
            let mut f = by_key.remove(&k)?;
            f.first_seen = prev
                .get(&k)
                .and_then(|p| p.first_seen.clone().or_else(|| p.last_seen.clone()))
                .or_else(|| Some(now_rfc3339.to_string()));
            f.last_seen = Some(now_rfc3339.to_string());
            Some(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckId, Severity};

    #[test]
    fn merge_keeps_first_seen_and_dedupes() {
        let t = TargetRef { namespace: "n".into(), pod: "p".into(), container: None };
        let mut a = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "a").with_target(t.clone());
        a.function = Some("main.f".into());
        let mut prev = a.clone();
        prev.first_seen = Some("2026-11-26T09:00:00Z".into());
        prev.last_seen = Some("2026-11-26T09:05:00Z".into());
        let mut dup = a.clone();
        dup.severity = Severity::Critical;
        let mut b = a.clone();
        b.function = Some("main.g".into());
        let merged = merge_seen(&[prev], vec![a, dup, b], "2026-11-26T10:00:00Z");
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].severity, Severity::Critical);
        assert_eq!(merged[0].first_seen.as_deref(), Some("2026-11-26T09:00:00Z"));
        assert_eq!(merged[0].last_seen.as_deref(), Some("2026-11-26T10:00:00Z"));
        assert_eq!(merged[1].first_seen.as_deref(), Some("2026-11-26T10:00:00Z"));
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human_secs(45.0), "45s");
        assert_eq!(human_secs(600.0), "10m");
        assert_eq!(human_secs(7500.0), "2h05m");
        let t = trend_of(&[(0.0, 10.0), (60.0, 30.0), (120.0, 50.0)]);
        assert!(t.growing(100.0));
        assert!((t.per_hour.unwrap() - 1200.0).abs() < 1e-6);
        let flat = trend_of(&[(0.0, 1000.0), (60.0, 1000.0), (120.0, 1000.0)]);
        assert!(flat.stable(50.0) && !flat.growing(50.0));
        let short = trend_of(&[(0.0, 1.0), (60.0, 100.0)]);
        assert!(!short.stable(50.0) && !short.growing(50.0));
    }
}

#[cfg(test)]
mod check_tests;
