//! One data model for every Go profile format (proto, debug=1, debug=2, tracebacks).
//!
//! Parsers fill it; `diagnose` reads it. Frames are innermost first, as Go prints them.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The format a profile was detected as (from its content, never from its URL or file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProfileFormat {
    /// gzipped (or plain) profile.proto
    Proto,
    /// `goroutine?debug=1` / `goroutineleak?debug=1` aggregated text
    GoroutineDebug1,
    /// `goroutine?debug=2` full dump, also panic and crash tracebacks
    GoroutineDebug2,
    /// `heap?debug=1` / `allocs?debug=1` text with the MemStats trailer
    HeapDebug1,
    /// `mutex?debug=1` / `block?debug=1` text
    ContentionDebug1,
}

impl ProfileFormat {
    /// Human name, used in errors and in `analyze` output.
    pub fn name(self) -> &'static str {
        match self {
            ProfileFormat::Proto => "profile.proto",
            ProfileFormat::GoroutineDebug1 => "goroutine debug=1",
            ProfileFormat::GoroutineDebug2 => "goroutine debug=2",
            ProfileFormat::HeapDebug1 => "heap debug=1",
            ProfileFormat::ContentionDebug1 => "mutex/block debug=1",
        }
    }
}

/// An immutable, shared string for frame functions and files: a profile repeats the same few
/// hundred names in every stack (100k samples × 20 frames), and cloning a `Sym` is a reference
/// count increment instead of an allocation. Reads like a `&str` (`Deref`, `==` with strings,
/// `as_str`); serializes as a plain JSON string.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(Arc<str>);

