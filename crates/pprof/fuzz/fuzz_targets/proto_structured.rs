#![no_main]
//! Structure-aware profile.proto: libFuzzer's bytes drive an `Arbitrary` profile (small ids
//! and indexes, so references mostly resolve and the parser gets past decoding), encoded with
//! the crate's own prost types, then parsed plain and gzipped through every proto entry point.
//! Checks what must hold for any decodable goroutine profile: bounded stacks, groups summing
//! to the total.

use arbitrary::Arbitrary;
use gohealth_fuzz::pprof::{self, limits, proto::pb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
struct Sample {
    locations: Vec<u8>,
    values: Vec<i64>,
    labels: Vec<(u8, u8, Option<i64>)>,
}

#[derive(Arbitrary, Debug)]
struct Location {
    id: u8,
    lines: Vec<(u8, i16)>,
}

#[derive(Arbitrary, Debug)]
struct Function {
    id: u8,
    name: u8,
    file: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// index 0 of the type names below, or any string index
    kind: u8,
    extra_types: Vec<(u8, u8)>,
    samples: Vec<Sample>,
    locations: Vec<Location>,
    functions: Vec<Function>,
    strings: Vec<String>,
    gzip: bool,
}

const NAMES: [&str; 8] =
    ["goroutine", "goroutineleak", "contentions", "delay", "inuse_space", "alloc_space", "count", "nanoseconds"];

fn build(i: &Input) -> pb::Profile {
    let mut strings: Vec<String> = vec![String::new()];
    strings.extend(NAMES.iter().map(|s| s.to_string()));
    strings.extend(i.strings.iter().cloned());
    let idx = |v: u8| i64::from(v);
    let mut sample_type = vec![pb::ValueType { r#type: 1 + i64::from(i.kind % 8), unit: 7 }];
    sample_type.extend(i.extra_types.iter().map(|(t, u)| pb::ValueType { r#type: idx(*t), unit: idx(*u) }));
    pb::Profile {
        sample_type,
        sample: i
            .samples
            .iter()
            .map(|s| pb::Sample {
                location_id: s.locations.iter().map(|l| u64::from(*l)).collect(),
                value: s.values.clone(),
                label: s
                    .labels
                    .iter()
                    .map(|(k, v, n)| pb::Label {
                        key: idx(*k),
                        str: if n.is_some() { 0 } else { idx(*v) },
                        num: n.unwrap_or(0),
                        num_unit: 0,
                    })
                    .collect(),
            })
            .collect(),
        location: i
            .locations
            .iter()
            .map(|l| pb::Location {
                id: u64::from(l.id),
                line: l
                    .lines
                    .iter()
                    .map(|(f, n)| pb::Line { function_id: u64::from(*f), line: i64::from(*n), column: 0 })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        function: i
            .functions
            .iter()
            .map(|f| pb::Function {
                id: u64::from(f.id),
                name: idx(f.name),
                filename: idx(f.file),
                ..Default::default()
            })
            .collect(),
        string_table: strings,
        ..Default::default()
    }
}

fuzz_target!(|input: Input| {
    let mut bytes = build(&input).encode_to_vec();
    if input.gzip {
        bytes = pprof::hostile::gzip(&bytes);
    }
    if let Ok(p) = pprof::parse_goroutine_proto(&bytes, 1 << 20, None) {
        assert!(p.groups.len() <= limits::MAX_SAMPLES);
        assert!(p.groups.iter().all(|g| g.frames().len() <= limits::MAX_STACK_DEPTH));
        assert_eq!(p.sum_of_groups(), p.total);
    }
    let _ = pprof::parse_contention_proto(&bytes, 1 << 20, None);
    let _ = pprof::parse_heap_proto(&bytes, 1 << 20);
    let _ = pprof::parse(&bytes, 1 << 20);
});
