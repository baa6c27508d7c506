//! Prometheus metrics of the operator (`gohealth_*`), rendered in the text exposition format.
//!
//! Label sets are bounded: audit identity (`namespace`, `audit`), stable check ids, severities, scrape
//! reasons and admission plugin names. The only series that grow with the cluster are the per-target
//! goroutine gauges; they are capped globally by `max_target_series` and can be switched off.
//! Every metric and its cardinality is documented in `docs/metrics.md`.
//!
//! What an audit has published is an [`AuditSeries`] its caller owns: a new report replaces the old one
//! exactly, and [`Metrics::forget`] leaves nothing of a deleted audit behind.
//!
//! - `families`: the metric families, registered once;
//! - `labels`: one typed label struct per label shape, and the generic family wrapper;
//! - `plan`: report → series values (pure);
//! - `process`: `process_*` from `/proc`.

mod families;
mod labels;
mod plan;
mod process;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard};

use prometheus::{Encoder, TextEncoder};

use crate::report::AuditReport;
use families::Families;
pub use families::MetricsError;
use labels::{AuditLabels, CategoryLabels, Published};
pub use plan::MAX_LEAK_SITES_PER_AUDIT;

/// Default cap of per-target series across all audits.
pub const DEFAULT_MAX_TARGET_SERIES: usize = 2000;

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

/// Everything one audit has published. Created by [`Metrics::audit_series`], owned by the caller (one
/// per audit), and handed back to [`Metrics::forget`] when the audit is deleted: dropping it instead
/// leaves the audit's series in place.
#[derive(Debug)]
pub struct AuditSeries {
    audit: AuditLabels,
    /// Gauges replaced by every report.
    report: Published,
    /// Counters, histograms and the interval gauge: kept across reports.
    lasting: Published,
    /// `gohealth_target_goroutines` series held (this audit's share of the global cap).
    target_series: usize,
    /// Counted in `gohealth_audits` (set by the first write).
    counted: bool,
}

impl AuditSeries {
    pub fn namespace(&self) -> &str {
        &self.audit.namespace
    }

    pub fn name(&self) -> &str {
        &self.audit.audit
    }

    /// Series currently held (a histogram counts once).
    pub fn len(&self) -> usize {
        self.report.len() + self.lasting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Metrics {
    opts: MetricsOptions,
    families: Families,
    /// Per-target series held by all audits together (the global `max_target_series` cap).
    target_series: Mutex<usize>,
}

/// A panic while holding one of these locks leaves consistent-enough data (counts, label bookkeeping):
/// keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new(opts: MetricsOptions) -> Metrics {
        match Metrics::try_new(opts) {
            Ok(m) => m,
            // Every name, label and bucket is a literal exercised by the unit tests.
            Err(e) => unreachable!("static metric definitions are valid: {e}"),
        }
    }

    pub fn try_new(opts: MetricsOptions) -> Result<Metrics, MetricsError> {
        Ok(Metrics { opts, families: Families::new()?, target_series: Mutex::new(0) })
    }

    pub fn options(&self) -> MetricsOptions {
        self.opts
    }

    /// An empty series set for audit namespace/name; the caller keeps one per audit.
    #[must_use = "keep it for the audit's lifetime and hand it to `forget` when the audit is deleted"]
    pub fn audit_series(&self, namespace: &str, name: &str) -> AuditSeries {
        AuditSeries {
            audit: AuditLabels { namespace: namespace.to_string(), audit: name.to_string() },
            report: Published::default(),
            lasting: Published::default(),
            target_series: 0,
            counted: false,
        }
    }

