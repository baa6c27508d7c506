//! `gohealth analyze FILE|URL|pod/NAME|deploy/NAME...`: the checks on saved dumps, live endpoints and
//! pods, from one moment or from several.
//!
//! Every input is read (a file, `-` for stdin, an http(s) URL through the collector, or pods found
//! with the kubeconfig), its format detected from the content, and the profiles of one moment
//! combined into one snapshot: goroutine dumps, the goroutineleak profile, heap MemStats,
//! mutex/block profiles. Several moments of the same target — dumps taken at different times, or
//! the rounds of `--every` — are history ([`super::series`]), so growth and ticker verdicts run
//! offline too. Findings of several replicas are grouped by site ([`super::replicas`]).

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::output::{OutputFormat, finding_json, findings_section, print, print_table};
use super::remote::{RemoteArgs, RemoteError, parse_positive_duration};
use super::series::Series;
use crate::scrape::http::{Collector, CollectorOptions};
use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::merge_seen;
use gohealth_core::diagnose::site::{block_kind, blocked_sites, normalize_state, site_frame};
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionKind, GoroutineProfile, Profile, ProfileFormat};
use gohealth_pprof::{
    ParseError, ParseOptions, detect, gunzip_limited, is_gzip, parse_goroutine_proto, parse_traceback, parse_with,
};

/// Groups listed in the output at most (a 100k-goroutine dump can have thousands).
const MAX_GROUPS: usize = 200;

/// Diagnose pprof dumps, live endpoints and pods, once or over time.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// Files, `-` for stdin, http(s) URLs (a profile such as
    /// http://127.0.0.1:6060/debug/pprof/goroutine?debug=2, or the prefix
    /// http://127.0.0.1:6060/debug/pprof/ for every profile), `pod/NAME`, `deploy/NAME` (also sts/, ds/,
    /// rs/) or `kube-apiserver`. Inputs of one moment are combined (a goroutine dump, heap?debug=1,
    /// mutex?debug=1); dumps of the same kind taken at different times are read as history.
    #[arg(value_name = "INPUT", required_unless_present = "selector")]
    pub inputs: Vec<String>,
    /// Namespace of pod/, deploy/ and -l targets (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Pods selected by labels, e.g. -l app=web.
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Port (number or container-port name) serving pprof in the pods, when no annotation or port
    /// named `pprof` says it.
    #[arg(long)]
    pub port: Option<String>,
    /// Path prefix of the pprof handlers in the pods.
    #[arg(long, default_value = "/debug/pprof")]
    pub path: String,
    /// Collect again every DURATION (e.g. 30s) and read the rounds as history.
    #[arg(long, value_parser = parse_positive_duration)]
    pub every: Option<Duration>,
    /// Rounds to collect with --every (default 4).
    #[arg(long, requires = "every")]
    pub count: Option<u32>,
    /// Collect with --every for this long instead of --count rounds (e.g. 5m).
    #[arg(long = "for", value_name = "DURATION", requires = "every", conflicts_with = "count", value_parser = parse_positive_duration)]
    pub for_: Option<Duration>,
    /// Time between dumps given as files, in command-line order, when their modification times are
    /// not the times they were taken (copied or checked-out files).
    #[arg(long, value_parser = parse_positive_duration)]
    pub spacing: Option<Duration>,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Cluster(#[from] super::kube_targets::KubeTargetError),
    #[error(
        "{first} and {second} were taken at the same time (by their modification times): pass --spacing DURATION to say how far apart the dumps were taken"
    )]
    SameTime { first: String, second: String },
    #[error("files cannot be mixed with live sources (URLs of a pprof prefix, pods, --every): run them separately")]
    MixedSources,
    #[error("cannot start the runtime: {0}")]
    Runtime(String),
}

/// One input after parsing.
pub(super) struct Parsed {
    pub(super) source: String,
    pub(super) format: ProfileFormat,
    pub(super) profile: Profile,
    pub(super) panic_message: Option<String>,
    pub(super) truncated: bool,
    /// Unix seconds the input was taken: a file's modification time, a fetch's end.
    pub(super) taken_at: i64,
}

