//! `gohealth analyze FILE|URL...`: the single-snapshot checks on saved dumps or one live endpoint.
//!
//! Every input is read (a file, `-` for stdin, or an http(s) URL through the collector), its format
//! detected from the content, and the profiles combined into one snapshot: goroutine dumps, the
//! goroutineleak profile, heap MemStats, mutex/block profiles. Checks that need history across audits
//! are listed in `notes` instead of being run.

use std::io::Read;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::output::{OutputFormat, finding_json, findings_section, print};
use crate::scrape::http::{Collector, CollectorOptions};
use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::history::TargetHistoryRing;
use gohealth_core::diagnose::site::{block_kind, blocked_sites, normalize_state, site_frame};
use gohealth_core::diagnose::{diagnose, merge_seen};
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionKind, GoroutineProfile, Profile, ProfileFormat};
use gohealth_pprof::{ParseError, ParseOptions, detect, gunzip_limited, parse_traceback, parse_with};

/// Groups listed in the output at most (a 100k-goroutine dump can have thousands).
const MAX_GROUPS: usize = 200;

/// Diagnose saved pprof dumps (or a live endpoint) without a cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// Files, `-` for stdin, or http(s) URLs (e.g. http://127.0.0.1:6060/debug/pprof/goroutine?debug=2).
    /// Several inputs are combined: e.g. a goroutine dump, heap?debug=1 and mutex?debug=1.
    #[arg(required = true, value_name = "FILE|URL")]
    pub inputs: Vec<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Goroutines at one site before GoroutineLeak (and the Goexit/ticker checks) report it.
    #[arg(long)]
    pub min_goroutines: Option<u64>,
    /// Wait in minutes that LongBlockedGoroutines reports (and that makes a leak "likely").
    #[arg(long)]
    pub min_wait_minutes: Option<u64>,
    /// Largest input accepted, after decompression, in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    pub max_bytes: usize,
}

/// Why an input could not be analyzed. Every one exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{input}: cannot read: {err}")]
    Read { input: String, err: String },
    #[error("{input}: {err}")]
    Fetch { input: String, err: gohealth_core::scrape_error::ScrapeError },
    #[error("{input}: {err}")]
    Parse { input: String, err: ParseError },
}

/// One input after parsing.
struct Parsed {
    source: String,
    format: ProfileFormat,
    profile: Profile,
    panic_message: Option<String>,
    truncated: bool,
}

pub fn main(args: AnalyzeArgs) -> ExitCode {
    let mut parsed = Vec::new();
    for input in &args.inputs {
        match load(input, args.max_bytes) {
            Ok(p) => parsed.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let report = analyze(&parsed, &checks_for(&args));
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&report.json()) {
            Ok(s) => print(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Table => print(&report.table()),
    }
    ExitCode::SUCCESS
}

fn checks_for(args: &AnalyzeArgs) -> ChecksConfig {
    let mut c = ChecksConfig::default();
    if let Some(n) = args.min_goroutines {
        c.goroutine_leak.min_goroutines = n;
        c.goexit_in_defer.min_goroutines = n;
        c.ticker_loop_growth.min_goroutines = n;
        c.long_blocked_goroutines.min_goroutines = n;
    }
    if let Some(m) = args.min_wait_minutes {
        c.goroutine_leak.min_wait_minutes = m;
        c.long_blocked_goroutines.min_wait_minutes = m;
    }
    c
}

fn read_input(input: &str, max_bytes: usize) -> Result<Vec<u8>, AnalyzeError> {
    let read_err = |err: String| AnalyzeError::Read { input: input.to_string(), err };
    if input.starts_with("http://") || input.starts_with("https://") {
        let opts = CollectorOptions { max_body_bytes: max_bytes as u64, ..CollectorOptions::default() };
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| read_err(e.to_string()))?;
        let fetch_err = |err| AnalyzeError::Fetch { input: input.to_string(), err };
        let collector = Collector::new(&opts).map_err(fetch_err)?;
        let body = rt.block_on(collector.fetch(input)).map_err(fetch_err)?;
        return Ok(body.to_vec());
    }
    let mut data = Vec::new();
    let limit = max_bytes as u64 + 1;
    let res = if input == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut data)
    } else {
        std::fs::File::open(input).and_then(|f| f.take(limit).read_to_end(&mut data))
    };
    res.map_err(|e| read_err(e.to_string()))?;
    if data.len() > max_bytes {
        return Err(read_err(format!("larger than --max-bytes {max_bytes}")));
    }
    Ok(data)
}

