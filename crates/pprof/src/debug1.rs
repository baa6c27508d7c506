//! `debug=1` text: goroutine/goroutineleak count profiles, heap MemStats trailer, mutex/block.
//!
//! ```text
//! goroutine profile: total 21
//! 3 @ 0x48a7aa 0x4172bc 0x491701
//! # labels: {"tenant id":"a b", "worker":"capture"}
//! #    0x7282c5    main.blockedSender+0x45        gohealth.dev/e2e/fleet/cmd/capture/main.go:45
//! ```
//! (tabs shown as spaces.) Frame columns come from `text/tabwriter`, so fields are separated by
//! runs of tabs.

use std::collections::BTreeMap;

use super::ParseError;
use super::detect::detect_plain;
use super::limits::{MAX_SAMPLES, too_complex};
use super::model::{
    ContentionKind, ContentionProfile, ContentionSite, GoroutineProfile, Groups, GroupsBuilder, HeapProfile, Labels,
    MemStats, ProfileFormat,
};
use super::text::{FxHashMap, Stacks, as_text, find_byte, lines, parse_i64, parse_u64, split_file_line, strip_offset};

/// Checks that `data` is `want` (so a heap profile given to the goroutine parser says so).
pub(super) fn expect(data: &[u8], want: ProfileFormat) -> Result<(), ParseError> {
    let found = detect_plain(data)?;
    if found == want {
        Ok(())
    } else {
        Err(ParseError::WrongKind { expected: want.name(), found: found.name().to_string() })
    }
}

fn malformed(format: &'static str, line: usize, message: impl Into<String>) -> ParseError {
    ParseError::Malformed { format, line, message: message.into() }
}

/// `#\t0x7282c5\tmain.blockedSender+0x45\t\tpath/main.go:45` → frame. A frame whose function
/// is unknown prints only `#\t<pc>`: `None`. Pasted text whose tabs became spaces is read too.
pub(super) fn frame_comment(line: &str) -> Option<(&str, &str, u32)> {
    let Some(rest) = line.strip_prefix("#\t") else {
        return frame_comment_spaces(line);
    };
    let b = rest.as_bytes();
    // pc, then function, then file:line, separated by runs of tabs
    let pc_end = find_byte(b, b'\t')?;
    let func_start = pc_end + b.get(pc_end..)?.iter().take_while(|&&c| c == b'\t').count();
    let func_len = find_byte(b.get(func_start..)?, b'\t').unwrap_or(b.len() - func_start);
    let func = strip_offset(rest.get(func_start..func_start + func_len)?);
    if func.is_empty() {
        return None;
    }
    let (file, line) = rest.get(func_start + func_len..).and_then(split_file_line).unwrap_or(("", 0));
    Some((func, file, line))
}

/// [`frame_comment`] of `#   0x7282c5   main.f+0x45   path/main.go:45` (tabs turned into
/// spaces by a copy and paste): pc, function, then the rest is `file:line`.
fn frame_comment_spaces(line: &str) -> Option<(&str, &str, u32)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let (pc, rest) = rest.split_once(char::is_whitespace)?;
    if !pc.starts_with("0x") {
        return None;
    }
    let rest = rest.trim_start();
    let (func, file) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let func = strip_offset(func);
    if func.is_empty() {
        return None;
    }
    let (file, line) = split_file_line(file).unwrap_or(("", 0));
    Some((func, file, line))
}

/// A frame line of a record: `#\t0x…` (or `#` and spaces, then a pc, when pasted).
fn is_frame_line(line: &str) -> bool {
    line.starts_with("#\t") || line.strip_prefix('#').is_some_and(|r| r.trim_start().starts_with("0x"))
}

const GOROUTINE_FMT: &str = "goroutine debug=1";

/// One record being read and what merges it with an earlier one.
struct Record {
    count: u64,
    labels: Labels,
    labels_id: u32,
}

