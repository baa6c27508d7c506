//! Shared end-to-end harness: a real local control plane (e2e/controlplane), real Go programs
//! (e2e/fleet), Pod objects pointing at them, and the real `gohealth` binary.
//!
//! There is no kubelet: pods are created as objects and their status (Running, podIP on 127.0.0.0/8,
//! container statuses) is written through the status subresource, as a kubelet would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn cache_dir() -> PathBuf {
    std::env::var_os("GOHEALTH_CACHE").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".cache"))
}

/// A running kube-apiserver + etcd, stopped on drop.
pub struct ControlPlane {
    pub state_dir: PathBuf,
    pub kubeconfig: PathBuf,
    _tmp: tempfile::TempDir,
}

impl ControlPlane {
    /// Start a fresh control plane; `extra` are appended to the kube-apiserver arguments.
    pub fn start(extra: &[&str]) -> ControlPlane {
        let tmp = tempfile::Builder::new().prefix("gohealth-cp-").tempdir().expect("tempdir");
        let state_dir = tmp.path().join("state");
        let script = repo_root().join("e2e/controlplane/start.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&state_dir)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("run start.sh");
        assert!(
            out.status.success(),
            "control plane did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let kubeconfig = state_dir.join("kubeconfig");
        ControlPlane { state_dir, kubeconfig, _tmp: tmp }
    }

    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
        Client::try_from(config).expect("client")
    }

    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl").arg("--kubeconfig").arg(&self.kubeconfig).args(args).output().expect("kubectl")
    }

    /// The apiserver args the control plane was started with (from STATE_DIR/env).
    pub fn apiserver_args(&self) -> Vec<String> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source {}/env && printf '%s\\n' \"${{APISERVER_ARGS[@]}}\"", self.state_dir.display()))
            .output()
            .expect("read env");
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("e2e/controlplane/stop.sh"))
            .arg(&self.state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

static FLEET_BUILD: Once = Once::new();

/// Path of a fleet program, building the fleet once per test binary (a no-op when up to date).
pub fn fleet_bin(name: &str) -> PathBuf {
    FLEET_BUILD.call_once(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("e2e/fleet/build.sh"))
            .stdout(Stdio::null())
            .status()
            .expect("run fleet build.sh");
        assert!(status.success(), "e2e/fleet/build.sh failed");
    });
    let p = cache_dir().join("fleet/bin").join(name);
    assert!(p.exists(), "fleet program {} missing", p.display());
    p
}

/// A real Go program listening on a loopback address; killed on drop.
pub struct GoProgram {
    pub name: String,
    pub ip: String,
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl GoProgram {
    /// Start fleet program `name` on `ip` (127.0.0.0/8) with extra flags; waits until it listens.
    pub fn start(name: &str, ip: &str, args: &[&str]) -> GoProgram {
        Self::start_with_env(name, ip, args, &[])
    }

    pub fn start_with_env(name: &str, ip: &str, args: &[&str], env: &[(&str, &str)]) -> GoProgram {
        assert!(ip.starts_with("127."), "tests stay on loopback");
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let child = Command::new(fleet_bin(name))
            .arg("-addr")
            .arg(format!("{ip}:0"))
            .arg("-port-file")
            .arg(&port_file)
            .args(args)
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn fleet program");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file)
                && let Ok(p) = s.trim().parse::<u16>()
            {
                break p;
            }
            assert!(Instant::now() < deadline, "{name} did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        };
        GoProgram { name: name.to_string(), ip: ip.to_string(), port, child, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }

    /// Wait for the program to exit (e.g. the crashy one) and return its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for GoProgram {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (for the operator's metrics endpoint).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The `gohealth` operator binary running against a control plane; SIGTERM on drop.
pub struct Operator {
    child: Child,
    pub metrics_port: u16,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Operator {
    pub fn start(kubeconfig: &Path, extra: &[&str]) -> Operator {
        Self::start_with_env(kubeconfig, extra, &[])
    }

    /// As `start`, with extra environment (e.g. `POD_NAME`, the replica's identity).
    pub fn start_with_env(kubeconfig: &Path, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("operator.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let metrics_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gohealth"))
            .arg("run")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,gohealth=debug")
            .env("POD_NAMESPACE", "default")
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn gohealth");
        Operator { child, metrics_port, log_path, _dir: dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Graceful stop (SIGTERM), as Kubernetes does; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Killed without warning (SIGKILL), as a node failure or the OOM killer would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop();
        }
        if std::thread::panicking() {
            eprintln!("---- operator log ----\n{}", self.log());
        }
    }
}

/// Install the committed CRDs (GoHealthAudit and ClusterGoHealthAudit) and wait until they are established.
pub async fn install_crd(client: &Client) {
    for file in ["gohealthaudits.gohealth.dev.yaml", "clustergohealthaudits.gohealth.dev.yaml"] {
        let yaml = std::fs::read_to_string(repo_root().join("crds").join(file)).expect("crd yaml");
        let crd: CustomResourceDefinition = serde_norway::from_str(&yaml).expect("crd parses");
        apply_crd(client, &crd).await;
    }
}

/// Apply one CRD and wait until it is established.
pub async fn apply_crd(client: &Client, crd: &CustomResourceDefinition) {
    let name = crd.metadata.name.clone().expect("crd name");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(&name, &PatchParams::apply("gohealth-e2e").force(), &Patch::Apply(crd)).await.expect("apply crd");
    wait_for(Duration::from_secs(30), "CRD established", || async {
        let crd = api.get(&name).await.ok()?;
        let established = crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
}

/// Create a namespace (with labels) and its `default` ServiceAccount (no controller-manager creates it).
pub async fn ensure_namespace(client: &Client, name: &str, labels: &[(&str, &str)]) {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let ns: Api<Namespace> = Api::all(client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
    ns.patch(name, &PatchParams::apply("gohealth-e2e"), &Patch::Apply(&body)).await.expect("namespace");
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    let body = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
    sa.patch("default", &PatchParams::apply("gohealth-e2e"), &Patch::Apply(&body)).await.expect("default sa");
}

/// What a target pod looks like.
pub struct PodSpec<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a [(&'a str, &'a str)],
    pub annotations: &'a [(&'a str, &'a str)],
    pub ip: &'a str,
    pub port: u16,
    /// Name of the container port (e.g. "pprof"), if any.
    pub port_name: Option<&'a str>,
}

/// Create a Pod object and mark it Running at `ip`, as a kubelet would.
pub async fn create_pod(client: &Client, spec: &PodSpec<'_>) -> Pod {
    let labels: BTreeMap<&str, &str> = spec.labels.iter().copied().collect();
    let annotations: BTreeMap<&str, &str> = spec.annotations.iter().copied().collect();
    let mut port = json!({"containerPort": spec.port, "protocol": "TCP"});
    if let Some(n) = spec.port_name {
        port["name"] = json!(n);
    }
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "example.invalid/go-app:1", "ports": [port]}]}
    }))
    .expect("pod");
    let api: Api<Pod> = Api::namespaced(client.clone(), spec.namespace);
    api.create(&PostParams::default(), &pod).await.expect("create pod");
    set_pod_running(client, spec.namespace, spec.name, spec.ip, 0, None).await
}

