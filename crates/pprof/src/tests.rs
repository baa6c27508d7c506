//! Parser tests against the captured fixtures (`crates/pprof/fixtures/go*/`, checked
//! against each `manifest.json`) and synthetic edge cases.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::model::*;
use super::*;

const VERSIONS: [&str; 4] = ["go1.21", "go1.26", "go1.26-goroutineleakprofile", "go1.27"];
const LIMIT: usize = 64 << 20;

fn dir(ver: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(ver)
}

fn fixture(ver: &str, name: &str) -> Vec<u8> {
    std::fs::read(dir(ver).join(name)).unwrap_or_else(|e| panic!("{ver}/{name}: {e}"))
}

fn manifest(ver: &str) -> Value {
    serde_json::from_slice(&fixture(ver, "manifest.json")).unwrap()
}

fn files(ver: &str) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir(ver)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn all_functions(p: &GoroutineProfile) -> Vec<&str> {
    p.groups.iter().flat_map(|g| g.frames().iter().chain(g.created_by())).map(|f| f.function.as_str()).collect()
}

/// Every `main.*` name the capture program saw is a prefix of some parsed function (the
/// manifest cuts names at `(`, giving e.g. `main.` for `main.(*capturer).fetch`).
fn assert_functions(ctx: &str, funcs: &[&str], expected: &Value) {
    for want in strs(expected) {
        assert!(funcs.iter().any(|f| f.starts_with(&want)), "{ctx}: no function {want} in {funcs:?}");
    }
}

fn assert_labels(ctx: &str, p: &GoroutineProfile, expected: &Value) {
    for kv in strs(expected) {
        let (k, v) = kv.split_once('=').unwrap();
        assert!(p.groups.iter().any(|g| g.labels().get(k) == Some(v)), "{ctx}: label {kv} not found");
    }
}

#[test]
fn goroutine_debug1_matches_manifest() {
    for ver in VERSIONS {
        let m = manifest(ver);
        for name in ["goroutine-debug1.txt", "goroutineleak-debug1.txt"] {
            let Some(facts) = m["files"].get(name) else {
                continue;
            };
            let ctx = format!("{ver}/{name}");
            let p = parse_goroutine_debug1(&fixture(ver, name)).unwrap();
            assert_eq!(p.total, facts["header_total"].as_u64().unwrap(), "{ctx}");
            assert_eq!(p.sum_of_groups(), p.total, "{ctx}");
            assert_eq!(p.groups.len() as u64, facts["records"].as_u64().unwrap(), "{ctx}");
            assert_eq!(p.leak_profile, name.starts_with("goroutineleak"), "{ctx}");
            assert!(p.groups.iter().all(|g| g.leaked() == p.leak_profile));
            assert_functions(&ctx, &all_functions(&p), &facts["main_functions"]);
            assert_labels(&ctx, &p, &facts["labels_seen"]);
            if p.leak_profile {
                assert_eq!(p.total, m["leaked_goroutines_expected"].as_u64().unwrap());
            }
        }
    }
}

#[test]
fn goroutine_debug1_group_without_frames_and_labels_with_spaces() {
    let p = parse_goroutine_debug1(&fixture("go1.27", "goroutine-debug1.txt")).unwrap();
    // `1 @ 0x491701`: a goroutine not yet run, only runtime.goexit, no frame printed.
    assert!(p.groups.iter().any(|g| g.frames().is_empty() && g.count() == 1));
    let g = p.groups.iter().find(|g| g.labels().contains_key("tenant id")).unwrap();
    assert_eq!(g.labels().get("tenant id").unwrap(), "a b");
    assert_eq!(g.labels().get("worker").unwrap(), "capture");
    assert_eq!(g.frames()[0].function, "main.labelledWorker");
    assert!(g.frames()[0].file.ends_with("cmd/capture/main.go"));
    assert!(g.frames()[0].line > 0);
}

#[test]
fn goroutine_proto_matches_manifest_and_debug1_total() {
    for ver in VERSIONS {
        let m = manifest(ver);
        for (name, text) in
            [("goroutine.pb.gz", "goroutine-debug1.txt"), ("goroutineleak.pb.gz", "goroutineleak-debug1.txt")]
        {
            let Some(facts) = m["files"].get(name) else {
                continue;
            };
            let ctx = format!("{ver}/{name}");
            let proto = &facts["proto"];
            let p = parse_goroutine_proto(&fixture(ver, name), LIMIT, None).unwrap();
            assert_eq!(p.total, proto["value_sums"][0].as_u64().unwrap(), "{ctx}");
            assert_eq!(p.sum_of_groups(), p.total);
            assert_eq!(p.groups.len() as u64, proto["samples"].as_u64().unwrap());
            assert_eq!(p.leak_profile, name.starts_with("goroutineleak"), "{ctx}");
            assert_functions(&ctx, &all_functions(&p), &facts["main_functions"]);
            assert_labels(&ctx, &p, &proto["labels"]);
            // Same program, same moment: the proto sample sum equals the debug=1 header total.
            let t = parse_goroutine_debug1(&fixture(ver, text)).unwrap();
            assert_eq!(p.total, t.total, "{ctx} vs {text}");
            // The caller's word wins over the sample type.
            let forced = parse_goroutine_proto(&fixture(ver, name), LIMIT, Some(true)).unwrap();
            assert!(forced.leak_profile);
        }
    }
}

#[test]
fn goroutine_proto_frames_are_innermost_first_with_inlining() {
    let p = parse_goroutine_proto(&fixture("go1.27", "goroutine.pb.gz"), LIMIT, None).unwrap();
    // blockedSender is inlined into startGoroutines.func2: both appear, leaf first.
    let g = p.groups.iter().find(|g| g.frames().iter().any(|f| f.function == "main.blockedSender")).unwrap();
    let pos = |n: &str| g.frames().iter().position(|f| f.function == n).unwrap();
    assert!(pos("main.blockedSender") < pos("main.startGoroutines.func2"));
    assert_eq!(g.count(), 3);
    assert!(g.frames()[0].function.starts_with("runtime."));
}

#[test]
fn goroutine_debug2_matches_manifest() {
    for ver in VERSIONS {
        let m = manifest(ver);
        for name in files(ver) {
            if !(name.starts_with("goroutine") && name.contains("debug2")) {
                continue;
            }
            let facts = &m["files"][&name];
            let ctx = format!("{ver}/{name}");
            let t = parse_traceback(&fixture(ver, &name)).unwrap();
            let p = &t.profile;
            assert!(!t.truncated, "{ctx}");
            assert_eq!(t.panic_message, None, "{ctx}");
            assert_eq!(p.total, facts["goroutine_headers"].as_u64().unwrap(), "{ctx}");
            assert_eq!(p.sum_of_groups(), p.total, "{ctx}");
            let leaked: u64 = p.groups.iter().filter(|g| g.leaked()).map(|g| g.count()).sum();
            assert_eq!(leaked, facts["leaked_headers"].as_u64().unwrap_or(0), "{ctx}");
            assert_functions(&ctx, &all_functions(p), &facts["main_functions"]);
            assert!(p.groups.iter().all(|g| g.state().is_some()));
            assert!(p.groups.iter().all(|g| g.goids().len() as u64 == g.count().min(16)), "{ctx}");
            // Labels are printed in debug=2 headers with tracebacklabels (1.26 opt-in, 1.27 default).
            let labelled =
                name.contains("tracebacklabels-1") || (ver == "go1.27" && !name.contains("tracebacklabels-0"));
            let has_labels = p.groups.iter().any(|g| !g.labels().is_empty());
            assert_eq!(has_labels, labelled, "{ctx}");
        }
    }
}

