//! `GoroutineGrowth`: the goroutine total rising steadily across the trend window — a least-squares
//! slope over at least `minSamples` audits with a good fit, never one reading.

use crate::finding::{CheckId, Confidence, Finding, Severity};

use super::{Input, human_secs, thousands, trend_of};

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.goroutine_growth;
    if !cfg.enabled {
        return Vec::new();
    }
    let points: Vec<(f64, f64)> =
        input.series.iter().filter_map(|s| s.total.map(|t| (s.at as f64, t as f64))).collect();
    if points.len() < (cfg.min_samples as usize).max(2) {
        return Vec::new();
    }
    let t = trend_of(&points);
    let Some(per_hour) = t.per_hour else {
        return Vec::new();
    };
    if !t.growing(cfg.min_growth_per_hour) || t.last - t.first < cfg.min_increase as f64 {
        return Vec::new();
    }
    // Name the site that grows most, when the per-site history knows it.
    let top = input
        .sites
        .iter()
        .filter_map(|s| input.site_trend(s.hash).per_hour.map(|g| (s, g)))
        .filter(|(_, g)| *g > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut message = format!(
        "The goroutine count rises steadily: {} → {} over {} (~{}/h, fit r={:.2} over {} audits).",
        t.first as u64,
        t.last as u64,
        human_secs(t.span_secs),
        thousands(per_hour.round() as u64),
        t.r,
        points.len()
    );
    match top {
        Some((s, g)) => message.push_str(&format!(
            " Most of it is at {} ({}), ~{}/h, {} goroutines now: see the GoroutineLeak/TickerLoopGrowth/GoexitInDefer finding for that site.",
            s.function,
            s.location(),
            thousands(g.round() as u64),
            thousands(s.count)
        )),
        None => message.push_str(
            " Compare two goroutine?debug=1 dumps to find the site that grows.",
        ),
    }
    let mut f = Finding::new(CheckId::GoroutineGrowth, Severity::Warning, message)
        .with_target(input.target.clone())
        .with_evidence("reason", "total")
        .with_evidence("growthPerHour", format!("{per_hour:.0}"))
        .with_evidence("fitR", format!("{:.3}", t.r))
        .with_evidence("samples", points.len())
        .with_evidence("window", human_secs(t.span_secs))
        .with_evidence("from", t.first as u64)
        .with_evidence("to", t.last as u64);
    f.confidence = Some(Confidence::Likely);
    f.count = Some(t.last as u64);
    if let Some((s, _)) = top {
        f.evidence.insert("topGrowingSite".into(), format!("{} ({})", s.function, s.location()));
    }
    vec![f]
}
