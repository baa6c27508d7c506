//! The operator on a real cluster (e2e/cluster): etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and two nodes (containerd + kubelet each) on 127.0.0.0/8. The fleet runs as
//! Deployments from an image built here; the operator is installed with `helm install` of the chart
//! from its own image, two replicas with leader election; crashy really crash-loops under the kubelet.
//! At the end the cluster is stopped and the test checks that nothing is left on the host.
//! Fails (never skips) when the cluster cannot start: the reason is in the panic message.
#![cfg(feature = "e2e-cluster")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{apply_cluster_audit, get_cluster_audit, repo_root, status_targets, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

const SHOP: &str = "shop";
const UPSTREAM: &str = "upstream";
const OPERATOR_NS: &str = "gohealth-system";
const SYSCTLS: &[&str] = &["vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops"];

fn script(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn run(what: &str, cmd: &mut Command) -> Output {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    // The scripts' own summary lines (timings) go to the test log.
    for line in stderr.lines().filter(|l| l.starts_with("cluster") || l.starts_with("start.sh: ready")) {
        eprintln!("{line}");
    }
    eprintln!("{what}: {:.1}s", t.elapsed().as_secs_f64());
    out
}

fn image_tar(name: &str) -> PathBuf {
    let out =
        run("images --print-tar", Command::new("bash").arg(script("e2e/images/build.sh")).args(["--print-tar", name]));
    let tar = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        tar.is_file(),
        "{} is missing: build it with `e2e/images/build.sh {name}` (e2e/setup.sh does)",
        tar.display()
    );
    tar
}