#[test]
fn goroutine_debug2_groups_states_and_creators() {
    let p = parse_goroutine_debug2(&fixture("go1.27", "goroutineleak-debug2.txt")).unwrap();
    let sender = p.groups.iter().find(|g| g.frames().iter().any(|f| f.function == "main.blockedSender")).unwrap();
    assert_eq!(sender.count(), 3);
    assert_eq!(sender.state(), Some("chan send"));
    assert!(sender.leaked());
    assert_eq!(sender.wait_minutes_max(), None);
    assert_eq!(sender.created_by().as_ref().map(|f| f.function.as_str()), Some("main.startGoroutines.func1"));
    assert!(sender.parent_goid().is_some());
    let leaker = p.groups.iter().find(|g| g.labels().get("worker") == Some("leaker")).unwrap();
    assert_eq!(leaker.labels().get("request id").unwrap(), "r-1");
    assert!(leaker.leaked());
    let wg = p.groups.iter().find(|g| g.frames().iter().any(|f| f.function == "main.waitGroupWaiter")).unwrap();
    assert_eq!(wg.state(), Some("sync.WaitGroup.Wait"));

    // Go 1.26 experiment with tracebacklabels=1: flags and labels inside the brackets.
    let p =
        parse_goroutine_debug2(&fixture("go1.26-goroutineleakprofile", "goroutineleak-debug2-tracebacklabels-1.txt"))
            .unwrap();
    let leaker = p.groups.iter().find(|g| g.labels().get("worker") == Some("leaker")).unwrap();
    assert!(leaker.leaked());
    assert_eq!(leaker.state(), Some("chan receive"));

    // Go 1.21: WaitGroup.Wait was `semacquire`.
    let p = parse_goroutine_debug2(&fixture("go1.21", "goroutine-debug2.txt")).unwrap();
    let wg = p.groups.iter().find(|g| g.frames().iter().any(|f| f.function == "main.waitGroupWaiter")).unwrap();
    assert_eq!(wg.state(), Some("semacquire"));
}

#[test]
fn panics_match_manifest() {
    for ver in VERSIONS {
        let m = manifest(ver);
        let crashes = m["crashes"].as_object().unwrap();
        for (name, facts) in crashes {
            let ctx = format!("{ver}/{name}");
            let t = parse_traceback(&fixture(ver, name)).unwrap();
            assert_eq!(t.profile.total, facts["goroutine_headers"].as_u64().unwrap(), "{ctx}");
            let msg = t.panic_message.clone().unwrap();
            assert!(msg.starts_with(facts["first_line"].as_str().unwrap()), "{ctx}: {msg}");
            assert!(msg.contains("[signal SIGSEGV"), "{ctx}");
            assert_functions(&ctx, &all_functions(&t.profile), &facts["main_functions"]);
            // The crashing goroutine is printed first and runs main.reconcileObject.
            let first = t.first_goid.unwrap();
            let g = t.profile.groups.iter().find(|g| g.goids().contains(&first)).unwrap();
            assert_eq!(g.state(), Some("running"));
            assert!(g.frames().iter().any(|f| f.function == "main.reconcileObject"));
            assert_eq!(detect(&fixture(ver, name)), Ok(ProfileFormat::GoroutineDebug2));
        }
    }
}

#[test]
fn heap_debug1_memstats() {
    for ver in VERSIONS {
        let p = parse_heap_debug1(&fixture(ver, "heap-debug1.txt")).unwrap();
        let header = manifest(ver)["files"]["heap-debug1.txt"]["header"].as_str().unwrap().to_string();
        let inuse: u64 = header.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert_eq!(p.inuse_bytes, Some(inuse), "{ver}");
        let ms = p.mem_stats.unwrap();
        assert!(ms.num_gc.unwrap() >= 1, "{ver}");
        assert!(ms.num_forced_gc.unwrap() >= 1, "{ver}");
        assert!(ms.gc_cpu_fraction.unwrap() > 0.0, "{ver}");
        assert!(ms.heap_alloc.unwrap() > 0 && ms.sys.unwrap() > 0, "{ver}");
        assert!(ms.next_gc.unwrap() > 0 && ms.last_gc.unwrap() > 0, "{ver}");
        assert!(ms.max_rss.unwrap() > 0, "{ver}");
        assert!(ms.pause_total_ns.unwrap() > 0, "{ver}");
        assert_eq!(ms.alloc, ms.heap_alloc);
    }
}

#[test]
fn heap_proto_inuse() {
    for ver in VERSIONS {
        let facts = &manifest(ver)["files"]["heap.pb.gz"]["proto"];
        let types = strs(&facts["sample_types"]);
        let i = types.iter().position(|t| t == "inuse_space/bytes").unwrap();
        let p = parse_heap_proto(&fixture(ver, "heap.pb.gz"), LIMIT).unwrap();
        assert_eq!(p.inuse_bytes, facts["value_sums"][i].as_u64(), "{ver}");
        assert_eq!(p.mem_stats, None);
        assert!(matches!(parse(&fixture(ver, "allocs.pb.gz"), LIMIT), Ok(Profile::Heap(_))));
    }
}

#[test]
fn contention_debug1() {
    for ver in VERSIONS {
        let m = manifest(ver);
        for (name, kind) in [("mutex-debug1.txt", ContentionKind::Mutex), ("block-debug1.txt", ContentionKind::Block)] {
            let ctx = format!("{ver}/{name}");
            let facts = &m["files"][name];
            let p = parse_contention_debug1(&fixture(ver, name)).unwrap();
            assert_eq!(p.kind, kind, "{ctx}");
            assert_eq!(p.sites.len() as u64, facts["records"].as_u64().unwrap(), "{ctx}");
            let period = facts["sampling_period"].as_str().map(|s| s.parse().unwrap());
            assert_eq!(p.sampling_period, period, "{ctx}");
            assert!(p.sites.iter().all(|s| s.count > 0 && !s.frames.is_empty()));
            let funcs: Vec<&str> = p.sites.iter().flat_map(|s| &s.frames).map(|f| f.function.as_str()).collect();
            assert_functions(&ctx, &funcs, &facts["main_functions"]);
            // delay: cycles / (cycles/second) in ns, below the total wall time of the bursts
            assert!(p.sites.iter().map(|s| s.delay_ns).sum::<u64>() > 0, "{ctx}");
        }
        let off = parse_contention_debug1(&fixture(ver, "mutex-disabled-debug1.txt")).unwrap();
        assert_eq!((off.kind, off.sampling_period), (ContentionKind::Mutex, Some(0)));
        assert!(off.sites.is_empty());
        let off = parse_contention_debug1(&fixture(ver, "block-disabled-debug1.txt")).unwrap();
        assert_eq!((off.kind, off.sampling_period), (ContentionKind::Block, None));
        assert!(off.sites.is_empty());
    }
}

