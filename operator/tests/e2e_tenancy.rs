//! A hostile tenant against the real apiserver and the real operator (docs/security.md): a namespaced
//! audit that asks for the operator's token or another namespace is refused at admission, and, when
//! stored anyway (before the rule existed), refused by the operator with a condition naming the field;
//! its targets cannot receive a bearer token over plain HTTP nor point the operator at the apiserver, a
//! node address, a host-network pod or an undeclared port. A small audit beside a big one gets its
//! fair share of the scrape slots.
#![cfg(feature = "e2e")]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);
const SECRET_TOKEN: &str = "tenant-secret-token-6f1d";

/// An HTTP server a tenant controls: records every request's Authorization header, answers 404.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(ip: &str) -> Recorder {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                log.lock().unwrap().push(auth);
                axum::http::StatusCode::NOT_FOUND
            }
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind recorder");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { addr, seen, _task: task }
    }

    fn authorization_headers(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().filter(|a| !a.is_empty()).cloned().collect()
    }
}

/// A pod object with a free-form spec and status (host network, host IP), marked Running.
async fn raw_pod(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value, status: serde_json::Value) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"ssrf": "yes"}},
        "spec": spec,
    }))
    .expect("pod");
    api.create(&PostParams::default(), &pod).await.expect("create pod");
    let mut st = json!({"phase": "Running", "startTime": "2026-01-01T00:00:00Z"});
    st.as_object_mut().unwrap().extend(status.as_object().unwrap().clone());
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&json!({"status": st}))).await.expect("status");
}

fn container(port: u16) -> serde_json::Value {
    json!({"containers": [{"name": "app", "image": "example.invalid/go-app:1",
        "ports": [{"name": "pprof", "containerPort": port}]}]})
}

fn target_result(obj: &serde_json::Value, pod: &str) -> (String, String) {
    let items = obj["status"]["targets"]["items"].as_array().cloned().unwrap_or_default();
    let t = items.iter().find(|t| t["pod"] == pod).unwrap_or_else(|| panic!("{pod} missing: {obj:#}"));
    (t["result"].as_str().unwrap_or_default().to_string(), t["message"].as_str().unwrap_or_default().to_string())
}

/// Applies a GoHealthAudit, retrying for up to 30 s while the apiserver still validates with the
/// previous schema (422 Invalid).
async fn apply_when_schema_allows(client: &kube::Client, namespace: &str, body: serde_json::Value) {
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), namespace, &audit_resource());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.patch(&name, &PatchParams::apply("gohealth-e2e").force(), &Patch::Apply(&body)).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 422 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("apply audit {name}: {e}"),
        }
    }
}

/// The namespaced CRD without its CEL rules: what an older release of the CRD let through.
fn crd_without_rules() -> CustomResourceDefinition {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("x-kubernetes-validations");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let yaml = std::fs::read_to_string(repo_root().join("crds/gohealthaudits.gohealth.dev.yaml")).unwrap();
    let mut crd: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    strip(&mut crd);
    serde_json::from_value(crd).unwrap()
}

