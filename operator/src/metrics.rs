//! Prometheus metrics of the operator (`gohealth_*`), rendered in the text exposition format.
//!
//! Label sets are bounded: audit identity (`namespace`, `audit`), stable check ids, severities, scrape
//! reasons and admission plugin names. The only series that grow with the cluster are the per-target
//! goroutine gauges; they are capped globally by `max_target_series` and can be switched off.
//! Every metric and its cardinality is documented in `docs/metrics.md`.
//!
//! Each audit's series are tracked by label values so that a new report replaces the old one
//! exactly and a deleted audit leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntGauge, Opts, Registry, TextEncoder};

use crate::report::AuditReport;
use gohealth_core::finding::CheckId;

/// Default cap of per-target series across all audits.
pub const DEFAULT_MAX_TARGET_SERIES: usize = 2000;
/// Leak sites exported per audit (the largest by goroutine count).
pub const MAX_LEAK_SITES_PER_AUDIT: usize = 10;
/// Longest `function` label value; Go symbols beyond this are cut (generic instantiations can be huge).
const MAX_FUNCTION_LABEL_LEN: usize = 160;
/// Longest error category accepted from callers.
const MAX_CATEGORY_LEN: usize = 64;
/// An audit nobody reconciled for this many intervals (and at least `MIN_IDLE_EXPIRY`) is taken as
/// deleted and its series are dropped: a safety net for deletions the controller does not report
/// through `forget_audit`. Generous on purpose, so that `GoHealthAuditStale` (2 intervals) fires first.
const IDLE_INTERVALS: u32 = 10;
const MIN_IDLE_EXPIRY: Duration = Duration::from_secs(3600);

/// Checks whose findings describe a goroutine leak site (used by `gohealth_leak_site_goroutines`).
const LEAK_CHECKS: [CheckId; 5] = [
    CheckId::GoroutineLeak,
    CheckId::ProvenGoroutineLeak,
    CheckId::TickerLoopGrowth,
    CheckId::GoexitInDefer,
    CheckId::LongBlockedGoroutines,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Export `gohealth_target_goroutines` per pod.
    pub per_target_series: bool,
    /// Most per-target series across all audits; the rest are counted in `gohealth_target_series_omitted`.
    pub max_target_series: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions { per_target_series: true, max_target_series: DEFAULT_MAX_TARGET_SERIES }
    }
}

/// Which labelled family a tracked series belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Family {
    Findings,
    AdmissionFindings,
    LeakSites,
    Targets,
    Goroutines,
    TargetGoroutines,
    TargetSeriesOmitted,
    LastSuccess,
    Interval,
    ScrapesTotal,
    AuditDuration,
    Reconciles,
    ReconcileErrors,
    ReconcileDuration,
}

type Series = BTreeSet<(Family, Vec<String>)>;

#[derive(Default)]
struct AuditSeries {
    /// Replaced by every report.
    report: Series,
    /// Counters, histograms and the interval: kept across reports, dropped by `forget_audit`.
    lasting: Series,
    /// Per-target series this audit holds (its share of the global cap).
    target_series: usize,
    /// Last reconcile, report or interval update.
    last_seen: Option<Instant>,
    interval: Option<Duration>,
}

impl AuditSeries {
    fn idle_expired(&self, now: Instant) -> bool {
        let limit = self
            .interval
            .map_or(MIN_IDLE_EXPIRY, |i| i.checked_mul(IDLE_INTERVALS).unwrap_or(Duration::MAX).max(MIN_IDLE_EXPIRY));
        self.last_seen.is_some_and(|seen| now.saturating_duration_since(seen) > limit)
    }
}

type AuditKey = (String, String);

pub struct Metrics {
    opts: MetricsOptions,
    registry: Registry,
    findings: GaugeVec,
    admission_findings: GaugeVec,
    leak_sites: GaugeVec,
    targets: GaugeVec,
    goroutines: GaugeVec,
    target_goroutines: GaugeVec,
    target_series_omitted: GaugeVec,
    last_success: GaugeVec,
    interval: GaugeVec,
    scrapes_total: CounterVec,
    audit_duration: HistogramVec,
    reconciles: CounterVec,
    reconcile_errors: CounterVec,
    reconcile_duration: HistogramVec,
    audits: IntGauge,
    state: Mutex<HashMap<AuditKey, AuditSeries>>,
}

