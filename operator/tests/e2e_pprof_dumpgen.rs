#![cfg(feature = "e2e")]
//! The pprof parsers on live dumps from `e2e/fleet`'s `dumpgen` (built by `e2e/fleet/build.sh`):
//! the same goroutines in proto, debug=1 and debug=2, checked against dumpgen's own site table
//! (`goroutine-N-sites.json`: per call site its state, labels, user path and goroutine count).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use gohealth_pprof::model::GoroutineProfile;
use gohealth_pprof::{self as pprof, ParseError};
use serde_json::Value;

const N: usize = 3000;

fn dumpgen() -> PathBuf {
    let cache = std::env::var_os("GOHEALTH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache"));
    let bin = cache.join("fleet/bin/dumpgen");
    assert!(bin.exists(), "{} missing: run e2e/fleet/build.sh", bin.display());
    bin
}

struct Dumps {
    proto: Vec<u8>,
    debug1: Vec<u8>,
    debug2: Vec<u8>,
    sites: Value,
}

fn dumps() -> Dumps {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(dumpgen()).args(["-goroutines", &N.to_string(), "-out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "dumpgen: {}", String::from_utf8_lossy(&out.stderr));
    let read = |suffix: &str| std::fs::read(dir.path().join(format!("goroutine-{N}{suffix}"))).unwrap();
    Dumps {
        proto: read(".pb.gz"),
        debug1: read("-debug1.txt"),
        debug2: read("-debug2.txt"),
        sites: serde_json::from_slice(&read("-sites.json")).unwrap(),
    }
}

fn parked(p: &GoroutineProfile) -> u64 {
    p.groups.iter().filter(|g| g.frames().iter().any(|f| f.function == "main.park")).map(|g| g.count()).sum()
}

fn labels(site: &Value) -> BTreeMap<String, String> {
    site["labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

#[test]
fn three_formats_agree_with_dumpgen_sites() -> Result<(), ParseError> {
    let d = dumps();
    let proto = pprof::parse_goroutine_proto(&d.proto, 256 << 20, None)?;
    let debug1 = pprof::parse_goroutine_debug1(&d.debug1)?;
    let dump = pprof::parse_traceback(&d.debug2)?;
    let debug2 = &dump.profile;
    assert!(!dump.truncated);

    let expected_parked = d.sites["goroutines_parked"].as_u64().unwrap();
    assert_eq!(expected_parked, N as u64);
    for (name, p) in [("proto", &proto), ("debug1", &debug1), ("debug2", debug2)] {
        assert_eq!(p.sum_of_groups(), p.total, "{name}");
        assert_eq!(parked(p), expected_parked, "{name}");
    }
    // All goroutines are parked while the three are written: the totals agree.
    assert_eq!(proto.total, debug1.total);
    assert_eq!(debug2.total, debug1.total);

    let sites = d.sites["sites"].as_array().unwrap();
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for site in sites {
        let count = site["count"].as_u64().unwrap();
        let state = site["state"].as_str().unwrap().to_string();
        *by_state.entry(state).or_default() += count;
        let path: Vec<&str> = site["path"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let want = labels(site);
        if want.is_empty() {
            continue;
        }
        // Labelled sites are unique by their labels in debug=1 and proto.
        for (name, p) in [("proto", &proto), ("debug1", &debug1)] {
            let groups: Vec<_> = p.groups.iter().filter(|g| g.labels() == want).collect();
            assert_eq!(groups.iter().map(|g| g.count()).sum::<u64>(), count, "{name} site {}", site["id"]);
            for g in groups {
                for f in &path {
                    assert!(g.frames().iter().any(|fr| fr.function == *f), "{name}: {f} not in {:?}", g.frames());
                }
            }
        }
    }
    // debug=2 (Go 1.26: no labels in headers) has the wait reasons.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for g in &debug2.groups {
        if g.frames().iter().any(|f| f.function == "main.park") {
            *seen.entry(g.state().unwrap_or_default().to_string()).or_default() += g.count();
        }
    }
    assert_eq!(seen, by_state);
    Ok(())
}
