//! profile.proto (`debug=0`) profiles: goroutine/goroutineleak, mutex/block and heap/allocs.
//!
//! The parsers decode with [`super::wire`] (zero-copy: strings borrowed from the input, repeated
//! fields in flat vectors). prost types generated from `operator/proto/profile.proto` by
//! `build.rs` stay available as [`pb`] / [`decode`] for callers that want the full message.
//! Both bound every length by the remaining input, so a hostile length prefix cannot make them
//! allocate.

use std::collections::BTreeMap;

use prost::Message;

use super::model::{
    ContentionKind, ContentionProfile, ContentionSite, Frame, GoroutineGroup, GoroutineProfile, HeapProfile, Profile,
    Sym,
};
use super::text::FxHashMap;
use super::wire;
use super::{ParseError, ParseOptions, gzip};

/// Generated from google/pprof `proto/profile.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/perftools.profiles.rs"));
}

/// Decodes a (gzipped or plain) profile.proto into the prost types, inflating at most `limit`
/// bytes. The parsers do not use it (see [`super::wire`]).
pub fn decode(data: &[u8], limit: usize) -> Result<pb::Profile, ParseError> {
    let plain = gzip::gunzip_limited(data, limit)?;
    let p = pb::Profile::decode(&plain[..]).map_err(|e| ParseError::Proto(e.to_string()))?;
    if p.string_table.first().is_some_and(|s| !s.is_empty()) {
        return Err(ParseError::Proto("string_table[0] is not empty".into()));
    }
    Ok(p)
}

fn decode_plain(data: &[u8]) -> Result<wire::Profile<'_>, ParseError> {
    let p = wire::decode(data)?;
    if p.strings.first().is_some_and(|s| !s.is_empty()) {
        return Err(ParseError::Proto("string_table[0] is not empty".into()));
    }
    Ok(p)
}

/// A non-empty decodable profile with sample types: used by detection of uncompressed bodies.
pub(super) fn is_plausible_profile(data: &[u8]) -> bool {
    match wire::decode(data) {
        Ok(p) => {
            p.strings.first().is_some_and(|s| s.is_empty())
                && !p.sample_types.is_empty()
                && p.sample_types.iter().all(|t| usize::try_from(t.r#type).is_ok_and(|i| i > 0 && i < p.strings.len()))
        }
        Err(_) => false,
    }
}

/// The kind of a decoded profile, from its sample types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Goroutine { leak: bool },
    Contention,
    Heap,
}

/// Id → position in its table. Go numbers functions and locations 1..n in order, so the
/// position usually is `id - 1`; anything else falls back to a map.
enum Index {
    Dense(usize),
    Sparse(FxHashMap<u64, usize>),
}

impl Index {
    fn new<T>(items: &[T], id: impl Fn(&T) -> u64) -> Self {
        if items.iter().enumerate().all(|(i, t)| id(t) == i as u64 + 1) {
            Index::Dense(items.len())
        } else {
            let mut m = FxHashMap::default();
            m.reserve(items.len());
            for (i, t) in items.iter().enumerate() {
                m.insert(id(t), i); // a duplicate id: the last one wins, as before
            }
            Index::Sparse(m)
        }
    }

    fn get(&self, id: u64) -> Option<usize> {
        match self {
            Index::Dense(n) => usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).filter(|i| i < n),
            Index::Sparse(m) => m.get(&id).copied(),
        }
    }
}

struct Tables<'a, 'p> {
    p: &'p wire::Profile<'a>,
    locations: Index,
    /// Frames of each location (its inlined lines, innermost first), by position in
    /// `p.locations`, built once: samples clone them, which for `Sym` strings is a reference
    /// count increment, not an allocation.
    location_frames: Vec<Vec<Frame>>,
}

impl<'a, 'p> Tables<'a, 'p> {
    fn new(p: &'p wire::Profile<'a>) -> Self {
        let functions = Index::new(&p.functions, |f| f.id);
        // One `Sym` per distinct string: functions share file names.
        let mut syms: FxHashMap<i64, Sym> = FxHashMap::default();
        let mut sym = |idx: i64| syms.entry(idx).or_insert_with(|| Sym::from(p.str(idx))).clone();
        let names: Vec<(Sym, Sym)> = p.functions.iter().map(|f| (sym(f.name), sym(f.filename))).collect();
        let unknown = sym(0);
        let location_frames = p
            .locations
            .iter()
            .map(|loc| {
                p.location_lines(loc)
                    .iter()
                    .map(|line| {
                        let (name, file) = functions
                            .get(line.function_id)
                            .and_then(|i| names.get(i))
                            .map_or_else(|| (unknown.clone(), unknown.clone()), |(n, f)| (n.clone(), f.clone()));
                        Frame { function: name, file, line: u32::try_from(line.line).unwrap_or(0) }
                    })
                    .collect()
            })
            .collect();
        Tables { p, locations: Index::new(&p.locations, |l| l.id), location_frames }
    }