#[test]
fn contention_proto() {
    for ver in VERSIONS {
        let m = manifest(ver);
        for (name, kind) in [("mutex.pb.gz", ContentionKind::Mutex), ("block.pb.gz", ContentionKind::Block)] {
            let ctx = format!("{ver}/{name}");
            let facts = &m["files"][name]["proto"];
            let p = parse_contention_proto(&fixture(ver, name), LIMIT, None).unwrap();
            assert_eq!(p.kind, kind, "{ctx}: kind guessed from leaf frames");
            assert_eq!(p.sampling_period, None);
            let count: u64 = p.sites.iter().map(|s| s.count).sum();
            let delay: u64 = p.sites.iter().map(|s| s.delay_ns).sum();
            assert_eq!(count, facts["value_sums"][0].as_u64().unwrap(), "{ctx}");
            assert_eq!(delay, facts["value_sums"][1].as_u64().unwrap(), "{ctx}");
            let given = parse_contention_proto(&fixture(ver, name), LIMIT, Some(kind)).unwrap();
            assert_eq!(given.kind, kind);
        }
    }
}

fn expected_format(name: &str) -> Option<ProfileFormat> {
    if name.ends_with(".pb.gz") {
        Some(ProfileFormat::Proto)
    } else if name.contains("debug2") || name.starts_with("panic") {
        Some(ProfileFormat::GoroutineDebug2)
    } else if name.starts_with("goroutine") && name.contains("debug1") {
        Some(ProfileFormat::GoroutineDebug1)
    } else if name.starts_with("heap") {
        Some(ProfileFormat::HeapDebug1)
    } else if name.starts_with("mutex") || name.starts_with("block") {
        Some(ProfileFormat::ContentionDebug1)
    } else {
        None
    }
}

#[test]
fn detect_and_parse_every_fixture() {
    for ver in VERSIONS {
        for name in files(ver) {
            if name == "manifest.json" {
                continue;
            }
            let data = fixture(ver, &name);
            let ctx = format!("{ver}/{name}");
            match expected_format(&name) {
                Some(f) => {
                    assert_eq!(detect(&data), Ok(f), "{ctx}");
                    let p = parse(&data, LIMIT).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    let want_kind = if name.starts_with("heap") || name.starts_with("allocs") {
                        "heap"
                    } else if name.starts_with("mutex") || name.starts_with("block") {
                        "contention"
                    } else {
                        "goroutine"
                    };
                    let kind = match p {
                        Profile::Goroutine(_) => "goroutine",
                        Profile::Heap(_) => "heap",
                        Profile::Contention(_) => "contention",
                    };
                    assert_eq!(kind, want_kind, "{ctx}");
                }
                None => {
                    let e = detect(&data).unwrap_err();
                    let ParseError::NotAProfile { found } = &e else {
                        panic!("{ctx}: {e:?}");
                    };
                    if name.ends_with(".html") {
                        assert_eq!(found, "an HTML document", "{ctx}");
                    } else {
                        assert_eq!(found, "text starting with \"Unknown profile\"", "{ctx}");
                    }
                    assert_eq!(parse(&data, LIMIT).unwrap_err(), e);
                }
            }
        }
    }
}

#[test]
fn wrong_kind_is_reported() {
    let heap = fixture("go1.27", "heap-debug1.txt");
    let e = parse_goroutine_debug1(&heap).unwrap_err();
    assert_eq!(e.reason(), "WrongKind");
    let e = parse_goroutine_proto(&fixture("go1.27", "heap.pb.gz"), LIMIT, None).unwrap_err();
    assert_eq!(e.reason(), "WrongKind");
    let e = parse_heap_proto(&fixture("go1.27", "mutex.pb.gz"), LIMIT).unwrap_err();
    assert_eq!(e.reason(), "WrongKind");
    let e = parse_contention_debug1(&fixture("go1.27", "goroutine-debug2.txt")).unwrap_err();
    assert_eq!(e.reason(), "WrongKind");
}

fn not_a_profile(data: &[u8]) -> String {
    match detect(data) {
        Err(ParseError::NotAProfile { found }) => {
            assert_eq!(parse(data, LIMIT), Err(ParseError::NotAProfile { found: found.clone() }));
            found
        }
        other => panic!("{other:?}"),
    }
}

