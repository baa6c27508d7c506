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

/// A debug=2 dump with `leaked` goroutines blocked sending at main.leak.func1.
fn leak_dump(leaked: usize) -> String {
    let mut d = String::from("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1\n\n");
    for i in 0..leaked {
        d.push_str(&format!(
            "goroutine {} [chan send]:\nmain.leak.func1()\n\t/app/main.go:47 +0x2\ncreated by main.leak in goroutine 1\n\t/app/main.go:46 +0x3\n\n",
            i + 2
        ));
    }
    d
}

#[test]
fn dumps_taken_apart_are_read_as_history() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = [100, 200, 300, 400]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.path().join(format!("goroutine-{i}.txt"));
            std::fs::write(&p, leak_dump(*n)).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect();
    let one = json(&[&files[3]]);
    assert!(!checks(&one).iter().any(|(c, _)| c == "GoroutineGrowth"), "one dump cannot tell growth");
    let mut args = vec!["--spacing", "20s"];
    args.extend(files.iter().map(String::as_str));
    let r = json(&args);
    assert_eq!(r["moments"], 4);
    let found = checks(&r);
    assert!(found.iter().any(|(c, _)| c == "GoroutineGrowth"), "{found:?}");
    let leak = r["findings"].as_array().unwrap().iter().find(|f| f["check"] == "GoroutineLeak").expect("leak");
    assert_eq!(leak["confidence"], "likely", "growth raises the single dump's suspicion: {leak}");
    assert!(!r["notes"].to_string().contains("GoroutineGrowth not run"));
    // Same modification time and no --spacing: the user is asked when they were taken.
    let same = dir.path().join("copy.txt");
    std::fs::copy(&files[0], &same).unwrap();
    let t = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    std::fs::File::options().write(true).open(&same).unwrap().set_modified(t).unwrap();
    let out = analyze(&[&files[0], same.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spacing"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Serves a growing leak: request k gets a dump with 100·(k+1) leaked goroutines.
fn serve_growing(requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (k, stream) in listener.incoming().take(requests).enumerate() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = leak_dump(100 * (k + 1));
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    format!("http://{addr}/debug/pprof/goroutine?debug=2")
}

#[test]
fn every_and_count_report_growth_a_single_dump_cannot() {
    let url = serve_growing(4);
    let out = analyze(&["--every", "1s", "--count", "4", &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[1/4 "), "progress per round: {text}");
    assert!(text.contains("new: GoroutineGrowth"), "the verdict firms up as rounds come in: {text}");
    assert!(text.contains("moments: 4"), "{text}");
}

#[test]
fn a_token_is_not_sent_over_plain_http_without_the_flag() {
    let out = analyze(&["--token", "s3cret", "http://127.0.0.1:9/debug/pprof/goroutine?debug=1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-token-over-http"), "{err}");
    assert!(!err.contains("s3cret"), "the token is never printed: {err}");
    // With the flag the request is attempted (and fails: nothing listens on the discard port).
    let out = analyze(&[
        "--token",
        "s3cret",
        "--allow-token-over-http",
        "--timeout",
        "2s",
        "http://127.0.0.1:9/debug/pprof/goroutine?debug=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--allow-token-over-http"));
}

#[test]
fn shell_completion_is_printed() {
    let out = Command::new(env!("CARGO_BIN_EXE_gohealth")).args(["completion", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("analyze") && script.contains("--every"), "{}", &script[..script.len().min(400)]);
}
