//! Hostile profiles, built here so the parser's tests, the `gen_hostile` example and the
//! operator's hostile-target e2e use the same bytes. Each one is a well-formed profile shaped to
//! cost a naive parser far more than its size: the parsers must answer each with a bounded
//! parse or [`ParseError::ProfileTooComplex`](super::ParseError::ProfileTooComplex).
//!
//! The proto kinds are written with a small streaming encoder (no per-sample vectors), so even
//! the 57 MB amplification message is generated in well under a second.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// What [`generate`] can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// goroutine profile.proto, ~57 MB inflated: 30,000 samples, each with its own 1,000-frame
    /// stack (999 shared frames under one distinct leaf).
    Amplification,
    /// goroutine profile.proto with one 100,000-frame stack (the runtime stops at 1,024).
    DeepStack,
    /// goroutine profile.proto with 2,000,000 samples, each with its own label value.
    DistinctLabels,
    /// goroutine profile.proto whose function names are 1 MiB each.
    LongNames,
    /// goroutine profile.proto whose function and file names are not UTF-8.
    InvalidUtf8,
    /// goroutine debug=1 text with one 100,000-frame record.
    DeepDebug1,
    /// goroutine debug=2 text with one goroutine of 100,000 frames.
    DeepDebug2,
    /// goroutine debug=1 text under the 64 MiB body cap: 1,300 records with distinct
    /// 1,000-frame stacks (~61 MB; a frame line is ~47 bytes, so text amplifies far less).
    AmplificationDebug1,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Amplification,
        Kind::DeepStack,
        Kind::DistinctLabels,
        Kind::LongNames,
        Kind::InvalidUtf8,
        Kind::DeepDebug1,
        Kind::DeepDebug2,
        Kind::AmplificationDebug1,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Amplification => "amplification",
            Kind::DeepStack => "deep-stack",
            Kind::DistinctLabels => "distinct-labels",
            Kind::LongNames => "long-names",
            Kind::InvalidUtf8 => "invalid-utf8",
            Kind::DeepDebug1 => "deep-debug1",
            Kind::DeepDebug2 => "deep-debug2",
            Kind::AmplificationDebug1 => "amplification-debug1",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The body a target would serve: gzipped profile.proto, or plain text.
pub fn generate(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Amplification => gzip(&amplification(30_000, 1_000)),
        Kind::DeepStack => gzip(&deep_stack(100_000)),
        Kind::DistinctLabels => gzip(&distinct_labels(2_000_000)),
        Kind::LongNames => gzip(&long_names(8, 1 << 20)),
        Kind::InvalidUtf8 => gzip(&invalid_utf8()),
        Kind::DeepDebug1 => deep_debug1(100_000),
        Kind::DeepDebug2 => deep_debug2(100_000),
        Kind::AmplificationDebug1 => amplification_debug1(1_300, 1_000),
    }
}

/// Gzip as Go's pprof handler does (default level).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    // writing to a Vec cannot fail
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// A minimal protobuf writer for the fields of profile.proto these shapes use.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn uint(&mut self, field: u32, v: u64) {
        self.varint(u64::from(field) << 3);
        self.varint(v);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint(u64::from(field) << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn packed(&mut self, field: u32, vs: impl Iterator<Item = u64> + Clone) {
        let mut body = Enc::default();
        for v in vs {
            body.varint(v);
        }
        self.bytes(field, &body.0);
    }
}

/// profile.proto pieces: string table, sample type, functions, one-line locations.
struct Builder {
    msg: Enc,
    strings: Vec<Vec<u8>>,
}

impl Builder {
    fn goroutine() -> Self {
        let mut b = Builder { msg: Enc::default(), strings: vec![Vec::new()] };
        let (t, u) = (b.string(b"goroutine"), b.string(b"count"));
        let mut vt = Enc::default();
        vt.uint(1, t);
        vt.uint(2, u);
        b.msg.bytes(1, &vt.0);
        b
    }

    fn string(&mut self, s: &[u8]) -> u64 {
        self.strings.push(s.to_vec());
        self.strings.len() as u64 - 1
    }

    fn function(&mut self, id: u64, name: u64, file: u64) {
        let mut f = Enc::default();
        f.uint(1, id);
        f.uint(2, name);
        f.uint(4, file);
        self.msg.bytes(5, &f.0);
    }

    fn location(&mut self, id: u64, function: u64, line: u64) {
        let mut l = Enc::default();
        l.uint(1, function);
        l.uint(2, line);
        let mut loc = Enc::default();
        loc.uint(1, id);
        loc.bytes(4, &l.0);
        self.msg.bytes(4, &loc.0);
    }

    /// One sample: location ids, count, optional (key, value) string label.
    fn sample(&mut self, locations: impl Iterator<Item = u64> + Clone, count: u64, label: Option<(u64, u64)>) {
        let mut s = Enc::default();
        s.packed(1, locations);
        s.packed(2, std::iter::once(count));
        if let Some((k, v)) = label {
            let mut l = Enc::default();
            l.uint(1, k);
            l.uint(2, v);
            s.bytes(3, &l.0);
        }
        self.msg.bytes(2, &s.0);
    }