/// xorshift: deterministic "random" bytes without a dependency.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn negative_inputs_name_what_they_are() {
    assert_eq!(not_a_profile(b""), "empty input");
    assert_eq!(not_a_profile(b" \n\r\n"), "only whitespace");
    assert_eq!(not_a_profile(b"<!DOCTYPE html>\n<html><body>login</body></html>"), "an HTML document");
    assert_eq!(not_a_profile(b"<html>\n<head>"), "an HTML document");
    assert_eq!(not_a_profile(br#"{"status":"ok","goroutines":12}"#), "JSON");
    assert_eq!(not_a_profile(b"[1, 2, 3]\n"), "JSON");
    assert_eq!(not_a_profile(&noise(4096, 7)), "binary data");
    assert_eq!(not_a_profile(&[0u8; 100]), "binary data");
    assert_eq!(not_a_profile(b"404 page not found\n"), "text starting with \"404 page not found\"");
    assert_eq!(not_a_profile(b"panic: boom\n\nexit status 2\n"), "a Go crash message without goroutine stacks");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_bomb_is_refused_quickly() {
    // 100 MB of zeros → ~100 KB gzipped; with a 1 MB limit the decoder stops after ~1 MB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 200_000);
    let start = std::time::Instant::now();
    let err = gunzip_limited(&bomb, 1 << 20).unwrap_err();
    assert_eq!(err, ParseError::TooLarge { limit: 1 << 20 });
    assert_eq!(err.reason(), "TooLarge");
    assert_eq!(parse(&bomb, 1 << 20).unwrap_err(), err);
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    // Exactly at the limit is fine.
    let exact = gzip(&vec![b'a'; 1000]);
    assert_eq!(gunzip_limited(&exact, 1000).unwrap().len(), 1000);
    assert!(gunzip_limited(&exact, 999).is_err());
}

#[test]
fn corrupt_gzip_and_gzipped_text() {
    let good = fixture("go1.27", "goroutine.pb.gz");
    let cut = &good[..good.len() / 2];
    assert_eq!(parse(cut, LIMIT).unwrap_err().reason(), "BadGzip");
    let mut flipped = good.clone();
    flipped[20] ^= 0xff;
    assert!(parse(&flipped, LIMIT).is_err());
    // Plain (not gzipped) proto is accepted too.
    let plain = gunzip_limited(&good, LIMIT).unwrap().into_owned();
    assert_eq!(detect(&plain), Ok(ProfileFormat::Proto));
    assert_eq!(parse(&plain, LIMIT), parse(&good, LIMIT));
    // gzipped text is parsed as text.
    let text = fixture("go1.27", "goroutine-debug1.txt");
    assert_eq!(parse(&gzip(&text), LIMIT), parse(&text, LIMIT));
    // detect() does not inflate; parse() looks inside.
    let html = gzip(b"<html></html>");
    assert_eq!(detect(&html), Ok(ProfileFormat::Proto));
    assert_eq!(parse(&html, LIMIT), Err(ParseError::NotAProfile { found: "an HTML document".into() }));
    assert_eq!(parse(&gzip(&gzip(b"x")), LIMIT), Err(ParseError::NotAProfile { found: "gzip inside gzip".into() }));
}

// --- hand-built protos -------------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, u64::from(field << 3));
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    varint(out, u64::from(field << 3 | 2));
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A goroutine profile whose Sample repeated fields are packed or not.
fn hand_built_profile(packed: bool) -> Vec<u8> {
    let mut p = Vec::new();
    // sample_type {type: 1 "goroutine", unit: 2 "count"}
    let mut vt = Vec::new();
    field_varint(&mut vt, 1, 1);
    field_varint(&mut vt, 2, 2);
    field_bytes(&mut p, 1, &vt);
    // sample: location_id [1, 2], value [7], label {key 5 "worker", str 6 "w 1"}
    let mut s = Vec::new();
    if packed {
        let mut ids = Vec::new();
        varint(&mut ids, 1);
        varint(&mut ids, 2);
        field_bytes(&mut s, 1, &ids);
        let mut vals = Vec::new();
        varint(&mut vals, 7);
        field_bytes(&mut s, 2, &vals);
    } else {
        field_varint(&mut s, 1, 1);
        field_varint(&mut s, 1, 2);
        field_varint(&mut s, 2, 7);
    }
    let mut l = Vec::new();
    field_varint(&mut l, 1, 5);
    field_varint(&mut l, 2, 6);
    field_bytes(&mut s, 3, &l);
    field_bytes(&mut p, 2, &s);
    // location 1: two lines (inlined leaf first), location 2: one line
    let line = |f: u64, n: u64| {
        let mut b = Vec::new();
        field_varint(&mut b, 1, f);
        field_varint(&mut b, 2, n);
        b
    };
    let mut loc = Vec::new();
    field_varint(&mut loc, 1, 1);
    field_bytes(&mut loc, 4, &line(1, 10));
    field_bytes(&mut loc, 4, &line(2, 20));
    field_bytes(&mut p, 4, &loc);
    let mut loc = Vec::new();
    field_varint(&mut loc, 1, 2);
    field_bytes(&mut loc, 4, &line(3, 30));
    field_bytes(&mut p, 4, &loc);
    // functions 1..3: names 3 "main.leaf", 7 "main.caller", 8 "main.root"; file 4 "C:\\a\\m.go"
    for (id, name) in [(1, 3), (2, 7), (3, 8)] {
        let mut f = Vec::new();
        field_varint(&mut f, 1, id);
        field_varint(&mut f, 2, name);
        field_varint(&mut f, 4, 4);
        field_bytes(&mut p, 5, &f);
    }
    for s in ["", "goroutine", "count", "main.leaf", "C:\\a\\m.go", "worker", "w 1", "main.caller", "main.root"] {
        field_bytes(&mut p, 6, s.as_bytes());
    }
    p
}

#[test]
fn proto_packed_and_unpacked_repeated_fields() {
    let packed = parse_goroutine_proto(&hand_built_profile(true), LIMIT, None).unwrap();
    let unpacked = parse_goroutine_proto(&hand_built_profile(false), LIMIT, None).unwrap();
    assert_eq!(packed, unpacked);
    assert_eq!(unpacked.total, 7);
    let g = &unpacked.groups.get(0).unwrap();
    let names: Vec<&str> = g.frames().iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["main.leaf", "main.caller", "main.root"]);
    assert_eq!(g.frames()[0], Frame::new("main.leaf", "C:\\a\\m.go", 10));
    assert_eq!(g.labels().get("worker").unwrap(), "w 1");
    // gzipped the same
    assert_eq!(parse_goroutine_proto(&gzip(&hand_built_profile(false)), LIMIT, None).unwrap(), unpacked);
}

#[test]
fn proto_hostile_values() {
    // Out-of-range string indexes, unknown location ids, negative values: no panic.
    let mut p = Vec::new();
    let mut vt = Vec::new();
    field_varint(&mut vt, 1, 1);
    field_bytes(&mut p, 1, &vt);
    let mut s = Vec::new();
    field_varint(&mut s, 1, 99);
    field_varint(&mut s, 2, (-5i64) as u64);
    let mut l = Vec::new();
    field_varint(&mut l, 1, 1000);
    field_varint(&mut l, 2, (-1i64) as u64);
    field_bytes(&mut s, 3, &l);
    field_bytes(&mut p, 2, &s);
    field_bytes(&mut p, 6, b"");
    field_bytes(&mut p, 6, b"goroutine");
    let g = parse_goroutine_proto(&p, LIMIT, None).unwrap();
    assert_eq!(g.total, 0);
    assert!(g.groups.get(0).unwrap().frames().is_empty());
    // A length prefix far beyond the input must not allocate or panic.
    let mut big = Vec::new();
    varint(&mut big, 2 << 3 | 2);
    varint(&mut big, u64::MAX >> 1);
    assert_eq!(parse_goroutine_proto(&big, LIMIT, None).unwrap_err().reason(), "BadProto");
}

// --- synthetic debug=2 ---------------------------------------------------------------------

const SYNTH: &str = "goroutine 1 [running]:
main.main()
\tC:/Users/dev/app/main.go:12 +0x1d

goroutine 7 [chan receive, 45 minutes]:
main.worker(0xc000010000, {0x0?, 0x0?})
\tC:\\Users\\dev\\app\\worker.go:28 +0x71
created by main.start
\tC:\\Users\\dev\\app\\main.go:20 +0x51

goroutine 8 [chan receive]:
main.worker(0xc000010100, {0x1?, 0x0?})
\tC:\\Users\\dev\\app\\worker.go:28 +0x71
created by main.start
\tC:\\Users\\dev\\app\\main.go:20 +0x51

goroutine 9 [chan receive, 3 minutes]:
main.worker(0xc000010200, {0x1?, 0x0?})
\tC:\\Users\\dev\\app\\worker.go:28 +0x71
created by main.start
\tC:\\Users\\dev\\app\\main.go:20 +0x51

goroutine 10 [waiting on a brand new thing, 2 minutes, locked to thread]:
main.deep(...)
\t/app/deep.go:5
...12 frames elided...
main.top()
\t/app/deep.go:99 +0x10
created by main.spawn in goroutine 1
\t/app/main.go:30 +0x2a
[originating from goroutine 1]:
main.spawn(...)
\t/app/main.go:30 +0x2a
";

#[test]
fn synthetic_debug2_edge_cases() {
    let p = parse_goroutine_debug2(SYNTH.as_bytes()).unwrap();
    assert_eq!(p.total, 5);
    assert_eq!(p.groups.len(), 3);
    let main = &p.groups.get(0).unwrap();
    assert_eq!(*main.frames(), [Frame::new("main.main", "C:/Users/dev/app/main.go", 12)]);
    let workers = &p.groups.get(1).unwrap();
    assert_eq!(workers.count(), 3);
    assert_eq!(workers.goids(), [7, 8, 9]);
    assert_eq!(workers.wait_minutes_max(), Some(45));
    assert_eq!(workers.wait_minutes_min(), Some(0));
    assert_eq!(workers.frames()[0].file, "C:\\Users\\dev\\app\\worker.go");
    assert_eq!(workers.frames()[0].line, 28);
    assert_eq!(workers.parent_goid(), None, "old `created by` form has no parent id");
    assert_eq!(workers.created_by().as_ref().unwrap().function, "main.start");
    let odd = &p.groups.get(2).unwrap();
    assert_eq!(odd.state(), Some("waiting on a brand new thing"));
    assert!(odd.locked_to_thread() && odd.frames_elided());
    assert_eq!(odd.wait_minutes_max(), Some(2));
    assert_eq!(odd.parent_goid(), Some(1));
    let names: Vec<&str> = odd.frames().iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["main.deep", "main.top"], "ancestor frames are not the stack");

    // CRLF line endings give the same result.
    let crlf = SYNTH.replace('\n', "\r\n");
    assert_eq!(parse_goroutine_debug2(crlf.as_bytes()).unwrap(), p);
}

