//! Ship end-to-end: the operator runs under exactly the Helm chart's RBAC (impersonating the chart's
//! ServiceAccount, with the chart's Deployment args), audits real Go programs, and a real Prometheus
//! (Debian package) scrapes it; every Grafana dashboard panel's query must return data, and the chart's
//! alert rules must load and be pending exactly for the findings in status. A second replica waits as a
//! standby (no audit series) and takes over through the chart's Lease permissions when the leader stops.
//! A control run with one permission removed must fail to complete an audit.
//! Also measures the operator's RSS and CPU idle and while auditing (printed as `SHIP-MEASURE` lines).
#![cfg(feature = "e2e")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const RELEASE: &str = "gohealth-operator";
const WAIT: Duration = Duration::from_secs(120);

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn script(rel: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(repo_root().join(rel));
    c
}

fn helm() -> PathBuf {
    run(&mut script("e2e/tools/install-helm.sh"));
    PathBuf::from(run(script("e2e/tools/install-helm.sh").arg("--print-path")).trim())
}

/// `helm template` of the chart into `dir/name.yaml`, with the monitoring APIs present.
fn render(dir: &Path, name: &str, namespace: &str, sets: &[&str]) -> PathBuf {
    let mut cmd = Command::new(helm());
    cmd.args(["template", RELEASE])
        .arg(repo_root().join("charts/gohealth-operator"))
        .args(["--namespace", namespace])
        .args(["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"])
        .args(["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, run(&mut cmd)).expect("write rendered chart");
    path
}

fn chart_facts(args: &[&str]) -> String {
    run(&mut script("e2e/tools/install-pyyaml.sh"));
    run(Command::new("python3").arg(repo_root().join("e2e/ship/chart_facts.py")).args(args))
}

fn kubectl_apply(cp: &ControlPlane, file: &Path) {
    let out = cp.kubectl(&["apply", "-f", &file.display().to_string()]);
    assert!(out.status.success(), "kubectl apply {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
}

/// The admin kubeconfig, impersonating `user` (kubeconfig `as:`), as the chart's ServiceAccount would be.
fn impersonating_kubeconfig(cp: &ControlPlane, dir: &Path, user: &str) -> PathBuf {
    let text = std::fs::read_to_string(&cp.kubeconfig).expect("kubeconfig");
    let mut kc: serde_norway::Value = serde_norway::from_str(&text).expect("kubeconfig yaml");
    let users = kc.get_mut("users").and_then(|u| u.as_sequence_mut()).expect("users");
    for u in users {
        let user_map = u.get_mut("user").and_then(|x| x.as_mapping_mut()).expect("user");
        user_map.insert("as".into(), user.into());
    }
    let path = dir.join("kubeconfig-as-sa");
    std::fs::write(&path, serde_norway::to_string(&kc).expect("yaml")).expect("write kubeconfig");
    path
}

fn curl(url: &str, query: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-m", "10", "-o", "-", "-w", "\n%{http_code}"]);
    if let Some(q) = query {
        cmd.args(["-G", "--data-urlencode"]).arg(format!("query={q}"));
    }
    cmd.arg(url);
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// (utime+stime seconds, RSS bytes) of a process, from /proc.
fn proc_usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    let rss_pages = f[21].parse::<f64>().unwrap();
    (ticks / 100.0, rss_pages * 4096.0)
}

/// Over `window`, sampled every 250 ms: average CPU share (1.0 = one core), the busiest 1 s CPU share,
/// and peak RSS.
async fn measure(pid: u32, window: Duration) -> (f64, f64, f64) {
    let t0 = Instant::now();
    let mut samples = vec![(0.0, proc_usage(pid))];
    while t0.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(250)).await;
        samples.push((t0.elapsed().as_secs_f64(), proc_usage(pid)));
    }
    let (t_end, (cpu_end, _)) = samples[samples.len() - 1];
    let avg = (cpu_end - samples[0].1.0) / t_end;
    let mut busiest: f64 = 0.0;
    for (i, (t, (cpu, _))) in samples.iter().enumerate() {
        if let Some((t1, (cpu1, _))) = samples[i..].iter().find(|(t1, _)| t1 - t >= 1.0) {
            busiest = busiest.max((cpu1 - cpu) / (t1 - t));
        }
    }
    let peak_rss = samples.iter().map(|(_, (_, rss))| *rss).fold(0.0, f64::max);
    (avg, busiest, peak_rss)
}

/// The gohealth binary with the chart's Deployment args (metrics address moved to loopback).
struct ChartOperator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ChartOperator {
    fn start(kubeconfig: &Path, chart_args: &[String], namespace: &str, dir: &Path, tag: &str) -> ChartOperator {
        let port = free_port();
        let mut args: Vec<String> = Vec::new();
        let mut it = chart_args.iter();
        while let Some(a) = it.next() {
            if a == "--metrics-addr" {
                it.next();
                args.extend(["--metrics-addr".to_string(), format!("127.0.0.1:{port}")]);
            } else {
                // Kubernetes expands $(VAR) from the container's env; do the same.
                args.push(a.replace("$(POD_NAMESPACE)", namespace));
            }
        }
        let log = dir.join(format!("operator-{tag}.log"));
        let file = std::fs::File::create(&log).expect("log");
        // SHIP_GOHEALTH_BIN=target/release/gohealth measures a release build instead.
        let bin = std::env::var_os("SHIP_GOHEALTH_BIN").map(PathBuf::from);
        let child = Command::new(bin.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gohealth"))))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("{RELEASE}-{tag}"))
            .env("RUST_LOG", "info,gohealth=debug")
            .env("GOHEALTH_LOG_FORMAT", "text")
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn gohealth");
        ChartOperator { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- operator log ({}) ----\n{}", self.log.display(), self.log());
        }
    }
}

/// A real Prometheus (Debian package) on 127.0.0.1 scraping the operator, with the chart's rules loaded.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, operator_port: u16, rules: &Path) -> Prometheus {
        run(&mut script("e2e/tools/install-prometheus.sh"));
        let port = free_port();
        let config = dir.join("prometheus.yml");
        // honor_labels as the chart's ServiceMonitor; job name as its jobLabel yields.
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: gohealth-operator\n    honor_labels: true\n    \
                 static_configs:\n      - targets: ['127.0.0.1:{operator_port}']\n",
                rules.display()
            ),
        )
        .expect("prometheus.yml");
        let log = dir.join("prometheus.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn prometheus");
        Prometheus { child, port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Instant query; the `data.result` array.
    fn query(&self, expr: &str) -> Vec<Value> {
        let (code, body) = curl(&self.url("/api/v1/query"), Some(expr));
        assert_eq!(code, 200, "query {expr}: {body}");
        let v: Value = serde_json::from_str(&body).expect("prometheus json");
        assert_eq!(v["status"], "success", "{expr}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- prometheus log ----\n{}", log.lines().rev().take(30).collect::<Vec<_>>().join("\n"));
        }
    }
}

