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

use super::site::{BlockKind, Site};
use super::{Input, Periodicity, created_by_text, human_secs, site_finding, thousands};

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
        let growing = trend.growing(cfg.min_growth_per_hour);
        let long_wait = input.genuine_minutes(site) && site.wait_minutes_max.unwrap_or(0) >= cfg.min_wait_minutes;
        let consumer_shaped = site.kind.is_consumer_shaped() || site.stdlib_owned;
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
                    // Wait until debug=2 minutes can tell a leak from a ticker loop.
                    Periodicity::NotYet => continue,
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
        } else if long_wait {
            Confidence::Likely
        } else if !consumer_shaped {
            Confidence::Suspected
        } else {
            continue;
        };
        out.push(finding(input, site, confidence, growing, trend, ambiguity));
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