fn load(input: &str, max_bytes: usize) -> Result<Parsed, AnalyzeError> {
    let data = read_input(input, max_bytes)?;
    let parse_err = |err| AnalyzeError::Parse { input: input.to_string(), err };
    let plain = gunzip_limited(&data, max_bytes).map_err(parse_err)?;
    let format = detect(&plain).map_err(parse_err)?;
    if format == ProfileFormat::GoroutineDebug2 {
        // One pass that also keeps the panic message and the truncation flag.
        let tb = parse_traceback(&plain).map_err(parse_err)?;
        let mut profile = tb.profile;
        if input.contains("goroutineleak") {
            profile.leak_profile = true;
        }
        return Ok(Parsed {
            source: input.to_string(),
            format,
            profile: Profile::Goroutine(profile),
            panic_message: tb.panic_message,
            truncated: tb.truncated,
        });
    }
    Ok(Parsed {
        source: input.to_string(),
        format,
        profile: parse_plain(&plain, input, max_bytes)?,
        panic_message: None,
        truncated: false,
    })
}

fn parse_plain(plain: &[u8], input: &str, max_bytes: usize) -> Result<Profile, AnalyzeError> {
    let mut opts = ParseOptions::new(max_bytes);
    // The URL may say which endpoint it was; the content decides otherwise.
    if input.contains("goroutineleak") {
        opts.leak_profile = Some(true);
    }
    if input.contains("/mutex") {
        opts.contention_kind = Some(ContentionKind::Mutex);
    } else if input.contains("/block") {
        opts.contention_kind = Some(ContentionKind::Block);
    }
    parse_with(plain, &opts).map_err(|err| AnalyzeError::Parse { input: input.to_string(), err })
}

fn kind_name(p: &Profile) -> &'static str {
    match p {
        Profile::Goroutine(g) if g.leak_profile => "goroutineleak",
        Profile::Goroutine(_) => "goroutine",
        Profile::Heap(_) => "heap",
        Profile::Contention(c) => match c.kind {
            ContentionKind::Mutex => "mutex",
            ContentionKind::Block => "block",
        },
    }
}

/// What one run found, printed as JSON ([`Report::json`]) or a table ([`Report::table`]).
struct Report {
    /// One `{source, format, profile}` per input.
    inputs: Vec<Value>,
    goroutines: Option<u64>,
    groups: Vec<Value>,
    findings: Vec<Finding>,
    notes: Vec<String>,
}

/// Pure: parsed inputs → the report.
fn analyze(inputs: &[Parsed], checks: &ChecksConfig) -> Report {
    let mut snap = Snapshot { at: 0, ..Default::default() };
    let mut notes: Vec<String> = Vec::new();
    let mut sources = Vec::new();
    for p in inputs {
        let slot_taken = |what: &str| format!("{}: a second {what} profile; only the first one is used", p.source);
        match &p.profile {
            Profile::Goroutine(g) if g.leak_profile => {
                if snap.leaks.is_none() {
                    snap.leaks = Some(g.clone());
                } else {
                    notes.push(slot_taken("goroutineleak"));
                }
            }
            Profile::Goroutine(g) if p.format == ProfileFormat::GoroutineDebug2 => {
                if snap.goroutines_full.is_none() {
                    snap.goroutines_full = Some(g.clone());
                } else {
                    notes.push(slot_taken("goroutine debug=2"));
                }
            }
            Profile::Goroutine(g) => {
                if snap.goroutines.is_none() {
                    snap.goroutines = Some(g.clone());
                } else {
                    notes.push(slot_taken("goroutine"));
                }
            }
            Profile::Heap(h) => match &h.mem_stats {
                Some(ms) => snap.mem_stats = Some(ms.clone()),
                None => notes.push(format!(
                    "{}: heap profile without MemStats (profile.proto); save heap?debug=1 for GCPressure",
                    p.source
                )),
            },
            Profile::Contention(c) => {
                let slot = match c.kind {
                    ContentionKind::Mutex => &mut snap.mutex,
                    ContentionKind::Block => &mut snap.block,
                };
                if slot.is_none() {
                    *slot = Some(c.clone());
                } else {
                    notes.push(slot_taken(kind_name(&p.profile)));
                }
            }
        }
        if let Some(m) = &p.panic_message {
            notes.push(format!("{}: crash traceback: {}", p.source, m.lines().next().unwrap_or(m)));
        }
        if p.truncated {
            notes.push(format!(
                "{}: the dump is truncated (runtime's 64 MiB cap?); its last goroutine is not counted",
                p.source
            ));
        }
        sources.push(json!({"source": p.source, "format": p.format.name(), "profile": kind_name(&p.profile)}));
    }

    let target = TargetRef { namespace: String::new(), pod: String::new(), container: None };
    let findings = merge_seen(&[], diagnose(&target, &snap, &TargetHistoryRing::default(), checks), "");
    notes.extend(history_notes(&snap, checks, &findings));

    let main = snap.goroutines_full.as_ref().or(snap.goroutines.as_ref()).or(snap.leaks.as_ref());
    let total = snap.goroutines.as_ref().or(snap.goroutines_full.as_ref()).or(snap.leaks.as_ref()).map(|p| p.total);
    let (groups, omitted) = main.map(groups_json).unwrap_or_default();
    if omitted > 0 {
        notes.push(format!("{omitted} smaller groups not listed"));
    }
    Report { inputs: sources, goroutines: total, groups, findings, notes }
}