#[test]
fn truncated_debug2() {
    for cut in [40, 150, 300, SYNTH.len() - 10] {
        let t = parse_traceback(&SYNTH.as_bytes()[..cut]).unwrap();
        assert!(t.truncated, "cut {cut}");
        assert_eq!(t.profile.sum_of_groups(), t.profile.total);
        // a cut line never becomes a frame with a wrong line number
        for g in &t.profile.groups {
            for f in g.frames() {
                assert!([12, 28, 5, 99].contains(&f.line), "cut {cut}: {f:?}");
            }
        }
    }
    let whole = parse_traceback(SYNTH.as_bytes()).unwrap();
    assert!(!whole.truncated);
}

#[test]
fn goids_capped_per_group() {
    let mut s = String::new();
    for id in 1..=100 {
        s.push_str(&format!("goroutine {id} [select]:\nmain.loop()\n\t/app/main.go:3 +0x1\n\n"));
    }
    let p = parse_goroutine_debug2(s.as_bytes()).unwrap();
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups.get(0).unwrap().count(), 100);
    assert_eq!(p.groups.get(0).unwrap().goids().len(), GOIDS_PER_GROUP);
    assert_eq!(p.groups.get(0).unwrap().goids()[0], 1);
}

#[test]
fn labels_split_groups() {
    let s = "goroutine 1 [select] {w: a}:\nmain.f()\n\t/m.go:1 +0x1\n\n\
             goroutine 2 [select] {w: b}:\nmain.f()\n\t/m.go:1 +0x1\n\n\
             goroutine 3 [select] {w: a}:\nmain.f()\n\t/m.go:1 +0x1\n";
    let p = parse_goroutine_debug2(s.as_bytes()).unwrap();
    let by: BTreeMap<String, u64> =
        p.groups.iter().map(|g| (g.labels().get("w").unwrap().to_string(), g.count())).collect();
    assert_eq!(by, BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 1)]));
}

#[test]
fn fatal_error_traceback() {
    let s = "fatal error: all goroutines are asleep - deadlock!\n\n\
             goroutine 1 [chan receive]:\nmain.main()\n\t/app/main.go:5 +0x2d\nexit status 2\n";
    let t = parse_traceback(s.as_bytes()).unwrap();
    assert_eq!(t.panic_message.as_deref(), Some("fatal error: all goroutines are asleep - deadlock!"));
    assert_eq!(t.profile.total, 1);
    assert_eq!(t.profile.groups.get(0).unwrap().frames().len(), 1);
}

#[test]
fn debug1_crlf_and_truncation() {
    let text = fixture("go1.26", "goroutine-debug1.txt");
    let p = parse_goroutine_debug1(&text).unwrap();
    let crlf = String::from_utf8(text.clone()).unwrap().replace('\n', "\r\n");
    assert_eq!(parse_goroutine_debug1(crlf.as_bytes()).unwrap(), p);
    // Truncated: header total stays, parsed groups are what was there.
    let cut = parse_goroutine_debug1(&text[..text.len() / 2]).unwrap();
    assert_eq!(cut.total, p.total);
    assert!(cut.sum_of_groups() <= p.total);
    assert!(parse_goroutine_debug1(b"goroutine profile: total x\n").is_err());
    assert_eq!(parse_goroutine_debug1(b"goroutine profile: total 3\nabc @ 0x1\n").unwrap_err().reason(), "Malformed");
}

#[test]
fn reasons_are_stable() {
    let all = [
        ParseError::NotAProfile { found: "x".into() },
        ParseError::TooLarge { limit: 1 },
        ParseError::Gzip("x".into()),
        ParseError::Proto("x".into()),
        ParseError::Malformed { format: "f", line: 1, message: "m".into() },
        ParseError::WrongKind { expected: "a", found: "b".into() },
        ParseError::ProfileTooComplex { what: "samples", limit: 1 },
    ];
    let reasons: Vec<&str> = all.iter().map(ParseError::reason).collect();
    assert_eq!(
        reasons,
        ["NotAProfile", "TooLarge", "BadGzip", "BadProto", "Malformed", "WrongKind", "ProfileTooComplex"]
    );
}

#[test]
fn parse_with_options() {
    let data = fixture("go1.27", "mutex.pb.gz");
    let mut opts = ParseOptions::new(LIMIT);
    opts.contention_kind = Some(ContentionKind::Block);
    let Ok(Profile::Contention(c)) = parse_with(&data, &opts) else { panic!() };
    assert_eq!(c.kind, ContentionKind::Block);
    let mut opts = ParseOptions::new(LIMIT);
    opts.leak_profile = Some(true);
    // debug=1 from the goroutine endpoint, caller says leak: profile and groups follow
    let Ok(Profile::Goroutine(g)) = parse_with(&fixture("go1.27", "goroutine-debug1.txt"), &opts) else { panic!() };
    assert!(g.leak_profile && g.groups.iter().all(|g| g.leaked()));
    // a goroutineleak?debug=2 dump keeps its per-goroutine markers
    let Ok(Profile::Goroutine(g)) = parse_with(&fixture("go1.27", "goroutineleak-debug2.txt"), &opts) else { panic!() };
    assert!(!g.leak_profile);
    assert_eq!(g.groups.iter().filter(|g| g.leaked()).map(|g| g.count()).sum::<u64>(), 10);
    assert!(g.groups.iter().any(|g| !g.leaked()));
    opts.leak_profile = Some(false);
    let Ok(Profile::Goroutine(g)) = parse_with(&fixture("go1.27", "goroutineleak.pb.gz"), &opts) else { panic!() };
    assert!(!g.leak_profile && g.groups.iter().all(|g| !g.leaked()));
}