/// `goroutine?debug=1` / `goroutineleak?debug=1` (also `threadcreate?debug=1`).
/// `total` is the header's; `leak_profile` is set from a `goroutineleak profile:` header.
/// Records pasted without the header are read too (`total` is then the sum of the counts).
/// Records with the same stack and labels are one group. Over a cap of [`super::limits`]:
/// `ProfileTooComplex`; stacks deeper than the runtime's maximum are cut (`frames_elided`).
pub fn parse_goroutine_debug1(data: &[u8]) -> Result<GoroutineProfile, ParseError> {
    expect(data, ProfileFormat::GoroutineDebug1)?;
    let text = as_text(data);
    let mut it = lines(&text).skip_while(|(_, l)| l.trim().is_empty()).peekable();
    let (hline, header) = it.peek().copied().unwrap_or((1, ""));
    let header_total = match header.split_once(" profile: total ") {
        Some((name, rest)) => {
            it.next();
            let total = parse_u64(rest.trim()).ok_or_else(|| malformed(GOROUTINE_FMT, hline, "bad total in header"))?;
            Some((name.trim() == "goroutineleak", total))
        }
        None => None,
    };
    let leak = header_total.is_some_and(|(leak, _)| leak);
    // Straight into columns: a record with a distinct label value costs a few bytes, not a
    // `GoroutineGroup`.
    let mut groups = GroupsBuilder::default();
    let mut current: Option<Record> = None;
    let mut stacks = Stacks::default();
    let mut by_key: FxHashMap<(u32, u32), usize> = FxHashMap::default();
    // A record ends at a blank line, at the next record or at the end.
    let mut end = |current: &mut Option<Record>, stacks: &mut Stacks<'_>, groups: &mut GroupsBuilder| {
        let Some(Record { count, labels, labels_id }) = current.take() else {
            return Ok(());
        };
        let stack = stacks.finish();
        if let Some(e) = stacks.error() {
            return Err(e.clone());
        }
        match by_key.get(&(stack.id, labels_id)) {
            Some(i) => groups.add_count(*i, count),
            None => {
                if groups.len() >= MAX_SAMPLES {
                    return Err(too_complex("records", MAX_SAMPLES));
                }
                let i = groups.push(count, &stack.stack, &labels, Groups::flags(leak, false, stack.cut));
                by_key.insert((stack.id, labels_id), i);
            }
        }
        Ok(())
    };
    for (n, line) in it {
        if line.is_empty() {
            end(&mut current, &mut stacks, &mut groups)?;
        } else if let Some(rest) = line.strip_prefix("# labels: ") {
            if let Some(r) = current.as_mut()
                && let Some((id, labels)) = stacks.labels(rest.trim())
            {
                r.labels = labels;
                r.labels_id = id;
            }
        } else if is_frame_line(line) {
            if current.is_some() {
                stacks.push_line(line, frame_comment);
            }
        } else if let Some((count, _pcs)) = line.split_once(" @") {
            end(&mut current, &mut stacks, &mut groups)?;
            let count = parse_u64(count.trim()).ok_or_else(|| malformed(GOROUTINE_FMT, n, "bad record count"))?;
            current = Some(Record { count, labels: Labels::default(), labels_id: u32::MAX });
        } else if line.trim() == "@" || line.ends_with(" @") {
            // a record with no PCs at all: keep the count
            end(&mut current, &mut stacks, &mut groups)?;
        }
        // Anything else (future comment lines) is ignored.
    }
    end(&mut current, &mut stacks, &mut groups)?;
    let mut profile = GoroutineProfile { total: 0, groups: groups.finish(), leak_profile: leak };
    profile.total = match header_total {
        Some((_, total)) => total,
        None => profile.sum_of_groups(),
    };
    Ok(profile)
}

const CONTENTION_FMT: &str = "mutex/block debug=1";

/// `mutex?debug=1` / `block?debug=1`. `sampling_period` comes from `sampling period=N` (mutex
/// only; `Some(0)` = profiling off in the target); delays are converted from CPU cycles with the
/// `cycles/second=` header.
pub fn parse_contention_debug1(data: &[u8]) -> Result<ContentionProfile, ParseError> {
    expect(data, ProfileFormat::ContentionDebug1)?;
    let text = as_text(data);
    let mut it = lines(&text).skip_while(|(_, l)| l.trim().is_empty());
    let (hline, header) = it.next().unwrap_or((1, ""));
    let kind = match header.trim_end() {
        "--- mutex:" => ContentionKind::Mutex,
        "--- contention:" => ContentionKind::Block,
        _ => return Err(malformed(CONTENTION_FMT, hline, "unknown header")),
    };
    let mut profile = ContentionProfile { kind, sampling_period: None, sites: Vec::new() };
    let mut cycles_per_second: Option<u64> = None;
    // Raw cycles per site, converted once `cycles/second=` is known (it precedes the records,
    // but do not rely on the order).
    let mut cycles: Vec<u64> = Vec::new();
    let mut current: Option<ContentionSite> = None;
    let mut stacks = Stacks::default();
    let end = |current: &mut Option<ContentionSite>, stacks: &mut Stacks<'_>, sites: &mut Vec<ContentionSite>| {
        let Some(mut s) = current.take() else {
            return Ok(());
        };
        s.frames = stacks.finish().stack;
        if let Some(e) = stacks.error() {
            return Err(e.clone());
        }
        if sites.len() >= MAX_SAMPLES {
            return Err(too_complex("records", MAX_SAMPLES));
        }
        sites.push(s);
        Ok(())
    };
    for (n, line) in it {
        if let Some(v) = line.strip_prefix("cycles/second=") {
            // Go prints a float when the estimate is not integral on some platforms.
            cycles_per_second = parse_u64(v.trim()).or_else(|| v.trim().parse::<f64>().ok().map(|f| f.max(0.0) as u64));
        } else if let Some(v) = line.strip_prefix("sampling period=") {
            profile.sampling_period = parse_u64(v.trim());
        } else if is_frame_line(line) {
            if current.is_some() {
                stacks.push_line(line, frame_comment);
            }
        } else if let Some((nums, _pcs)) = line.split_once(" @") {
            end(&mut current, &mut stacks, &mut profile.sites)?;
            let mut parts = nums.split_whitespace();
            let cyc = parts.next().and_then(parse_i64);
            let count = parts.next().and_then(parse_i64);
            let (Some(cyc), Some(count)) = (cyc, count) else {
                return Err(malformed(CONTENTION_FMT, n, "bad `<cycles> <count> @` record"));
            };
            cycles.push(u64::try_from(cyc).unwrap_or(0));
            current = Some(ContentionSite {
                count: u64::try_from(count).unwrap_or(0),
                delay_ns: 0,
                frames: Default::default(),
            });
        } else if line.is_empty() {
            end(&mut current, &mut stacks, &mut profile.sites)?;
        }
    }
    end(&mut current, &mut stacks, &mut profile.sites)?;
    let cps = cycles_per_second.filter(|c| *c > 0);
    for (site, c) in profile.sites.iter_mut().zip(cycles) {
        site.delay_ns = match cps {
            Some(cps) => {
                let ns = u128::from(c) * 1_000_000_000 / u128::from(cps);
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
            // No rate: keep cycles rather than invent a conversion.
            None => c,
        };
    }
    Ok(profile)
}

