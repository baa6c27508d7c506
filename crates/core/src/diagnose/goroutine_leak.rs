//! `GoroutineLeak`: many goroutines parked at one blocking site (LeakProf's criterion), raised to
//! *likely* when the site keeps growing across audits or its goroutines waited long.
//!
//! What separates a leak from a stable per-object loop (1,000 consumers, one loop each):
//! - history: a loop site is flat across the window, a leak grows. A flat site is never raised.
//! - without history, the wait itself: a sender with no receiver (`chan send`), a nil channel /
//!   `select {}`, or a sync wait are suspicious at any count; a `chan receive` / `select` is what every
//!   healthy consumer loop shows, so those (and stdlib-owned sites such as HTTP keep-alive loops) wait
//!   for growth or long waits before they are raised.
//! - growing `chan receive`/`select` sites are split with debug=2 wait minutes: goroutines that stay
//!   blocked show `N minutes` once a GC saw them a minute ago; loops on a ticker never do
//!   (`TickerLoopGrowth` reports those).

use crate::finding::{CheckId, Confidence, Finding, Severity};

use super::benign;
use super::site::{BlockKind, Site};
use super::{Input, Periodicity, created_by_text, human_secs, site_finding, thousands};

/// How long a benign site must keep growing before the growth is reported (start-up is shorter).
const BENIGN_GROWTH_SECS: f64 = 600.0;

/// Why a single snapshot already singles out a channel/select site.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SingleEvidence {
    /// LeakProf's criterion: one site holds an egregious count and share of all goroutines, and no
    /// sibling site holds the same count (per-object loops come in families: read+write loops,
    /// worker+watcher).
    Egregious { share: f64 },
    /// A benign-site entry matches, but the count is above what a healthy process keeps there.
    OverLimit(u64),
    /// Growing with a sibling site of the same count that grows too (index into `Input::sites`).
    Family(usize),
}

impl SingleEvidence {
    fn annotate(self, f: &mut Finding, input: &Input, site: &Site) {
        match self {
            SingleEvidence::Egregious { share } => {
                f.evidence.insert("share".into(), format!("{:.2}", share));
                f.evidence.insert("siblingSites".into(), "0".into());
                f.message.push_str(&format!(
                    " Single-snapshot evidence: {:.0} % of all goroutines wait at this one site and no other site holds the same count (a per-object loop would come with siblings).",
                    share * 100.0
                ));
            }
            SingleEvidence::Family(i) => {
                if let Some(sib) = input.sites.get(i) {
                    f.evidence.insert("growingWith".into(), sib.function.clone());
                    f.message.push_str(&format!(
                        " It grows in lockstep with {} ({} goroutines): whole objects are piling up, not just one loop.",
                        sib.function,
                        thousands(sib.count)
                    ));
                }
            }
            SingleEvidence::OverLimit(limit) => {
                f.evidence.insert("benignLimit".into(), limit.to_string());
                f.message.push_str(&format!(
                    " A live pool or object keeps at most ~{} goroutines here; {} is beyond that.",
                    thousands(limit),
                    thousands(site.count)
                ));
            }
        }
        if let Some(total) = input.total_goroutines() {
            f.evidence.insert("totalGoroutines".into(), total.to_string());
        }
    }
}

/// Counts within 2 % of each other are one family (goroutines started together per object).
fn same_count(a: u64, b: u64) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    hi > 0 && (hi - lo) * 50 <= hi
}

/// A sibling site (same count) that grows as well.
fn growing_sibling(input: &Input, site: &Site) -> Option<usize> {
    let min = input.checks.goroutine_leak.min_growth_per_hour;
    input
        .sites
        .iter()
        .position(|o| o.hash != site.hash && same_count(o.count, site.count) && input.site_trend(o.hash).growing(min))
}

