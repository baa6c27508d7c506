//! profile.proto (`debug=0`) profiles: goroutine/goroutineleak, mutex/block and heap/allocs.
//!
//! The parsers decode with [`super::wire`] (zero-copy: strings borrowed from the input, repeated
//! fields in flat vectors). prost types generated from `operator/proto/profile.proto` by
//! `build.rs` stay available as [`pb`] / [`decode`] for callers that want the full message.
//! Both bound every length by the remaining input, so a hostile length prefix cannot make them
//! allocate.

use prost::Message;

use super::model::{
    ContentionKind, ContentionProfile, ContentionSite, Frame, GoroutineGroup, GoroutineProfile, HeapProfile, Labels,
    Profile, Stack, Sym,
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
    /// `p.locations`, built once.
    location_frames: Vec<Vec<Frame>>,
    /// One `Sym` per string table entry used (function names, files, label keys and values),
    /// made on first use: every frame and label set of the profile shares them.
    syms: Vec<Option<Sym>>,
    /// Stacks by the encoded location ids (borrowed from the input): samples with the same ids
    /// share one [`Stack`], as the proto's samples share their locations.
    stacks: FxHashMap<&'a [u8], Stack>,
    /// Scratch: the current sample's location ids.
    ids: Vec<u64>,
    /// Scratch: the current sample's labels.
    pairs: Vec<(Sym, Sym)>,
}

impl<'a, 'p> Tables<'a, 'p> {
    fn new(p: &'p wire::Profile<'a>) -> Self {
        let functions = Index::new(&p.functions, |f| f.id);
        let mut t = Tables {
            p,
            locations: Index::new(&p.locations, |l| l.id),
            location_frames: Vec::new(),
            syms: vec![None; p.strings.len()],
            stacks: FxHashMap::default(),
            ids: Vec::new(),
            pairs: Vec::new(),
        };
        // One `Sym` per distinct string: functions share file names.
        let names: Vec<(Sym, Sym)> = p.functions.iter().map(|f| (t.sym(f.name), t.sym(f.filename))).collect();
        let unknown = t.sym(0);
        t.location_frames = p
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
        t
    }

    fn str(&self, idx: i64) -> &'a str {
        self.p.str(idx)
    }

    /// The shared `Sym` of string table entry `idx` (out of range reads as "", as [`Self::str`]).
    fn sym(&mut self, idx: i64) -> Sym {
        let s = self.p.str(idx);
        match usize::try_from(idx).ok().and_then(|i| self.syms.get_mut(i)) {
            Some(slot) => slot.get_or_insert_with(|| Sym::from(s)).clone(),
            None => Sym::from(s),
        }
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
    /// are skipped. Built once per distinct list of location ids, then shared.
    fn stack(&mut self, sample: &wire::Sample<'a>) -> Stack {
        let key = sample.location_bytes();
        if let Some(s) = self.stacks.get(key) {
            return s.clone();
        }
        self.p.sample_locations(sample, &mut self.ids);
        // exact size (inlined lines included): growing would reallocate
        let n: usize = self.ids.iter().filter_map(|id| self.location(*id)).map(<[Frame]>::len).sum();
        let mut frames = Vec::with_capacity(n);
        for id in &self.ids {
            if let Some(f) = self.location(*id) {
                frames.extend_from_slice(f);
            }
        }
        let stack = Stack::from(frames);
        self.stacks.insert(key, stack.clone());
        stack
    }

    /// String labels of one sample (numeric ones are not pprof.Do labels); a repeated key keeps
    /// the last value.
    fn labels(&mut self, sample: &wire::Sample<'_>) -> Labels {
        let p = self.p;
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.clear();
        for l in p.sample_labels(sample).iter().filter(|l| l.str != 0) {
            pairs.push((self.sym(l.key), self.sym(l.str)));
        }
        let labels = Labels::from_scratch(&mut pairs);
        self.pairs = pairs;
        labels
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

fn goroutines(t: &mut Tables<'_, '_>, leak: bool) -> GoroutineProfile {
    let idx = 0; // goroutine and goroutineleak profiles have exactly one value: the count
    // one group per sample; the samples are already in memory, so this is bounded by the input
    let mut groups = Vec::with_capacity(t.p.samples.len());
    let mut total: u64 = 0;
    let p = t.p;
    for s in &p.samples {
        let count = non_negative(p.sample_values(s).get(idx));
        total = total.saturating_add(count);
        groups.push(GoroutineGroup {
            count,
            leaked: leak,
            frames: t.stack(s),
            labels: t.labels(s),
            ..GoroutineGroup::default()
        });
    }
    GoroutineProfile { total, groups, leak_profile: leak }
}

fn contention(t: &mut Tables<'_, '_>, kind: Option<ContentionKind>) -> ContentionProfile {
    let ci = t.value_index("contentions").unwrap_or(0);
    let di = t.value_index("delay").unwrap_or(1);
    let p = t.p;
    let mut sites = Vec::with_capacity(p.samples.len());
    for s in &p.samples {
        let values = p.sample_values(s);
        sites.push(ContentionSite {
            count: non_negative(values.get(ci)),
            delay_ns: non_negative(values.get(di)),
            frames: t.stack(s),
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
    let mut t = Tables::new(&p);
    Ok(match t.kind()? {
        Kind::Goroutine { leak } => Profile::Goroutine(goroutines(&mut t, opts.leak_profile.unwrap_or(leak))),
        Kind::Contention => Profile::Contention(contention(&mut t, opts.contention_kind)),
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
    let mut t = Tables::new(&p);
    match t.kind()? {
        Kind::Goroutine { leak } => Ok(goroutines(&mut t, leak_profile.unwrap_or(leak))),
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
    let mut t = Tables::new(&p);
    match t.kind()? {
        Kind::Contention => Ok(contention(&mut t, kind)),
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