fn sysctls() -> Vec<(String, String)> {
    SYSCTLS
        .iter()
        .map(|k| {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let v = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// The running cluster; stopped on drop (also when the test panics).
struct Cluster {
    state: PathBuf,
    stopped: bool,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        // Short path: containerd's sockets live in the state dir (a unix socket path has ~107 bytes).
        let tmp = tempfile::Builder::new().prefix("ghc-").tempdir_in("/tmp").expect("tempdir");
        let state = tmp.path().join("s");
        let cluster = Cluster { state, stopped: false, _tmp: tmp };
        run(
            "cluster start",
            Command::new("bash").arg(script("e2e/cluster/start.sh")).arg(&cluster.state).env("NODES", "2"),
        );
        cluster
    }

    fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("config");
        Client::try_from(cfg).expect("client")
    }

    fn script(&self, what: &str, rel: &str, args: &[&str]) -> Output {
        run(what, Command::new("bash").arg(script(rel)).arg(&self.state).args(args))
    }

    fn stop(&mut self) -> Output {
        self.stopped = true;
        Command::new("bash")
            .arg(script("e2e/cluster/stop.sh"))
            .arg(&self.state)
            .stdin(Stdio::null())
            .output()
            .expect("run stop.sh")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let out = self.stop();
            eprintln!("cluster stop (on drop): {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// `gohealth analyze` as a person runs it in an incident, with the kubeconfig alone (issue: the CLI).
fn cli_with_the_kubeconfig_alone(kubeconfig: &Path) {
    let gohealth = env!("CARGO_BIN_EXE_gohealth");
    let analyze = |args: &[&str]| -> (Option<i32>, Value, String) {
        let out = Command::new(gohealth)
            .env("KUBECONFIG", kubeconfig)
            .arg("analyze")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run gohealth analyze");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), json, stderr)
    };
    let checks = |report: &Value| -> Vec<(String, String, String)> {
        report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["check"].as_str().unwrap_or("").to_string(),
                    f["function"].as_str().unwrap_or("").to_string(),
                    f["confidence"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let kubectl = |args: &[&str]| {
        run(
            &format!("kubectl {}", args.join(" ")),
            Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args),
        )
    };

    // deploy/NAME: every replica, one report grouped by site.
    kubectl(&["-n", SHOP, "scale", "deploy/leaky", "--replicas=2"]);
    kubectl(&["-n", SHOP, "rollout", "status", "deploy/leaky", "--timeout=120s"]);
    // The new replica needs a few seconds of load before its leak passes the thresholds.
    let t = Instant::now();
    let leak = loop {
        let (_, report, stderr) = analyze(&["deploy/leaky", "-n", SHOP, "-o", "json"]);
        let leak = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["check"] == "GoroutineLeak" && f["function"] == "main.fetchWithTimeout.func1")
            .cloned();
        if let Some(leak) = leak.filter(|l| l["evidence"]["replicas"] == "2") {
            break leak;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "deploy/leaky: leak not named in both replicas\n{report:#}\n{stderr}"
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    eprintln!(
        "cli: analyze deploy/leaky named the leak in both replicas after {:.1}s: {}",
        t.elapsed().as_secs_f64(),
        leak["message"]
    );

    // Control-plane components by name: found in kube-system, reached through a port-forward, the
    // kubeconfig's client certificate checked by the component itself.
    for component in ["kube-controller-manager", "kube-scheduler", "kube-apiserver"] {
        let (code, report, stderr) = analyze(&[component, "-o", "json"]);
        let failed: Vec<_> = checks(&report).into_iter().filter(|(c, _, _)| c == "ScrapeFailed").collect();
        assert!(
            failed.is_empty() && report["goroutines"].as_u64().unwrap_or(0) > 0,
            "analyze {component} (exit {code:?}): {failed:?}\n{report:#}\n{stderr}"
        );
        eprintln!("cli: analyze {component}: {} goroutines, {:?}", report["goroutines"], checks(&report));
    }

    // --every 20s --count 4: growth a single dump cannot show.
    let t = Instant::now();
    let (_, single, _) = analyze(&["deploy/leaky", "-n", SHOP, "-o", "json"]);
    let (_, series, stderr) = analyze(&["deploy/leaky", "-n", SHOP, "--every", "20s", "--count", "4", "-o", "json"]);
    eprintln!("cli: --every 20s --count 4 {:.1}s: {:?}", t.elapsed().as_secs_f64(), checks(&series));
    let grows = |r: &Value| checks(r).iter().any(|(c, _, _)| c == "GoroutineGrowth");
    assert!(!grows(&single), "one dump shows no growth: {single:#}");
    assert!(grows(&series), "four rounds show the growth:\n{series:#}\n{stderr}");

    // A token is never sent over plain HTTP without the explicit flag.
    let pods = kubectl(&["-n", SHOP, "get", "pods", "-l", "app=leaky", "-o", "jsonpath={.items[0].status.podIP}"]);
    let ip = String::from_utf8_lossy(&pods.stdout).to_string();
    let port = kubectl(&[
        "-n",
        SHOP,
        "get",
        "pods",
        "-l",
        "app=leaky",
        "-o",
        "jsonpath={.items[0].spec.containers[0].ports[0].containerPort}",
    ]);
    let url = format!("http://{ip}:{}/debug/pprof/", String::from_utf8_lossy(&port.stdout));
    let (code, _, stderr) = analyze(&[&url, "--token", "s3cret"]);
    assert_eq!(code, Some(2), "{url} with --token: {stderr}");
    assert!(stderr.contains("--allow-token-over-http") && !stderr.contains("s3cret"), "{stderr}");
}

/// Targets of the control plane, as `namespace/pod` prefixes in status.
const CONTROL_PLANE: &[&str] = &[
    "/kube-apiserver",
    "kube-system/kube-controller-manager-",
    "kube-system/kube-scheduler-",
    "/kubelet/127.0.0.1",
    "/kubelet/127.0.0.2",
];

/// (target, result) of the control-plane targets in status.
fn control_plane_results(obj: &Value) -> Vec<(String, String)> {
    obj["status"]["targets"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                format!("{}/{}", t["namespace"].as_str().unwrap_or(""), t["pod"].as_str().unwrap_or("")),
                t["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .filter(|(t, _)| CONTROL_PLANE.iter().any(|c| t.starts_with(c)))
        .collect()
}

fn findings(obj: &Value) -> Vec<(String, String, Option<String>)> {
    obj["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["target"]["pod"].as_str().unwrap_or("").to_string(),
                f["check"].as_str().unwrap_or("").to_string(),
                f["function"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The pod of Deployment `app` (label app=<app>).
fn pod_of<'a>(
    found: &'a [(String, String, Option<String>)],
    app: &str,
) -> impl Iterator<Item = &'a (String, String, Option<String>)> {
    let prefix = format!("{app}-");
    found.iter().filter(move |(p, _, _)| p.starts_with(&prefix))
}

fn has(found: &[(String, String, Option<String>)], app: &str, check: &str, function: Option<&str>) -> bool {
    pod_of(found, app).any(|(_, c, f)| c == check && (function.is_none() || f.as_deref() == function))
}

fn no_mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn cgroups_named(prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(hierarchy.path()).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                left.push(entry.path().display().to_string());
            }
        }
    }
    left
}

/// The upstream programs (e2e/cluster/deploy-upstream.sh), audited every 10 s with default thresholds:
/// every one scraped, and no warning or critical finding in any audit over a minute of audits (the
/// 30-minute version is bench/soak-upstream).
async fn upstream_programs_are_quiet(client: &Client) {
    const PROGRAMS: [&str; 5] = ["etcd", "prometheus", "alertmanager", "coredns", "karpenter"];
    const AUDITS: usize = 6;
    let t = Instant::now();
    let mut loud: Vec<String> = Vec::new();
    let mut audits = std::collections::BTreeSet::new();
    let obj = loop {
        let obj = get_cluster_audit(client, "upstream").await;
        if let Some(at) = obj["status"]["lastAuditTime"].as_str() {
            audits.insert(at.to_string());
        }
        for f in obj["status"]["findings"].as_array().into_iter().flatten() {
            if f["severity"] != "info" {
                loud.push(format!(
                    "{} {} {} {}: {} {}",
                    f["severity"], f["check"], f["target"]["pod"], f["function"], f["message"], f["evidence"]
                ));
            }
        }
        let samples = obj["status"]["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h["samples"].as_array().map_or(0, Vec::len))
            .min()
            .unwrap_or(0);
        if audits.len() >= AUDITS && samples >= AUDITS {
            break obj;
        }
        assert!(t.elapsed() < Duration::from_secs(180), "{AUDITS} upstream audits not done in 180 s:\n{obj:#}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    loud.sort();
    loud.dedup();
    assert!(loud.is_empty(), "warnings or worse on unmodified upstream programs: {loud:#?}");
    let items = obj["status"]["targets"]["items"].as_array().cloned().unwrap_or_default();
    for program in PROGRAMS {
        let item = items.iter().find(|i| i["pod"].as_str().is_some_and(|p| p.starts_with(program)));
        let item = item.unwrap_or_else(|| panic!("{program} is not a target: {items:#?}"));
        assert_eq!(item["result"], "Ok", "{program}: {item:#}");
    }
    let goroutines: Vec<String> =
        items.iter().map(|i| format!("{}={}", i["pod"].as_str().unwrap_or(""), i["goroutines"])).collect();
    eprintln!(
        "upstream: {} audits in {:.0}s, all {} programs Ok, no warning: {goroutines:?}",
        audits.len(),
        t.elapsed().as_secs_f64(),
        PROGRAMS.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installed_operator_audits_real_deployments_and_crash_loop() {
    let t0 = Instant::now();
    let fleet_tar = image_tar("fleet");
    let operator_tar = image_tar("operator");
    let upstream_tar = image_tar("upstream");
    let sysctls_before = sysctls();

    let mut cluster = Cluster::start();
    let client = cluster.client().await;
    let fleet = fleet_tar.to_string_lossy().to_string();
    let operator = operator_tar.to_string_lossy().to_string();
    let upstream = upstream_tar.to_string_lossy().to_string();
    cluster.script("load images", "e2e/cluster/load-images.sh", &[&fleet, &operator, &upstream]);

    // The fleet as Deployments; crashy panics two seconds after each start.
    cluster.script(
        "deploy fleet",
        "e2e/cluster/deploy-fleet.sh",
        &[SHOP, "healthy", "leaky", "goexit", "ticker", "crashy"],
    );
    // Unmodified upstream programs under load (etcd, Prometheus, Alertmanager, CoreDNS, Karpenter).
    cluster.script("deploy upstream", "e2e/cluster/deploy-upstream.sh", &[UPSTREAM]);

    // The CA bundle the control plane's serving certificates are verified against: the cluster CA signs
    // the controller-manager's and the scheduler's, the node CA the kubelets'.
    let ca_bundle = [cluster.state.join("cp/pki/ca.crt"), cluster.state.join("pki/node-ca.crt")]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect::<String>();

    // helm install: two replicas, leader election, the chart's RBAC and ServiceAccount, control-plane
    // auditing on (the /debug/pprof and nodes/proxy grants).
    let t_helm = Instant::now();
    cluster.script(
        "helm install",
        "e2e/cluster/install-operator.sh",
        &["--set", "controlPlane.enabled=true", "--set", "controlPlane.kubelets=true"],
    );
    let helm_ready = t_helm.elapsed();
    let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NS);
    let operator_pods =
        pods.list(&ListParams::default().labels("app.kubernetes.io/name=gohealth-operator")).await.expect("pods");
    let names: Vec<String> = operator_pods.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
    assert_eq!(names.len(), 2, "two operator replicas: {names:?}");
    for p in &operator_pods.items {
        let st = p.status.as_ref().expect("status");
        assert_eq!(st.phase.as_deref(), Some("Running"), "{p:?}");
        let ready = st.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "operator pod not Ready: {p:?}");
        let spec = p.spec.as_ref().expect("spec");
        assert!(spec.service_account_name.as_deref().is_some_and(|s| s.starts_with("gohealth")), "{spec:?}");
    }
    let nodes: std::collections::BTreeSet<_> =
        operator_pods.items.iter().filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone())).collect();
    assert_eq!(nodes.len(), 2, "one replica per node: {nodes:?}");

    // One leader: the Lease names one of the two pods.
    let leases: Api<Lease> = Api::namespaced(client.clone(), OPERATOR_NS);
    let leader = wait_for(Duration::from_secs(60), "the operator's Lease to have a holder", || {
        let leases = leases.clone();
        async move {
            leases
                .get_opt("gohealth-operator")
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec.and_then(|s| s.holder_identity))
        }
    })
    .await;
    assert!(names.contains(&leader), "lease holder {leader} is not one of {names:?}");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), OPERATOR_NS);
    secrets
        .patch(
            "control-plane-ca",
            &PatchParams::apply("gohealth-e2e").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "control-plane-ca", "namespace": OPERATOR_NS},
                "stringData": {"ca.crt": ca_bundle}
            })),
        )
        .await
        .expect("CA secret");
    // Every pod here is on its node's network, which a namespaced GoHealthAudit refuses to scrape
    // (docs/security.md): the fleet and the control plane are audited by a ClusterGoHealthAudit.
    apply_cluster_audit(
        &client,
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "ClusterGoHealthAudit",
            "metadata": {"name": "shop"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/part-of": "demo-shop"}},
                "interval": "10s",
                "checks": {
                    "goPanicRestarts": {"minRestarts": 2},
                    // No fleet program enables mutex profiling: that info finding would be on every pod.
                    "lockContention": {"reportDisabledProfiling": false}
                },
                "controlPlane": {
                    "kubelets": true,
                    "tls": {"caSecret": {"name": "control-plane-ca", "key": "ca.crt"}}
                }
            }
        }),
    )
    .await;

    // The upstream programs with the defaults a user gets.
    apply_cluster_audit(
        &client,
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "ClusterGoHealthAudit",
            "metadata": {"name": "upstream"},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": "upstream"}}, "interval": "10s"}
        }),
    )
    .await;

    let t_audit = Instant::now();
    let obj = loop {
        let obj = get_cluster_audit(&client, "shop").await;
        let f = findings(&obj);
        if has(&f, "leaky", "GoroutineLeak", Some("main.fetchWithTimeout.func1"))
            && has(&f, "goexit", "GoexitInDefer", Some("main.cleanupAfterExit"))
            && has(&f, "crashy", "GoPanicRestarts", Some("main.reconcileObject"))
            && control_plane_results(&obj).len() == CONTROL_PLANE.len()
        {
            break obj;
        }
        assert!(t_audit.elapsed() < Duration::from_secs(180), "expected findings missing after 180 s:\n{obj:#}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let audit_time = t_audit.elapsed();
    let found = findings(&obj);
    eprintln!("findings after {:.0}s: {found:?}", audit_time.as_secs_f64());
    assert_eq!(pod_of(&found, "healthy").count(), 0, "healthy gets no finding: {found:?}");
    let targets = status_targets(&obj);
    let fleet: Vec<_> = targets.iter().filter(|t| t.starts_with(&format!("{SHOP}/"))).collect();
    assert_eq!(fleet.len(), 5, "every fleet pod is a target: {targets:?}");

    // The control plane, under the chart's RBAC, over verified TLS: every component scraped.
    let results = control_plane_results(&obj);
    eprintln!("control plane: {results:?}");
    for (target, result) in &results {
        assert_eq!(result, "Ok", "{target}: {obj:#}");
    }
    // Healthy, idle control-plane programs raise nothing an on-call engineer would have to look at.
    let loud: Vec<_> = obj["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            let t = format!(
                "{}/{}",
                f["target"]["namespace"].as_str().unwrap_or(""),
                f["target"]["pod"].as_str().unwrap_or("")
            );
            CONTROL_PLANE.iter().any(|c| t.starts_with(c)) && f["severity"] != "info"
        })
        .collect();
    assert!(loud.is_empty(), "warnings or worse on the control plane: {loud:#?}");

    upstream_programs_are_quiet(&client).await;

    // The crash loop is the kubelet's: restartCount and exit code 2 in the real pod status.
    let shop: Api<Pod> = Api::namespaced(client.clone(), SHOP);
    let crashy = shop.list(&ListParams::default().labels("app=crashy")).await.expect("crashy").items;
    let cs = crashy[0].status.as_ref().and_then(|s| s.container_statuses.clone()).expect("container statuses");
    assert!(cs[0].restart_count >= 2, "{cs:?}");
    let code = cs[0].last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code);
    assert_eq!(code, Some(2), "{cs:?}");

    // Container logs come from the kubelet, through the apiserver.
    let leader_log = run(
        "kubectl logs leader",
        Command::new("kubectl").arg("--kubeconfig").arg(cluster.kubeconfig()).args([
            "-n",
            OPERATOR_NS,
            "logs",
            &leader,
        ]),
    );
    assert!(!leader_log.stdout.is_empty(), "kubectl logs works through the kubelet");
    let log = String::from_utf8_lossy(&leader_log.stdout);
    let denied: Vec<_> = log.lines().filter(|l| l.to_ascii_lowercase().contains("forbidden")).collect();
    assert!(denied.is_empty(), "the chart's RBAC is missing something: {denied:#?}");

    cli_with_the_kubeconfig_alone(&cluster.kubeconfig());

    // Stop: nothing may be left behind.
    let state = cluster.state.clone();
    let cgroup_id = std::fs::read_to_string(state.join("cluster.env"))
        .expect("cluster.env")
        .lines()
        .find_map(|l| l.strip_prefix("CGROUP_ID=").map(str::to_string))
        .expect("CGROUP_ID");
    let t_stop = Instant::now();
    let out = cluster.stop();
    let stop_time = t_stop.elapsed();
    assert!(out.status.success(), "stop.sh reports leftovers:\n{}", String::from_utf8_lossy(&out.stderr));
    let check =
        Command::new("bash").arg(script("e2e/cluster/stop.sh")).arg("--check").arg(&state).output().expect("check");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(no_mounts_under(&state), Vec::<String>::new(), "mounts left");
    assert_eq!(cgroups_named(&cgroup_id), Vec::<String>::new(), "cgroups left");
    assert_eq!(sysctls(), sysctls_before, "sysctls changed");
    let procs = Command::new("pgrep").args(["-f", &state.to_string_lossy()]).output().expect("pgrep");
    assert!(procs.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&procs.stdout));

    eprintln!(
        "e2e_cluster: helm install -> Ready {:.1}s, audit findings {:.1}s, stop {:.1}s, total {:.1}s",
        helm_ready.as_secs_f64(),
        audit_time.as_secs_f64(),
        stop_time.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