#[test]
fn huge_counts_saturate() {
    // found by the debug1 fuzz target: record counts near u64::MAX overflowed the sum
    let s = "goroutine profile: total 21\n\
             18446744073709551615 @ 0x1\n#\t0x1\tmain.a+0x1\t/m.go:1\n\n\
             18446744073709551615 @ 0x2\n#\t0x2\tmain.b+0x1\t/m.go:2\n";
    let p = parse_goroutine_debug1(s.as_bytes()).unwrap();
    assert_eq!(p.sum_of_groups(), u64::MAX);
}

#[test]
fn frame_json_shape_is_plain_strings() {
    let f = Frame::new("main.(*Server).loop", "/src/app/server.go", 42);
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v, serde_json::json!({"function": "main.(*Server).loop", "file": "/src/app/server.go", "line": 42}));
    let back: Frame = serde_json::from_value(v).unwrap();
    assert_eq!(back, f);
    assert_eq!(format!("{:?}", f.function), "\"main.(*Server).loop\"");
    assert!(f.function == "main.(*Server).loop" && f.file.ends_with("server.go"));
}

#[test]
fn proto_frames_share_function_strings() {
    // Every sample of a profile points at the same few functions: their frames share strings.
    let p = parse_goroutine_proto(&fixture("go1.27", "goroutine.pb.gz"), 1 << 30, None).unwrap();
    let gopark: Vec<&Frame> =
        p.groups.iter().flat_map(|g| g.frames()).filter(|f| f.function == "runtime.gopark").collect();
    assert!(gopark.len() > 1, "{gopark:?}");
    assert!(gopark.windows(2).all(|w| std::ptr::eq(w[0].function.as_ptr(), w[1].function.as_ptr())));
}

#[test]
fn samples_share_one_stack_allocation() {
    // proto: a second sample with the same location ids and no labels
    let mut p = hand_built_profile(true);
    let mut s = Vec::new();
    let mut ids = Vec::new();
    varint(&mut ids, 1);
    varint(&mut ids, 2);
    field_bytes(&mut s, 1, &ids);
    field_varint(&mut s, 2, 3);
    field_bytes(&mut p, 2, &s);
    let g = parse_goroutine_proto(&p, LIMIT, None).unwrap().groups;
    assert_eq!(g.len(), 2);
    assert_eq!(g.get(0).unwrap().frames().len(), 3);
    assert!(Stack::ptr_eq(g.get(0).unwrap().frames(), g.get(1).unwrap().frames()), "one stack for both samples");
    assert_eq!((g.get(0).unwrap().labels().len(), g.get(1).unwrap().labels().len()), (1, 0));

    // debug=1: same frames, different labels; same labels on two stacks
    let d1 = "goroutine profile: total 6\n\
              1 @ 0x1 0x2\n# labels: {\"w\":\"a\"}\n#\t0x1\tmain.f+0x1\t/m.go:1\n#\t0x2\tmain.g+0x1\t/m.go:2\n\n\
              2 @ 0x1 0x2\n# labels: {\"w\":\"b\"}\n#\t0x1\tmain.f+0x1\t/m.go:1\n#\t0x2\tmain.g+0x1\t/m.go:2\n\n\
              3 @ 0x3\n# labels: {\"w\":\"a\"}\n#\t0x3\tmain.h+0x1\t/m.go:3\n\n";
    let g = parse_goroutine_debug1(d1.as_bytes()).unwrap().groups;
    assert_eq!(g.len(), 3);
    assert!(Stack::ptr_eq(g.get(0).unwrap().frames(), g.get(1).unwrap().frames()));
    assert!(!Stack::ptr_eq(g.get(0).unwrap().frames(), g.get(2).unwrap().frames()));
    assert_eq!(g.get(2).unwrap().frames()[0], Frame::new("main.h", "/m.go", 3));
    assert!(
        Labels::ptr_eq(&g.get(0).unwrap().labels(), &g.get(2).unwrap().labels())
            && g.get(0).unwrap().labels().get("w").unwrap() == "a"
            && g.get(1).unwrap().labels().get("w").unwrap() == "b"
    );

    // debug=2: two groups (states differ) with one stack
    let d2 = "goroutine 1 [select]:\nmain.f()\n\t/m.go:1 +0x1\n\n\
              goroutine 2 [chan receive]:\nmain.f()\n\t/m.go:1 +0x1\n";
    let g = parse_goroutine_debug2(d2.as_bytes()).unwrap().groups;
    assert_eq!(g.len(), 2);
    assert!(Stack::ptr_eq(g.get(0).unwrap().frames(), g.get(1).unwrap().frames()));
}

#[test]
fn model_sizes() {
    use std::mem::size_of;
    // A stack is one (fat) pointer, labels a pointer or a table and a set number; the empty
    // ones allocate nothing.
    assert_eq!(size_of::<Stack>(), 16);
    assert_eq!(size_of::<Labels>(), 24);
    assert_eq!(size_of::<Frame>(), 40);
    // Profiles keep groups in columns (count, stack, label set, flags: 17 bytes a group), not
    // as the 184-byte owned `GoroutineGroup` (most of it debug=2-only fields).
    assert!(size_of::<GoroutineGroup>() <= 192, "{}", size_of::<GoroutineGroup>());
    assert!(Stack::default().is_empty() && Labels::default().is_empty());
}

