//! Times the pprof parsers on one file and reports the median and the peak memory.
//!
//! ```sh
//! cargo run --release --example parsebench -- debug2 goroutine-10000-debug2.txt [min_iters] [min_secs]
//! ```
//! Prints one line: `format=… bytes=… inflated=… iters=… median_ms=… mb_per_s=… peak_mb=… peak_ratio=…`.
//! `peak_mb` is the process's peak RSS during the timed parses (VmHWM, reset through
//! `/proc/self/clear_refs` after loading the input) minus the RSS before the input was read:
//! input bytes plus the parser's working set. `inflated` is the input's gunzipped size (the
//! input size for text); `peak_ratio` is `peak_mb` over it.
//! `heap_mb` is exact: the most bytes the parse held allocated at once (a counting global
//! allocator, the input excluded, which the caller owns; freed-but-kept allocator pages and
//! the allocator's own fixed ~0.6 MB excluded, which `peak_mb` counts); `heap_ratio` is
//! `heap_mb` over the inflated size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                // A growing realloc may move and hold both blocks for a moment: count both.
                let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
                PEAK.fetch_max(now, Ordering::Relaxed);
                LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            } else {
                // glibc shrinks in place.
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

use gohealth_pprof::{self as pprof, model::GoroutineProfile};

fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn parse(format: &str, data: &[u8]) -> Result<GoroutineProfile, pprof::ParseError> {
    match format {
        // components of the proto path, to see where time goes
        "gunzip" => pprof::gunzip_limited(data, 1 << 30)
            .map(|d| GoroutineProfile { total: d.len() as u64, ..Default::default() }),
        "decode" => pprof::proto::decode(data, 1 << 30)
            .map(|p| GoroutineProfile { total: p.sample.len() as u64, ..Default::default() }),
        "proto" => pprof::parse_goroutine_proto(data, 1 << 30, None),
        "debug1" => pprof::parse_goroutine_debug1(data),
        "debug2" => pprof::parse_goroutine_debug2(data),
        other => Err(pprof::ParseError::NotAProfile { found: format!("unknown format argument {other}") }),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(format), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: parsebench proto|debug1|debug2 FILE [min_iters] [min_secs]");
        std::process::exit(2);
    };
    let min_iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let min_secs: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(2.0);

    let rss_before_kb = status_kb("VmRSS:").unwrap_or(0);
    let data = std::fs::read(path)?;
    // Reset the peak-RSS watermark so it measures input + parsing only (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    // Keep only what the summary line needs: holding the first result through the timed loop
    // would double the peak memory of the big parses.
    let (first_total, first_groups) = parse(format, &data).map(|p| (p.total, p.groups.len()))?;
    // The heap of the second parse: the first one also allocated the per-thread inflate state
    // (~43 KB) that every later parse on the thread reuses.
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    std::hint::black_box(parse(format, &data)?);
    let heap = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_iters || start.elapsed() < Duration::from_secs_f64(min_secs) {
        let t = Instant::now();
        let p = parse(format, &data)?;
        times.push(t.elapsed());
        std::hint::black_box(p);
        if times.len() >= 10_000 {
            break;
        }
    }
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let peak_kb = status_kb("VmHWM:").unwrap_or(0).saturating_sub(rss_before_kb);
    // measured after the peak, so this gunzip is not counted in it
    let inflated = pprof::gunzip_limited(&data, 1 << 30).map_or(data.len(), |d| d.len());
    let mb = data.len() as f64 / 1e6;
    let ms = median.as_secs_f64() * 1e3;
    println!(
        "format={format} bytes={} inflated={inflated} iters={} median_ms={ms:.3} mb_per_s={:.1} peak_mb={:.2} peak_ratio={:.2} heap_mb={:.3} heap_ratio={:.2} total={} groups={}",
        data.len(),
        times.len(),
        mb / median.as_secs_f64().max(1e-12),
        peak_kb as f64 / 1e3 * 1.024,
        (peak_kb as f64 * 1024.0) / (inflated.max(1) as f64),
        heap as f64 / 1e6,
        heap as f64 / (inflated.max(1) as f64),
        first_total,
        first_groups,
    );
    Ok(())
}