    fn str(&self, idx: i64) -> &'a str {
        self.p.str(idx)
    }

    fn sample_type_names(&self) -> Vec<(&'a str, &'a str)> {
        self.p.sample_types.iter().map(|t| (self.str(t.r#type), self.str(t.unit))).collect()
    }

    fn kind(&self) -> Result<Kind, ParseError> {
        let types = self.sample_type_names();
        let has = |n: &str| types.iter().any(|(t, _)| *t == n);
        match types.first() {
            Some(("goroutine", _)) => Ok(Kind::Goroutine { leak: false }),
            Some(("goroutineleak", _)) => Ok(Kind::Goroutine { leak: true }),
            _ if has("contentions") && has("delay") => Ok(Kind::Contention),
            _ if has("inuse_space") || has("alloc_space") => Ok(Kind::Heap),
            _ => Err(ParseError::WrongKind {
                expected: "goroutine, mutex, block or heap",
                found: describe_types(&types),
            }),
        }
    }

    fn value_index(&self, name: &str) -> Option<usize> {
        self.p.sample_types.iter().position(|t| self.str(t.r#type) == name)
    }

    fn location(&self, id: u64) -> Option<&[Frame]> {
        self.locations.get(id).and_then(|i| self.location_frames.get(i)).map(Vec::as_slice)
    }

    /// Frames of one sample, innermost first (a location's inlined lines first); unknown ids
    /// are skipped.
    /// `ids`: scratch for the sample's location ids, reused across samples.
    fn frames(&self, sample: &wire::Sample<'_>, ids: &mut Vec<u64>) -> Vec<Frame> {
        self.p.sample_locations(sample, ids);
        // exact size (inlined lines included): growing would reallocate per sample
        let n: usize = ids.iter().filter_map(|id| self.location(*id)).map(<[Frame]>::len).sum();
        let mut out = Vec::with_capacity(n);
        for id in ids.iter() {
            if let Some(frames) = self.location(*id) {
                out.extend_from_slice(frames);
            }
        }
        out
    }

    fn string_labels(&self, sample: &wire::Sample<'_>) -> BTreeMap<String, String> {
        // Inserting directly: `collect` would buffer and sort first, costly for the 1-3
        // labels a sample has. A repeated key keeps the last value either way.
        let mut m = BTreeMap::new();
        for l in self.p.sample_labels(sample).iter().filter(|l| l.str != 0) {
            m.insert(self.str(l.key).to_string(), self.str(l.str).to_string());
        }
        m
    }
}

fn describe_types(types: &[(&str, &str)]) -> String {
    if types.is_empty() {
        return "a profile without sample types".into();
    }
    let t: Vec<String> = types.iter().map(|(t, u)| format!("{t}/{u}")).collect();
    format!("a profile with sample types {}", t.join(", "))
}

/// Negative values only occur in delta (`seconds=`) profiles; they mean "fewer than before".
fn non_negative(v: Option<&i64>) -> u64 {
    v.copied().map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn goroutines(t: &Tables<'_, '_>, leak: bool) -> GoroutineProfile {
    let idx = 0; // goroutine and goroutineleak profiles have exactly one value: the count
    // one group per sample; the samples are already in memory, so this is bounded by the input
    let mut groups = Vec::with_capacity(t.p.samples.len());
    let mut total: u64 = 0;
    let p = t.p;
    let mut ids = Vec::new();
    for s in &p.samples {
        let count = non_negative(p.sample_values(s).get(idx));
        total = total.saturating_add(count);
        groups.push(GoroutineGroup {
            count,
            leaked: leak,
            frames: t.frames(s, &mut ids),
            labels: t.string_labels(s),
            ..GoroutineGroup::default()
        });
    }
    GoroutineProfile { total, groups, leak_profile: leak }
}

fn contention(t: &Tables<'_, '_>, kind: Option<ContentionKind>) -> ContentionProfile {
    let ci = t.value_index("contentions").unwrap_or(0);
    let di = t.value_index("delay").unwrap_or(1);
    let p = t.p;
    let mut sites = Vec::with_capacity(p.samples.len());
    let mut ids = Vec::new();
    for s in &p.samples {
        let values = p.sample_values(s);
        sites.push(ContentionSite {
            count: non_negative(values.get(ci)),
            delay_ns: non_negative(values.get(di)),
            frames: t.frames(s, &mut ids),
        });
    }
    let kind = kind.unwrap_or_else(|| guess_contention_kind(&sites));
    ContentionProfile {
        kind,
        // Go writes `period: 1` whatever the rate/fraction (runtime/pprof printCountCycleProfile),
        // so the proto does not tell whether profiling is on: only `mutex?debug=1` does.
        sampling_period: None,
        sites,
    }
}

/// Mutex profiles record the unlocker's stack; block profiles the blocked one.
fn guess_contention_kind(sites: &[ContentionSite]) -> ContentionKind {
    let unlock = sites
        .iter()
        .any(|s| s.frames.first().is_some_and(|f| f.function.ends_with("Unlock") || f.function.ends_with(".unlock")));
    if unlock { ContentionKind::Mutex } else { ContentionKind::Block }
}

fn heap(t: &Tables<'_, '_>) -> HeapProfile {
    let p = t.p;
    let inuse = t
        .value_index("inuse_space")
        .map(|i| p.samples.iter().fold(0u64, |acc, s| acc.saturating_add(non_negative(p.sample_values(s).get(i)))));
    HeapProfile { mem_stats: None, inuse_bytes: inuse }
}

/// Any supported proto profile (already gunzipped), kind from its sample types.
pub(super) fn parse_proto(plain: &[u8], opts: &ParseOptions) -> Result<Profile, ParseError> {
    let p = decode_plain(plain)?;
    let t = Tables::new(&p);
    Ok(match t.kind()? {
        Kind::Goroutine { leak } => Profile::Goroutine(goroutines(&t, opts.leak_profile.unwrap_or(leak))),
        Kind::Contention => Profile::Contention(contention(&t, opts.contention_kind)),
        Kind::Heap => Profile::Heap(heap(&t)),
    })
}

/// `goroutine` / `goroutineleak` proto (gzipped or not). `leak_profile`: `Some` when the caller
/// knows the endpoint; `None` decides from the sample type (`goroutineleak/count`).
/// Groups are the proto's samples (one per stack + label set); `total` is the sum of counts.
pub fn parse_goroutine_proto(
    data: &[u8],
    limit: usize,
    leak_profile: Option<bool>,
) -> Result<GoroutineProfile, ParseError> {
    let plain = gzip::gunzip_limited(data, limit)?;
    let p = decode_plain(&plain)?;
    let t = Tables::new(&p);
    match t.kind()? {
        Kind::Goroutine { leak } => Ok(goroutines(&t, leak_profile.unwrap_or(leak))),
        _ => Err(ParseError::WrongKind { expected: "goroutine", found: describe_types(&t.sample_type_names()) }),
    }
}

/// `mutex` / `block` proto. The content does not say which: pass `kind` when known.
/// `sampling_period` is always `None` (Go writes a constant period of 1).
pub fn parse_contention_proto(
    data: &[u8],
    limit: usize,
    kind: Option<ContentionKind>,
) -> Result<ContentionProfile, ParseError> {
    let plain = gzip::gunzip_limited(data, limit)?;
    let p = decode_plain(&plain)?;
    let t = Tables::new(&p);
    match t.kind()? {
        Kind::Contention => Ok(contention(&t, kind)),
        _ => Err(ParseError::WrongKind { expected: "mutex or block", found: describe_types(&t.sample_type_names()) }),
    }
}

/// `heap` / `allocs` proto: in-use bytes (already scaled by the runtime); no MemStats.
pub fn parse_heap_proto(data: &[u8], limit: usize) -> Result<HeapProfile, ParseError> {
    let plain = gzip::gunzip_limited(data, limit)?;
    let p = decode_plain(&plain)?;
    let t = Tables::new(&p);
    match t.kind()? {
        Kind::Heap => Ok(heap(&t)),
        _ => Err(ParseError::WrongKind { expected: "heap", found: describe_types(&t.sample_type_names()) }),
    }
}
