//! The layering, checked from the sources and Cargo.lock rather than trusted:
//! - `gohealth-pprof` depends (transitively, dev-dependencies included) on no kube, k8s-openapi,
//!   tokio, reqwest or hyper; `gohealth-core` on no kube client, k8s-openapi or network stack;
//! - no crate imports from one above it (pprof ← core ← operator);
//! - inside the operator, no module imports from a later step of the pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// package name → its dependencies' names, from Cargo.lock (every kind of dependency).
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let mut graph = BTreeMap::new();
    for block in text.split("[[package]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_string())
            .expect("package name");
        let mut deps = Vec::new();
        if let Some(list) = block.split("dependencies = [").nth(1).and_then(|r| r.split(']').next()) {
            for d in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
                // entries are "name" or "name version"
                let d = d.trim_end_matches(',').trim_matches('"');
                deps.push(d.split(' ').next().unwrap_or(d).to_string());
            }
        }
        graph.insert(name, deps);
    }
    graph
}

fn closure(graph: &BTreeMap<String, Vec<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn the_parser_and_the_core_pull_in_no_kubernetes_or_network_stack() {
    let graph = lock_graph();
    let forbidden = ["kube", "kube-client", "kube-runtime", "k8s-openapi", "tokio", "reqwest", "hyper", "axum"];
    for krate in ["gohealth-pprof", "gohealth-core"] {
        let deps = closure(&graph, krate);
        assert!(deps.len() > 3, "{krate} not found in Cargo.lock");
        let bad: Vec<_> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
        assert!(bad.is_empty(), "{krate} depends on {bad:?}");
    }
    assert!(!closure(&graph, "gohealth-pprof").contains("gohealth-core"), "pprof must not import the core");
    assert!(closure(&graph, "gohealth").contains("gohealth-core"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Top-level modules that `path` (a file under `src`) names with `crate::`.
fn crate_imports(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).expect("source");
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().to_string()).unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn operator_modules_never_import_a_later_step() {
    // The pipeline, bottom to top; a module may use its own rank or lower.
    let ranks: BTreeMap<&str, u8> = [
        ("crd", 0),
        ("selector", 0),
        ("validate", 1),
        ("dereference", 2),
        ("report", 2),
        ("scrape", 3),
        ("evaluate", 3),
        ("status", 3),
        ("metrics", 3),
        ("events", 4),
        ("state", 4),
        ("telemetry", 4),
        ("allocator", 4),
        ("leader", 4),
        ("shard", 4),
        ("cycle", 5),
        ("controller", 6),
        ("cli", 6),
        ("main", 7),
        ("lib", 7),
    ]
    .into();
    let src = root().join("operator/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for f in &files {
        let module = module_of(&src, f);
        let Some(&rank) = ranks.get(module.as_str()) else {
            panic!("{}: module {module} has no rank in this test; add it where it belongs", f.display());
        };
        for used in crate_imports(f) {
            let Some(&used_rank) = ranks.get(used.as_str()) else { continue };
            if used != module && used_rank > rank {
                violations.push(format!("{} ({module}) uses {used}", f.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports that run up a layer:\n{}", violations.join("\n"));
}

#[test]
fn the_core_never_names_the_shell_or_kubernetes() {
    for dir in ["crates/core/src", "crates/pprof/src"] {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            for word in ["kube::", "k8s_openapi", "gohealth::", "tokio::", "reqwest::"] {
                assert!(!text.contains(word), "{} names {word}", f.display());
            }
            if dir.contains("pprof") {
                assert!(!text.contains("gohealth_core"), "{} imports the core", f.display());
            }
        }
    }
}