fn egregious(input: &Input, site: &Site) -> Option<SingleEvidence> {
    let cfg = &input.checks.goroutine_leak;
    let total = input.total_goroutines()?;
    if site.count < cfg.egregious_min_goroutines || total == 0 {
        return None;
    }
    let share = site.count as f64 / total as f64;
    if share < cfg.egregious_share {
        return None;
    }
    let siblings = input.sites.iter().filter(|o| o.hash != site.hash && same_count(o.count, site.count)).count();
    (siblings == 0).then_some(SingleEvidence::Egregious { share })
}

pub(crate) fn hint(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::ChanSend => {
            "Senders with no receiver left (typically a result channel abandoned after a timeout or early return): give the channel a buffer of 1, or select on ctx.Done() when sending."
        }
        BlockKind::ChanRecv => {
            "Receivers on a channel nobody sends to or closes any more: close the channel (or cancel a context) when the producer is done, and give the goroutine an exit path."
        }
        BlockKind::Select => {
            "A select none of whose cases ever becomes ready: add a ctx.Done() case and cancel the context when the work is abandoned."
        }
        BlockKind::Forever => {
            "A nil channel or an empty select: these goroutines can never wake; remove the wait or give them a channel that is closed."
        }
        BlockKind::Mutex => {
            "Waiting for a lock that is held for long or never released: look for a missing Unlock on an error path."
        }
        BlockKind::WaitGroup => {
            "WaitGroup.Wait whose Add and Done calls do not balance: make sure every path calls Done (defer wg.Done())."
        }
        BlockKind::Cond => "sync.Cond.Wait without a matching Signal/Broadcast.",
        BlockKind::Sema => "Waiting on a semaphore that is never released.",
        BlockKind::ParkedUnknown => {
            "Parked in a channel operation or select (debug=1 does not say which): give the goroutine an exit path (ctx.Done(), a closed channel)."
        }
        BlockKind::NotBlocked => "",
    }
}

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.goroutine_leak;
    if !cfg.enabled {
        return Vec::new();
    }
    let ticker_on = input.checks.ticker_loop_growth.enabled;
    let goexit_on = input.checks.goexit_in_defer.enabled;
    let mut out = Vec::new();
    for site in &input.sites {
        if site.count < cfg.min_goroutines {
            continue;
        }
        // Goroutines stuck after runtime.Goexit have their own, more precise check.
        if goexit_on && site.goexit_caller.is_some() {
            continue;
        }
        let trend = input.site_trend(site.hash);
        // A benign site grows while the process starts (informers sync, watch caches and storage
        // observers come up, one per resource): its growth counts once it lasts BENIGN_GROWTH_SECS.
        let known_site = benign::explained_by(&cfg.benign_sites, &site.function, 0).is_some();
        let growing = trend.growing(cfg.min_growth_per_hour) && (!known_site || trend.span_secs >= BENIGN_GROWTH_SECS);
        let long_wait = input.genuine_minutes(site) && site.wait_minutes_max.unwrap_or(0) >= cfg.min_wait_minutes;
        let consumer_shaped = site.kind.is_consumer_shaped() || site.stdlib_owned;
        // Idle workers and per-connection loops of widely used libraries: long waits and large
        // counts are what a live object looks like; only growth says otherwise.
        let benign = benign::explained_by(&cfg.benign_sites, &site.function, site.count);
        let over_limit = benign::over_limit(&cfg.benign_sites, &site.function, site.count);
        let mut single = None;
        let mut ambiguity = None;
        let confidence = if growing {
            if consumer_shaped {
                match input.periodicity(site) {
                    Periodicity::StaysBlocked => Confidence::Likely,
                    // A loop that wakes by itself: TickerLoopGrowth reports it.
                    Periodicity::WakesUp if ticker_on => continue,
                    Periodicity::WakesUp => {
                        ambiguity = Some("goroutines keep waking up (loop on a ticker/timer that never exits)");
                        Confidence::Likely
                    }
                    // Too early for debug=2 minutes to tell a leak from a ticker loop: only report now
                    // what one snapshot already singles out, or whole objects piling up (a family of
                    // sites growing in lockstep, e.g. a listener's pop+run, a connection's read+write
                    // loop; a ticker loop is one goroutine per object).
                    Periodicity::NotYet => {
                        if let Some(entry) = over_limit {
                            single = Some(SingleEvidence::OverLimit(entry.limit.unwrap_or(0)));
                        } else if let Some(e) = egregious(input, site) {
                            single = Some(e);
                        } else if let Some(sibling) = growing_sibling(input, site) {
                            single = Some(SingleEvidence::Family(sibling));
                        } else {
                            continue;
                        }
                        ambiguity = Some("too early for debug=2 wait minutes to rule out a loop on a ticker");
                        Confidence::Suspected
                    }
                    Periodicity::Unknowable => {
                        ambiguity = Some(if input.full_dump {
                            "no GC counts (heap?debug=1) to tell a leak from a loop that wakes up on a ticker"
                        } else {
                            "no debug=2 dump: a leak cannot be told from a loop on a ticker that never exits"
                        });
                        Confidence::Likely
                    }
                }
            } else {
                Confidence::Likely
            }
        } else if trend.stable(cfg.min_growth_per_hour) {
            // Flat across the window: a per-object loop or a bounded pool, not a leak.
            continue;
        } else if benign.is_some() {
            continue;
        } else if let Some(entry) = over_limit {
            single = Some(SingleEvidence::OverLimit(entry.limit.unwrap_or(0)));
            if long_wait { Confidence::Likely } else { Confidence::Suspected }
        } else if long_wait {
            Confidence::Likely
        } else if !consumer_shaped {
            Confidence::Suspected
        } else if let Some(e) = egregious(input, site) {
            single = Some(e);
            Confidence::Suspected
        } else {
            continue;
        };
        let mut f = finding(input, site, confidence, growing, trend, ambiguity);
        if let Some(e) = single {
            e.annotate(&mut f, input, site);
        }
        out.push(f);
    }
    out
}

