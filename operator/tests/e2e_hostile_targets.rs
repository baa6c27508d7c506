//! Hostile targets through the whole operator: each bad pod gets its typed reason in status (and a
//! ScrapeFailed finding) while the good pods in the same audit complete and report goroutine totals.
#![cfg(feature = "e2e")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// VmHWM of a process, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A goroutine?debug=1 body with `records` entries built by `record(i)`.
fn debug1(total: usize, records: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut body = format!("goroutine profile: total {total}\n").into_bytes();
    for r in records {
        body.extend_from_slice(&r);
        body.push(b'\n');
    }
    body
}

/// The hostile shapes, each on its own loopback address: name → address.
async fn serve_shapes() -> Vec<(&'static str, std::net::SocketAddr)> {
    use axum::body::Body;
    use axum::http::{StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    let frame = |pc: usize, name: &[u8]| {
        let mut f = format!("#\t{pc:#x}\t").into_bytes();
        f.extend_from_slice(name);
        f.extend_from_slice(format!("+0x1\t/src/app/main.go:{}\n", pc % 1000).as_bytes());
        f
    };
    let deep = {
        let n = 100_000;
        let mut r = format!("1 @ {}\n", (0..n).map(|i| format!("{:#x}", 0x401000 + i)).collect::<Vec<_>>().join(" "))
            .into_bytes();
        for i in 0..n {
            r.extend(frame(0x401000 + i, format!("main.recurse{}", i % 7).as_bytes()));
        }
        debug1(1, std::iter::once(r))
    };
    let huge_name = {
        let name = format!("main.{}", "X".repeat(1 << 20));
        let mut r = b"3 @ 0x401000 0x402000\n".to_vec();
        r.extend(frame(0x401000, name.as_bytes()));
        r.extend(frame(0x402000, b"runtime.goexit"));
        debug1(3, std::iter::once(r))
    };
    let invalid_utf8 = {
        let mut r = b"2 @ 0x401000\n".to_vec();
        r.extend(frame(0x401000, b"main.\xff\xfe\xc3(*T).\xe2\x80"));
        debug1(2, std::iter::once(r))
    };
    let many_labels = {
        let n = 300_000;
        debug1(
            n,
            (0..n).map(|i| {
                let mut r = format!("1 @ 0x401000\n# labels: {{\"request\":\"r{i:07}\"}}\n").into_bytes();
                r.extend(frame(0x401000, b"main.handle"));
                r
            }),
        )
    };
    let format_switch = {
        let mut r = b"5 @ 0x401000\n".to_vec();
        r.extend(frame(0x401000, b"main.worker"));
        let mut body = debug1(5, std::iter::once(r));
        // then protobuf-looking bytes and NULs mid-stream
        body.extend_from_slice(&[0x0a, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x1f, 0x8b, 0x08, 0x00]);
        body.extend_from_slice(&[0u8; 4096]);
        body
    };
    let index = "<html><body><table>\n<tr><td>3</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>\n</table></body></html>";

    let mut out = Vec::new();
    // The parser helper's hostile profiles (gohealth_pprof::hostile, also `--example gen_hostile`).
    let generated = gohealth_pprof::hostile::Kind::ALL.map(|k| (k.name(), Some(gohealth_pprof::hostile::generate(k))));
    let shapes: Vec<(&'static str, Option<Vec<u8>>)> = vec![
        ("text-deep-stack", Some(deep)),
        ("text-huge-name", Some(huge_name)),
        ("text-invalid-utf8", Some(invalid_utf8)),
        ("text-many-labels", Some(many_labels)),
        ("format-switch", Some(format_switch)),
        // answers the index page, then hangs on every profile
        ("index-then-hang", None),
    ]
    .into_iter()
    .chain(generated)
    .collect();
    for (i, (name, body)) in shapes.into_iter().enumerate() {
        let body = body.map(std::sync::Arc::new);
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let body = body.clone();
            async move {
                let path = uri.path().trim_end_matches('/');
                match (&body, path, uri.query()) {
                    (None, "/debug/pprof", _) => index.into_response(),
                    (None, _, _) => {
                        std::future::pending::<()>().await;
                        StatusCode::OK.into_response()
                    }
                    (Some(b), "/debug/pprof/goroutine", Some(_)) => Response::new(Body::from(b.as_ref().clone())),
                    _ => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.{}:0", 70 + i)).await.expect("bind shape");
        out.push((name, listener.local_addr().expect("addr")));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_targets_get_typed_reasons_and_good_ones_complete() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, "mixed", &[]).await;

    let good1 = GoProgram::start("healthy", "127.0.0.41", &["-consumers", "50"]);
    let good2 = GoProgram::start("leaky", "127.0.0.42", &[]);
    let hostile: Vec<(&str, GoProgram)> = ["timeout", "html", "gzipbomb", "huge", "drip", "status500"]
        .iter()
        .enumerate()
        .map(|(i, mode)| (*mode, GoProgram::start("hostile", &format!("127.0.0.{}", 50 + i), &["-mode", mode])))
        .collect();
    // refuses: a port where nothing listens
    let refused_port = free_port();

    let mut pods: Vec<(String, String, u16)> = vec![
        ("good-healthy".into(), good1.ip.clone(), good1.port),
        ("good-leaky".into(), good2.ip.clone(), good2.port),
        ("bad-refused".into(), "127.0.0.60".into(), refused_port),
    ];
    for (mode, prog) in &hostile {
        pods.push((format!("bad-{mode}"), prog.ip.clone(), prog.port));
    }
    // Shapes served from this harness: a parser or a status writer that trusts the target breaks on them.
    let shapes = serve_shapes().await;
    for (shape, addr) in &shapes {
        pods.push((format!("shape-{shape}"), addr.ip().to_string(), addr.port()));
    }
    for (name, ip, port) in &pods {
        create_pod(
            &client,
            &PodSpec {
                namespace: "mixed",
                name,
                labels: &[("audit", "me")],
                annotations: &[],
                ip,
                port: *port,
                port_name: Some("pprof"),
            },
        )
        .await;
    }
    apply_audit(
        &client,
        "mixed",
        json!({
            "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
            "metadata": {"name": "mixed", "namespace": "mixed"},
            "spec": {"selector": {"matchLabels": {"audit": "me"}}, "interval": "5m",
                     "pprof": {"timeout": "3s", "maxBodyBytes": 33554432}}
        }),
    )
    .await;
    let started = Instant::now();
    let mut operator = Operator::start(&cp.kubeconfig, &[]);
    let obj = wait_for_audit(&client, "mixed", "mixed", Duration::from_secs(120), |o| {
        o["status"]["targets"]["count"].as_u64() == Some(pods.len() as u64)
    })
    .await;
    let elapsed = started.elapsed();
    let items = obj["status"]["targets"]["items"].as_array().unwrap();
    let result = |pod: &str| {
        let t = items.iter().find(|t| t["pod"] == pod).unwrap_or_else(|| panic!("{pod} missing: {obj:#}"));
        (t["result"].as_str().unwrap().to_string(), t["goroutines"].as_u64())
    };
    let expect = [
        ("bad-refused", "ConnectionRefused"),
        ("bad-timeout", "Timeout"),
        ("bad-drip", "Timeout"),
        ("bad-html", "NotAProfile"),
        ("bad-gzipbomb", "BodyTooLarge"),
        ("bad-huge", "BodyTooLarge"),
        ("bad-status500", "HttpStatus"),
    ];
    for (pod, reason) in expect {
        assert_eq!(result(pod).0, reason, "{pod}: {obj:#}");
    }
    for pod in ["good-healthy", "good-leaky"] {
        let (r, goroutines) = result(pod);
        assert_eq!(r, "Ok", "{pod}: {obj:#}");
        assert!(goroutines.unwrap_or(0) >= 2, "{pod} goroutine total recorded: {obj:#}");
    }
    // the shapes: each ends in a stable reason (a typed finding when not Ok), none takes the audit down
    const REASONS: &[&str] = &["Ok", "NotAProfile", "ProfileTooComplex", "BodyTooLarge", "Timeout"];
    let mut shape_failures = 0;
    for (shape, _) in &shapes {
        let pod = format!("shape-{shape}");
        let (r, _) = result(&pod);
        println!("hostile shape {shape}: {r}");
        assert!(REASONS.contains(&r.as_str()), "{pod}: {r}: {obj:#}");
        if r != "Ok" {
            shape_failures += 1;
        }
    }
    assert_eq!(result("shape-index-then-hang").0, "Timeout", "{obj:#}");
    assert_eq!(obj["status"]["targets"]["failed"], 7 + shape_failures);
    // every failure is also a finding with its reason, never silence
    let failed: Vec<&serde_json::Value> =
        obj["status"]["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "ScrapeFailed").collect();
    assert_eq!(failed.len() as u64, 7 + shape_failures, "{obj:#}");
    // the operator survived all of it within the chart's memory limit (256 Mi)
    assert!(operator.is_running(), "operator log:\n{}", operator.log());
    let hwm_kib = peak_rss_kib(operator.pid());
    println!("operator peak RSS after the hostile audit: {} MiB", hwm_kib / 1024);
    assert!(hwm_kib < 256 * 1024, "peak RSS {hwm_kib} KiB above the chart's 256 Mi limit");
    assert!(failed.iter().all(|f| f["evidence"]["reason"].is_string()));
    assert_eq!(condition(&obj, "Degraded").as_deref(), Some("True"));
    // one audit pass, bounded by the slowest target (3 s deadline, a few requests), not by the sum
    println!("hostile audit completed {elapsed:?} after operator start");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}
