//! profile.proto (`debug=0`) profiles: goroutine/goroutineleak, mutex/block and heap/allocs.
//!
//! The parsers decode with [`super::wire`] (zero-copy: strings borrowed from the input, repeated
//! fields in flat vectors). prost types generated from `operator/proto/profile.proto` by
//! `build.rs` stay available as [`pb`] / [`decode`] for callers that want the full message.
//! Both bound every length by the remaining input, so a hostile length prefix cannot make them
//! allocate.

use prost::Message;

use super::limits::{MAX_NAME_BYTES, MAX_STACK_DEPTH, MAX_STACK_FRAMES, too_complex};
use super::model::{
    ContentionKind, ContentionProfile, ContentionSite, Frame, GoroutineProfile, HeapProfile, Profile, Stack, Sym,
};
use super::proto_goroutines::{self, Decoded};
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
    // Names end up in findings and status: a megabyte-long "function name" is not a profile.
    if p.strings.iter().any(|s| s.len() > MAX_NAME_BYTES) {
        return Err(too_complex("bytes in one string", MAX_NAME_BYTES));
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
        // it decoded far enough to trip a cap: a profile, which the parser then refuses
        Err(ParseError::ProfileTooComplex { .. }) => true,
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
    /// Frames summed over `stacks` (capped by [`MAX_STACK_FRAMES`]).
    stack_frames: usize,
    /// Scratch: the current sample's location ids.
    ids: Vec<u64>,
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
            stack_frames: 0,
            ids: Vec::new(),
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

    fn str(&self, idx: i64) -> &'p str {
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

    fn sample_type_names(&self) -> Vec<(&'p str, &'p str)> {
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
    /// are skipped; cut at [`MAX_STACK_DEPTH`]. Built once per distinct list of location ids,
    /// then shared; refused once the distinct stacks hold more than [`MAX_STACK_FRAMES`].
    fn stack(&mut self, sample: &wire::Sample<'a>) -> Result<Stack, ParseError> {
        let key = sample.location_bytes();
        if let Some(s) = self.stacks.get(key) {
            return Ok(s.clone());
        }
        self.p.sample_locations(sample, &mut self.ids);
        // exact size (inlined lines included): growing would reallocate
        let all: usize = self.ids.iter().filter_map(|id| self.location(*id)).map(<[Frame]>::len).sum();
        let n = all.min(MAX_STACK_DEPTH);
        self.stack_frames = self.stack_frames.saturating_add(n);
        if self.stack_frames > MAX_STACK_FRAMES {
            return Err(too_complex("frames in distinct stacks", MAX_STACK_FRAMES));
        }
        let mut frames = Vec::with_capacity(n);
        for id in &self.ids {
            if let Some(f) = self.location(*id) {
                let room = n - frames.len();
                frames.extend_from_slice(f.get(..room).unwrap_or(f));
                if frames.len() == n {
                    break;
                }
            }
        }
        let stack = Stack::from(frames);
        self.stacks.insert(key, stack.clone());
        Ok(stack)
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

fn contention(t: &mut Tables<'_, '_>, kind: Option<ContentionKind>) -> Result<ContentionProfile, ParseError> {
    let ci = t.value_index("contentions").unwrap_or(0);
    let di = t.value_index("delay").unwrap_or(1);
    let p = t.p;
    let mut sites = Vec::with_capacity(p.samples.len());
    for s in &p.samples {
        let values = p.sample_values(s);
        sites.push(ContentionSite {
            count: non_negative(values.get(ci)),
            delay_ns: non_negative(values.get(di)),
            frames: t.stack(s)?,
        });
    }
    let kind = kind.unwrap_or_else(|| guess_contention_kind(&sites));
    Ok(ContentionProfile {
        kind,
        // Go writes `period: 1` whatever the rate/fraction (runtime/pprof printCountCycleProfile),
        // so the proto does not tell whether profiling is on: only `mutex?debug=1` does.
        sampling_period: None,
        sites,
    })
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
        Kind::Goroutine { .. } => match proto_goroutines::decode(plain, opts.limit, opts.leak_profile)? {
            Decoded::Goroutine(g) => Profile::Goroutine(g),
            Decoded::OtherKind(types) => return Err(wrong_kind("goroutine", &types)),
        },
        Kind::Contention => Profile::Contention(contention(&mut t, opts.contention_kind)?),
        Kind::Heap => Profile::Heap(heap(&t)),
    })
}

/// `goroutine` / `goroutineleak` proto (gzipped or not). `leak_profile`: `Some` when the caller
/// knows the endpoint; `None` decides from the sample type (`goroutineleak/count`).
/// Groups are the proto's samples (one per stack + label set; repeated samples are merged);
/// `total` is the sum of counts. Over a cap of [`super::limits`]: `ProfileTooComplex`.
pub fn parse_goroutine_proto(
    data: &[u8],
    limit: usize,
    leak_profile: Option<bool>,
) -> Result<GoroutineProfile, ParseError> {
    match proto_goroutines::decode(data, limit, leak_profile)? {
        Decoded::Goroutine(g) => Ok(g),
        Decoded::OtherKind(types) => Err(wrong_kind("goroutine", &types)),
    }
}

fn wrong_kind(expected: &'static str, types: &[(String, String)]) -> ParseError {
    let types: Vec<(&str, &str)> = types.iter().map(|(t, u)| (t.as_str(), u.as_str())).collect();
    ParseError::WrongKind { expected, found: describe_types(&types) }
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
        Kind::Contention => contention(&mut t, kind),
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