#[test]
fn stack_and_labels_json_is_a_plain_array_and_object() {
    let g = GoroutineGroup {
        count: 2,
        frames: vec![Frame::new("main.f", "/m.go", 1)].into(),
        labels: Labels::from_pairs(vec![
            ("w".into(), "old".into()),
            ("a".into(), "1".into()),
            ("w".into(), "b".into()),
        ]),
        ..Default::default()
    };
    let before_frames = vec![Frame::new("main.f", "/m.go", 1)];
    let before_labels = BTreeMap::from([("a".to_string(), "1".to_string()), ("w".to_string(), "b".to_string())]);
    assert_eq!(g.labels, before_labels, "sorted by key, a repeated key keeps its last value");
    let json = serde_json::to_string(&g).unwrap();
    assert!(
        json.contains(r#""frames":[{"function":"main.f","file":"/m.go","line":1}],"createdBy":null,"parentGoid":null,"labels":{"a":"1","w":"b"},"#),
        "{json}"
    );
    assert_eq!(serde_json::to_value(&g.frames).unwrap(), serde_json::to_value(&before_frames).unwrap());
    assert_eq!(serde_json::to_value(&g.labels).unwrap(), serde_json::to_value(&before_labels).unwrap());
    let back: GoroutineGroup = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    assert_eq!(serde_json::to_string(&GoroutineGroup::default()).unwrap().matches("[]").count(), 2);
    assert!(serde_json::to_string(&GoroutineGroup::default()).unwrap().contains(r#""labels":{}"#));
    assert_eq!(g.labels.get("w"), Some("b"));
    assert_eq!(g.labels.get("x"), None);
    assert_eq!(g.labels.iter().collect::<Vec<_>>(), [("a", "1"), ("w", "b")]);
    assert_eq!(g.labels.to_map(), before_labels);
}

// ---- bounded parsing (issue 10) and pasted profiles (issue 13) ----

fn too_complex(r: Result<impl std::fmt::Debug, ParseError>) -> ParseError {
    let e = r.expect_err("must be refused");
    assert_eq!(e.reason(), "ProfileTooComplex", "{e}");
    e
}

#[test]
fn identical_proto_samples_are_one_group() {
    use hostile::gzip;
    // 10 samples with the same stack and no labels, then 2 with the same label
    let mut p = hand_built_profile(true);
    for (n, label) in [(10, None), (2, Some(5u64)), (3, Some(5))] {
        for _ in 0..n {
            let mut s = Vec::new();
            let mut ids = Vec::new();
            varint(&mut ids, 1);
            varint(&mut ids, 2);
            field_bytes(&mut s, 1, &ids);
            field_varint(&mut s, 2, 1);
            if let Some(v) = label {
                let mut l = Vec::new();
                field_varint(&mut l, 1, 4);
                field_varint(&mut l, 2, v);
                field_bytes(&mut s, 3, &l);
            }
            field_bytes(&mut p, 2, &s);
        }
    }
    let base = parse_goroutine_proto(&hand_built_profile(true), LIMIT, None).unwrap();
    let g = parse_goroutine_proto(&gzip(&p), LIMIT, None).unwrap();
    assert_eq!(g.groups.len(), base.groups.len() + 2, "{:#?}", g.groups);
    let unlabelled: Vec<_> = g.groups.iter().filter(|g| g.labels().is_empty()).collect();
    assert_eq!(unlabelled.len(), 1);
    assert_eq!(unlabelled[0].count(), 10);
    assert_eq!(g.total, base.total + 15);
    assert_eq!(g.sum_of_groups(), g.total);
}

#[test]
fn identical_debug1_records_are_one_group() {
    let rec = "1 @ 0x1\n#\t0x1\tmain.f+0x1\t/m.go:1\n\n";
    let text = format!("goroutine profile: total 10\n{}", rec.repeat(10));
    let p = parse_goroutine_debug1(text.as_bytes()).unwrap();
    assert_eq!(p.groups.len(), 1);
    assert_eq!((p.groups.get(0).unwrap().count(), p.total), (10, 10));
}

#[test]
fn amplification_proto_is_refused() {
    // 3,000 distinct 1,000-frame stacks: 3M frames, over MAX_STACK_FRAMES (the example writes
    // the full 30,000-sample shape)
    let body = hostile::gzip(&hostile::amplification(3_000, 1_000));
    let e = too_complex(parse(&body, LIMIT));
    assert!(e.to_string().contains("frames"), "{e}");
    too_complex(parse_goroutine_proto(&body, LIMIT, None));
    // the same shape as debug=1 text
    too_complex(parse(&hostile::amplification_debug1(3_000, 1_000), LIMIT));
    // under the cap it parses, every stack distinct
    let p = parse_goroutine_proto(&hostile::gzip(&hostile::amplification(100, 1_000)), LIMIT, None).unwrap();
    assert_eq!(p.groups.len(), 100);
    assert!(p.groups.iter().all(|g| g.frames().len() == 1_000 && !g.frames_elided()));
}

#[test]
fn deep_stacks_are_cut_at_the_runtime_maximum() {
    let p = parse_goroutine_proto(&hostile::gzip(&hostile::deep_stack(5_000)), LIMIT, None).unwrap();
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups.get(0).unwrap().frames().len(), limits::MAX_STACK_DEPTH);
    assert!(p.groups.get(0).unwrap().frames_elided());
    // innermost frames are kept
    assert_eq!(p.groups.get(0).unwrap().frames()[0].line, 1);
    let p = parse_goroutine_debug1(&hostile::deep_debug1(5_000)).unwrap();
    assert_eq!(p.groups.get(0).unwrap().frames().len(), limits::MAX_STACK_DEPTH);
    assert!(p.groups.get(0).unwrap().frames_elided());
    let p = parse_goroutine_debug2(&hostile::deep_debug2(5_000)).unwrap();
    assert_eq!(p.groups.get(0).unwrap().frames().len(), limits::MAX_TRACEBACK_FRAMES);
    assert!(p.groups.get(0).unwrap().frames_elided());
    assert_eq!(p.groups.get(0).unwrap().created_by().as_ref().map(|f| f.function.as_str()), Some("main.main"));
    // a stack at the maximum is not marked
    let p = parse_goroutine_proto(&hostile::deep_stack(1_024), LIMIT, None).unwrap();
    assert!(!p.groups.get(0).unwrap().frames_elided());
}

#[test]
fn distinct_label_values_over_the_cap_are_refused() {
    let n = limits::MAX_SAMPLES as u64 + 1;
    too_complex(parse(&hostile::gzip(&hostile::distinct_labels(n)), LIMIT));
    // under it: one group per label value, one shared stack
    let p = parse_goroutine_proto(&hostile::distinct_labels(1_000), LIMIT, None).unwrap();
    assert_eq!(p.groups.len(), 1_000);
    assert!(Stack::ptr_eq(p.groups.get(0).unwrap().frames(), p.groups.get(999).unwrap().frames()));
    // debug=1: label sets are capped as well
    let mut text = String::from("goroutine profile: total 1\n");
    for i in 0..=limits::MAX_LABEL_SETS {
        text.push_str(&format!("1 @ 0x1\n# labels: {{\"r\":\"{i}\"}}\n#\t0x1\tmain.f+0x1\t/m.go:1\n\n"));
    }
    too_complex(parse_goroutine_debug1(text.as_bytes()));
}

#[test]
fn megabyte_names_are_refused() {
    let e = too_complex(parse(&hostile::gzip(&hostile::long_names(2, 1 << 20)), LIMIT));
    assert!(e.to_string().contains("bytes in one"), "{e}");
    let long = "x".repeat(limits::MAX_NAME_BYTES + 1);
    let d1 = format!("goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.{long}+0x1\t/m.go:1\n");
    too_complex(parse_goroutine_debug1(d1.as_bytes()));
    let d2 = format!("goroutine 1 [running]:\nmain.{long}()\n\t/m.go:1 +0x1\n");
    too_complex(parse_goroutine_debug2(d2.as_bytes()));
    // names up to the cap are kept whole
    let p = parse_goroutine_proto(&hostile::long_names(2, 1 << 10), LIMIT, None).unwrap();
    assert_eq!(p.groups.get(0).unwrap().frames()[0].function.len(), 1 << 10);
}

#[test]
fn invalid_utf8_names_are_replaced() {
    let p = parse_goroutine_proto(&hostile::gzip(&hostile::invalid_utf8()), LIMIT, None).unwrap();
    let f = &p.groups.get(0).unwrap().frames();
    assert_eq!(f[0].function, "main.\u{fffd}(bad");
    assert_eq!(f[0].file, "/app/\u{fffd}\u{fffd}main.go");
    assert_eq!(f[1].function, "main.ok");
    assert_eq!(p.total, 3);
}

#[test]
fn every_hostile_kind_is_bounded_or_refused() {
    // the full-size shapes the example writes (the amplification one is ~57 MB inflated)
    for kind in hostile::Kind::ALL {
        let body = hostile::generate(kind);
        match parse(&body, LIMIT) {
            Ok(Profile::Goroutine(p)) => {
                let frames: usize = p.groups.iter().map(|g| g.frames().len()).sum();
                assert!(p.groups.len() <= limits::MAX_SAMPLES, "{kind:?}");
                assert!(p.groups.iter().all(|g| g.frames().len() <= limits::MAX_STACK_DEPTH), "{kind:?}");
                assert!(frames <= limits::MAX_STACK_FRAMES, "{kind:?}");
            }
            Ok(other) => panic!("{kind:?}: {other:?}"),
            Err(e) => assert_eq!(e.reason(), "ProfileTooComplex", "{kind:?}: {e}"),
        }
    }
}

fn pasted(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pasted").join(name)).unwrap()
}

#[test]
fn pasted_debug1_without_header() {
    let data = pasted("debug1-no-header.txt");
    assert_eq!(detect(&data), Ok(ProfileFormat::GoroutineDebug1));
    let p = parse_goroutine_debug1(&data).unwrap();
    assert_eq!(p.groups.len(), 2);
    assert_eq!(p.total, 4, "no header: the sum of the records");
    assert_eq!(p.groups.get(0).unwrap().labels().get("job").unwrap(), "resize");
    assert_eq!(p.groups.get(0).unwrap().frames()[0], Frame::new("main.(*Pool).wait", "/srv/pool/pool.go", 88));
    // mutex/block and heap records are not taken for headerless goroutine records
    assert_ne!(detect(b"1234 5 @ 0x1 0x2\n"), Ok(ProfileFormat::GoroutineDebug1));
    assert_ne!(detect(b"1: 2 [3: 4] @ 0x1\n"), Ok(ProfileFormat::GoroutineDebug1));
}

#[test]
fn pasted_debug1_with_spaces() {
    let p = parse_goroutine_debug1(&pasted("debug1-spaces.txt")).unwrap();
    assert_eq!(p.total, 5);
    assert_eq!(p.groups.len(), 2);
    assert_eq!(p.groups.get(0).unwrap().count(), 4);
    assert_eq!(p.groups.get(0).unwrap().frames()[1], Frame::new("main.worker", "/srv/pool/worker.go", 21));
    assert_eq!(
        p.groups.get(1).unwrap().frames()[0],
        Frame::new("net/http.(*Server).Serve", "/usr/local/go/src/net/http/server.go", 3360)
    );
}

#[test]
fn pasted_debug2_excerpt_without_final_newline() {
    let data = pasted("debug2-excerpt.txt");
    assert_eq!(detect(&data), Ok(ProfileFormat::GoroutineDebug2));
    let t = parse_traceback(&data).unwrap();
    assert!(!t.truncated);
    assert_eq!(t.profile.total, 2);
    assert_eq!(t.profile.groups.len(), 1, "same state, stack and creator");
    let g = &t.profile.groups.get(0).unwrap();
    assert_eq!((g.count(), g.wait_minutes_max()), (2, Some(12)));
    assert_eq!(g.created_by(), Some(&Frame::new("main.startWorkers", "/srv/pool/worker.go", 12)));
    // a last line cut inside the file name is still not trusted
    let cut = &data[..data.len() - 12];
    let t = parse_traceback(cut).unwrap();
    assert!(t.truncated);
    assert_eq!(t.profile.total, 1);
}

#[test]
fn pasted_debug2_with_spaces() {
    let p = parse_goroutine_debug2(&pasted("debug2-spaces.txt")).unwrap();
    assert_eq!(p.total, 2);
    let worker = p.groups.iter().find(|g| g.state() == Some("chan receive")).unwrap();
    assert_eq!(worker.frames()[0], Frame::new("main.(*Pool).wait", "/srv/pool/pool.go", 88));
    assert_eq!(worker.frames().len(), 2);
    assert_eq!(worker.created_by(), Some(&Frame::new("main.startWorkers", "/srv/pool/worker.go", 12)));
    let io = p.groups.iter().find(|g| g.state() == Some("IO wait")).unwrap();
    assert_eq!(io.frames()[1].file, "/usr/local/go/src/net/http/server.go");
}

// ---- the streaming goroutine proto decoder (issue 9) ----

#[test]
fn proto_fed_in_chunks_of_any_size_equals_one_piece() {
    // Every chunk size, including one byte at a time: fields cut anywhere, headers included.
    let plain = gunzip_limited(&fixture("go1.26", "goroutine.pb.gz"), LIMIT).unwrap().into_owned();
    let whole = parse_goroutine_proto(&plain, LIMIT, None).unwrap();
    for size in [1, 2, 3, 7, 64, 1000, plain.len()] {
        let mut d = Vec::new();
        let mut splitter = wire::Splitter::default();
        for chunk in plain.chunks(size) {
            splitter
                .feed(chunk, &mut |field, payload| {
                    d.push((field, payload.to_vec()));
                    Ok(())
                })
                .unwrap();
        }
        splitter.finish().unwrap();
        let mut again = Vec::new();
        for (field, payload) in &d {
            // re-encode each field as it was split: tag, length, payload
            varint(&mut again, u64::from(*field) << 3 | 2);
            varint(&mut again, payload.len() as u64);
            again.extend_from_slice(payload);
        }
        assert_eq!(parse_goroutine_proto(&again, LIMIT, None).unwrap(), whole, "chunk size {size}");
    }
    // A message cut in the middle of a field is refused, not read as a shorter profile.
    let cut = plain.get(..plain.len() - 1).unwrap();
    assert_eq!(parse_goroutine_proto(cut, LIMIT, None).unwrap_err().reason(), "BadProto");
}

#[test]
fn proto_counts_beyond_u32_are_kept_exactly() {
    use hostile::gzip;
    let mut p = hand_built_profile(true);
    let big = u64::from(u32::MAX) + 5;
    for count in [big, 7, big] {
        let mut s = Vec::new();
        let mut ids = Vec::new();
        varint(&mut ids, 1);
        field_bytes(&mut s, 1, &ids);
        field_varint(&mut s, 2, count);
        field_bytes(&mut p, 2, &s);
    }
    let base = parse_goroutine_proto(&hand_built_profile(true), LIMIT, None).unwrap();
    let g = parse_goroutine_proto(&gzip(&p), LIMIT, None).unwrap();
    assert_eq!(g.total, base.total + 2 * big + 7);
    assert_eq!(g.sum_of_groups(), g.total);
    assert!(g.groups.iter().any(|x| x.count() == 2 * big + 7), "{:?}", g.groups);
}