/// Buckets for audits and reconciles: 50 ms .. ~27 min.
fn duration_buckets() -> Vec<f64> {
    vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]
}

type PResult<T> = Result<T, prometheus::Error>;

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> PResult<GaugeVec> {
    let vec = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> PResult<CounterVec> {
    let vec = CounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> PResult<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(duration_buckets());
    let vec = HistogramVec::new(opts, labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

impl Metrics {
    pub fn new(opts: MetricsOptions) -> Metrics {
        match Metrics::try_new(opts) {
            Ok(m) => m,
            // Every name, label and bucket is a literal exercised by the unit tests.
            Err(e) => unreachable!("static metric definitions are valid: {e}"),
        }
    }

    pub fn try_new(opts: MetricsOptions) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let a = ["namespace", "audit"];
        let findings = gauge_vec(
            &registry,
            "gohealth_findings",
            "Findings of the last audit by check and severity.",
            &["namespace", "audit", "check", "severity"],
        )?;
        let admission_findings = gauge_vec(
            &registry,
            "gohealth_admission_findings",
            "Admission-plugin findings of the last audit by plugin, check and severity.",
            &["namespace", "audit", "plugin", "check", "severity"],
        )?;
        let leak_sites = gauge_vec(
            &registry,
            "gohealth_leak_site_goroutines",
            "Goroutines at the largest leak sites of the last audit (top 10 per audit), summed over targets.",
            &["namespace", "audit", "check", "function"],
        )?;
        let targets = gauge_vec(
            &registry,
            "gohealth_targets",
            "Targets of the last audit by scrape result (Ok or a stable failure reason).",
            &["namespace", "audit", "reason"],
        )?;
        let goroutines = gauge_vec(
            &registry,
            "gohealth_goroutines",
            "Goroutines summed over the successfully scraped targets of the last audit.",
            &a,
        )?;
        let target_goroutines = gauge_vec(
            &registry,
            "gohealth_target_goroutines",
            "Goroutines of one target in the last audit (capped, see gohealth_target_series_omitted).",
            &["namespace", "audit", "target_namespace", "target_pod"],
        )?;
        let target_series_omitted = gauge_vec(
            &registry,
            "gohealth_target_series_omitted",
            "Targets of the last audit without a gohealth_target_goroutines series (cap reached or per-target series off).",
            &a,
        )?;
        let last_success = gauge_vec(
            &registry,
            "gohealth_audit_last_success_timestamp_seconds",
            "Unix time the last completed audit finished.",
            &a,
        )?;
        let interval = gauge_vec(
            &registry,
            "gohealth_audit_interval_seconds",
            "Configured time between audits (spec.interval).",
            &a,
        )?;
        let scrapes_total = counter_vec(
            &registry,
            "gohealth_scrapes_total",
            "Target scrapes by result (Ok or a stable failure reason).",
            &["namespace", "audit", "reason"],
        )?;
        let audit_duration =
            histogram_vec(&registry, "gohealth_audit_duration_seconds", "Duration of completed audits.", &a)?;
        let reconciles = counter_vec(&registry, "gohealth_reconciles_total", "Reconcile runs.", &a)?;
        let reconcile_errors = counter_vec(
            &registry,
            "gohealth_reconcile_errors_total",
            "Failed reconcile runs by error category.",
            &["namespace", "audit", "category"],
        )?;
        let reconcile_duration =
            histogram_vec(&registry, "gohealth_reconcile_duration_seconds", "Duration of reconcile runs.", &a)?;
        let audits = IntGauge::new("gohealth_audits", "GoHealthAudits the operator currently exports metrics for.")?;
        registry.register(Box::new(audits.clone()))?;
        let build_info =
            gauge_vec(&registry, "gohealth_build_info", "Always 1; the operator's version as a label.", &["version"])?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);

        Ok(Metrics {
            opts,
            registry,
            findings,
            admission_findings,
            leak_sites,
            targets,
            goroutines,
            target_goroutines,
            target_series_omitted,
            last_success,
            interval,
            scrapes_total,
            audit_duration,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            audits,
            state: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> MetricsOptions {
        self.opts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AuditKey, AuditSeries>> {
        // A panic while holding the lock leaves consistent-enough data (label bookkeeping); keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One reconcile of audit namespace/name; `error_category` None on success (a stable, bounded string
    /// otherwise).
    pub fn observe_reconcile(&self, namespace: &str, name: &str, seconds: f64, error_category: Option<&str>) {
        let mut state = self.lock();
        let entry = state.entry((namespace.to_string(), name.to_string())).or_default();
        entry.last_seen = Some(Instant::now());
        let a = [namespace, name];
        self.reconciles.with_label_values(&a).inc();
        entry.lasting.insert((Family::Reconciles, Vec::new()));
        if seconds.is_finite() && seconds >= 0.0 {
            self.reconcile_duration.with_label_values(&a).observe(seconds);
            entry.lasting.insert((Family::ReconcileDuration, Vec::new()));
        }
        if let Some(category) = error_category {
            let category = sanitize_category(category);
            let l = [namespace, name, category.as_str()];
            self.reconcile_errors.with_label_values(&l).inc();
            entry.lasting.insert((Family::ReconcileErrors, owned(&l[2..])));
        }
        self.audits.set(state.len() as i64);
    }

    /// The audit's configured interval (spec.interval), so that staleness alerts can compare against it.
    pub fn set_audit_interval(&self, namespace: &str, name: &str, seconds: f64) {
        let mut state = self.lock();
        let entry = state.entry((namespace.to_string(), name.to_string())).or_default();
        entry.last_seen = Some(Instant::now());
        if let Ok(interval) = Duration::try_from_secs_f64(seconds) {
            entry.interval = Some(interval);
        }
        let a = [namespace, name];
        self.interval.with_label_values(&a).set(seconds);
        entry.lasting.insert((Family::Interval, Vec::new()));
        self.audits.set(state.len() as i64);
    }

    /// Replace all series of this audit with the new report.
    pub fn publish_audit(&self, namespace: &str, name: &str, report: &AuditReport) {
        let mut state = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let used_by_others: usize = state.iter().filter(|(k, _)| **k != key).map(|(_, s)| s.target_series).sum();
        let budget =
            if self.opts.per_target_series { self.opts.max_target_series.saturating_sub(used_by_others) } else { 0 };
        let plan = plan_report(report, budget);

        let entry = state.entry(key).or_default();
        entry.last_seen = Some(Instant::now());
        let old = std::mem::take(&mut entry.report);
        for (family, labels) in &old {
            self.remove(*family, labels, namespace, name);
        }

        let mut report_series = Series::new();
        let mut set = |family: Family, vec: &GaugeVec, extra: &[&str], value: f64| {
            let mut labels: Vec<&str> = vec![namespace, name];
            labels.extend_from_slice(extra);
            vec.with_label_values(&labels).set(value);
            report_series.insert((family, owned(&labels[2..])));
        };
        for ((check, severity), n) in &plan.findings {
            set(Family::Findings, &self.findings, &[check, severity], *n);
        }
        for ((plugin, check, severity), n) in &plan.admission {
            set(Family::AdmissionFindings, &self.admission_findings, &[plugin, check, severity], *n);
        }
        for ((check, function), n) in &plan.leak_sites {
            set(Family::LeakSites, &self.leak_sites, &[check, function], *n);
        }
        for (reason, n) in &plan.targets_by_reason {
            set(Family::Targets, &self.targets, &[reason], *n as f64);
        }
        set(Family::Goroutines, &self.goroutines, &[], plan.goroutines as f64);
        for ((tns, pod), n) in &plan.target_goroutines {
            set(Family::TargetGoroutines, &self.target_goroutines, &[tns, pod], *n as f64);
        }
        set(Family::TargetSeriesOmitted, &self.target_series_omitted, &[], plan.omitted as f64);
        let finished = report.started_at as f64 + report.duration_seconds.max(0.0);
        set(Family::LastSuccess, &self.last_success, &[], finished);

        // Counters and the histogram accumulate across reports.
        let a = [namespace, name];
        for (reason, n) in &plan.targets_by_reason {
            let l = [namespace, name, reason.as_str()];
            self.scrapes_total.with_label_values(&l).inc_by(*n as f64);
            entry.lasting.insert((Family::ScrapesTotal, owned(&l[2..])));
        }
        if report.duration_seconds.is_finite() && report.duration_seconds >= 0.0 {
            self.audit_duration.with_label_values(&a).observe(report.duration_seconds);
            entry.lasting.insert((Family::AuditDuration, Vec::new()));
        }

        entry.report = report_series;
        entry.target_series = plan.target_goroutines.len();
        self.audits.set(state.len() as i64);
    }

    /// The audit was deleted: drop its series.
    pub fn forget_audit(&self, namespace: &str, name: &str) {
        let mut state = self.lock();
        if let Some(series) = state.remove(&(namespace.to_string(), name.to_string())) {
            self.drop_series(namespace, name, &series);
        }
        self.audits.set(state.len() as i64);
    }

    /// Drop audits that have not been reconciled for a long time (see `IDLE_INTERVALS`); `render` calls it.
    fn expire_idle(&self, now: Instant) {
        let mut state = self.lock();
        let expired: Vec<AuditKey> =
            state.iter().filter(|(_, s)| s.idle_expired(now)).map(|(k, _)| k.clone()).collect();
        for key in expired {
            if let Some(series) = state.remove(&key) {
                tracing::info!(namespace = %key.0, audit = %key.1, "dropping metrics of an audit no longer reconciled");
                self.drop_series(&key.0, &key.1, &series);
            }
        }
        self.audits.set(state.len() as i64);
    }

    fn drop_series(&self, namespace: &str, name: &str, series: &AuditSeries) {
        for (family, labels) in series.report.iter().chain(series.lasting.iter()) {
            self.remove(*family, labels, namespace, name);
        }
    }

    /// Series in the registry (a histogram counts once): for tests and the docs' cardinality numbers.
    pub fn series_count(&self) -> usize {
        self.registry.gather().iter().map(|mf| mf.get_metric().len()).sum()
    }

    fn remove(&self, family: Family, extra: &[String], namespace: &str, name: &str) {
        let mut labels: Vec<&str> = vec![namespace, name];
        labels.extend(extra.iter().map(String::as_str));
        // Absent series are fine: removal is idempotent by design.
        let _ = match family {
            Family::Findings => self.findings.remove_label_values(&labels),
            Family::AdmissionFindings => self.admission_findings.remove_label_values(&labels),
            Family::LeakSites => self.leak_sites.remove_label_values(&labels),
            Family::Targets => self.targets.remove_label_values(&labels),
            Family::Goroutines => self.goroutines.remove_label_values(&labels),
            Family::TargetGoroutines => self.target_goroutines.remove_label_values(&labels),
            Family::TargetSeriesOmitted => self.target_series_omitted.remove_label_values(&labels),
            Family::LastSuccess => self.last_success.remove_label_values(&labels),
            Family::Interval => self.interval.remove_label_values(&labels),
            Family::ScrapesTotal => self.scrapes_total.remove_label_values(&labels),
            Family::AuditDuration => self.audit_duration.remove_label_values(&labels),
            Family::Reconciles => self.reconciles.remove_label_values(&labels),
            Family::ReconcileErrors => self.reconcile_errors.remove_label_values(&labels),
            Family::ReconcileDuration => self.reconcile_duration.remove_label_values(&labels),
        };
    }

    /// Prometheus text exposition (format 0.0.4), including `process_*` metrics on Linux.
    pub fn render(&self) -> String {
        self.expire_idle(Instant::now());
        let mut out = String::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        if let Some(p) = process_stats() {
            out.push_str(&render_process(&p));
        }
        out
    }

    #[cfg(test)]
    fn render_families(&self) -> String {
        let mut out = String::new();
        let _ = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out);
        out
    }

    /// Content-Type of `render()`.
    pub fn content_type(&self) -> String {
        TextEncoder::new().format_type().to_string()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(MetricsOptions::default())
    }
}

fn owned(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|s| s.to_string()).collect()
}

/// Callers promise a bounded category; still keep label values short and tame.
fn sanitize_category(category: &str) -> String {
    let cleaned: String = category
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(MAX_CATEGORY_LEN)
        .collect();
    if cleaned.is_empty() { "Other".to_string() } else { cleaned }
}

fn truncate_label(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What a report turns into, computed without touching the registry (pure, unit-tested).
#[derive(Debug, Default, PartialEq)]
struct ReportPlan {
    findings: BTreeMap<(String, String), f64>,
    admission: BTreeMap<(String, String, String), f64>,
    leak_sites: Vec<((String, String), f64)>,
    targets_by_reason: BTreeMap<String, u64>,
    goroutines: u64,
    target_goroutines: Vec<((String, String), u64)>,
    omitted: usize,
}

fn plan_report(report: &AuditReport, target_budget: usize) -> ReportPlan {
    let mut plan = ReportPlan::default();
    let mut sites: BTreeMap<(String, String), f64> = BTreeMap::new();
    for f in &report.findings {
        let check = f.check.as_str().to_string();
        let severity = f.severity.as_str().to_string();
        *plan.findings.entry((check.clone(), severity.clone())).or_default() += 1.0;
        if f.check.is_admission() {
            let plugin = f.plugin.clone().unwrap_or_else(|| "none".to_string());
            *plan.admission.entry((plugin, check.clone(), severity)).or_default() += 1.0;
        }
        if LEAK_CHECKS.contains(&f.check)
            && let Some(function) = &f.function
        {
            let function = truncate_label(function, MAX_FUNCTION_LABEL_LEN);
            *sites.entry((check, function)).or_default() += f.count.unwrap_or(1) as f64;
        }
    }
    let mut sites: Vec<_> = sites.into_iter().collect();
    // Largest first; ties by name so the chosen set is deterministic.
    sites.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sites.truncate(MAX_LEAK_SITES_PER_AUDIT);
    plan.leak_sites = sites;

    // One series per pod even if the report lists a pod twice (the last entry wins).
    let mut per_pod: BTreeMap<(String, String), u64> = BTreeMap::new();
    for t in &report.targets {
        *plan.targets_by_reason.entry(t.result.clone()).or_default() += 1;
        if t.ok()
            && let Some(n) = t.goroutines
        {
            plan.goroutines += n;
            per_pod.insert((t.target.namespace.clone(), t.target.pod.clone()), n);
        }
    }
    let mut pods: Vec<_> = per_pod.into_iter().collect();
    // When capped, keep the targets with the most goroutines: those are the ones worth graphing.
    pods.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total_ok = pods.len();
    pods.truncate(target_budget);
    // Failed targets have no goroutine count to export, so only the capped ones count as omitted.
    plan.omitted = total_ok - pods.len();
    plan.target_goroutines = pods;
    plan
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    threads: f64,
    open_fds: Option<f64>,
}

/// `/proc/self` numbers (the prometheus crate's `process` feature would pull procfs for this).
fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    parse_proc_stat(&stat, boot_time, open_fds)
}

/// Clock ticks and page size are 100 Hz and 4 KiB on every Linux the image targets (x86_64, arm64).
const CLK_TCK: f64 = 100.0;
const PAGE_SIZE: f64 = 4096.0;

fn parse_proc_stat(stat: &str, boot_time: f64, open_fds: Option<f64>) -> Option<ProcessStats> {
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22, vsize=23, rss=24.
    let f = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
    Some(ProcessStats {
        cpu_seconds: (f(14)? + f(15)?) / CLK_TCK,
        threads: f(20)?,
        start_time_seconds: boot_time + f(22)? / CLK_TCK,
        virtual_bytes: f(23)?,
        resident_bytes: f(24)? * PAGE_SIZE,
        open_fds,
    })
}

fn render_process(p: &ProcessStats) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds);
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes);
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes);
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
    metric("process_threads", "gauge", "Number of OS threads in the process.", p.threads);
    if let Some(fds) = p.open_fds {
        metric("process_open_fds", "gauge", "Number of open file descriptors.", fds);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AdmissionStatus;
    use crate::report::TargetReport;
    use gohealth_core::finding::{Finding, Severity, TargetRef};

    fn target(ns: &str, pod: &str, result: &str, goroutines: Option<u64>) -> TargetReport {
        TargetReport {
            target: TargetRef { namespace: ns.into(), pod: pod.into(), container: None },
            url: Some(format!("http://127.0.0.1:6060/{pod}")),
            result: result.into(),
            message: None,
            goroutines,
        }
    }

    fn synthetic(targets: usize) -> AuditReport {
        let mut ts: Vec<TargetReport> =
            (0..targets).map(|i| target("apps", &format!("pod-{i}"), "Ok", Some(10 + i as u64))).collect();
        ts.push(target("apps", "down", "ConnectionRefused", None));
        let mut leak =
            Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak").with_target(ts[0].target.clone());
        leak.function = Some("main.leakyHandler.func1".into());
        leak.count = Some(500);
        let mut proven = Finding::new(CheckId::ProvenGoroutineLeak, Severity::Critical, "proven");
        proven.function = Some("main.leakyHandler.func1".into());
        proven.count = Some(480);
        let mut removed = Finding::new(CheckId::RemovedAdmissionPlugin, Severity::Critical, "gone");
        removed.plugin = Some("PodSecurityPolicy".into());
        let mut insecure = Finding::new(CheckId::InsecureAdmissionPlugin, Severity::Warning, "always");
        insecure.plugin = Some("AlwaysAdmit".into());
        AuditReport {
            started_at: 1_790_000_000,
            duration_seconds: 2.5,
            targets: ts,
            findings: vec![
                leak,
                proven,
                removed,
                insecure,
                Finding::new(CheckId::ScrapeFailed, Severity::Warning, "refused"),
            ],
            admission: Some(AdmissionStatus { source: "MirrorPod".into(), ..Default::default() }),
        }
    }

    fn series(text: &str, name: &str) -> Vec<String> {
        text.lines()
            .filter(|l| {
                !l.starts_with('#') && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn renders_names_and_labels_for_a_synthetic_report() {
        let m = Metrics::default();
        m.set_audit_interval("team-a", "fleet", 300.0);
        m.observe_reconcile("team-a", "fleet", 0.2, None);
        m.observe_reconcile("team-a", "fleet", 0.1, Some("KubeApi"));
        m.publish_audit("team-a", "fleet", &synthetic(3));
        let text = m.render();

        let f = series(&text, "gohealth_findings");
        assert!(
            f.contains(
                &r#"gohealth_findings{audit="fleet",check="GoroutineLeak",namespace="team-a",severity="warning"} 1"#
                    .to_string()
            ),
            "{f:?}"
        );
        assert_eq!(f.len(), 5);
        let adm = series(&text, "gohealth_admission_findings");
        assert!(adm.contains(&r#"gohealth_admission_findings{audit="fleet",check="RemovedAdmissionPlugin",namespace="team-a",plugin="PodSecurityPolicy",severity="critical"} 1"#.to_string()), "{adm:?}");
        assert_eq!(adm.len(), 2);
        let sites = series(&text, "gohealth_leak_site_goroutines");
        assert!(sites.contains(&r#"gohealth_leak_site_goroutines{audit="fleet",check="GoroutineLeak",function="main.leakyHandler.func1",namespace="team-a"} 500"#.to_string()), "{sites:?}");
        assert_eq!(
            series(&text, "gohealth_target_goroutines"),
            vec![
                r#"gohealth_target_goroutines{audit="fleet",namespace="team-a",target_namespace="apps",target_pod="pod-0"} 10"#,
                r#"gohealth_target_goroutines{audit="fleet",namespace="team-a",target_namespace="apps",target_pod="pod-1"} 11"#,
                r#"gohealth_target_goroutines{audit="fleet",namespace="team-a",target_namespace="apps",target_pod="pod-2"} 12"#,
            ]
        );
        assert_eq!(
            series(&text, "gohealth_goroutines"),
            vec![r#"gohealth_goroutines{audit="fleet",namespace="team-a"} 33"#]
        );
        let t = series(&text, "gohealth_targets");
        assert!(t.contains(
            &r#"gohealth_targets{audit="fleet",namespace="team-a",reason="ConnectionRefused"} 1"#.to_string()
        ));
        assert!(t.contains(&r#"gohealth_targets{audit="fleet",namespace="team-a",reason="Ok"} 3"#.to_string()));
        assert!(
            series(&text, "gohealth_scrapes_total")
                .contains(&r#"gohealth_scrapes_total{audit="fleet",namespace="team-a",reason="Ok"} 3"#.to_string())
        );
        assert_eq!(
            series(&text, "gohealth_audit_last_success_timestamp_seconds"),
            vec![r#"gohealth_audit_last_success_timestamp_seconds{audit="fleet",namespace="team-a"} 1790000002.5"#]
        );
        assert_eq!(
            series(&text, "gohealth_audit_interval_seconds"),
            vec![r#"gohealth_audit_interval_seconds{audit="fleet",namespace="team-a"} 300"#]
        );
        assert!(text.contains(r#"gohealth_audit_duration_seconds_count{audit="fleet",namespace="team-a"} 1"#));
        assert!(text.contains(r#"gohealth_reconciles_total{audit="fleet",namespace="team-a"} 2"#));
        assert!(
            text.contains(r#"gohealth_reconcile_errors_total{audit="fleet",category="KubeApi",namespace="team-a"} 1"#)
        );
        assert!(text.contains(r#"gohealth_reconcile_duration_seconds_count{audit="fleet",namespace="team-a"} 2"#));
        assert!(text.contains("gohealth_audits 1"));
        assert!(text.contains(r#"gohealth_build_info{version=""#));
        assert!(text.contains("# TYPE gohealth_audit_duration_seconds histogram"));
        assert!(text.contains("# TYPE gohealth_scrapes_total counter"));

        // Naming conventions: every gohealth family is prefixed, counters end in _total, no unit-less
        // durations; every label name is one of the documented ones.
        let allowed = [
            "namespace",
            "audit",
            "check",
            "severity",
            "reason",
            "plugin",
            "function",
            "category",
            "target_namespace",
            "target_pod",
            "version",
            "le",
        ];
        for mf in m.registry.gather() {
            let name = mf.name();
            assert!(name.starts_with("gohealth_"), "{name}");
            if mf.get_field_type() == prometheus::proto::MetricType::COUNTER {
                assert!(name.ends_with("_total"), "{name}");
            }
            for metric in mf.get_metric() {
                for l in metric.get_label() {
                    assert!(allowed.contains(&l.name()), "{name}: label {}", l.name());
                }
            }
        }
    }

    #[test]
    fn republish_replaces_and_forget_drops() {
        let m = Metrics::default();
        m.publish_audit("ns", "a", &synthetic(3));
        m.set_audit_interval("ns", "a", 60.0);
        let mut second = synthetic(1);
        second.findings.clear();
        m.publish_audit("ns", "a", &second);
        let text = m.render();
        assert!(series(&text, "gohealth_findings").is_empty());
        assert_eq!(series(&text, "gohealth_target_goroutines").len(), 1);
        // counters accumulate
        assert!(text.contains(r#"gohealth_scrapes_total{audit="a",namespace="ns",reason="Ok"} 4"#));

        m.publish_audit("ns", "b", &synthetic(2));
        m.forget_audit("ns", "a");
        let text = m.render();
        for line in text.lines().filter(|l| l.starts_with("gohealth_")) {
            assert!(!line.contains(r#"audit="a""#), "left behind: {line}");
        }
        assert!(text.contains(r#"audit="b""#));
        assert!(text.contains("gohealth_audits 1"));
    }

    #[test]
    fn audits_not_reconciled_for_ten_intervals_expire() {
        let m = Metrics::default();
        m.set_audit_interval("ns", "hourly", 3600.0);
        m.publish_audit("ns", "hourly", &synthetic(2));
        m.set_audit_interval("ns", "fast", 60.0);
        m.publish_audit("ns", "fast", &synthetic(2));
        let now = Instant::now();
        // fast: 10 x 1m is below the 1h floor, so it survives 59 minutes
        m.expire_idle(now + Duration::from_secs(59 * 60));
        assert_eq!(m.lock().len(), 2);
        m.expire_idle(now + Duration::from_secs(61 * 60));
        let text = m.render_families();
        assert!(!text.contains(r#"audit="fast""#), "{text}");
        assert!(text.contains(r#"audit="hourly""#));
        m.expire_idle(now + Duration::from_secs(10 * 3600 + 60));
        assert!(!m.render_families().contains(r#"audit="hourly""#));
        assert!(m.render_families().contains("gohealth_audits 0"));

        // absurd intervals neither panic nor expire anything early
        m.set_audit_interval("ns", "huge", f64::MAX);
        m.set_audit_interval("ns", "nan", f64::NAN);
        m.set_audit_interval("ns", "negative", -1.0);
        m.expire_idle(now + Duration::from_secs(30 * 60));
        assert_eq!(m.lock().len(), 3);
    }

    #[test]
    fn cap_holds_across_audits_and_switch_turns_series_off() {
        let m = Metrics::new(MetricsOptions { per_target_series: true, max_target_series: 50 });
        m.publish_audit("ns", "a", &synthetic(40));
        m.publish_audit("ns", "b", &synthetic(40));
        let text = m.render();
        let per_target = series(&text, "gohealth_target_goroutines");
        assert_eq!(per_target.len(), 50);
        assert_eq!(
            series(&text, "gohealth_target_series_omitted"),
            vec![
                r#"gohealth_target_series_omitted{audit="a",namespace="ns"} 0"#,
                r#"gohealth_target_series_omitted{audit="b",namespace="ns"} 30"#,
            ]
        );
        // b kept its largest targets
        assert!(text.contains(r#"target_pod="pod-39"} 49"#));
        // republishing a with fewer targets frees budget for b's next report
        m.publish_audit("ns", "a", &synthetic(5));
        m.publish_audit("ns", "b", &synthetic(40));
        assert_eq!(series(&m.render(), "gohealth_target_goroutines").len(), 45);

        let off = Metrics::new(MetricsOptions { per_target_series: false, max_target_series: 2000 });
        off.publish_audit("ns", "a", &synthetic(40));
        let text = off.render();
        assert!(series(&text, "gohealth_target_goroutines").is_empty());
        assert!(text.contains(r#"gohealth_target_series_omitted{audit="a",namespace="ns"} 40"#));
        assert!(text.contains(r#"gohealth_goroutines{audit="a",namespace="ns"} "#));
    }

    /// Cardinality per 1,000 targets, quoted in docs/metrics.md.
    #[test]
    fn series_per_thousand_targets() {
        let m = Metrics::default();
        let before = m.series_count();
        m.set_audit_interval("ns", "a", 300.0);
        m.observe_reconcile("ns", "a", 0.1, None);
        m.publish_audit("ns", "a", &synthetic(1000));
        let per_audit = m.series_count() - before;
        // 1000 target gauges + a bounded per-audit set (findings, sites, reasons, counters, histograms)
        assert!((1000..1030).contains(&per_audit), "series for one audit of 1000 targets: {per_audit}");
        let samples = m.render().lines().filter(|l| l.starts_with("gohealth_") && l.contains(r#"audit="a""#)).count();
        println!("series={per_audit} samples(incl. histogram buckets)={samples}");
        assert!(samples < 1000 + 80, "samples: {samples}");
    }

    #[test]
    fn leak_sites_are_capped_and_truncated() {
        let mut report = synthetic(1);
        for i in 0..30 {
            let mut f = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "x");
            f.function = Some(format!("main.site{i}{}", "x".repeat(300)));
            f.count = Some(i);
            report.findings.push(f);
        }
        let plan = plan_report(&report, 10);
        assert_eq!(plan.leak_sites.len(), MAX_LEAK_SITES_PER_AUDIT);
        assert_eq!(plan.leak_sites[0].1, 500.0);
        assert!(plan.leak_sites.iter().all(|((_, f), _)| f.len() <= MAX_FUNCTION_LABEL_LEN + '…'.len_utf8()));
    }

    #[test]
    fn categories_are_sanitized() {
        assert_eq!(sanitize_category("KubeApi"), "KubeApi");
        assert_eq!(sanitize_category("a b\"c"), "abc");
        assert_eq!(sanitize_category("  "), "Other");
        assert_eq!(sanitize_category(&"x".repeat(500)).len(), MAX_CATEGORY_LEN);
    }

    #[test]
    fn proc_stat_parses_with_odd_comm() {
        let stat = "4242 (go (h) ealth) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_proc_stat(stat, 1_700_000_000.0, Some(12.0)).expect("parses");
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.threads, 7.0);
        assert_eq!(p.start_time_seconds, 1_700_000_123.45);
        assert_eq!(p.virtual_bytes, 104_857_600.0);
        assert_eq!(p.resident_bytes, 2560.0 * 4096.0);
        let text = render_process(&p);
        assert!(text.contains("process_resident_memory_bytes 10485760\n"));
        assert!(text.contains("process_open_fds 12\n"));
    }

    #[test]
    fn render_includes_process_metrics_on_linux() {
        let text = Metrics::default().render();
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes "));
            assert!(text.contains("process_cpu_seconds_total "));
        }
    }
}
