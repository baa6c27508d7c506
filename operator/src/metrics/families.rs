//! The `gohealth_*` metric families, registered once. Names, help texts and buckets are part of the
//! public interface (`docs/metrics.md`, the chart's alerts and dashboard).

use prometheus::{CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntGauge, Opts, Registry};

use super::labels::{
    AdmissionLabels, AuditLabels, CategoryLabels, Family, FindingLabels, LabelSet, LeakSiteLabels, ReasonLabels,
    SeriesIndex, TargetLabels, Vector, VersionLabels,
};

/// A metric definition the registry refused (only a programming error can cause it).
#[derive(Debug, thiserror::Error)]
#[error("metric {name}: {source}")]
pub struct MetricsError {
    name: &'static str,
    #[source]
    source: prometheus::Error,
}

pub(crate) struct Families {
    pub registry: Registry,
    /// Every per-audit family, for removal by `SeriesKey`.
    pub index: SeriesIndex,
    pub findings: Family<FindingLabels, GaugeVec>,
    pub admission_findings: Family<AdmissionLabels, GaugeVec>,
    pub leak_sites: Family<LeakSiteLabels, GaugeVec>,
    pub targets: Family<ReasonLabels, GaugeVec>,
    pub goroutines: Family<AuditLabels, GaugeVec>,
    pub target_goroutines: Family<TargetLabels, GaugeVec>,
    pub target_series_omitted: Family<AuditLabels, GaugeVec>,
    pub last_success: Family<AuditLabels, GaugeVec>,
    pub interval: Family<AuditLabels, GaugeVec>,
    pub scrapes_total: Family<ReasonLabels, CounterVec>,
    pub audit_duration: Family<AuditLabels, HistogramVec>,
    pub reconciles: Family<AuditLabels, CounterVec>,
    pub reconcile_errors: Family<CategoryLabels, CounterVec>,
    pub reconcile_duration: Family<AuditLabels, HistogramVec>,
    pub audits: IntGauge,
}

/// Buckets for audits and reconciles: 50 ms .. ~27 min.
fn duration_buckets() -> Vec<f64> {
    vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]
}

struct Registrar {
    registry: Registry,
    index: SeriesIndex,
}

impl Registrar {
    fn add<L: LabelSet, V: Vector>(
        &mut self,
        name: &'static str,
        vec: prometheus::Result<V>,
    ) -> Result<Family<L, V>, MetricsError> {
        vec.and_then(|vec| Family::register(&self.registry, &mut self.index, name, vec))
            .map_err(|source| MetricsError { name, source })
    }

    fn gauge<L: LabelSet>(&mut self, name: &'static str, help: &str) -> Result<Family<L, GaugeVec>, MetricsError> {
        self.add(name, GaugeVec::new(Opts::new(name, help), &L::names()))
    }

    fn counter<L: LabelSet>(&mut self, name: &'static str, help: &str) -> Result<Family<L, CounterVec>, MetricsError> {
        self.add(name, CounterVec::new(Opts::new(name, help), &L::names()))
    }

    fn histogram<L: LabelSet>(
        &mut self,
        name: &'static str,
        help: &str,
    ) -> Result<Family<L, HistogramVec>, MetricsError> {
        let opts = HistogramOpts::new(name, help).buckets(duration_buckets());
        self.add(name, HistogramVec::new(opts, &L::names()))
    }
}

impl Families {
    pub fn new() -> Result<Families, MetricsError> {
        let mut r = Registrar { registry: Registry::new(), index: SeriesIndex::default() };
        let findings = r.gauge("gohealth_findings", "Findings of the last audit by check and severity.")?;
        let admission_findings = r.gauge(
            "gohealth_admission_findings",
            "Admission-plugin findings of the last audit by plugin, check and severity.",
        )?;
        let leak_sites = r.gauge(
            "gohealth_leak_site_goroutines",
            "Goroutines at the largest leak sites of the last audit (top 10 per audit), summed over targets.",
        )?;
        let targets =
            r.gauge("gohealth_targets", "Targets of the last audit by scrape result (Ok or a stable failure reason).")?;
        let goroutines = r.gauge(
            "gohealth_goroutines",
            "Goroutines summed over the successfully scraped targets of the last audit.",
        )?;
        let target_goroutines = r.gauge(
            "gohealth_target_goroutines",
            "Goroutines of one target in the last audit (capped, see gohealth_target_series_omitted).",
        )?;
        let target_series_omitted = r.gauge(
            "gohealth_target_series_omitted",
            "Targets of the last audit without a gohealth_target_goroutines series (cap reached or per-target series off).",
        )?;
        let last_success =
            r.gauge("gohealth_audit_last_success_timestamp_seconds", "Unix time the last completed audit finished.")?;
        let interval = r.gauge("gohealth_audit_interval_seconds", "Configured time between audits (spec.interval).")?;
        let scrapes_total =
            r.counter("gohealth_scrapes_total", "Target scrapes by result (Ok or a stable failure reason).")?;
        let audit_duration = r.histogram("gohealth_audit_duration_seconds", "Duration of completed audits.")?;
        let reconciles = r.counter("gohealth_reconciles_total", "Reconcile runs.")?;
        let reconcile_errors =
            r.counter("gohealth_reconcile_errors_total", "Failed reconcile runs by error category.")?;
        let reconcile_duration = r.histogram("gohealth_reconcile_duration_seconds", "Duration of reconcile runs.")?;

        let audits_name = "gohealth_audits";
        let audits = IntGauge::new(audits_name, "GoHealthAudits the operator currently exports metrics for.")
            .and_then(|g| r.registry.register(Box::new(g.clone())).map(|()| g))
            .map_err(|source| MetricsError { name: audits_name, source })?;
        let build_info: Family<VersionLabels, GaugeVec> =
            r.gauge("gohealth_build_info", "Always 1; the operator's version as a label.")?;
        build_info.unowned(&VersionLabels { version: env!("CARGO_PKG_VERSION").to_string() }).set(1.0);

        Ok(Families {
            registry: r.registry,
            index: r.index,
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
        })
    }
}
