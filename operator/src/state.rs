//! What the operator keeps about one audit between cycles — its history, its collector and its
//! metric series — in one object per audit, held in one map and dropped in one place
//! ([`AuditStates::forget`]). Rebuilt from status after a restart.

use std::collections::HashMap;

use tokio::sync::Mutex;

use gohealth_core::diagnose::history::{History, TargetHistory};
use gohealth_core::finding::Finding;

use crate::crd::GoHealthAuditStatus;
use crate::dereference::credentials::Credentials;
use crate::metrics::{AuditSeries, Metrics};
use gohealth_core::scrape_error::ScrapeError;

use crate::scrape::http::Collector;
use crate::status::STATUS_HISTORY_BUDGET;
use crate::validate::PprofConfig;

/// Selected pods (namespace/pod, IP): an audit runs again when they change.
pub type Fingerprint = Vec<(String, Option<String>)>;

/// One audit's memory.
#[derive(Debug)]
pub struct AuditState {
    pub history: History,
    pub fingerprint: Option<Fingerprint>,
    pub last_audit: Option<jiff::Timestamp>,
    pub observed_generation: Option<i64>,
    /// Unix seconds of the last goroutineleak fetch, per target (it forces a GC: own interval).
    pub last_leak_fetch: HashMap<String, i64>,
    /// All findings of the last audit (status lists only the top ones), for firstSeen.
    pub previous_findings: Vec<Finding>,
    /// The series this audit has published.
    pub series: AuditSeries,
    /// The collector built for this audit's `spec.pprof` and credentials, reused while both stay the same.
    collector: Option<(PprofConfig, Credentials, Collector)>,
}

impl AuditState {
    pub fn new(series: AuditSeries, status: Option<&GoHealthAuditStatus>) -> AuditState {
        let mut state = AuditState {
            history: History::default(),
            fingerprint: None,
            last_audit: None,
            observed_generation: None,
            last_leak_fetch: HashMap::new(),
            previous_findings: Vec::new(),
            series,
            collector: None,
        };
        if let Some(status) = status {
            state.restore(status);
        }
        state
    }

    fn restore(&mut self, status: &GoHealthAuditStatus) {
        let (history, errors) = History::from_status(&status.history);
        if !errors.is_empty() {
            tracing::warn!(skipped = errors.len(), "some history entries in status could not be decoded");
        }
        // A goroutineleak fetch forces a GC, which the sample records: its time restores the proven-leak
        // clock, so a restart does not force another GC in every target.
        self.last_leak_fetch = history
            .rings()
            .filter_map(|(key, ring)| {
                ring.samples().rev().find(|s| s.scrape_forced_gcs > 0).map(|s| (key.to_string(), s.at))
            })
            .collect();
        self.history = history;
        self.last_audit = status.last_audit_time.as_deref().and_then(|t| t.parse().ok());
        self.observed_generation = status.observed_generation;
        self.previous_findings = status.findings.clone();
    }

    pub fn history_status(&self) -> Vec<TargetHistory> {
        self.history.to_status(STATUS_HISTORY_BUDGET)
    }

    /// The collector for `pprof` and `credentials`: the one built last time when neither changed.
    pub fn collector(
        &mut self,
        pprof: &PprofConfig,
        credentials: Credentials,
        build: impl FnOnce(&PprofConfig, Credentials) -> Result<Collector, ScrapeError>,
    ) -> Result<Collector, ScrapeError> {
        if let Some((p, c, collector)) = &self.collector
            && p == pprof
            && *c == credentials
        {
            return Ok(collector.clone());
        }
        let collector = build(pprof, credentials.clone())?;
        self.collector = Some((pprof.clone(), credentials, collector.clone()));
        Ok(collector)
    }
}

/// Every audit's state, keyed by namespace/name.
#[derive(Default)]
pub struct AuditStates(Mutex<HashMap<String, AuditState>>);

impl AuditStates {
    /// Takes an audit's state out for a cycle (audits of different objects then run in parallel; the
    /// controller never reconciles one object twice at once), or builds it from status.
    pub async fn take(
        &self,
        key: &str,
        metrics: &Metrics,
        namespace: &str,
        name: &str,
        status: Option<&GoHealthAuditStatus>,
    ) -> AuditState {
        let existing = self.0.lock().await.remove(key);
        existing.unwrap_or_else(|| AuditState::new(metrics.audit_series(namespace, name), status))
    }

    pub async fn put(&self, key: String, state: AuditState) {
        self.0.lock().await.insert(key, state);
    }

    /// The one place an audit's state ends: its history, collector and metric series go with it.
    pub async fn forget(&self, key: &str, metrics: &Metrics) {
        if let Some(state) = self.0.lock().await.remove(key) {
            metrics.forget(state.series);
        }
    }

    /// Forgets every audit `keep` rejects (a backstop for deletions whose event was missed).
    pub async fn retain(&self, keep: impl Fn(&str) -> bool, metrics: &Metrics) {
        let gone: Vec<AuditState> = {
            let mut map = self.0.lock().await;
            let keys: Vec<String> = map.keys().filter(|k| !keep(k)).cloned().collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for state in gone {
            metrics.forget(state.series);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::snapshot::Snapshot;
    use gohealth_pprof::model::GoroutineProfile;

    #[test]
    fn restart_restores_history_and_the_proven_leak_clock() {
        let metrics = Metrics::default();
        let mut before = AuditState::new(metrics.audit_series("ns", "a"), None);
        let snap = |at: i64, forced_gcs: u64| Snapshot {
            at,
            goroutines: Some(GoroutineProfile { total: 10 + at as u64 % 7, ..Default::default() }),
            forced_gcs,
            ..Default::default()
        };
        before.history.record("ns/a", &snap(1_700_000_000, 1));
        before.history.record("ns/a", &snap(1_700_000_300, 0));
        before.history.record("ns/b", &snap(1_700_000_300, 0));
        let status = GoHealthAuditStatus { history: before.history_status(), ..Default::default() };
        let after = AuditState::new(metrics.audit_series("ns", "a"), Some(&status));
        assert_eq!(after.history.ring("ns/a").map(|r| r.len()), Some(2));
        assert_eq!(after.last_leak_fetch.get("ns/a"), Some(&1_700_000_000));
        assert_eq!(after.last_leak_fetch.get("ns/b"), None);
    }

    #[test]
    fn the_collector_is_rebuilt_only_when_its_inputs_change() {
        use crate::scrape::http::CollectorOptions;
        let metrics = Metrics::default();
        let mut state = AuditState::new(metrics.audit_series("ns", "a"), None);
        let pprof = crate::validate::pprof(&Default::default()).unwrap();
        let mut builds = 0;
        let mut get = |state: &mut AuditState, pprof: &PprofConfig, token: Option<&str>| {
            let creds = Credentials { bearer_token: token.map(String::from), ca_pem: None };
            state
                .collector(pprof, creds, |p, c| {
                    builds += 1;
                    Collector::new(&CollectorOptions::for_audit(p, c))
                })
                .map(|_| ())
                .unwrap();
        };
        get(&mut state, &pprof, Some("a"));
        get(&mut state, &pprof, Some("a"));
        get(&mut state, &pprof, Some("b"));
        let slower = PprofConfig { timeout: std::time::Duration::from_secs(30), ..pprof.clone() };
        get(&mut state, &slower, Some("b"));
        assert_eq!(builds, 3);
    }
}
