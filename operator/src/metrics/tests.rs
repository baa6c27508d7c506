//! The facade against a real registry: rendered names and labels, replacement, removal, the global cap.

use super::*;
use crate::crd::AdmissionStatus;
use crate::report::TargetReport;
use gohealth_core::finding::{CheckId, Finding, Severity, TargetRef};

fn target(ns: &str, pod: &str, result: &str, goroutines: Option<u64>) -> TargetReport {
    TargetReport {
        target: TargetRef { namespace: ns.into(), pod: pod.into(), container: None },
        url: Some(format!("http://127.0.0.1:6060/{pod}")),
        result: result.into(),
        message: None,
        goroutines,
        findings: 0,
    }
}

/// `targets` successful pods (pod-i has 10 + i goroutines), one refused pod, five findings (two leak
/// sites on one function, two admission plugins, a scrape failure).
pub(super) fn synthetic(targets: usize) -> AuditReport {
    let mut ts: Vec<TargetReport> =
        (0..targets).map(|i| target("apps", &format!("pod-{i}"), "Ok", Some(10 + i as u64))).collect();
    ts.push(target("apps", "down", "ConnectionRefused", None));
    let mut leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "leak").with_target(ts[0].target.clone());
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
        full_dumps: Default::default(),
    }
}

fn series(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))))
        .map(str::to_string)
        .collect()
}