fn tenant_audit(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
           "metadata": {"name": name, "namespace": "tenant"}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_tenant_gets_no_token_no_other_namespace_and_no_infrastructure() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "tenant", &[]).await;
    ensure_namespace(&client, "victim", &[("team", "victim")]).await;
    let apiserver_port: u16 = {
        let kc = std::fs::read_to_string(&cp.kubeconfig).unwrap();
        let server = kc.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string();
        server.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap()
    };

    // (a)+(b) at admission: the schema refuses both cluster-only fields in a namespaced audit.
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), "tenant", &audit_resource());
    for (name, spec, field) in [
        (
            "steal-token",
            json!({"selector": {"matchLabels": {"app": "mine"}}, "pprof": {"auth": {"serviceAccountToken": true}}}),
            "spec.pprof.auth.serviceAccountToken",
        ),
        (
            "peek",
            json!({"selector": {"matchLabels": {"app": "mine"}}, "namespaceSelector": {}}),
            "spec.namespaceSelector",
        ),
    ] {
        let err = api
            .patch(name, &PatchParams::apply("tenant"), &Patch::Apply(&tenant_audit(name, spec)))
            .await
            .expect_err("the schema refuses a cluster-only field in a namespaced audit");
        assert!(err.to_string().contains(field), "{name}: {err}");
    }

    // Targets. The tenant's own pod records what it receives; the victim's pod must stay unseen.
    let recorder = Recorder::start("127.0.0.91").await;
    let own = GoProgram::start("healthy", "127.0.0.92", &["-consumers", "5"]);
    let victim = GoProgram::start("healthy", "127.0.0.93", &["-consumers", "5"]);
    for (ns, name, ip, port) in [
        ("tenant", "recorder", recorder.addr.ip().to_string(), recorder.addr.port()),
        ("tenant", "own", own.ip.clone(), own.port),
        ("victim", "secret-service", victim.ip.clone(), victim.port),
    ] {
        create_pod(
            &client,
            &PodSpec {
                namespace: ns,
                name,
                labels: &[("app", "mine")],
                annotations: &[],
                ip: &ip,
                port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    // (c) SSRF attempts, all in the tenant's namespace.
    // an annotation pointing an ordinary pod at a port no container declares (the apiserver's)
    let annotated = GoProgram::start("healthy", "127.0.0.94", &["-consumers", "5"]);
    let annotation_port = apiserver_port.to_string();
    create_pod(
        &client,
        &PodSpec {
            namespace: "tenant",
            name: "annotated",
            labels: &[("ssrf", "yes")],
            annotations: &[
                ("profiles.grafana.com/goroutine.scrape", "true"),
                ("profiles.grafana.com/goroutine.port", &annotation_port),
            ],
            ip: &annotated.ip,
            port: annotated.port,
            port_name: Some("pprof"),
        },
    )
    .await;
    // a host-network pod (its IP is its node's)
    raw_pod(
        &client,
        "tenant",
        "host-network",
        json!({"hostNetwork": true, "containers": container(own.port)["containers"]}),
        json!({"podIP": "127.0.0.95", "podIPs": [{"ip": "127.0.0.95"}], "hostIP": "127.0.0.95"}),
    )
    .await;
    // a pod whose IP is the apiserver's, declaring the apiserver's port
    raw_pod(
        &client,
        "tenant",
        "apiserver-ip",
        container(apiserver_port),
        json!({"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "hostIP": "127.0.0.96"}),
    )
    .await;
    // a pod whose IP is a node's address (another pod's host IP)
    raw_pod(
        &client,
        "tenant",
        "node-ip",
        container(own.port),
        json!({"podIP": "127.0.0.96", "podIPs": [{"ip": "127.0.0.96"}], "hostIP": "127.0.0.97"}),
    )
    .await;

    // Stored before the rules existed: the operator must refuse them itself.
    apply_crd(&client, &crd_without_rules()).await;
    // The apiserver swaps in the rule-less schema shortly after the update (the CRD was Established
    // already): retry while the old rules still answer.
    apply_when_schema_allows(
        &client,
        "tenant",
        tenant_audit(
            "steal-token",
            json!({"selector": {"matchLabels": {"app": "mine"}}, "pprof": {"auth": {"serviceAccountToken": true}}}),
        ),
    )
    .await;
    apply_audit(
        &client,
        "tenant",
        tenant_audit("peek", json!({"selector": {"matchLabels": {"app": "mine"}}, "namespaceSelector": {}})),
    )
    .await;
    install_crd(&client).await;

    // A bearer token of the tenant's own over plain http: refused per target, nothing sent.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "tenant");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "pprof-token", "namespace": "tenant"},
                "stringData": {"token": SECRET_TOKEN}}))
            .unwrap(),
        )
        .await
        .expect("secret");
    apply_audit(
        &client,
        "tenant",
        tenant_audit(
            "token-over-http",
            json!({"selector": {"matchLabels": {"app": "mine"}}, "interval": "10s",
                   "pprof": {"auth": {"bearerTokenSecret": {"name": "pprof-token", "key": "token"}}}}),
        ),
    )
    .await;
    apply_audit(&client, "tenant", tenant_audit("plain", json!({"selector": {"matchLabels": {"app": "mine"}}}))).await;
    apply_audit(
        &client,
        "tenant",
        tenant_audit("ssrf", json!({"selector": {"matchLabels": {"ssrf": "yes"}}, "pprof": {"timeout": "3s"}})),
    )
    .await;
    // Control: the cluster-scoped kind may select the victim's namespace.
    apply_cluster_audit(
        &client,
        json!({"apiVersion": "gohealth.dev/v1alpha1", "kind": "ClusterGoHealthAudit", "metadata": {"name": "admin"},
               "spec": {"selector": {"matchLabels": {"app": "mine"}},
                        "namespaceSelector": {"matchLabels": {"team": "victim"}}}}),
    )
    .await;

    let operator = Operator::start(&cp.kubeconfig, &[]);

    for (name, reason, field) in [
        ("steal-token", "ServiceAccountTokenNotAllowed", "spec.pprof.auth.serviceAccountToken"),
        ("peek", "NamespaceSelectorNotAllowed", "spec.namespaceSelector"),
    ] {
        let obj = wait_for(WAIT, &format!("{name} refused"), || async {
            let o = get_audit(&client, "tenant", name).await;
            (condition_reason(&o, "Ready").as_deref() == Some(reason)).then_some(o)
        })
        .await;
        assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"), "{obj:#}");
        let ready = obj["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert!(ready["message"].as_str().unwrap_or_default().contains(field), "{ready}");
        assert!(obj["status"]["targets"].is_null(), "{name}: nothing was scraped: {obj:#}");
    }

    // (b) the tenant's audit sees its own namespace only
    let plain =
        wait_for_audit(&client, "tenant", "plain", WAIT, |o| o["status"]["targets"]["count"].as_u64() == Some(2)).await;
    assert_eq!(status_targets(&plain), vec!["tenant/own", "tenant/recorder"], "{plain:#}");
    assert_eq!(target_result(&plain, "own").0, "Ok");

    // (a) a token over http is never sent, whoever controls the pod
    let token = wait_for_audit(&client, "tenant", "token-over-http", WAIT, |o| {
        o["status"]["targets"]["count"].as_u64() == Some(2)
    })
    .await;
    for pod in ["recorder", "own"] {
        assert_eq!(target_result(&token, pod).0, "CredentialsOverPlainHttp", "{token:#}");
    }
    let findings = token["status"]["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["evidence"]["reason"] == "CredentialsOverPlainHttp"), "{token:#}");

    // (c) every SSRF attempt is refused with its rule; nothing reached the apiserver through us
    let ssrf =
        wait_for_audit(&client, "tenant", "ssrf", WAIT, |o| o["status"]["targets"]["count"].as_u64() == Some(4)).await;
    for (pod, says) in [
        ("annotated", "not declared"),
        ("host-network", "host-network"),
        ("apiserver-ip", "apiserver"),
        ("node-ip", "node"),
    ] {
        let (result, message) = target_result(&ssrf, pod);
        assert_eq!(result, "TargetRefused", "{pod}: {ssrf:#}");
        assert!(message.contains(says), "{pod}: {message}");
    }

    // the control: a cluster audit reaches the victim namespace it selects
    let admin = wait_for(WAIT, "cluster audit status", || async {
        let o = get_cluster_audit(&client, "admin").await;
        (o["status"]["targets"]["count"].as_u64() == Some(1)).then_some(o)
    })
    .await;
    assert_eq!(status_targets(&admin), vec!["victim/secret-service"], "{admin:#}");
    assert_eq!(target_result(&admin, "secret-service").0, "Ok", "{admin:#}");

    // nothing leaked: the tenant's pod received no Authorization header at all, and the token value is in
    // no status, Event or log line
    assert!(recorder.authorization_headers().is_empty(), "{:?}", recorder.authorization_headers());
    for name in ["token-over-http", "plain", "ssrf", "steal-token", "peek"] {
        let o = get_audit(&client, "tenant", name).await;
        assert!(!o.to_string().contains(SECRET_TOKEN), "{name} status leaks the token");
        assert!(!status_targets(&o).iter().any(|t| t.starts_with("victim/")), "{name} reached the victim: {o:#}");
    }
    let events = cp.kubectl(&["get", "events", "-A", "-o", "json"]);
    assert!(!String::from_utf8_lossy(&events.stdout).contains(SECRET_TOKEN), "an Event leaks the token");
    assert!(!operator.log().contains(SECRET_TOKEN), "the operator log leaks the token");
}

/// Fair shares: with 2 scrape slots, a 2-target audit beside a 40-target audit whose targets all hang
/// completes within a couple of target deadlines, long before the big audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_audit_beside_a_big_one_gets_its_share() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "big", &[]).await;
    ensure_namespace(&client, "small", &[]).await;
    let hang = GoProgram::start("hostile", "127.0.0.101", &["-mode", "timeout"]);
    let good1 = GoProgram::start("healthy", "127.0.0.102", &["-consumers", "5"]);
    let good2 = GoProgram::start("healthy", "127.0.0.103", &["-consumers", "5"]);
    const BIG: usize = 40;
    for i in 0..BIG {
        let name = format!("hang-{i:02}");
        create_pod(
            &client,
            &PodSpec {
                namespace: "big",
                name: &name,
                labels: &[("app", "x")],
                annotations: &[],
                ip: &hang.ip,
                port: hang.port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    for (name, prog) in [("good-1", &good1), ("good-2", &good2)] {
        create_pod(
            &client,
            &PodSpec {
                namespace: "small",
                name,
                labels: &[("app", "x")],
                annotations: &[],
                ip: &prog.ip,
                port: prog.port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    let audit = |ns: &str| {
        json!({"apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
               "metadata": {"name": ns, "namespace": ns},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "interval": "10m", "pprof": {"timeout": "2s"}}})
    };
    apply_audit(&client, "big", audit("big")).await;
    // the big audit starts first and fills both slots
    let started = Instant::now();
    let _operator = Operator::start(&cp.kubeconfig, &["--scrape-concurrency", "2"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    apply_audit(&client, "small", audit("small")).await;
    let small_applied = Instant::now();
    let small =
        wait_for_audit(&client, "small", "small", WAIT, |o| o["status"]["targets"]["count"].as_u64() == Some(2)).await;
    let small_took = small_applied.elapsed();
    for pod in ["good-1", "good-2"] {
        assert_eq!(target_result(&small, pod).0, "Ok", "{small:#}");
    }
    let big_now = get_audit(&client, "big", "big").await;
    println!(
        "fair share: small audit done {small_took:?} after it was applied; big audit done yet: {}",
        big_now["status"]["targets"]["count"].as_u64() == Some(BIG as u64)
    );
    // Unfair (one shared queue), the small audit would wait for the big queue: 40 targets × 2 s / 2 slots
    // ≈ 40 s. Fair, it waits for one slot to free up (≤ one 2 s deadline) plus its own scrapes.
    assert!(small_took < Duration::from_secs(15), "{small_took:?}");
    assert!(big_now["status"]["targets"]["count"].as_u64() != Some(BIG as u64), "big finished first: not a test");
    let big =
        wait_for_audit(&client, "big", "big", WAIT, |o| o["status"]["targets"]["count"].as_u64() == Some(BIG as u64))
            .await;
    println!(
        "fair share: big audit ({BIG} hanging targets, 2 slots) done {:?} after operator start",
        started.elapsed()
    );
    assert_eq!(big["status"]["targets"]["failed"].as_u64(), Some(BIG as u64));
}