pub fn main(args: AnalyzeArgs) -> ExitCode {
    let result = if super::live::is_live(&args) { super::live::run(&args) } else { offline(&args) };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&report.json()) {
            Ok(s) => print(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Table => print_table(&report.table()),
    }
    ExitCode::SUCCESS
}

/// Files, stdin and single-profile URLs, each read once.
fn offline(args: &AnalyzeArgs) -> Result<Report, AnalyzeError> {
    let collector = args.remote.collector_options(args.max_bytes as u64)?;
    let mut parsed = Vec::new();
    for input in &args.inputs {
        parsed.push(load(input, args.max_bytes, &args.remote, &collector)?);
    }
    let moments = moments(parsed, args.spacing)?;
    let target = TargetRef { namespace: String::new(), pod: String::new(), container: None };
    let mut series = Series::new(checks_for(args));
    let mut findings = Vec::new();
    let mut last = None;
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    let count = moments.len();
    for m in moments {
        let (snap, moment_notes, sources) = snapshot_of(&m);
        findings = series.observe(&target, &snap);
        inputs.extend(sources);
        notes = moment_notes;
        last = Some(snap);
    }
    let snap = last.unwrap_or_default();
    if count > 1 {
        notes.push(format!("{count} moments read as history; the findings and groups are those of the last one"));
    }
    Ok(report(inputs, vec![snap], merge_seen(&[], findings, ""), notes, &checks_for(args), count))
}