/// Sample lines (histogram buckets included) of audit `name`.
fn lines_of(text: &str, name: &str) -> Vec<String> {
    let label = format!(r#"audit="{name}""#);
    text.lines().filter(|l| l.starts_with("gohealth_") && l.contains(&label)).map(str::to_string).collect()
}

#[test]
fn renders_names_and_labels_for_a_synthetic_report() {
    let m = Metrics::default();
    let mut fleet = m.audit_series("team-a", "fleet");
    m.set_interval(&mut fleet, 300.0);
    m.record_reconcile(&mut fleet, 0.2, None);
    m.record_reconcile(&mut fleet, 0.1, Some("KubeApi"));
    m.publish_report(&mut fleet, &synthetic(3));
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
    assert!(
        t.contains(&r#"gohealth_targets{audit="fleet",namespace="team-a",reason="ConnectionRefused"} 1"#.to_string())
    );
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
    assert!(text.contains(r#"gohealth_reconcile_errors_total{audit="fleet",category="KubeApi",namespace="team-a"} 1"#));
    assert!(text.contains(r#"gohealth_reconcile_duration_seconds_count{audit="fleet",namespace="team-a"} 2"#));
    assert!(text.contains("gohealth_audits 1"));
    assert!(text.contains(r#"gohealth_build_info{version=""#));
    assert!(text.contains("# TYPE gohealth_audit_duration_seconds histogram"));
    assert!(text.contains("# TYPE gohealth_scrapes_total counter"));
    // bucket boundaries are part of the interface
    assert!(text.contains(r#"gohealth_audit_duration_seconds_bucket{audit="fleet",namespace="team-a",le="0.05"} 0"#));
    assert!(text.contains(r#"gohealth_audit_duration_seconds_bucket{audit="fleet",namespace="team-a",le="1800"} 1"#));

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
    for mf in m.families.registry.gather() {
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
    let mut a = m.audit_series("ns", "a");
    m.publish_report(&mut a, &synthetic(3));
    m.set_interval(&mut a, 60.0);
    let mut second = synthetic(1);
    second.findings.clear();
    m.publish_report(&mut a, &second);
    let text = m.render();
    assert!(series(&text, "gohealth_findings").is_empty());
    assert!(series(&text, "gohealth_leak_site_goroutines").is_empty());
    assert!(series(&text, "gohealth_admission_findings").is_empty());
    assert_eq!(series(&text, "gohealth_target_goroutines").len(), 1);
    // counters accumulate
    assert!(text.contains(r#"gohealth_scrapes_total{audit="a",namespace="ns",reason="Ok"} 4"#));
    // the interval is not part of a report
    assert_eq!(series(&text, "gohealth_audit_interval_seconds").len(), 1);

    let mut b = m.audit_series("ns", "b");
    m.publish_report(&mut b, &synthetic(2));
    m.forget(a);
    let text = m.render();
    assert!(lines_of(&text, "a").is_empty(), "left behind: {:?}", lines_of(&text, "a"));
    assert!(text.contains(r#"audit="b""#));
    assert!(text.contains("gohealth_audits 1"));
}

/// Typed-label removal: a shrinking report removes exactly the series it no longer has, series present
/// in both keep their identity, and `forget` leaves zero series for the audit.
#[test]
fn shrinking_report_removes_stale_series_and_forget_removes_all() {
    let m = Metrics::default();
    let baseline = m.series_count();
    let mut a = m.audit_series("ns", "a");
    m.set_interval(&mut a, 60.0);
    m.record_reconcile(&mut a, 0.1, Some("KubeApi"));
    m.publish_report(&mut a, &synthetic(5));
    let big = m.series_count();
    assert_eq!(big - baseline, a.len(), "every series the audit wrote is tracked");

    let mut small = synthetic(2);
    small.targets.retain(|t| t.ok());
    small.findings.retain(|f| f.check == CheckId::GoroutineLeak);
    m.publish_report(&mut a, &small);
    let text = m.render();
    let pods: Vec<String> = series(&text, "gohealth_target_goroutines");
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert!(pods.iter().all(|p| p.contains("pod-0") || p.contains("pod-1")), "{pods:?}");
    assert_eq!(series(&text, "gohealth_findings").len(), 1);
    assert_eq!(series(&text, "gohealth_leak_site_goroutines").len(), 1);
    assert!(series(&text, "gohealth_admission_findings").is_empty());
    assert_eq!(series(&text, "gohealth_targets"), vec![r#"gohealth_targets{audit="a",namespace="ns",reason="Ok"} 2"#]);
    // the counter of a reason no longer seen stays (counters accumulate; only forget removes them)
    assert_eq!(series(&text, "gohealth_scrapes_total").len(), 2);
    assert_eq!(m.series_count() - baseline, a.len());
    // 3 pods, 4 findings, 1 site, 2 admission triples and 1 reason fewer
    assert_eq!(big - m.series_count(), 3 + 4 + 1 + 2 + 1);

    let mut b = m.audit_series("ns", "b");
    m.publish_report(&mut b, &synthetic(1));
    m.forget(a);
    let text = m.render();
    assert!(lines_of(&text, "a").is_empty(), "left behind: {:?}", lines_of(&text, "a"));
    assert_eq!(m.series_count(), baseline + b.len());
    assert!(text.contains("gohealth_audits 1"));
    m.forget(b);
    assert_eq!(m.series_count(), baseline);
    assert!(m.render().contains("gohealth_audits 0"));
}

#[test]
fn cap_holds_across_audits_and_switch_turns_series_off() {
    let m = Metrics::new(MetricsOptions { per_target_series: true, max_target_series: 50 });
    let mut a = m.audit_series("ns", "a");
    let mut b = m.audit_series("ns", "b");
    m.publish_report(&mut a, &synthetic(40));
    m.publish_report(&mut b, &synthetic(40));
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
    m.publish_report(&mut a, &synthetic(5));
    m.publish_report(&mut b, &synthetic(40));
    assert_eq!(series(&m.render(), "gohealth_target_goroutines").len(), 45);
    // forgetting a gives its share back
    m.forget(a);
    m.publish_report(&mut b, &synthetic(60));
    assert_eq!(series(&m.render(), "gohealth_target_goroutines").len(), 50);

    let off = Metrics::new(MetricsOptions { per_target_series: false, max_target_series: 2000 });
    let mut a = off.audit_series("ns", "a");
    off.publish_report(&mut a, &synthetic(40));
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
    let mut a = m.audit_series("ns", "a");
    m.set_interval(&mut a, 300.0);
    m.record_reconcile(&mut a, 0.1, None);
    m.publish_report(&mut a, &synthetic(1000));
    let per_audit = m.series_count() - before;
    // 1000 target gauges + a bounded per-audit set (findings, sites, reasons, counters, histograms)
    assert!((1000..1030).contains(&per_audit), "series for one audit of 1000 targets: {per_audit}");
    let samples = lines_of(&m.render(), "a").len();
    println!("series={per_audit} samples(incl. histogram buckets)={samples}");
    assert!(samples < 1000 + 80, "samples: {samples}");
}

#[test]
fn render_includes_process_metrics_on_linux() {
    let text = Metrics::default().render();
    if cfg!(target_os = "linux") {
        assert!(text.contains("process_resident_memory_bytes "));
        assert!(text.contains("process_cpu_seconds_total "));
    }
}
