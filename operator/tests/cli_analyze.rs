//! `gohealth analyze` as a user runs it: the built binary on the captured fixtures, stdin, several
//! inputs at once, a live URL on loopback, and inputs that are not Go profiles.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(version: &str, file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/pprof/fixtures")
        .join(version)
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gohealth")).arg("analyze").args(args).output().expect("run gohealth")
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = analyze(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn checks(report: &Value) -> Vec<(String, Option<String>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["function"].as_str().map(str::to_string)))
        .collect()
}

#[test]
fn every_goroutine_format_gives_total_groups_and_findings() {
    for v in ["go1.21", "go1.26", "go1.27"] {
        for file in ["goroutine-debug2.txt", "goroutine-debug1.txt", "goroutine.pb.gz"] {
            let r = json(&["--min-goroutines", "1", &fixture(v, file)]);
            assert_eq!(r["goroutines"], 21, "{v}/{file}");
            let groups = r["groups"].as_array().unwrap();
            let sum: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
            assert_eq!(sum, 21, "{v}/{file}");
            for g in groups {
                for key in ["site", "state", "count", "frames"] {
                    assert!(g.get(key).is_some(), "{v}/{file}: group without {key}: {g}");
                }
            }
            let found = checks(&r);
            assert!(
                found.contains(&("GoroutineLeak".into(), Some("main.mutexWaiter".into()))),
                "{v}/{file}: {found:?}"
            );
            for f in r["findings"].as_array().unwrap() {
                for key in [
                    "check",
                    "severity",
                    "confidence",
                    "message",
                    "function",
                    "file",
                    "line",
                    "count",
                    "plugin",
                    "evidence",
                ] {
                    assert!(f.get(key).is_some(), "{v}/{file}: finding without {key}: {f}");
                }
            }
            let notes: Vec<&str> = r["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
            assert!(notes.iter().any(|n| n.starts_with("GoroutineGrowth not run")), "{notes:?}");
        }
    }
}

#[test]
fn table_is_the_default_and_names_the_site() {
    let out = analyze(&["--min-goroutines", "2", &fixture("go1.26", "goroutine-debug2.txt")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FINDINGS (1)"), "{text}");
    assert!(text.contains("GoroutineLeak [suspected]"), "{text}");
    assert!(text.contains("main.blockedSender (gohealth.dev/e2e/fleet/cmd/capture/main.go:45)"), "{text}");
    assert!(text.contains("TOP GROUPS"), "{text}");
    assert!(text.contains("NOTES"), "{text}");
    // Default thresholds: nothing to report on 21 goroutines.
    let out = analyze(&[&fixture("go1.26", "goroutine-debug2.txt")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("FINDINGS (0)"));
}

#[test]
fn leak_profile_heap_and_contention_inputs_combine() {
    let r = json(&[
        &fixture("go1.27", "goroutineleak-debug1.txt"),
        &fixture("go1.27", "heap-debug1.txt"),
        &fixture("go1.27", "mutex-disabled-debug1.txt"),
    ]);
    let found = checks(&r);
    let proven = found.iter().filter(|(c, _)| c == "ProvenGoroutineLeak").count();
    assert_eq!(proven, 7, "{found:?}");
    assert!(found.iter().any(|(c, _)| c == "ContentionProfilingDisabled"), "{found:?}");
    assert_eq!(r["inputs"].as_array().unwrap().len(), 3);
    let profiles: Vec<&str> = r["inputs"].as_array().unwrap().iter().map(|i| i["profile"].as_str().unwrap()).collect();
    assert_eq!(profiles, ["goroutineleak", "heap", "mutex"]);
}

#[test]
fn crash_traceback_is_read_and_noted() {
    let r = json(&[&fixture("go1.26", "panic.txt")]);
    let notes = r["notes"].to_string();
    assert!(notes.contains("crash traceback: panic: runtime error"), "{notes}");
    assert_eq!(r["groups"][0]["frames"][0]["function"], "main.reconcileObject");
}

#[test]
fn stdin_input() {
    let data = std::fs::read(fixture("go1.21", "goroutine.pb.gz")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gohealth"))
        .args(["analyze", "--output", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["goroutines"], 21);
}

#[test]
fn not_a_profile_exits_2_naming_what_was_found() {
    let out = analyze(&[&fixture("go1.26", "index.html")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a Go profile"), "{err}");
    assert!(err.contains("HTML"), "{err}");
    assert!(err.contains("index.html"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = analyze(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let json_file = dir.path().join("x.json");
    std::fs::write(&json_file, br#"{"status":"ok"}"#).unwrap();
    let out = analyze(&[json_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Go profile"));
    let out = analyze(&["/nonexistent/dump.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// Serves one body on loopback for `requests` requests.
fn serve(body: Vec<u8>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}/debug/pprof/goroutine?debug=2")
}

#[test]
fn live_url_on_loopback() {
    let url = serve(std::fs::read(fixture("go1.27", "goroutine-debug2.txt")).unwrap(), 1);
    let r = json(&["--min-goroutines", "2", &url]);
    assert_eq!(r["goroutines"], 21);
    assert!(checks(&r).contains(&("GoroutineLeak".into(), Some("main.blockedSender".into()))));
    // A port nothing listens on: a typed scrape error, exit 2.
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = analyze(&[&format!("http://{free}/debug/pprof/goroutine")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn analyze_on_a_saved_fleet_dump() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/core/fixtures/diagnose/leaky/6-goroutine-debug2.txt.gz");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gohealth"))
        .args(["analyze", "--output", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = r["findings"].as_array().unwrap();
    assert!(f.iter().any(|x| x["check"] == "GoroutineLeak" && x["function"] == "main.fetchWithTimeout.func1"), "{r:#}");
    assert!(r["goroutines"].as_u64().unwrap() > 1000);
}