pub(super) fn checks_for(args: &AnalyzeArgs) -> ChecksConfig {
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

pub(super) fn is_url(input: &str) -> bool {
    input.starts_with("http://") || input.starts_with("https://")
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The bytes of one input and when they were taken.
fn read_input(
    input: &str,
    max_bytes: usize,
    remote: &RemoteArgs,
    opts: &CollectorOptions,
) -> Result<(Vec<u8>, i64), AnalyzeError> {
    let read_err = |err: String| AnalyzeError::Read { input: input.to_string(), err };
    if is_url(input) {
        remote.check_url(input, opts.bearer_token.is_some())?;
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| read_err(e.to_string()))?;
        let fetch_err = |err| AnalyzeError::Fetch { input: input.to_string(), err };
        let collector = Collector::new(opts).map_err(fetch_err)?;
        let body = rt.block_on(collector.fetch_raw(input)).map_err(fetch_err)?;
        return Ok((body.to_vec(), now_secs()));
    }
    let mut data = Vec::new();
    let limit = max_bytes as u64 + 1;
    let (res, taken_at) = if input == "-" {
        (std::io::stdin().lock().take(limit).read_to_end(&mut data), now_secs())
    } else {
        let file = std::fs::File::open(input).map_err(|e| read_err(e.to_string()))?;
        let mtime = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        (file.take(limit).read_to_end(&mut data), mtime)
    };
    res.map_err(|e| read_err(e.to_string()))?;
    if data.len() > max_bytes {
        return Err(read_err(format!("larger than --max-bytes {max_bytes}")));
    }
    Ok((data, taken_at))
}

pub(super) fn load(
    input: &str,
    max_bytes: usize,
    remote: &RemoteArgs,
    opts: &CollectorOptions,
) -> Result<Parsed, AnalyzeError> {
    let (data, taken_at) = read_input(input, max_bytes, remote, opts)?;
    parse_input(input, &data, taken_at, max_bytes)
}

/// Pure: one input's bytes → its profile.
pub(super) fn parse_input(input: &str, data: &[u8], taken_at: i64, max_bytes: usize) -> Result<Parsed, AnalyzeError> {
    let parse_err = |err| AnalyzeError::Parse { input: input.to_string(), err };
    // A gzipped goroutine profile.proto is decoded as it inflates; anything else inside gzip
    // (other kinds, gzipped text) is inflated first and detected below.
    if is_gzip(data) {
        let leak = input.contains("goroutineleak").then_some(true);
        match parse_goroutine_proto(data, max_bytes, leak) {
            Ok(p) => {
                return Ok(Parsed {
                    source: input.to_string(),
                    format: ProfileFormat::Proto,
                    profile: Profile::Goroutine(p),
                    panic_message: None,
                    truncated: false,
                    taken_at,
                });
            }
            // the same inflate would fail the same way
            Err(e @ (ParseError::TooLarge { .. } | ParseError::Gzip(_) | ParseError::ProfileTooComplex { .. })) => {
                return Err(parse_err(e));
            }
            Err(_) => {}
        }
    }
    let plain = gunzip_limited(data, max_bytes).map_err(parse_err)?;
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
            taken_at,
        });
    }
    Ok(Parsed {
        source: input.to_string(),
        format,
        profile: parse_plain(&plain, input, max_bytes)?,
        panic_message: None,
        truncated: false,
        taken_at,
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

/// The snapshot slot an input fills: two inputs with the same slot are two moments.
fn slot(p: &Parsed) -> &'static str {
    match &p.profile {
        Profile::Goroutine(_) if p.format == ProfileFormat::GoroutineDebug2 => "goroutine debug=2",
        other => kind_name(other),
    }
}

/// Pure: inputs → moments in time order. Inputs are ordered by when they were taken (or kept in
/// command-line order with `spacing`, which then sets the times), and a new moment starts when an
/// input's slot is already filled.
fn moments(mut inputs: Vec<Parsed>, spacing: Option<Duration>) -> Result<Vec<Vec<Parsed>>, AnalyzeError> {
    if spacing.is_none() {
        inputs.sort_by_key(|p| p.taken_at);
    }
    let mut out: Vec<Vec<Parsed>> = Vec::new();
    for p in inputs {
        let fresh = match out.last() {
            None => true,
            Some(m) => m.iter().any(|q| slot(q) == slot(&p)),
        };
        if fresh {
            out.push(Vec::new());
        }
        if let Some(m) = out.last_mut() {
            m.push(p);
        }
    }
    match spacing {
        Some(step) => {
            let base = out.first().and_then(|m| m.first()).map_or(0, |p| p.taken_at);
            for (i, m) in out.iter_mut().enumerate() {
                let at = base + (i as u64 * step.as_secs()) as i64;
                m.iter_mut().for_each(|p| p.taken_at = at);
            }
        }
        None => {
            for w in out.windows(2) {
                let (a, b) = (moment_time(&w[0]), moment_time(&w[1]));
                if a == b {
                    let name = |m: &[Parsed]| m.first().map(|p| p.source.clone()).unwrap_or_default();
                    return Err(AnalyzeError::SameTime { first: name(&w[0]), second: name(&w[1]) });
                }
            }
        }
    }
    Ok(out)
}

fn moment_time(m: &[Parsed]) -> i64 {
    m.iter().map(|p| p.taken_at).max().unwrap_or(0)
}

/// What one run found, printed as JSON ([`Report::json`]) or a table ([`Report::table`]).
pub(super) struct Report {
    /// One `{source, format, profile}` per input.
    inputs: Vec<Value>,
    goroutines: Option<u64>,
    groups: Vec<Value>,
    findings: Vec<Finding>,
    notes: Vec<String>,
    /// Moments read (1: a single snapshot).
    moments: usize,
}

/// Pure: the inputs of one moment → its snapshot, notes and input list.
pub(super) fn snapshot_of(inputs: &[Parsed]) -> (Snapshot, Vec<String>, Vec<Value>) {
    let mut snap = Snapshot { at: moment_time(inputs), ..Default::default() };
    let mut notes: Vec<String> = Vec::new();
    let mut sources = Vec::new();
    for p in inputs {
        match &p.profile {
            Profile::Goroutine(g) if g.leak_profile => snap.leaks = Some(g.clone()),
            Profile::Goroutine(g) if p.format == ProfileFormat::GoroutineDebug2 => {
                snap.goroutines_full = Some(g.clone())
            }
            Profile::Goroutine(g) => snap.goroutines = Some(g.clone()),
            Profile::Heap(h) => match &h.mem_stats {
                Some(ms) => snap.mem_stats = Some(ms.clone()),
                None => notes.push(format!(
                    "{}: heap profile without MemStats (profile.proto); save heap?debug=1 for GCPressure",
                    p.source
                )),
            },
            Profile::Contention(c) => match c.kind {
                ContentionKind::Mutex => snap.mutex = Some(c.clone()),
                ContentionKind::Block => snap.block = Some(c.clone()),
            },
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
    (snap, notes, sources)
}

/// Pure: the last moment's snapshots (one per target) and findings → the report.
pub(super) fn report(
    inputs: Vec<Value>,
    snapshots: Vec<Snapshot>,
    findings: Vec<Finding>,
    mut notes: Vec<String>,
    checks: &ChecksConfig,
    moments: usize,
) -> Report {
    let mut total = None;
    let mut groups = Vec::new();
    let mut omitted = 0;
    for snap in &snapshots {
        notes.extend(history_notes(snap, checks, &findings, moments));
        let main = snap.goroutines_full.as_ref().or(snap.goroutines.as_ref()).or(snap.leaks.as_ref());
        if let Some(n) =
            snap.goroutines.as_ref().or(snap.goroutines_full.as_ref()).or(snap.leaks.as_ref()).map(|p| p.total)
        {
            total = Some(total.unwrap_or(0) + n);
        }
        let (g, o) = main.map(groups_json).unwrap_or_default();
        groups.extend(g);
        omitted += o;
    }
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    if snapshots.len() > 1 {
        groups.sort_by_key(|g| std::cmp::Reverse(g["count"].as_u64().unwrap_or(0)));
        omitted += groups.len().saturating_sub(MAX_GROUPS);
        groups.truncate(MAX_GROUPS);
    }
    if omitted > 0 {
        notes.push(format!("{omitted} smaller groups not listed"));
    }
    Report { inputs, goroutines: total, groups, findings, notes, moments }
}

/// What a single snapshot cannot tell, so the user knows which checks did not run.
fn history_notes(snap: &Snapshot, checks: &ChecksConfig, findings: &[Finding], moments: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if moments < 2 {
        notes.extend([
            "GoroutineGrowth not run: it fits a slope over several audits (run the operator, give dumps taken minutes apart, or use --every)".to_string(),
            "TickerLoopGrowth not run: a ticker loop is told from a leak by growth across audits and by debug=2 wait minutes after a GC".to_string(),
            "GoroutineLeak: \"likely\" needs growth across audits (or waits ≥ minWaitMinutes); one dump gives \"suspected\" at most".to_string(),
        ]);
    }
    if snap.mem_stats.is_some() && moments < 2 {
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
    groups.sort_by_key(|g| std::cmp::Reverse(g.count()));
    let omitted = groups.len().saturating_sub(MAX_GROUPS);
    let out = groups
        .into_iter()
        .take(MAX_GROUPS)
        .map(|g| {
            let site = site_frame(g.frames()).map(|(f, _)| format!("{} ({}:{})", f.function, f.file, f.line));
            let kind = block_kind(&g);
            let state = match g.state() {
                Some(s) => normalize_state(s).into_owned(),
                None if kind.is_blocked() => kind.describe().to_string(),
                None => String::new(),
            };
            json!({
                "site": site,
                "state": if state.is_empty() { Value::Null } else { Value::String(state) },
                "count": g.count(),
                "waitMinutes": g.wait_minutes_max(),
                "leaked": g.leaked(),
                "createdBy": g.created_by().map(frame_json),
                "labels": g.labels(),
                "frames": g.frames().iter().map(frame_json).collect::<Vec<_>>(),
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
            "moments": self.moments,
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
        if self.moments > 1 {
            out.push_str(&format!("moments: {} (read as history)\n", self.moments));
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
            taken_at: 1_000,
        }
    }

    fn analyze(inputs: Vec<Parsed>, checks: &ChecksConfig) -> Report {
        let (snap, notes, sources) = snapshot_of(&inputs);
        let mut series = Series::new(checks.clone());
        let target = TargetRef { namespace: String::new(), pod: String::new(), container: None };
        let findings = series.observe(&target, &snap);
        report(sources, vec![snap], merge_seen(&[], findings, ""), notes, checks, 1)
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
        let report = analyze(vec![parsed(&dump, "dump.txt")], &ChecksConfig::default());
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