    /// Publish `report` as the audit's latest: set its series, then remove the ones it no longer has
    /// (setting first, so that a series present in both never disappears from a scrape).
    pub fn publish_report(&self, series: &mut AuditSeries, report: &AuditReport) {
        let plan = {
            // Budget and commit under one lock, so concurrent audits never overshoot the global cap.
            let mut in_use = lock(&self.target_series);
            let others = in_use.saturating_sub(series.target_series);
            let budget =
                if self.opts.per_target_series { self.opts.max_target_series.saturating_sub(others) } else { 0 };
            let plan = plan::plan_report(&series.audit, report, budget);
            series.target_series = plan.target_goroutines.len();
            *in_use = others + series.target_series;
            plan
        };

        let f = &self.families;
        let audit = &series.audit;
        let mut fresh = Published::default();
        for (labels, n) in &plan.findings {
            f.findings.series(&mut fresh, labels).set(*n);
        }
        for (labels, n) in &plan.admission {
            f.admission_findings.series(&mut fresh, labels).set(*n);
        }
        for (labels, n) in &plan.leak_sites {
            f.leak_sites.series(&mut fresh, labels).set(*n);
        }
        for (labels, n) in &plan.targets_by_reason {
            f.targets.series(&mut fresh, labels).set(*n as f64);
        }
        f.goroutines.series(&mut fresh, audit).set(plan.goroutines as f64);
        for (labels, n) in &plan.target_goroutines {
            f.target_goroutines.series(&mut fresh, labels).set(*n as f64);
        }
        f.target_series_omitted.series(&mut fresh, audit).set(plan.omitted as f64);
        f.last_success.series(&mut fresh, audit).set(plan.finished);
        f.index.remove_stale(&series.report, &fresh);
        series.report = fresh;

        // Counters and the histogram accumulate across reports.
        for (labels, n) in &plan.targets_by_reason {
            f.scrapes_total.series(&mut series.lasting, labels).inc_by(*n as f64);
        }
        if let Some(seconds) = plan.duration {
            f.audit_duration.series(&mut series.lasting, &series.audit).observe(seconds);
        }
        self.count(series);
    }

    /// One reconcile of the audit; `error_category` None on success (a stable, bounded string otherwise).
    pub fn record_reconcile(&self, series: &mut AuditSeries, seconds: f64, error_category: Option<&str>) {
        let f = &self.families;
        f.reconciles.series(&mut series.lasting, &series.audit).inc();
        if seconds.is_finite() && seconds >= 0.0 {
            f.reconcile_duration.series(&mut series.lasting, &series.audit).observe(seconds);
        }
        if let Some(category) = error_category {
            let labels = CategoryLabels::new(series.audit.clone(), category);
            f.reconcile_errors.series(&mut series.lasting, &labels).inc();
        }
        self.count(series);
    }

    /// The audit's configured interval (spec.interval), so that staleness alerts can compare against it.
    pub fn set_interval(&self, series: &mut AuditSeries, seconds: f64) {
        self.families.interval.series(&mut series.lasting, &series.audit).set(seconds);
        self.count(series);
    }

    /// The audit was deleted: remove everything it published and give back its per-target budget.
    pub fn forget(&self, series: AuditSeries) {
        {
            let mut in_use = lock(&self.target_series);
            *in_use = in_use.saturating_sub(series.target_series);
        }
        if series.counted {
            self.families.audits.dec();
        }
        self.families.index.remove_all(series.report);
        self.families.index.remove_all(series.lasting);
    }

    /// `gohealth_audits` counts audits from their first series until `forget`.
    fn count(&self, series: &mut AuditSeries) {
        if !series.counted {
            series.counted = true;
            self.families.audits.inc();
        }
    }

    /// Series in the registry (a histogram counts once): for tests and the docs' cardinality numbers.
    pub fn series_count(&self) -> usize {
        self.families.registry.gather().iter().map(|mf| mf.get_metric().len()).sum()
    }

    /// Prometheus text exposition (format 0.0.4), including `process_*` metrics on Linux.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let families = self.families.registry.gather();
        if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        if let Some(p) = process::process_stats() {
            out.push_str(&process::render_process(&p));
        }
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