impl Sym {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Self {
        Sym(Arc::from(s.as_str()))
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<Sym> for String {
    fn from(s: Sym) -> Self {
        s.0.to_string()
    }
}

impl From<&Sym> for String {
    fn from(s: &Sym) -> Self {
        s.0.to_string()
    }
}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sym {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Sym> for str {
    fn eq(&self, other: &Sym) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Sym> for &str {
    fn eq(&self, other: &Sym) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Sym> for String {
    fn eq(&self, other: &Sym) -> bool {
        **self == *other.0
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Sym::from)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// Fully qualified Go function, e.g. `main.(*Server).loop.func1`.
    pub function: Sym,
    /// Source file as the binary recorded it (may be a Windows path or `$GOROOT/...`).
    pub file: Sym,
    pub line: u32,
}

impl Frame {
    pub fn new(function: impl Into<Sym>, file: impl Into<Sym>, line: u32) -> Self {
        Frame { function: function.into(), file: file.into(), line }
    }

    /// Frames the Go runtime owns (scheduler, channel and semaphore internals).
    pub fn is_runtime(&self) -> bool {
        let f = self.function.as_str();
        f.starts_with("runtime.") || f.starts_with("internal/") || f.starts_with("runtime/internal/")
    }
}

/// A call stack, innermost frame first, shared by every group or site that has it: parsers
/// build each distinct stack once per profile (profile.proto itself stores a stack once and
/// points samples at it) and cloning a `Stack` is a reference count increment. Reads like a
/// `&[Frame]` (`Deref`, `iter`, indexing, `first`); compares by content; serializes as a plain
/// JSON array of frames. The empty stack allocates nothing.
#[derive(Clone, Default)]
pub struct Stack(Option<Arc<[Frame]>>);

impl Stack {
    pub fn as_slice(&self) -> &[Frame] {
        self.0.as_deref().unwrap_or_default()
    }

    /// Both are the same allocation (or both empty): what sharing means, for tests.
    pub fn ptr_eq(a: &Stack, b: &Stack) -> bool {
        match (&a.0, &b.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Deref for Stack {
    type Target = [Frame];
    fn deref(&self) -> &[Frame] {
        self.as_slice()
    }
}

impl AsRef<[Frame]> for Stack {
    fn as_ref(&self) -> &[Frame] {
        self.as_slice()
    }
}

impl Borrow<[Frame]> for Stack {
    fn borrow(&self) -> &[Frame] {
        self.as_slice()
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl PartialEq for Stack {
    fn eq(&self, other: &Stack) -> bool {
        Stack::ptr_eq(self, other) || self.as_slice() == other.as_slice()
    }
}

impl Eq for Stack {}

impl PartialEq<[Frame]> for Stack {
    fn eq(&self, other: &[Frame]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<[Frame; N]> for Stack {
    fn eq(&self, other: &[Frame; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<Frame>> for Stack {
    fn eq(&self, other: &Vec<Frame>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::hash::Hash for Stack {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for Stack {
    fn partial_cmp(&self, other: &Stack) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Stack {
    fn cmp(&self, other: &Stack) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl From<Vec<Frame>> for Stack {
    fn from(frames: Vec<Frame>) -> Self {
        if frames.is_empty() { Stack(None) } else { Stack(Some(Arc::from(frames))) }
    }
}

impl From<&[Frame]> for Stack {
    fn from(frames: &[Frame]) -> Self {
        if frames.is_empty() { Stack(None) } else { Stack(Some(Arc::from(frames))) }
    }
}

impl<const N: usize> From<[Frame; N]> for Stack {
    fn from(frames: [Frame; N]) -> Self {
        Stack::from(&frames[..])
    }
}

impl FromIterator<Frame> for Stack {
    fn from_iter<I: IntoIterator<Item = Frame>>(iter: I) -> Self {
        Stack::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Stack {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl Serialize for Stack {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Stack {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Frame>::deserialize(d).map(Stack::from)
    }
}

/// pprof labels (`pprof.Do`) of a goroutine group: `(key, value)` pairs sorted by key, keys
/// unique, shared like [`Stack`] (parsers build each distinct label set once per profile; the
/// empty set allocates nothing). Reads like a sorted string map (`get`, `iter`, `len`,
/// indexing by key); serializes as a JSON object, exactly as a `BTreeMap<String, String>`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Option<Arc<[(Sym, Sym)]>>);

impl Labels {
    /// Sorts by key; a repeated key keeps its last value (as inserting into a map does).
    pub fn from_pairs(mut pairs: Vec<(Sym, Sym)>) -> Self {
        Labels::from_scratch(&mut pairs)
    }

    /// [`Labels::from_pairs`] from a scratch vector the parsers reuse (left sorted and
    /// deduplicated): one allocation, for the shared slice.
    pub(crate) fn from_scratch(pairs: &mut Vec<(Sym, Sym)>) -> Self {
        if pairs.is_empty() {
            return Labels(None);
        }
        if pairs.len() > 1 {
            pairs.reverse(); // the stable sort then puts the last value of a key first
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|later, first| later.0 == first.0);
        }
        Labels(Some(Arc::from(pairs.as_slice())))
    }

    fn pairs(&self) -> &[(Sym, Sym)] {
        self.0.as_deref().unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let pairs = self.pairs();
        pairs.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().and_then(|i| pairs.get(i)).map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `(key, value)` in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + DoubleEndedIterator {
        self.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator {
        self.pairs().iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// Same allocation (or both empty).
    pub fn ptr_eq(a: &Labels, b: &Labels) -> bool {
        match (&a.0, &b.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = Sym;
    /// Panics when the key is missing, like `BTreeMap`'s index.
    fn index(&self, key: &str) -> &Sym {
        let pairs = self.pairs();
        match pairs.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().and_then(|i| pairs.get(i)) {
            Some((_, v)) => v,
            None => panic!("no label {key:?}"),
        }
    }
}

impl<K: Into<Sym>, V: Into<Sym>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Labels::from_pairs(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(m: BTreeMap<String, String>) -> Self {
        m.into_iter().collect()
    }
}

impl<K: Into<Sym>, V: Into<Sym>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl PartialEq<BTreeMap<String, String>> for Labels {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|((k, v), (ok, ov))| k == ok && v == ov)
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Labels::from)
    }
}

/// Goroutines sharing one stack (and, for debug=2, one state).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineGroup {
    pub count: u64,
    /// Status/wait reason as printed by the runtime (`chan receive`, `select`, `sync.Mutex.Lock`, `running`...).
    /// Unknown reasons are kept verbatim. None when the format does not carry it (proto, debug=1).
    pub state: Option<String>,
    /// Longest wait in minutes among the group's goroutines, when the runtime printed one.
    pub wait_minutes_max: Option<u64>,
    /// Shortest wait in minutes (0 when one of them printed no wait), when known.
    pub wait_minutes_min: Option<u64>,
    /// Marked `(leaked)` by the runtime or taken from the goroutineleak profile.
    pub leaked: bool,
    pub locked_to_thread: bool,
    /// Innermost first; shared with the other groups of the profile that have this stack.
    pub frames: Stack,
    /// `created by X in goroutine N`.
    pub created_by: Option<Frame>,
    pub parent_goid: Option<u64>,
    /// pprof labels (`pprof.Do`), sorted by key.
    pub labels: Labels,
    /// Goroutine ids (debug=2 only; may be truncated to a few for big groups).
    pub goids: Vec<u64>,
    /// `...N frames elided...` seen.
    pub frames_elided: bool,
}

/// A goroutine profile in any format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineProfile {
    /// The runtime's own total (`goroutine profile: total N`), or the sum of groups when the format has none.
    pub total: u64,
    pub groups: Vec<GoroutineGroup>,
    /// Came from the `goroutineleak` profile: every group is a proven leak.
    pub leak_profile: bool,
}

impl GoroutineProfile {
    /// Saturating: counts come from the target and a hostile one can print anything.
    pub fn sum_of_groups(&self) -> u64 {
        self.groups.iter().fold(0u64, |acc, g| acc.saturating_add(g.count))
    }
}

/// `runtime.MemStats` as printed at the end of `heap?debug=1`. Every field optional: versions differ.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemStats {
    pub alloc: Option<u64>,
    pub total_alloc: Option<u64>,
    pub sys: Option<u64>,
    pub mallocs: Option<u64>,
    pub frees: Option<u64>,
    pub heap_alloc: Option<u64>,
    pub heap_sys: Option<u64>,
    pub heap_idle: Option<u64>,
    pub heap_inuse: Option<u64>,
    pub heap_released: Option<u64>,
    pub heap_objects: Option<u64>,
    pub next_gc: Option<u64>,
    pub last_gc: Option<u64>,
    pub pause_total_ns: Option<u64>,
    pub num_gc: Option<u64>,
    pub num_forced_gc: Option<u64>,
    pub gc_cpu_fraction: Option<f64>,
    pub max_rss: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentionKind {
    Mutex,
    Block,
}

/// One contended call site.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentionSite {
    /// Contention events (already scaled by the sampling period where the format says so).
    pub count: u64,
    /// Total delay in nanoseconds.
    pub delay_ns: u64,
    pub frames: Stack,
}

/// A mutex or block profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentionProfile {
    pub kind: ContentionKind,
    /// Sampling period/rate the target runs with; `Some(0)` means profiling is off in the target,
    /// so an empty profile is no evidence of no contention.
    pub sampling_period: Option<u64>,
    pub sites: Vec<ContentionSite>,
}

/// Heap profile: what the checks need is the MemStats trailer (debug=1); proto heap profiles carry no MemStats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeapProfile {
    pub mem_stats: Option<MemStats>,
    /// In-use bytes summed over samples, when the format has them.
    pub inuse_bytes: Option<u64>,
}

/// Any parsed profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[allow(clippy::large_enum_variant)] // short-lived parse result; boxing would change the API
pub enum Profile {
    Goroutine(GoroutineProfile),
    Heap(HeapProfile),
    Contention(ContentionProfile),
}