    fn finish(mut self) -> Vec<u8> {
        for s in std::mem::take(&mut self.strings) {
            self.msg.bytes(6, &s);
        }
        self.msg.0
    }
}

/// `samples` samples, each with a distinct leaf over the same `depth - 1` frames.
pub fn amplification(samples: u64, depth: u64) -> Vec<u8> {
    let mut b = Builder::goroutine();
    let file = b.string(b"/app/main.go");
    let recurse = b.string(b"main.recurse");
    let leaf = b.string(b"main.leaf");
    b.function(1, recurse, file);
    b.function(2, leaf, file);
    // shared frames: ids 1..depth-1 (lines 1..); leaves: ids depth.. (one per sample)
    for id in 1..depth {
        b.location(id, 1, id);
    }
    for i in 0..samples {
        b.location(depth + i, 2, i + 1);
    }
    for i in 0..samples {
        b.sample(std::iter::once(depth + i).chain(1..depth), 1, None);
    }
    b.finish()
}

/// One sample of `depth` distinct frames.
pub fn deep_stack(depth: u64) -> Vec<u8> {
    let mut b = Builder::goroutine();
    let file = b.string(b"/app/main.go");
    let name = b.string(b"main.recurse");
    b.function(1, name, file);
    for id in 1..=depth {
        b.location(id, 1, id);
    }
    b.sample(1..=depth, 1, None);
    b.finish()
}

/// `samples` samples on one 3-frame stack, each labelled `request_id=r<i>`.
pub fn distinct_labels(samples: u64) -> Vec<u8> {
    let mut b = Builder::goroutine();
    let file = b.string(b"/app/main.go");
    for (id, name) in [(1, &b"main.handle"[..]), (2, b"net/http.(*conn).serve"), (3, b"runtime.goexit")] {
        let n = b.string(name);
        b.function(id, n, file);
        b.location(id, id, 10 * id);
    }
    let key = b.string(b"request_id");
    for i in 0..samples {
        let v = b.string(format!("r{i}").as_bytes());
        b.sample(1..=3, 1, Some((key, v)));
    }
    b.finish()
}

/// `n` functions whose names are `len` bytes long, one sample through all of them.
pub fn long_names(n: u64, len: usize) -> Vec<u8> {
    let mut b = Builder::goroutine();
    let file = b.string(b"/app/main.go");
    for id in 1..=n {
        let mut name = format!("main.f{id}_").into_bytes();
        name.resize(len, b'x');
        let s = b.string(&name);
        b.function(id, s, file);
        b.location(id, id, id);
    }
    b.sample(1..=n, 1, None);
    b.finish()
}

/// Function and file names with bytes that are not UTF-8 (a Go string may hold any bytes).
pub fn invalid_utf8() -> Vec<u8> {
    let mut b = Builder::goroutine();
    let file = b.string(b"/app/\xff\xfemain.go");
    let f1 = b.string(b"main.\xc3\x28bad");
    let f2 = b.string(b"main.ok");
    b.function(1, f1, file);
    b.function(2, f2, file);
    b.location(1, 1, 7);
    b.location(2, 2, 9);
    b.sample([1u64, 2].into_iter(), 3, None);
    b.finish()
}

/// One debug=1 record of `depth` distinct frames.
pub fn deep_debug1(depth: u64) -> Vec<u8> {
    let mut out = b"goroutine profile: total 1\n1 @".to_vec();
    for i in 0..depth {
        out.extend(format!(" {:#x}", 0x40_0000 + i).as_bytes());
    }
    out.push(b'\n');
    for i in 0..depth {
        out.extend(format!("#\t{:#x}\tmain.recurse+0x1d\t\t/app/main.go:{}\n", 0x40_0000 + i, i + 1).as_bytes());
    }
    out.push(b'\n');
    out
}

/// One debug=2 goroutine of `depth` frames (more than the runtime ever prints).
pub fn deep_debug2(depth: u64) -> Vec<u8> {
    let mut out = b"goroutine 1 [running]:\n".to_vec();
    for i in 0..depth {
        out.extend(format!("main.recurse(...)\n\t/app/main.go:{} +0x1d\n", i + 1).as_bytes());
    }
    out.extend(b"created by main.main in goroutine 1\n\t/app/main.go:3 +0x25\n\n");
    out
}

/// `records` debug=1 records, each a distinct leaf over the same `depth - 1` frames.
pub fn amplification_debug1(records: u64, depth: u64) -> Vec<u8> {
    let mut shared = Vec::new();
    for i in 1..depth {
        shared.extend(format!("#\t{:#x}\tmain.recurse+0x1d\t\t/app/main.go:{i}\n", 0x40_0000 + i).as_bytes());
    }
    let mut out = format!("goroutine profile: total {records}\n").into_bytes();
    for r in 0..records {
        out.extend(format!("1 @ {:#x}\n", 0x50_0000 + r).as_bytes());
        out.extend(format!("#\t{:#x}\tmain.leaf+0x1\t\t/app/leaf.go:{}\n", 0x50_0000 + r, r + 1).as_bytes());
        out.extend_from_slice(&shared);
        out.push(b'\n');
    }
    out
}