const HEAP_FMT: &str = "heap debug=1";

/// `heap?debug=1` / `allocs?debug=1`: the `# runtime.MemStats` trailer and the header's in-use
/// bytes (`heap profile: <objs>: <bytes> [...]`, sampled and unscaled, unlike the proto's).
pub fn parse_heap_debug1(data: &[u8]) -> Result<HeapProfile, ParseError> {
    expect(data, ProfileFormat::HeapDebug1)?;
    let text = as_text(data);
    let mut it = lines(&text).skip_while(|(_, l)| l.trim().is_empty());
    let (hline, header) = it.next().unwrap_or((1, ""));
    let inuse_bytes = header
        .strip_prefix("heap profile: ")
        .and_then(|r| r.split_once(':'))
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(parse_u64);
    if inuse_bytes.is_none() {
        return Err(malformed(HEAP_FMT, hline, "bad `heap profile:` header"));
    }
    let mut raw: BTreeMap<&str, &str> = BTreeMap::new();
    let mut in_trailer = false;
    for (_, line) in it {
        if line.starts_with("# runtime.MemStats") {
            in_trailer = true;
            continue;
        }
        if !in_trailer {
            continue;
        }
        if let Some((k, v)) = line.strip_prefix("# ").and_then(|l| l.split_once(" = ")) {
            raw.insert(k.trim(), v.trim());
        }
    }
    let mem_stats = in_trailer.then(|| mem_stats(&raw));
    Ok(HeapProfile { mem_stats, inuse_bytes })
}

fn mem_stats(raw: &BTreeMap<&str, &str>) -> MemStats {
    let u = |k: &str| raw.get(k).and_then(|v| parse_u64(v));
    let num_gc = u("NumGC");
    // PauseNs is the runtime's ring of the last 256 pauses: its sum is the total only while
    // NumGC <= 256 (the trailer has no PauseTotalNs line).
    let pause_total_ns = match (num_gc, raw.get("PauseNs")) {
        (Some(n), Some(v)) if n <= 256 => v
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .map(parse_u64)
            .try_fold(0u64, |acc, x| x.map(|x| acc.saturating_add(x))),
        _ => None,
    };
    MemStats {
        alloc: u("Alloc"),
        total_alloc: u("TotalAlloc"),
        sys: u("Sys"),
        mallocs: u("Mallocs"),
        frees: u("Frees"),
        heap_alloc: u("HeapAlloc"),
        heap_sys: u("HeapSys"),
        heap_idle: u("HeapIdle"),
        heap_inuse: u("HeapInuse"),
        heap_released: u("HeapReleased"),
        heap_objects: u("HeapObjects"),
        next_gc: u("NextGC"),
        last_gc: u("LastGC"),
        pause_total_ns,
        num_gc,
        num_forced_gc: u("NumForcedGC"),
        gc_cpu_fraction: raw.get("GCCPUFraction").and_then(|v| v.parse::<f64>().ok()).filter(|f| f.is_finite()),
        max_rss: u("MaxRSS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_comment_variants() {
        let f = frame_comment("#\t0x7282c5\tmain.blockedSender+0x45\t\tgohealth.dev/e2e/fleet/cmd/capture/main.go:45")
            .unwrap();
        assert_eq!(f, ("main.blockedSender", "gohealth.dev/e2e/fleet/cmd/capture/main.go", 45));
        assert_eq!(frame_comment("#\t0x491701"), None);
        let w = frame_comment("#\t0x1\tmain.f+0x1\tC:/Users/dev/main.go:9").unwrap();
        assert_eq!((w.1, w.2), ("C:/Users/dev/main.go", 9));
        // tabs turned into spaces by a paste
        let f = frame_comment("#   0x7282c5    main.blockedSender+0x45        /app/main.go:45").unwrap();
        assert_eq!(f, ("main.blockedSender", "/app/main.go", 45));
        let f = frame_comment("#\x200x1 main.f+0x1 C:/Program Files/app/main.go:9").unwrap();
        assert_eq!(f, ("main.f", "C:/Program Files/app/main.go", 9));
        assert_eq!(frame_comment("# labels: {}"), None);
    }
}
