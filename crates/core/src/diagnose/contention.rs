//! `LockContention`: top mutex/block contention sites by total delay; and
//! `ContentionProfilingDisabled` when the target's sampling rate is 0 — an empty profile is then no
//! evidence of no contention. Profiles count delay cumulatively since the target started, so the
//! warning is about the rate between two audits (delay per minute of wall time): a scheduler that
//! waited 2 s in total during its start-up is not contended. Without an earlier audit the total is
//! reported as info.

use std::collections::BTreeMap;

use crate::finding::{CheckId, Finding, Severity};
use gohealth_pprof::model::{ContentionKind, ContentionProfile};

use super::site::{normalize_function, site_frame, site_hash};
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

/// One lock site of a contention profile: delay and events cumulative since the process started.
pub(crate) struct LockSite {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub delay_ns: u64,
    pub count: u64,
    /// Key of the site in history samples.
    pub hash: u32,
}

/// Lock sites of a profile, aggregated by the first user frame (sync.(*Mutex).Unlock / internal
/// HashTrieMap frames skipped), largest delay first.
pub(crate) fn lock_sites(p: &ContentionProfile) -> Vec<LockSite> {
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
        let e = by_site.entry((normalize_function(&f.function), f.file.to_string(), f.line)).or_default();
        e.0 += s.delay_ns;
        e.1 += s.count;
    }
    let mut sites: Vec<LockSite> = by_site
        .into_iter()
        .map(|((function, file, line), (delay_ns, count))| LockSite {
            hash: site_hash(&format!("{}:{function}", kind_name(p.kind)), line),
            function,
            file,
            line,
            delay_ns,
            count,
        })
        .collect();
    sites.sort_by(|a, b| b.delay_ns.cmp(&a.delay_ns).then_with(|| a.function.cmp(&b.function)));
    sites
}

/// Delay the site added per minute of wall time since the previous audit, in ms; None when no
/// earlier sample of this process knows the site (first audit, a restart, the site is new).
fn rate_ms_per_minute(input: &Input, site: &LockSite) -> Option<(f64, f64)> {
    let n = input.series.len();
    let prev = input.series.get(n.checked_sub(2)?)?;
    let before = prev.contention_ms(site.hash)?;
    let now_ms = site.delay_ns / 1_000_000;
    let secs = (input.now() - prev.at) as f64;
    if now_ms < before || secs <= 0.0 {
        return None;
    }
    Some(((now_ms - before) as f64 * 60.0 / secs, secs))
}

fn top_sites(input: &Input, p: &ContentionProfile) -> Vec<Finding> {
    let cfg = &input.checks.lock_contention;
    let min_ns = cfg.min_delay_ms.saturating_mul(1_000_000);
    let mut rank = 0;
    let mut out = Vec::new();
    for s in lock_sites(p) {
        if out.len() >= cfg.top as usize {
            break;
        }
        let rate = rate_ms_per_minute(input, &s);
        // With a rate, only contention that is happening now counts; without one, the cumulative
        // total since start is all there is: an info until the next audit gives a rate.
        let severity = match rate {
            Some((r, _)) if r >= cfg.min_delay_ms_per_minute => Severity::Warning,
            Some(_) => continue,
            None if s.delay_ns >= min_ns => Severity::Info,
            None => continue,
        };
        rank += 1;
        let ms = s.delay_ns as f64 / 1e6;
        let what = match p.kind {
            ContentionKind::Mutex => "other goroutines waited for the lock released",
            ContentionKind::Block => "goroutines blocked",
        };
        let how = match rate {
            Some((r, secs)) => format!(
                "{} ms per minute of wall time over the last {} ({:.1} % of the time; {} ms in total since the process started)",
                thousands(r.round() as u64),
                super::human_secs(secs),
                r / 600.0,
                thousands(ms.round() as u64)
            ),
            None => format!(
                "{} ms in total over {} contention events since the process started (no earlier audit yet to tell the current rate)",
                thousands(ms.round() as u64),
                thousands(s.count)
            ),
        };
        let mut f = Finding::new(
            CheckId::LockContention,
            severity,
            format!(
                "{what} at {} ({}:{}) for {how} (#{rank} {} site). Shorten the critical section, shard the lock, or avoid sharing it on the hot path.",
                s.function,
                s.file,
                s.line,
                kind_name(p.kind),
            ),
        )
        .with_target(input.target.clone())
        .with_evidence("profile", kind_name(p.kind))
        .with_evidence("delayMs", format!("{ms:.1}"))
        .with_evidence("contentions", s.count)
        .with_evidence("site", format!("{}:{}", s.file, s.line));
        if let Some((r, secs)) = rate {
            f.evidence.insert("delayMsPerMinute".into(), format!("{r:.1}"));
            f.evidence.insert("rateWindowSeconds".into(), format!("{secs:.0}"));
        }
        if let Some(sp) = p.sampling_period {
            f.evidence.insert("samplingPeriod".into(), sp.to_string());
        }
        f.function = Some(s.function);
        f.file = Some(s.file);
        f.line = Some(s.line);
        f.count = Some(s.count);
        out.push(f);
    }
    out
}