fn finding(
    input: &Input,
    site: &Site,
    confidence: Confidence,
    growing: bool,
    trend: super::SiteTrend,
    ambiguity: Option<&str>,
) -> Finding {
    let severity = match (confidence, growing) {
        (Confidence::Likely, true) => Severity::Critical,
        _ => Severity::Warning,
    };
    let mut why = Vec::new();
    if growing && let Some(g) = trend.per_hour {
        why.push(format!(
            "growing by ~{}/h ({} → {} over {})",
            thousands(g.round() as u64),
            trend.first as u64,
            trend.last as u64,
            human_secs(trend.span_secs)
        ));
    }
    if let Some(w) = site.wait_minutes_max {
        why.push(format!("the oldest has waited {w} minutes"));
    }
    if site.leaked > 0 {
        why.push(format!("{} marked leaked by the runtime", site.leaked));
    }
    let verdict = match confidence {
        Confidence::Likely => "Likely a goroutine leak",
        _ => "Suspected goroutine leak (one snapshot; confirmed if it keeps growing)",
    };
    let mut message = format!(
        "{} goroutines blocked in {} at {} ({}){}",
        thousands(site.count),
        site.kind.describe(),
        site.function,
        site.location(),
        created_by_text(site),
    );
    if !why.is_empty() {
        message.push_str(&format!("; {}", why.join(", ")));
    }
    message.push_str(&format!(". {verdict}. {}", hint(site.kind)));
    if site.stdlib_owned {
        message.push_str(" The site is in the standard library: look at the code that starts these connections/loops.");
    }
    let mut f = site_finding(Finding::new(CheckId::GoroutineLeak, severity, message), input.target, site, site.count);
    f.confidence = Some(confidence);
    if let Some(g) = trend.per_hour {
        f.evidence.insert("growthPerHour".into(), format!("{:.0}", g));
    }
    f.evidence.insert("blockedIn".into(), site.kind.describe().into());
    if let Some(a) = ambiguity {
        f.evidence.insert("ambiguity".into(), a.into());
    }
    f
}