/// What a single snapshot cannot tell, so the user knows which checks did not run.
fn history_notes(snap: &Snapshot, checks: &ChecksConfig, findings: &[Finding]) -> Vec<String> {
    let mut notes = vec![
        "GoroutineGrowth not run: it fits a slope over several audits (run the operator, or compare dumps taken minutes apart)".to_string(),
        "TickerLoopGrowth not run: a ticker loop is told from a leak by growth across audits and by debug=2 wait minutes after a GC".to_string(),
        "GoroutineLeak: \"likely\" needs growth across audits (or waits ≥ minWaitMinutes); one dump gives \"suspected\" at most".to_string(),
    ];
    if snap.mem_stats.is_some() {
        notes.push(
            "GCPressure: only GCCPUFraction was checked; GC frequency and heap growth need samples across audits"
                .into(),
        );
    }
    notes.push("GoPanicRestarts not run: it reads pod status (exit code 2 and restart count)".into());
    if snap.goroutines_full.is_none() && snap.goroutines.is_some() {
        notes.push("No debug=2 dump: wait reasons and wait minutes are unknown (LongBlockedGoroutines not run; a chan send cannot be told from a receive). Save goroutine?debug=2 for more.".into());
    }
    // Contention below the threshold: say how far below, so an empty table is not read as "none".
    for p in [&snap.mutex, &snap.block].into_iter().flatten() {
        let reported = findings.iter().any(|f| f.check == gohealth_core::finding::CheckId::LockContention);
        let total: u64 = p.sites.iter().map(|s| s.delay_ns).sum();
        if !reported && !p.sites.is_empty() {
            notes.push(format!(
                "{} profile: {} sites, {:.1} ms of delay in total since the program started, under LockContention's {} ms per site",
                match p.kind {
                    ContentionKind::Mutex => "mutex",
                    ContentionKind::Block => "block",
                },
                p.sites.len(),
                total as f64 / 1e6,
                checks.lock_contention.min_delay_ms
            ));
        }
    }
    // Consumer-shaped sites above the threshold that were not raised: say why.
    let cfg = &checks.goroutine_leak;
    if let Some(p) = snap.goroutines_full.as_ref().or(snap.goroutines.as_ref()) {
        for s in blocked_sites(p) {
            let raised =
                findings.iter().any(|f| f.function.as_deref() == Some(s.function.as_str()) && f.line == Some(s.line));
            if s.count >= cfg.min_goroutines && !raised && (s.kind.is_consumer_shaped() || s.stdlib_owned) {
                notes.push(format!(
                    "{} goroutines in {} at {} ({}) not raised: healthy per-object loops and keep-alive loops wait like this too; only growth across audits or long waits tell a leak",
                    s.count,
                    s.kind.describe(),
                    s.function,
                    s.location()
                ));
            }
        }
    }
    notes
}

