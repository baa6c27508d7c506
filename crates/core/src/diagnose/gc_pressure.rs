//! `GCPressure`: GC CPU fraction (cumulative since the target started), GC frequency over the trend
//! window and heap growth, from MemStats (`heap?debug=1`). A high fraction is a warning only when it
//! holds across at least two minutes of audits; before that, or while it falls, it is an info
//! (start-up work). The GC frequency is only judged over two minutes or more. GCs the audit itself forced (goroutineleak
//! fetches) and NumForcedGC (runtime.GC calls) are discounted from the frequency.

use crate::finding::{CheckId, Finding, Severity};

use super::{Input, STEADY_R, human_secs, thousands, trend_of};

/// Seconds of audits over which a GC figure must hold before it is pressure rather than a burst.
const SUSTAINED_SECS: i64 = 120;

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.gc_pressure;
    if !cfg.enabled {
        return Vec::new();
    }
    let Some(ms) = &input.snapshot.mem_stats else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    let mut fraction_only_info = false;
    let mut f = Finding::new(CheckId::GcPressure, Severity::Warning, String::new())
        .with_target(input.target.clone())
        .with_evidence("reason", "gcPressure");

    if let Some(frac) = ms.gc_cpu_fraction {
        f.evidence.insert("gcCpuFraction".into(), format!("{frac:.4}"));
        if frac > cfg.max_gc_cpu_fraction {
            // The fraction is an average since start: a process's start-up (caches filled, informers
            // synced) can dominate it for minutes. With f = GC time / (uptime x procs), a fraction
            // that did not fall over a window means the GC took at least that share within the
            // window; one that fell says nothing about now. The window must span SUSTAINED_SECS.
            let earlier = input
                .series
                .iter()
                .rev()
                .filter(|s| s.at <= input.now() - SUSTAINED_SECS)
                .find(|s| s.gc_cpu_fraction.is_some());
            let why = match earlier.and_then(|p| Some((p.gc_cpu_fraction?, p.num_gc))) {
                None => Some("not sustained over two minutes of audits yet: start-up work or a burst"),
                // The runtime updates the fraction at the end of a GC: without one since, it is stale
                // and the GC used no CPU in between.
                Some((_, Some(n))) if ms.num_gc.is_some_and(|now| now <= n) => Some("no GC since the earlier audit"),
                Some((p, _)) if frac < p => Some("falling since the earlier audit: start-up work fading"),
                Some(_) => None,
            };
            reasons.push(format!(
                "the GC has used {:.1}% of the CPU since the process started (threshold {:.1}%{})",
                frac * 100.0,
                cfg.max_gc_cpu_fraction * 100.0,
                why.map(|w| format!("; {w}")).unwrap_or_default()
            ));
            if let Some(w) = why {
                fraction_only_info = true;
                f.evidence.insert("fractionTrend".into(), w.into());
            }
        }
    }

    // Frequency over the window, from the first to the last sample with GC counts.
    let gc_points: Vec<_> = input.series.iter().filter(|s| s.num_gc.is_some()).collect();
    // Over less than two minutes a rate is a burst (start-up, one big request), not pressure.
    if let (Some(a), Some(b)) = (gc_points.first(), gc_points.last())
        && b.at - a.at >= SUSTAINED_SECS
    {
        let gcs = b.num_gc.unwrap_or(0).saturating_sub(a.num_gc.unwrap_or(0));
        let forced_runtime = match (a.num_forced_gc, b.num_forced_gc) {
            (Some(x), Some(y)) => y.saturating_sub(x),
            _ => 0,
        };
        let forced_scrape: u64 = gc_points.iter().filter(|s| s.at > a.at).map(|s| s.scrape_forced_gcs).sum();
        // A scrape-forced GC may also count in NumForcedGC: discount the larger, not the sum.
        let forced = forced_runtime.max(forced_scrape);
        let minutes = (b.at - a.at) as f64 / 60.0;
        let rate = gcs.saturating_sub(forced) as f64 / minutes;
        f.evidence.insert("gcsPerMinute".into(), format!("{rate:.1}"));
        f.evidence.insert("forcedGcsDiscounted".into(), forced.to_string());
        f.evidence.insert("rateWindow".into(), human_secs((b.at - a.at) as f64));
        if rate > cfg.max_gcs_per_minute {
            fraction_only_info = false;
            reasons.push(format!(
                "it ran {} GCs per minute over the last {} (threshold {}, {} forced GCs not counted)",
                thousands(rate.round() as u64),
                human_secs((b.at - a.at) as f64),
                cfg.max_gcs_per_minute,
                forced
            ));
        }
    }

    // Heap growth: fitted slope of HeapAlloc, reported as evidence.
    let heap: Vec<(f64, f64)> =
        input.series.iter().filter_map(|s| s.heap_alloc.map(|h| (s.at as f64, h as f64))).collect();
    let t = trend_of(&heap);
    if heap.len() >= input.checks.goroutine_growth.min_samples as usize
        && let Some(g) = t.per_hour
        && t.r >= STEADY_R
        && g > 0.0
    {
        f.evidence.insert("heapGrowthBytesPerHour".into(), format!("{g:.0}"));
        if !reasons.is_empty() {
            reasons.push(format!("the heap grows by ~{:.1} MiB/h", g / 1048576.0));
        }
    }
    if let Some(h) = ms.heap_alloc {
        f.evidence.insert("heapAllocBytes".into(), h.to_string());
    }
    if let Some(n) = ms.num_gc {
        f.evidence.insert("numGC".into(), n.to_string());
    }
    if reasons.is_empty() {
        return Vec::new();
    }
    if fraction_only_info {
        f.severity = Severity::Info;
    }
    f.message = format!(
        "GC pressure: {}. The program allocates heavily on a hot path: find the allocating function with the allocs profile (go tool pprof -sample_index=alloc_space /debug/pprof/allocs), reuse buffers (sync.Pool), or raise GOGC / set GOMEMLIMIT if memory allows.",
        reasons.join("; ")
    );
    vec![f]
}
