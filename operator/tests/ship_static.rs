//! What ships must agree with the code, checked without any external tool (plain `cargo test`):
//! the chart's CRD copy, and every metric the alerts and the dashboard query is one the operator exports.
//! The real-tool checks are `e2e/ship/verify.sh` and `e2e_ship.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gohealth::metrics::{Metrics, MetricsOptions};
use gohealth::report::{AuditReport, TargetReport};
use gohealth_core::finding::{CheckId, Finding, Severity, TargetRef};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("gohealth_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Family names a fully populated operator exports (a histogram also yields _bucket, _sum, _count).
fn exported() -> BTreeSet<String> {
    let m = Metrics::new(MetricsOptions::default());
    let target = TargetRef { namespace: "apps".into(), pod: "p".into(), container: None };
    let mut leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak").with_target(target.clone());
    leak.function = Some("main.leak".into());
    leak.count = Some(100);
    let mut plugin = Finding::new(CheckId::RemovedAdmissionPlugin, Severity::Critical, "removed");
    plugin.plugin = Some("PodSecurityPolicy".into());
    let report = AuditReport {
        started_at: 1,
        duration_seconds: 1.0,
        targets: vec![TargetReport {
            target,
            url: None,
            result: "Ok".into(),
            message: None,
            goroutines: Some(100),
            findings: 1,
        }],
        findings: vec![leak, plugin],
        admission: None,
        full_dumps: Default::default(),
    };
    let mut audit = m.audit_series("ns", "a");
    m.set_interval(&mut audit, 60.0);
    m.record_reconcile(&mut audit, 0.1, Some("KubeApi"));
    m.publish_report(&mut audit, &report);
    let mut names = BTreeSet::new();
    for line in m.render().lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn chart_crd_is_the_generated_crd() {
    assert_eq!(
        read("charts/gohealth-operator/crds/gohealthaudits.gohealth.dev.yaml"),
        read("crds/gohealthaudits.gohealth.dev.yaml"),
        "the chart's CRD copy drifted: run e2e/ship/sync-crd.sh"
    );
}

#[test]
fn alerts_and_dashboard_query_only_exported_metrics() {
    let exported = exported();
    let mut used = BTreeSet::new();

    let rules: serde_json::Value =
        serde_norway::from_str(&read("charts/gohealth-operator/files/prometheusrules.yaml")).expect("rules yaml");
    let mut alerts = 0;
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            alerts += 1;
            used.extend(metric_names(rule["expr"].as_str().expect("expr")));
            let anchor = rule["annotations"]["runbook_url"].as_str().expect("runbook_url");
            assert!(anchor.contains("docs/alerts.md#"), "{anchor}");
        }
    }
    assert!(alerts >= 7, "{alerts} alerts");

    let dash: serde_json::Value =
        serde_json::from_str(&read("charts/gohealth-operator/files/dashboards/gohealth.json")).expect("dashboard");
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            used.extend(metric_names(t["expr"].as_str().expect("expr")));
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        used.extend(metric_names(v["definition"].as_str().unwrap_or("")));
    }

    let missing: Vec<_> = used.difference(&exported).collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}\nexported: {exported:?}");
    // And the docs name every exported family.
    let docs = read("docs/metrics.md");
    for name in exported.iter().filter(|n| !n.ends_with("_bucket") && !n.ends_with("_sum") && !n.ends_with("_count")) {
        assert!(docs.contains(&format!("`{name}`")), "{name} is not documented in docs/metrics.md");
    }
}

/// docs/metrics.md points readers at source files: those must exist (they moved once already).
#[test]
fn metrics_docs_name_existing_sources() {
    let docs = read("docs/metrics.md");
    let mut named = 0;
    for quoted in docs.split('`').skip(1).step_by(2) {
        if quoted.starts_with("operator/") || quoted.starts_with("crates/") {
            named += 1;
            assert!(repo().join(quoted).exists(), "docs/metrics.md names {quoted}, which does not exist");
        }
    }
    assert!(named >= 3, "{named} source paths named");
}