fn frame_json(f: &gohealth_pprof::model::Frame) -> Value {
    json!({"function": f.function, "file": f.file, "line": f.line})
}

fn groups_json(p: &GoroutineProfile) -> (Vec<Value>, usize) {
    let mut groups: Vec<_> = p.groups.iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    let omitted = groups.len().saturating_sub(MAX_GROUPS);
    let out = groups
        .into_iter()
        .take(MAX_GROUPS)
        .map(|g| {
            let site = site_frame(&g.frames).map(|(f, _)| format!("{} ({}:{})", f.function, f.file, f.line));
            let kind = block_kind(g);
            let state = match &g.state {
                Some(s) => normalize_state(s),
                None if kind.is_blocked() => kind.describe().to_string(),
                None => String::new(),
            };
            json!({
                "site": site,
                "state": if state.is_empty() { Value::Null } else { Value::String(state) },
                "count": g.count,
                "waitMinutes": g.wait_minutes_max,
                "leaked": g.leaked,
                "createdBy": g.created_by.as_ref().map(frame_json),
                "labels": g.labels,
                "frames": g.frames.iter().map(frame_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    (out, omitted)
}

impl Report {
    fn json(&self) -> Value {
        json!({
            "inputs": self.inputs,
            "goroutines": self.goroutines,
            "groups": self.groups,
            "findings": self.findings.iter().map(finding_json).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    fn table(&self) -> String {
        let mut out = String::new();
        for i in &self.inputs {
            out.push_str(&format!("input: {} ({}, {})\n", cell(&i["source"]), cell(&i["format"]), cell(&i["profile"])));
        }
        if let Some(n) = self.goroutines {
            out.push_str(&format!("goroutines: {n}\n"));
        }
        out.push_str(&findings_section(&self.findings));
        if !self.groups.is_empty() {
            out.push_str("\nTOP GROUPS\n");
            out.push_str(&format!("  {:>7}  {:<24} {}\n", "COUNT", "STATE", "SITE"));
            for g in self.groups.iter().take(15) {
                let mut state = cell(&g["state"]);
                if let Some(m) = g["waitMinutes"].as_u64() {
                    state = format!("{state}, {m} min");
                }
                out.push_str(&format!("  {:>7}  {:<24} {}\n", cell(&g["count"]), state, cell(&g["site"])));
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\nNOTES\n");
            for n in &self.notes {
                out.push_str(&format!("  - {n}\n"));
            }
        }
        out
    }
}

/// A JSON value in a table cell: strings bare, null as "-".
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str, source: &str) -> Parsed {
        let data = text.as_bytes();
        Parsed {
            source: source.into(),
            format: detect(data).unwrap(),
            profile: parse_plain(data, source, 1 << 20).unwrap(),
            panic_message: None,
            truncated: false,
        }
    }

    #[test]
    fn report_has_documented_keys() {
        let mut dump = String::from("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1\n\n");
        for i in 0..120 {
            dump.push_str(&format!(
                "goroutine {} [chan send]:\nmain.leak.func1()\n\t/app/main.go:47 +0x2\ncreated by main.leak in goroutine 1\n\t/app/main.go:46 +0x3\n\n",
                i + 2
            ));
        }
        let report = analyze(&[parsed(&dump, "dump.txt")], &ChecksConfig::default());
        let t = report.table();
        let report = report.json();
        assert_eq!(report["goroutines"], 121);
        let f = &report["findings"][0];
        assert_eq!(f["check"], "GoroutineLeak");
        assert_eq!(f["function"], "main.leak.func1");
        assert_eq!(f["file"], "/app/main.go");
        assert_eq!(f["line"], 47);
        assert_eq!(f["count"], 120);
        assert_eq!(f["severity"], "warning");
        assert!(f["message"].as_str().unwrap().contains("main.leak.func1"));
        let g = &report["groups"][0];
        assert_eq!(g["count"], 120);
        assert_eq!(g["state"], "chan send");
        assert_eq!(g["frames"][0]["function"], "main.leak.func1");
        let notes = report["notes"].as_array().unwrap();
        assert!(notes.iter().any(|n| n.as_str().unwrap().starts_with("GoroutineGrowth not run")));
        assert!(t.contains("GoroutineLeak [suspected]"), "{t}");
        assert!(t.contains("main.leak.func1 (/app/main.go:47)"), "{t}");
    }
}
