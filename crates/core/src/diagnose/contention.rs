//! `LockContention`: top mutex/block contention sites by total delay; and
//! `ContentionProfilingDisabled` when the target's sampling rate is 0 — an empty profile is then no
//! evidence of no contention. Delays are cumulative since the target started.

use std::collections::BTreeMap;

use crate::finding::{CheckId, Finding, Severity};
use gohealth_pprof::model::{ContentionKind, ContentionProfile};

use super::site::site_frame;
use super::{Input, thousands};

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.lock_contention;
    if !cfg.enabled {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in [&input.snapshot.mutex, &input.snapshot.block].into_iter().flatten() {
        if p.sampling_period == Some(0) {
            if cfg.report_disabled_profiling && p.sites.is_empty() {
                out.push(disabled(input, p.kind));
            }
            continue;
        }
        for f in top_sites(input, p) {
            // The same lock seen by both profiles (mutex at Unlock, block at Lock) is one problem:
            // keep the mutex finding and add the block profile's numbers to it.
            let same = out.iter_mut().find(|o: &&mut Finding| {
                o.check == CheckId::LockContention
                    && o.function == f.function
                    && o.evidence.get("profile").map(String::as_str) == Some("mutex")
            });
            match (same, p.kind) {
                (Some(o), ContentionKind::Block) => {
                    if let Some(d) = f.evidence.get("delayMs") {
                        o.evidence.insert("blockDelayMs".into(), d.clone());
                    }
                    if let (Some(file), Some(line)) = (&f.file, f.line) {
                        o.evidence.insert("blockedAt".into(), format!("{file}:{line}"));
                    }
                }
                _ => out.push(f),
            }
        }
    }
    out
}

fn kind_name(kind: ContentionKind) -> &'static str {
    match kind {
        ContentionKind::Mutex => "mutex",
        ContentionKind::Block => "block",
    }
}

fn disabled(input: &Input, kind: ContentionKind) -> Finding {
    let (what, how) = match kind {
        ContentionKind::Mutex => ("Mutex", "runtime.SetMutexProfileFraction(n) (e.g. 100)"),
        ContentionKind::Block => ("Block", "runtime.SetBlockProfileRate(rate) (e.g. 10000 ns)"),
    };
    Finding::new(
        CheckId::ContentionProfilingDisabled,
        Severity::Info,
        format!(
            "{what} profiling is off in the target (sampling period 0), so its empty {} profile says nothing about lock contention. Enable it with {how} at startup to let LockContention see contended locks.",
            kind_name(kind)
        ),
    )
    .with_target(input.target.clone())
    .with_evidence("reason", kind_name(kind))
    .with_evidence("samplingPeriod", 0)
}

fn top_sites(input: &Input, p: &ContentionProfile) -> Vec<Finding> {
    let cfg = &input.checks.lock_contention;
    // Aggregate by the first user frame (sync.(*Mutex).Unlock / internal HashTrieMap frames skipped).
    let mut by_site: BTreeMap<(String, String, u32), (u64, u64)> = BTreeMap::new();
    // The block profile also records channel, select and WaitGroup waits (an idle consumer loop
    // "blocks" all day): only lock acquisitions are contention.
    let is_lock = |s: &&gohealth_pprof::model::ContentionSite| {
        p.kind == ContentionKind::Mutex
            || s.frames.iter().any(|f| {
                let pkg = super::site::package_of(&f.function);
                (pkg == "sync" || pkg == "internal/sync")
                    && (f.function.ends_with(".Lock") || f.function.ends_with(".RLock"))
            })
    };
    for s in p.sites.iter().filter(is_lock) {
        let Some((f, _)) = site_frame(&s.frames) else {
            continue;
        };
        let e = by_site.entry((f.function.to_string(), f.file.to_string(), f.line)).or_default();
        e.0 += s.delay_ns;
        e.1 += s.count;
    }
    let mut sites: Vec<_> = by_site.into_iter().collect();
    sites.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let min_ns = cfg.min_delay_ms.saturating_mul(1_000_000);
    sites
        .into_iter()
        .filter(|(_, (delay, _))| *delay >= min_ns)
        .take(cfg.top as usize)
        .enumerate()
        .map(|(rank, ((function, file, line), (delay, count)))| {
            let ms = delay as f64 / 1e6;
            let what = match p.kind {
                ContentionKind::Mutex => "other goroutines waited for the lock released",
                ContentionKind::Block => "goroutines blocked",
            };
            let mut f = Finding::new(
                CheckId::LockContention,
                Severity::Warning,
                format!(
                    "{what} at {function} ({file}:{line}) for {} ms in total over {} contention events since the process started (#{} {} site). Shorten the critical section, shard the lock, or avoid sharing it on the hot path.",
                    thousands(ms.round() as u64),
                    thousands(count),
                    rank + 1,
                    kind_name(p.kind),
                ),
            )
            .with_target(input.target.clone())
            .with_evidence("profile", kind_name(p.kind))
            .with_evidence("delayMs", format!("{ms:.1}"))
            .with_evidence("contentions", count)
            .with_evidence("site", format!("{file}:{line}"));
            if let Some(sp) = p.sampling_period {
                f.evidence.insert("samplingPeriod".into(), sp.to_string());
            }
            f.function = Some(function);
            f.file = Some(file);
            f.line = Some(line);
            f.count = Some(count);
            f
        })
        .collect()
}