/// Write pod status: Running at `ip`, with `restarts` and an optional last termination exit code.
pub async fn set_pod_running(
    client: &Client,
    namespace: &str,
    name: &str,
    ip: &str,
    restarts: i32,
    last_exit_code: Option<i32>,
) -> Pod {
    let last_state = match last_exit_code {
        Some(code) => json!({"terminated": {"exitCode": code, "reason": "Error",
            "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"}}),
        None => json!({}),
    };
    let status = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "127.0.0.1",
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "app", "image": "example.invalid/go-app:1", "imageID": "", "ready": true,
            "restartCount": restarts, "started": true,
            "state": {"running": {"startedAt": "2026-01-01T00:00:06Z"}},
            "lastState": last_state
        }]
    }});
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("pod status")
}

/// Apply a GoHealthAudit from JSON.
pub async fn apply_audit(client: &Client, namespace: &str, body: serde_json::Value) {
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), namespace, &audit_resource());
    api.patch(&name, &PatchParams::apply("gohealth-e2e").force(), &Patch::Apply(&body)).await.expect("apply audit");
}

/// Apply a ClusterGoHealthAudit from JSON.
pub async fn apply_cluster_audit(client: &Client, body: serde_json::Value) {
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &cluster_audit_resource());
    api.patch(&name, &PatchParams::apply("gohealth-e2e").force(), &Patch::Apply(&body)).await.expect("apply audit");
}

/// Read a ClusterGoHealthAudit back as plain JSON.
pub async fn get_cluster_audit(client: &Client, name: &str) -> serde_json::Value {
    let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &cluster_audit_resource());
    serde_json::to_value(api.get(name).await.expect("get audit")).expect("json")
}

pub fn cluster_audit_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "gohealth.dev".into(),
        version: "v1alpha1".into(),
        api_version: "gohealth.dev/v1alpha1".into(),
        kind: "ClusterGoHealthAudit".into(),
        plural: "clustergohealthaudits".into(),
    }
}

/// The reason of condition `type_`, if present.
pub fn condition_reason(obj: &serde_json::Value, type_: &str) -> Option<String> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["reason"].as_str().map(String::from))
}

pub fn audit_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "gohealth.dev".into(),
        version: "v1alpha1".into(),
        api_version: "gohealth.dev/v1alpha1".into(),
        kind: "GoHealthAudit".into(),
        plural: "gohealthaudits".into(),
    }
}

/// Read an audit back from the apiserver as plain JSON (what `kubectl get -o json` shows).
pub async fn get_audit(client: &Client, namespace: &str, name: &str) -> serde_json::Value {
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), namespace, &audit_resource());
    serde_json::to_value(api.get(name).await.expect("get audit")).expect("json")
}

/// Poll `f` until it returns Some, or panic after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Wait until the audit's status was written for the current generation after `since` (RFC 3339 compare
/// on lastAuditTime), and return it.
pub async fn wait_for_audit(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for(timeout, &format!("audit {namespace}/{name} status"), || async {
        let obj = get_audit(client, namespace, name).await;
        let generation = obj["metadata"]["generation"].as_i64();
        let observed = obj["status"]["observedGeneration"].as_i64();
        (generation.is_some() && generation == observed && pred(&obj)).then_some(obj)
    })
    .await
}

/// Names (namespace/pod) listed in status.targets.items.
pub fn status_targets(obj: &serde_json::Value) -> Vec<String> {
    obj["status"]["targets"]["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| format!("{}/{}", t["namespace"].as_str().unwrap_or(""), t["pod"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// Status of condition `type_` ("True"/"False"), if present.
pub fn condition(obj: &serde_json::Value, type_: &str) -> Option<String> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str().map(String::from))
}
