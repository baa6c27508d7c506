//! Criterion benchmarks of the pprof parsers on the captured fixtures, plus the big dumpgen
//! dumps when `bench/run.sh` has made them (`.cache/bench/dumps`, or `$GOHEALTH_BENCH_DUMPS`).
//!
//! `cargo bench --bench parse`; the cross-language comparison is `bench/run.sh`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gohealth_pprof as pprof;

const LIMIT: usize = 256 << 20;

fn read(path: &PathBuf) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("fixtures/go1.27");
    let dumps = std::env::var_os("GOHEALTH_BENCH_DUMPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../.cache/bench/dumps"));

    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for name in
        ["goroutine.pb.gz", "goroutine-debug1.txt", "goroutine-debug2.txt", "heap-debug1.txt", "block-debug1.txt"]
    {
        if let Some(d) = read(&fixtures.join(name)) {
            inputs.push((format!("fixture/{name}"), d));
        }
    }
    for n in [1000, 10000] {
        // `-unique`: dumpgen -unique-labels, one proto/debug=1 sample per goroutine
        for suffix in [".pb.gz", "-debug1.txt", "-debug2.txt", "-unique.pb.gz", "-unique-debug1.txt"] {
            let name = format!("goroutine-{n}{suffix}");
            if let Some(d) = read(&dumps.join(&name)) {
                inputs.push((format!("dumpgen/{name}"), d));
            }
        }
    }

    let mut group = c.benchmark_group("parse");
    group.sample_size(20);
    for (name, data) in &inputs {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name.as_str(), |b| b.iter(|| pprof::parse(black_box(data), LIMIT)));
    }
    group.finish();

    if let Some((_, data)) = inputs.iter().find(|(n, _)| n.ends_with("goroutine-debug2.txt")) {
        c.bench_function("detect/debug2", |b| b.iter(|| pprof::detect(black_box(data))));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
