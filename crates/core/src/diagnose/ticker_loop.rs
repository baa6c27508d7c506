//! `TickerLoopGrowth`: a growing group of goroutines parked on a channel receive/select in a loop
//! that keeps waking up (a `time.Ticker`/`Timer`) and never exits — e.g. a poller started again on
//! every reconcile. The stacks alone do not name the ticker (`[chan receive]` on `t.C` looks like
//! any receive), so the evidence is behavioural: the site grows steadily, and although a GC saw its
//! goroutines blocked over a minute ago, debug=2 shows no `N minutes` for them (each tick resets the
//! wait) and the runtime never marks them leaked. Since Go 1.23 an unreferenced, unstopped Ticker is
//! collected, so the cost is the goroutines; on older Go (or go.mod < 1.23) each Ticker leaks too.

use crate::finding::{CheckId, Confidence, Finding, Severity};

use super::site::BlockKind;
use super::{Input, Periodicity, human_secs, site_finding, thousands};

/// `go1.26.8-X:goroutineleakprofile` → (1, 26).
pub fn go_minor_version(v: &str) -> Option<(u32, u32)> {
    let rest = &v[v.find("go")? + 2..];
    let mut it = rest.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.ticker_loop_growth;
    if !cfg.enabled {
        return Vec::new();
    }
    let min_growth = input.checks.goroutine_leak.min_growth_per_hour;
    let mut out = Vec::new();
    for site in &input.sites {
        let loop_wait = matches!(site.kind, BlockKind::ChanRecv | BlockKind::Select | BlockKind::ParkedUnknown);
        if !loop_wait || site.count < cfg.min_goroutines || site.goexit_caller.is_some() {
            continue;
        }
        let trend = input.site_trend(site.hash);
        if !trend.growing(min_growth) || input.periodicity(site) != Periodicity::WakesUp {
            continue;
        }
        let growth = trend.per_hour.unwrap_or(0.0);
        let version = input.snapshot.go_version.as_deref();
        let timer_note = match version.and_then(go_minor_version) {
            Some((1, m)) if m < 23 => {
                " On this Go version (< 1.23) every unstopped Ticker is also never garbage-collected, so timers leak with the goroutines."
            }
            Some(_) => {
                " Since Go 1.23 an unreferenced Ticker is collected even without Stop (go.mod ≥ 1.23), so the cost is the goroutines themselves."
            }
            None => " On Go < 1.23 (or a go.mod older than 1.23) every unstopped Ticker also leaks its timer.",
        };
        let creator = site.created_by.as_ref().map(|c| format!(" started by {}", c.function)).unwrap_or_default();
        let message = format!(
            "{} goroutines looping at {} ({}){creator} keep growing (~{}/h over {}, {} → {}) and wake up periodically (no wait minutes although a GC saw them a minute ago): a ticker/timer loop that never exits is started again and again. Give the loop an exit (ctx.Done()), call t.Stop() on exit, and start it once per object.{timer_note}",
            thousands(site.count),
            site.function,
            site.location(),
            thousands(growth.round() as u64),
            human_secs(trend.span_secs),
            trend.first as u64,
            trend.last as u64,
        );
        let mut f = site_finding(
            Finding::new(CheckId::TickerLoopGrowth, Severity::Warning, message),
            input.target,
            site,
            site.count,
        );
        f.confidence = Some(Confidence::Likely);
        f.evidence.insert("growthPerHour".into(), format!("{growth:.0}"));
        if let Some(v) = version {
            f.evidence.insert("goVersion".into(), v.into());
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::go_minor_version;

    #[test]
    fn versions() {
        assert_eq!(go_minor_version("go1.26.8-X:goroutineleakprofile"), Some((1, 26)));
        assert_eq!(go_minor_version("go1.21.13"), Some((1, 21)));
        assert_eq!(go_minor_version("go1.27"), Some((1, 27)));
        assert_eq!(go_minor_version("devel"), None);
    }
}