/// Dashboard queries with the template variables set as "All" and Grafana's rate interval fixed.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = repo_root().join("charts/gohealth-operator/files/dashboards/gohealth.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .expect("expr")
                .replace("$__rate_interval", "30s")
                .replace("$job", "gohealth-operator")
                .replace("$namespace", ".*")
                .replace("$audit", ".*");
            out.push((format!("{} [{}]", panel["title"].as_str().unwrap_or("?"), t["refId"]), expr));
        }
    }
    assert!(out.len() >= 15, "dashboard has {} queries", out.len());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_under_chart_rbac_feeds_prometheus_and_every_dashboard_panel() {
    let dir = tempfile::Builder::new().prefix("gohealth-ship-").tempdir().expect("tempdir");
    let d = dir.path();
    let ns = "gohealth-system";
    let sa_user = format!("system:serviceaccount:{ns}:{RELEASE}");

    // The control plane runs AlwaysAdmit (an insecure plugin) so the admission audit has a finding.
    let cp = ControlPlane::start(&["--enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction"]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, ns, &[("pod-security.kubernetes.io/enforce", "restricted")]).await;
    ensure_namespace(&client, "team-a", &[]).await;
    ensure_namespace(&client, "kube-system", &[]).await;

    // Exactly the chart's RBAC and args: two replicas (leader election), Secrets readable in team-a.
    let chart = render(d, "chart", ns, &["replicaCount=2", "rbac.auditNamespaces={team-a}"]);
    let rbac = d.join("rbac.yaml");
    std::fs::write(&rbac, chart_facts(&["rbac", &chart.display().to_string()])).expect("rbac");
    kubectl_apply(&cp, &rbac);
    let facts: Value = serde_json::from_str(&chart_facts(&["operator-args", &chart.display().to_string()])).unwrap();
    let chart_args: Vec<String> = serde_json::from_value(facts["args"].clone()).unwrap();
    assert_eq!(facts["serviceAccount"], RELEASE);
    let kubeconfig = impersonating_kubeconfig(&cp, d, &sa_user);
    let can = cp.kubectl(&["auth", "can-i", "--as", &sa_user, "create", "pods", "-n", "team-a"]);
    assert!(!can.status.success(), "the chart's ServiceAccount must not create pods");

    // The cluster's apiserver as a mirror pod (admission source MirrorPod), with the real flags.
    let mut apiserver_cmd = vec!["kube-apiserver".to_string()];
    apiserver_cmd.extend(cp.apiserver_args());
    let mirror = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver-ship", "namespace": "kube-system",
                     "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.37.2",
                                 "command": apiserver_cmd}]}});
    let mirror_path = d.join("mirror.json");
    std::fs::write(&mirror_path, mirror.to_string()).unwrap();
    kubectl_apply(&cp, &mirror_path);

    // The e2e fleet as pods: each fault program, a healthy one, and one whose scrape fails.
    let fleet: Vec<GoProgram> = [
        ("leaky", "127.0.0.61", &[][..]),
        ("ticker", "127.0.0.62", &[][..]),
        ("healthy", "127.0.0.63", &["-consumers", "50"][..]),
        ("goexit", "127.0.0.65", &[][..]),
        ("contention", "127.0.0.66", &[][..]),
        ("gcchurn", "127.0.0.67", &[][..]),
        // built with Go 1.27: the runtime's goroutineleak profile proves the leak
        ("leaky-go127", "127.0.0.68", &[][..]),
    ]
    .into_iter()
    .map(|(name, ip, args)| GoProgram::start(name, ip, args))
    .collect();
    let dead_port = free_port();
    let mut pods: Vec<(&str, &str, u16)> = fleet.iter().map(|p| (p.name.as_str(), p.ip.as_str(), p.port)).collect();
    pods.push(("refuses", "127.0.0.64", dead_port));
    let targets = pods.len();
    for (name, ip, port) in pods {
        create_pod(
            &client,
            &PodSpec {
                namespace: "team-a",
                name,
                labels: &[("app.kubernetes.io/part-of", "ship-e2e")],
                annotations: &[],
                ip,
                port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    // A bearer token the audit sends (the fleet ignores it): reading it needs the chart's Secret access.
    let secret = d.join("secret.json");
    std::fs::write(
        &secret,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "pprof-token", "namespace": "team-a"},
               "stringData": {"token": "ship-e2e-token"}})
        .to_string(),
    )
    .unwrap();
    kubectl_apply(&cp, &secret);

    // 1. Idle: the operator is up and ready, no audit exists yet.
    let mut op = ChartOperator::start(&kubeconfig, &chart_args, ns, d, "main");
    wait_for(WAIT, "operator /readyz 200", || async {
        (curl(&format!("http://127.0.0.1:{}/readyz", op.port), None).0 == 200).then_some(())
    })
    .await;
    assert_eq!(curl(&format!("http://127.0.0.1:{}/healthz", op.port), None).0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_cpu, _, idle_rss) = measure(op.child.id(), Duration::from_secs(8)).await;
    // The chart's second replica: a standby waiting for the Lease.
    let mut standby = ChartOperator::start(&kubeconfig, &chart_args, ns, d, "standby");
    wait_for(WAIT, "standby /healthz 200", || async {
        (curl(&format!("http://127.0.0.1:{}/healthz", standby.port), None).0 == 200).then_some(())
    })
    .await;

    // 2. Audit: the chart's permissions must be enough for a complete audit with status written.
    apply_audit(
        &client,
        "team-a",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "fleet", "namespace": "team-a"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/part-of": "ship-e2e"}},
                "interval": "10s",
                "pprof": {"timeout": "2s"},
                "admission": {"enabled": true}
            }
        }),
    )
    .await;
    let measuring = tokio::spawn(measure(op.child.id(), Duration::from_secs(25)));
    let status = wait_for_audit(&client, "team-a", "fleet", WAIT, |o| {
        condition(o, "Ready").as_deref() == Some("True") && status_targets(o).len() == targets
    })
    .await;
    let items = status["status"]["targets"]["items"].as_array().unwrap().clone();
    let ok = items.iter().filter(|t| t["result"] == "Ok").count();
    assert_eq!(ok, targets - 1, "every fleet program scrapes, one pod refuses: {status:#}");
    // The chart's RBAC reads the Secret (a denied read is Ready=False), and the token is never sent over
    // plain HTTP: every fleet target is refused with CredentialsOverPlainHttp. Then the audit goes away.
    apply_audit(
        &client,
        "team-a",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "token", "namespace": "team-a"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/part-of": "ship-e2e"}},
                "interval": "1h",
                "pprof": {"timeout": "2s", "auth": {"bearerTokenSecret": {"name": "pprof-token", "key": "token"}}}
            }
        }),
    )
    .await;
    let refused = wait_for_audit(&client, "team-a", "token", WAIT, |o| {
        condition(o, "Ready").as_deref() == Some("True") && status_targets(o).len() == targets
    })
    .await;
    let items = refused["status"]["targets"]["items"].as_array().unwrap();
    assert!(
        items.iter().all(|t| t["result"] == "CredentialsOverPlainHttp"),
        "the token Secret is read and never sent over http: {refused:#}"
    );
    let del = cp.kubectl(&["delete", "gha", "token", "-n", "team-a"]);
    assert!(del.status.success(), "{}", String::from_utf8_lossy(&del.stderr));

    // 3. A real Prometheus scrapes the operator with the chart's rules loaded.
    let rules = d.join("rules.yaml");
    std::fs::write(&rules, chart_facts(&["extract-rules", &chart.display().to_string()])).unwrap();
    let prom = Prometheus::start(d, op.port, &rules);
    wait_for(Duration::from_secs(60), "prometheus ready", || async {
        (curl(&prom.url("/-/ready"), None).0 == 200).then_some(())
    })
    .await;
    wait_for(Duration::from_secs(60), "prometheus has gohealth series", || async {
        (!prom.query("gohealth_audit_last_success_timestamp_seconds").is_empty()).then_some(())
    })
    .await;
    let (audit_cpu, audit_busiest, audit_rss) = measuring.await.expect("measure");
    // A few more audits (10 s interval) and scrapes (1 s) so that rate() windows have samples.
    tokio::time::sleep(Duration::from_secs(20)).await;

    let (code, rules_body) = curl(&prom.url("/api/v1/rules"), None);
    assert_eq!(code, 200);
    let rules_json: Value = serde_json::from_str(&rules_body).unwrap();
    let loaded: Vec<&str> = rules_json["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    for alert in ["GoHealthGoroutineLeakSuspected", "GoHealthAuditStale", "GoHealthOperatorDown"] {
        assert!(loaded.contains(&alert), "{alert} not loaded by Prometheus: {loaded:?}");
    }
    let up = prom.query(r#"up{job="gohealth-operator"}"#);
    assert_eq!(up.first().map(|s| s["value"][1].clone()), Some(json!("1")), "{up:?}");

    // 4. Every dashboard panel query returns data. Panels fed by findings are only required when the
    //    audit's status has such findings (the checks and the admission audit belong to other modules).
    let status = get_audit(&client, "team-a", "fleet").await;
    let findings = status["status"]["findings"].as_array().cloned().unwrap_or_default();
    let has_leak_site = findings.iter().any(|f| {
        ["GoroutineLeak", "ProvenGoroutineLeak", "TickerLoopGrowth", "GoexitInDefer", "LongBlockedGoroutines"]
            .contains(&f["check"].as_str().unwrap_or(""))
            && f["function"].is_string()
    });
    let has_admission = findings.iter().any(|f| f["plugin"].is_string());
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let queries = dashboard_queries();
    for (panel, expr) in &queries {
        let needs = if panel.starts_with("Top leak sites") {
            Some(("leak-site findings", has_leak_site))
        } else if panel.starts_with("Admission findings") {
            Some(("admission findings", has_admission))
        } else if panel.starts_with("Findings by check") {
            Some(("findings", !findings.is_empty()))
        } else {
            None
        };
        let result = prom.query(expr);
        let has_number = result.iter().any(|s| s["value"][1].as_str().is_some_and(|v| v != "NaN"));
        println!("panel {panel}: {} series", result.len());
        match needs {
            Some((what, false)) if !has_number => skipped.push(format!("{panel}: status has no {what} yet")),
            _ if !has_number => failures.push(format!("{panel}: no data for {expr}")),
            _ => {}
        }
    }
    for s in &skipped {
        println!("SHIP-SKIPPED {s}");
    }
    assert!(failures.is_empty(), "dashboard panels without data:\n{}", failures.join("\n"));

    // 5. The alert expressions match the real series: alerts whose findings the status shows are pending
    //    (their `for` is longer than this test) or firing, with the audit's labels; the others are not.
    // Status and metrics come from the same report, but the next audit may land between reading one and
    // evaluating the other: compare them until they agree (or time out and show the difference).
    let leak_checks =
        ["GoroutineLeak", "LongBlockedGoroutines", "TickerLoopGrowth", "GoexitInDefer", "GoroutineGrowth"];
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let status = get_audit(&client, "team-a", "fleet").await;
        let checks: std::collections::BTreeSet<String> = status["status"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["check"].as_str().map(String::from))
            .collect();
        let has = |c: &str| checks.contains(c);
        let (code, body) = curl(&prom.url("/api/v1/alerts"), None);
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("alerts json");
        let active: Vec<(String, String, String)> = v["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let l = &a["labels"];
                let who = format!("{}/{}", l["namespace"].as_str().unwrap_or(""), l["audit"].as_str().unwrap_or(""));
                (l["alertname"].as_str().unwrap_or("").to_string(), who, a["state"].as_str().unwrap_or("").to_string())
            })
            .collect();
        let is_active = |name: &str| active.iter().any(|(n, who, _)| n == name && who == "team-a/fleet");
        let expectations = [
            ("GoHealthGoroutineLeakSuspected", leak_checks.iter().any(|c| has(c))),
            ("GoHealthGoroutineLeakProven", has("ProvenGoroutineLeak")),
            ("GoHealthRemovedAdmissionPlugin", has("RemovedAdmissionPlugin")),
            ("GoHealthDeprecatedAdmissionPlugin", has("DeprecatedAdmissionPlugin") || has("InsecureAdmissionPlugin")),
        ];
        let wrong: Vec<String> = expectations
            .iter()
            .filter(|(alert, expected)| is_active(alert) != *expected)
            .map(|(alert, expected)| format!("{alert}: expected active={expected}"))
            .chain(
                ["GoHealthOperatorDown", "GoHealthAuditStale", "GoHealthAuditNeverCompleted", "GoHealthScrapesFailing"]
                    .iter()
                    .filter(|a| active.iter().any(|(n, _, _)| n == *a))
                    .map(|a| format!("{a}: must not be active")),
            )
            .collect();
        if wrong.is_empty() {
            println!("status findings: {checks:?}\nactive alerts: {active:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alerts disagree with the findings in status:\n{}\nfindings {checks:?}\nalerts {active:?}",
            wrong.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // 6. Nothing was forbidden, and the leader took the chart's Lease.
    let log = op.log();
    let forbidden: Vec<&str> = log.lines().filter(|l| l.contains("forbidden") || l.contains("Forbidden")).collect();
    assert!(forbidden.is_empty(), "the chart's RBAC lacks permissions:\n{}", forbidden.join("\n"));
    let holder = || {
        let out = cp.kubectl(&["-n", ns, "get", "lease", "gohealth-operator", "-o", "jsonpath={.spec.holderIdentity}"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(holder(), format!("{RELEASE}-main"), "the first replica leads");
    // Only the leader audits: the standby exports no audit series.
    let (_, standby_metrics) = curl(&format!("http://127.0.0.1:{}/metrics", standby.port), None);
    assert!(standby_metrics.contains("gohealth_build_info"), "{standby_metrics}");
    assert!(
        !standby_metrics.contains("gohealth_audit_last_success_timestamp_seconds"),
        "standby audits:\n{standby_metrics}"
    );

    let series: usize = prom.query(r#"count({job="gohealth-operator"})"#)[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!(
        "SHIP-MEASURE idle: cpu={:.2}% rss={:.1}MiB; auditing {targets} targets every 10s: cpu avg={:.2}% \
         busiest 1s={:.1}% peak_rss={:.1}MiB; series={series}; dashboard queries={} skipped={}",
        idle_cpu * 100.0,
        idle_rss / 1048576.0,
        audit_cpu * 100.0,
        audit_busiest * 100.0,
        audit_rss / 1048576.0,
        queries.len(),
        skipped.len()
    );
    op.stop();
    drop(prom);

    // Failover under the chart's RBAC: the standby takes the Lease (after it expires) and audits.
    let last = get_audit(&client, "team-a", "fleet").await["status"]["lastAuditTime"].clone();
    wait_for(Duration::from_secs(120), "the standby to lead and audit", || async {
        let obj = get_audit(&client, "team-a", "fleet").await;
        (obj["status"]["lastAuditTime"] != last && holder() == format!("{RELEASE}-standby")).then_some(())
    })
    .await;
    let (_, standby_metrics) = curl(&format!("http://127.0.0.1:{}/metrics", standby.port), None);
    assert!(standby_metrics.contains("gohealth_audit_last_success_timestamp_seconds"), "{standby_metrics}");
    let log = standby.log();
    assert!(!log.contains("forbidden") && !log.contains("Forbidden"), "standby log:\n{log}");
    standby.stop();

    // 7. Control: without status permission the same operator cannot complete an audit (so the run above
    //    really was limited to the chart's RBAC).
    let stripped = d.join("rbac-stripped.yaml");
    let text = std::fs::read_to_string(&rbac).unwrap();
    let cut = text.replace("- gohealthaudits/status\n", "- gohealthaudits/nostatus\n");
    assert_ne!(cut, text, "status rule not found in the rendered RBAC");
    std::fs::write(&stripped, cut).unwrap();
    kubectl_apply(&cp, &stripped);
    let mut control = ChartOperator::start(&kubeconfig, &chart_args, ns, d, "control");
    let before = get_audit(&client, "team-a", "fleet").await;
    let old_time = before["status"]["lastAuditTime"].clone();
    // a spec edit makes the audit due at once
    apply_audit(
        &client,
        "team-a",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "fleet", "namespace": "team-a"},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": "ship-e2e"}}, "interval": "11s",
                     "pprof": {"timeout": "2s"},
                     "admission": {"enabled": true}}
        }),
    )
    .await;
    wait_for(Duration::from_secs(120), "a forbidden status write in the control operator's log", || async {
        let log = control.log();
        (log.contains("forbidden") || log.contains("Forbidden")).then_some(())
    })
    .await;
    let after = get_audit(&client, "team-a", "fleet").await;
    assert_eq!(after["status"]["lastAuditTime"], old_time, "status was written without the status permission");
    assert_ne!(after["status"]["observedGeneration"], after["metadata"]["generation"]);
    control.stop();
    kubectl_apply(&cp, &rbac);
}
