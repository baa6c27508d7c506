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
/// unique, shared like [`Stack`]: text parsers build each distinct label set once per profile,
/// profile.proto keeps all of a profile's sets in one [`LabelTable`] (a set is then a table and
/// a number, no allocation per set). The empty set allocates nothing. Reads like a sorted string
/// map (`get`, `iter`, `len`); compares, hashes and serializes by content, as a JSON object,
/// exactly as a `BTreeMap<String, String>`.
#[derive(Clone, Default)]
pub struct Labels(LabelsRepr);

#[derive(Clone, Default)]
enum LabelsRepr {
    #[default]
    Empty,
    Pairs(Arc<[(Sym, Sym)]>),
    Table(Arc<LabelTable>, u32),
}

/// Every label set of one profile in flat vectors: the strings in one arena, each set a run of
/// `(key, value)` string ids. What keeps a profile with a distinct label value per goroutine
/// (a request id) near the size of its input.
#[derive(Debug, Default)]
pub struct LabelTable {
    text: String,
    /// String id → where it ends in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
    /// `(key, value)` string ids; set `i` is `pairs[sets[i]..sets[i + 1]]` (the last one runs to the end).
    pairs: Vec<(u32, u32)>,
    sets: Vec<u32>,
}

impl LabelTable {
    /// Appends a string; returns its id. `None` past 4 GiB of text (never within the parsers' caps).
    pub(crate) fn push_str(&mut self, s: &str) -> Option<u32> {
        let end = u32::try_from(self.text.len().checked_add(s.len())?).ok()?;
        let id = u32::try_from(self.ends.len()).ok()?;
        self.text.push_str(s);
        self.ends.push(end);
        Some(id)
    }

    pub(crate) fn str(&self, id: u32) -> &str {
        let i = id as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).copied(),
            None => Some(0),
        };
        match (start, self.ends.get(i)) {
            (Some(s), Some(e)) => self.text.get(s as usize..*e as usize).unwrap_or(""),
            _ => "",
        }
    }

    pub(crate) fn string_count(&self) -> usize {
        self.ends.len()
    }

    /// Starts a new set with these pairs; returns its number.
    pub(crate) fn push_set(&mut self, pairs: &[(u32, u32)]) -> Option<u32> {
        let id = u32::try_from(self.sets.len()).ok()?;
        self.sets.push(u32::try_from(self.pairs.len()).ok()?);
        self.pairs.extend_from_slice(pairs);
        Some(id)
    }

    pub(crate) fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    fn range(&self, set: u32) -> std::ops::Range<usize> {
        let i = set as usize;
        let start = self.sets.get(i).map_or(self.pairs.len(), |s| *s as usize);
        let end = self.sets.get(i + 1).map_or(self.pairs.len(), |s| *s as usize);
        start..end.max(start)
    }

    pub(crate) fn set(&self, set: u32) -> &[(u32, u32)] {
        self.pairs.get(self.range(set)).unwrap_or_default()
    }

    /// Sorts every set by key text; a repeated key keeps its last value (as inserting into a map
    /// does). The proto decoder adds sets before it has read the strings.
    pub(crate) fn sort_sets(&mut self) {
        // In place: a set only shrinks, so the write position never passes the read position.
        let mut write = 0usize;
        let mut scratch: Vec<(u32, u32)> = Vec::new();
        for i in 0..self.sets.len() {
            let r = self.range(i as u32);
            scratch.clear();
            scratch.extend_from_slice(self.pairs.get(r).unwrap_or_default());
            if scratch.len() > 1 {
                scratch.reverse(); // the stable sort then puts the last value of a key first
                scratch.sort_by(|a, b| self.str(a.0).cmp(self.str(b.0)));
                scratch.dedup_by(|later, first| self.str(later.0) == self.str(first.0));
            }
            if let Some(s) = self.sets.get_mut(i) {
                *s = u32::try_from(write).unwrap_or(u32::MAX);
            }
            if let Some(dst) = self.pairs.get_mut(write..write + scratch.len()) {
                dst.copy_from_slice(&scratch);
            }
            write += scratch.len();
        }
        self.pairs.truncate(write);
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.pairs.shrink_to_fit();
        self.sets.shrink_to_fit();
    }
}

impl Labels {
    /// Sorts by key; a repeated key keeps its last value (as inserting into a map does).
    pub fn from_pairs(mut pairs: Vec<(Sym, Sym)>) -> Self {
        Labels::from_scratch(&mut pairs)
    }

    /// [`Labels::from_pairs`] from a scratch vector the parsers reuse (left sorted and
    /// deduplicated): one allocation, for the shared slice.
    pub(crate) fn from_scratch(pairs: &mut Vec<(Sym, Sym)>) -> Self {
        if pairs.is_empty() {
            return Labels(LabelsRepr::Empty);
        }
        if pairs.len() > 1 {
            pairs.reverse(); // the stable sort then puts the last value of a key first
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|later, first| later.0 == first.0);
        }
        Labels(LabelsRepr::Pairs(Arc::from(pairs.as_slice())))
    }

    /// Set `set` of `table` (already sorted, see [`LabelTable::sort_sets`]).
    pub(crate) fn in_table(table: &Arc<LabelTable>, set: u32) -> Self {
        if table.set(set).is_empty() {
            Labels(LabelsRepr::Empty)
        } else {
            Labels(LabelsRepr::Table(Arc::clone(table), set))
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        match &self.0 {
            LabelsRepr::Empty => None,
            LabelsRepr::Pairs(pairs) => pairs
                .binary_search_by(|(k, _)| k.as_str().cmp(key))
                .ok()
                .and_then(|i| pairs.get(i))
                .map(|(_, v)| v.as_str()),
            LabelsRepr::Table(t, set) => {
                let pairs = t.set(*set);
                pairs
                    .binary_search_by(|(k, _)| t.str(*k).cmp(key))
                    .ok()
                    .and_then(|i| pairs.get(i))
                    .map(|(_, v)| t.str(*v))
            }
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `(key, value)` in key order.
    pub fn iter(&self) -> LabelsIter<'_> {
        match &self.0 {
            LabelsRepr::Empty => LabelsIter::Pairs([].iter()),
            LabelsRepr::Pairs(pairs) => LabelsIter::Pairs(pairs.iter()),
            LabelsRepr::Table(t, set) => LabelsIter::Table(t, t.set(*set).iter()),
        }
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator {
        self.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.iter().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Same storage (or both empty).
    pub fn ptr_eq(a: &Labels, b: &Labels) -> bool {
        match (&a.0, &b.0) {
            (LabelsRepr::Empty, LabelsRepr::Empty) => true,
            (LabelsRepr::Pairs(a), LabelsRepr::Pairs(b)) => Arc::ptr_eq(a, b),
            (LabelsRepr::Table(a, i), LabelsRepr::Table(b, j)) => Arc::ptr_eq(a, b) && i == j,
            _ => false,
        }
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// Iterator over a [`Labels`]' `(key, value)` pairs, in key order.
#[derive(Clone)]
pub enum LabelsIter<'a> {
    #[doc(hidden)]
    Pairs(std::slice::Iter<'a, (Sym, Sym)>),
    #[doc(hidden)]
    Table(&'a LabelTable, std::slice::Iter<'a, (u32, u32)>),
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            LabelsIter::Pairs(it) => it.next().map(|(k, v)| (k.as_str(), v.as_str())),
            LabelsIter::Table(t, it) => it.next().map(|(k, v)| (t.str(*k), t.str(*v))),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for LabelsIter<'_> {
    fn len(&self) -> usize {
        match self {
            LabelsIter::Pairs(it) => it.len(),
            LabelsIter::Table(_, it) => it.len(),
        }
    }
}

impl DoubleEndedIterator for LabelsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            LabelsIter::Pairs(it) => it.next_back().map(|(k, v)| (k.as_str(), v.as_str())),
            LabelsIter::Table(t, it) => it.next_back().map(|(k, v)| (t.str(*k), t.str(*v))),
        }
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        Labels::ptr_eq(self, other) || self.iter().eq(other.iter())
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
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

/// Goroutines sharing one stack (and, for debug=2, one state): the owned form, to build a
/// profile from ([`Groups::from`]) and to read one group whole ([`Group::to_group`]).
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

/// What only debug=2 dumps and tracebacks print about a group.
#[derive(Clone, Debug, Default, PartialEq)]
struct Detail {
    state: Option<String>,
    wait_minutes_max: Option<u64>,
    wait_minutes_min: Option<u64>,
    created_by: Option<Frame>,
    parent_goid: Option<u64>,
    goids: Vec<u64>,
}

impl Detail {
    fn is_empty(&self) -> bool {
        *self == Detail::default()
    }
}

const LEAKED: u8 = 1;
const LOCKED: u8 = 2;
const ELIDED: u8 = 4;

/// Where a profile's label sets live: one table (profile.proto) or shared sets (text formats).
#[derive(Clone, Debug)]
enum LabelSets {
    Sets(Vec<Labels>),
    Table(Arc<LabelTable>),
}

impl Default for LabelSets {
    fn default() -> Self {
        LabelSets::Sets(Vec::new())
    }
}

/// The groups of a goroutine profile, one column per field: a group costs 17 bytes plus its
/// share of the distinct stacks and label sets, whatever the format (profile.proto spends ~45
/// bytes per sample with a distinct label value; one struct per group would be 4× that).
/// Iterate with [`Groups::iter`], which yields [`Group`] views.
#[derive(Clone, Default)]
pub struct Groups {
    /// Goroutines per group; `u32::MAX`: the count is in `big_counts`.
    count: Vec<u32>,
    /// `(group, count)` for counts of `u32::MAX` or more (never from a real program), by group.
    big_counts: Vec<(u32, u64)>,
    /// Index into `stacks`.
    stack: Vec<u32>,
    /// Index into `label_sets`; `u32::MAX`: no labels. Empty with a label table: group `i`
    /// has set `i`.
    labels: Vec<u32>,
    flags: Vec<u8>,
    /// Empty, or one per group (debug=2).
    detail: Vec<Detail>,
    stacks: Vec<Stack>,
    label_sets: LabelSets,
}

/// No labels, in [`Groups::labels`].
const NO_LABELS: u32 = u32::MAX;

/// Group counts as [`Groups`] keeps them: `u32` each, the rare larger ones on the side.
#[derive(Default)]
pub(crate) struct Counts {
    small: Vec<u32>,
    big: Vec<(u32, u64)>,
}

impl Counts {
    pub fn push(&mut self, c: u64) {
        Groups::push_count(&mut self.small, &mut self.big, c);
    }

    pub fn shrink_to_fit(&mut self) {
        self.small.shrink_to_fit();
    }

    pub fn add(&mut self, group: u32, c: u64) {
        add_count(&mut self.small, &mut self.big, group, c);
    }
}

/// Adds `c` to group `group`'s count in the `u32` column and its side table of big counts.
fn add_count(small: &mut [u32], big: &mut Vec<(u32, u64)>, group: u32, c: u64) {
    let Some(slot) = small.get_mut(group as usize) else { return };
    let found = big.binary_search_by_key(&group, |b| b.0);
    let now = match (*slot, found) {
        (u32::MAX, Ok(j)) => big.get(j).map_or(u64::from(u32::MAX), |b| b.1),
        (n, _) => u64::from(n),
    };
    let sum = now.saturating_add(c);
    match u32::try_from(sum) {
        Ok(n) if n < u32::MAX => *slot = n,
        _ => {
            *slot = u32::MAX;
            match found {
                Ok(j) => {
                    if let Some(b) = big.get_mut(j) {
                        b.1 = sum;
                    }
                }
                Err(j) => big.insert(j, (group, sum)),
            }
        }
    }
}

impl Groups {
    pub fn len(&self) -> usize {
        self.count.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<Group<'_>> {
        (i < self.len()).then_some(Group { g: self, i })
    }

    pub fn iter(&self) -> GroupsIter<'_> {
        self.into_iter()
    }

    /// Owned copies of every group (tests, JSON).
    pub fn to_vec(&self) -> Vec<GoroutineGroup> {
        self.iter().map(|g| g.to_group()).collect()
    }

    /// Every group `leaked` (or none): the caller knows the endpoint.
    pub fn set_leaked(&mut self, leaked: bool) {
        for f in &mut self.flags {
            if leaked {
                *f |= LEAKED;
            } else {
                *f &= !LEAKED;
            }
        }
    }

    fn sum(&self) -> u64 {
        (0..self.len()).fold(0u64, |acc, i| acc.saturating_add(self.count_of(i)))
    }

    fn count_of(&self, i: usize) -> u64 {
        match self.count.get(i) {
            Some(&u32::MAX) => match self.big_counts.binary_search_by_key(&(i as u32), |b| b.0) {
                Ok(j) => self.big_counts.get(j).map_or(u64::from(u32::MAX), |b| b.1),
                Err(_) => u64::from(u32::MAX),
            },
            Some(c) => u64::from(*c),
            None => 0,
        }
    }

    /// Appends a group's count (see `count`, `big_counts`).
    fn push_count(count: &mut Vec<u32>, big: &mut Vec<(u32, u64)>, c: u64) {
        match u32::try_from(c) {
            Ok(small) if small < u32::MAX => count.push(small),
            _ => {
                big.push((u32::try_from(count.len()).unwrap_or(u32::MAX), c));
                count.push(u32::MAX);
            }
        }
    }

    /// Columns from the proto decoder: counts (see [`Counts`]), stack indices, flags, the
    /// distinct stacks and the label table with one (sorted) set per group.
    pub(crate) fn from_columns(
        counts: Counts,
        stack: Vec<u32>,
        flags: Vec<u8>,
        stacks: Vec<Stack>,
        table: LabelTable,
    ) -> Self {
        Groups {
            count: counts.small,
            big_counts: counts.big,
            stack,
            labels: Vec::new(),
            flags,
            detail: Vec::new(),
            stacks,
            label_sets: LabelSets::Table(Arc::new(table)),
        }
    }

    pub(crate) fn flags(leaked: bool, locked_to_thread: bool, frames_elided: bool) -> u8 {
        (if leaked { LEAKED } else { 0 })
            | (if locked_to_thread { LOCKED } else { 0 })
            | (if frames_elided { ELIDED } else { 0 })
    }
}

/// Same stack or label storage, by address: parsers share them, so this finds the distinct ones.
fn addr<T: ?Sized>(a: Option<&Arc<T>>) -> usize {
    a.map_or(0, |a| Arc::as_ptr(a).cast::<u8>() as usize)
}

/// Builds [`Groups`] one group at a time from shared stacks and label sets (the text parsers),
/// keeping each distinct stack and set once.
#[derive(Default)]
pub(crate) struct GroupsBuilder {
    g: Groups,
    stack_ids: crate::text::FxHashMap<usize, u32>,
    set_ids: crate::text::FxHashMap<(usize, u32), u32>,
    sets: Vec<Labels>,
}

impl GroupsBuilder {
    /// Appends a group; returns its index (for [`Self::add_count`]).
    pub fn push(&mut self, count: u64, frames: &Stack, labels: &Labels, flags: u8) -> usize {
        let i = self.g.count.len();
        Groups::push_count(&mut self.g.count, &mut self.g.big_counts, count);
        self.g.flags.push(flags);
        let next = u32::try_from(self.g.stacks.len()).unwrap_or(u32::MAX);
        let stacks = &mut self.g.stacks;
        let s = *self.stack_ids.entry(addr(frames.0.as_ref())).or_insert_with(|| {
            stacks.push(frames.clone());
            next
        });
        self.g.stack.push(s);
        let key = match &labels.0 {
            LabelsRepr::Empty => None,
            LabelsRepr::Pairs(p) => Some((addr(Some(p)), 0)),
            LabelsRepr::Table(t, i) => Some((addr(Some(t)), *i)),
        };
        let l = match key {
            None => NO_LABELS,
            Some(key) => {
                let next = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
                let sets = &mut self.sets;
                *self.set_ids.entry(key).or_insert_with(|| {
                    sets.push(labels.clone());
                    next
                })
            }
        };
        self.g.labels.push(l);
        i
    }

    pub fn add_count(&mut self, i: usize, c: u64) {
        add_count(&mut self.g.count, &mut self.g.big_counts, u32::try_from(i).unwrap_or(u32::MAX), c);
    }

    pub fn len(&self) -> usize {
        self.g.count.len()
    }

    pub fn finish(mut self) -> Groups {
        self.g.label_sets = LabelSets::Sets(self.sets);
        self.g
    }
}

impl From<Vec<GoroutineGroup>> for Groups {
    fn from(groups: Vec<GoroutineGroup>) -> Self {
        let any_detail = groups.iter().any(|x| {
            x.state.is_some()
                || x.wait_minutes_max.is_some()
                || x.wait_minutes_min.is_some()
                || x.created_by.is_some()
                || x.parent_goid.is_some()
                || !x.goids.is_empty()
        });
        let mut b = GroupsBuilder::default();
        let mut detail = Vec::new();
        for x in groups {
            b.push(x.count, &x.frames, &x.labels, Groups::flags(x.leaked, x.locked_to_thread, x.frames_elided));
            if any_detail {
                detail.push(Detail {
                    state: x.state,
                    wait_minutes_max: x.wait_minutes_max,
                    wait_minutes_min: x.wait_minutes_min,
                    created_by: x.created_by,
                    parent_goid: x.parent_goid,
                    goids: x.goids,
                });
            }
        }
        let mut g = b.finish();
        g.detail = detail;
        g
    }
}

impl<'a> IntoIterator for &'a Groups {
    type Item = Group<'a>;
    type IntoIter = GroupsIter<'a>;
    fn into_iter(self) -> GroupsIter<'a> {
        GroupsIter { g: self, range: 0..self.len() }
    }
}

/// Iterator over the [`Group`] views of a [`Groups`].
#[derive(Clone)]
pub struct GroupsIter<'a> {
    g: &'a Groups,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for GroupsIter<'a> {
    type Item = Group<'a>;
    fn next(&mut self) -> Option<Group<'a>> {
        self.range.next().map(|i| Group { g: self.g, i })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl ExactSizeIterator for GroupsIter<'_> {}

impl DoubleEndedIterator for GroupsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.range.next_back().map(|i| Group { g: self.g, i })
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Groups {
    fn eq(&self, other: &Groups) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|g| g.to_group()))
    }
}

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<GoroutineGroup>::deserialize(d).map(Groups::from)
    }
}

/// One group of a [`Groups`], read in place.
#[derive(Clone, Copy)]
pub struct Group<'a> {
    g: &'a Groups,
    i: usize,
}

impl<'a> Group<'a> {
    pub fn count(&self) -> u64 {
        self.g.count_of(self.i)
    }

    fn flag(&self, f: u8) -> bool {
        self.g.flags.get(self.i).is_some_and(|x| x & f != 0)
    }

    /// Marked `(leaked)` by the runtime or taken from the goroutineleak profile.
    pub fn leaked(&self) -> bool {
        self.flag(LEAKED)
    }

    pub fn locked_to_thread(&self) -> bool {
        self.flag(LOCKED)
    }

    /// The stack was cut (`...N frames elided...`, or deeper than the runtime writes).
    pub fn frames_elided(&self) -> bool {
        self.flag(ELIDED)
    }

    /// Innermost first; shared with the other groups that have this stack.
    pub fn frames(&self) -> &'a Stack {
        static EMPTY: Stack = Stack(None);
        self.g.stack.get(self.i).and_then(|s| self.g.stacks.get(*s as usize)).unwrap_or(&EMPTY)
    }

    /// pprof labels (`pprof.Do`), sorted by key (a shared handle: no copy).
    pub fn labels(&self) -> Labels {
        match &self.g.label_sets {
            LabelSets::Sets(v) => {
                let id = self.g.labels.get(self.i).copied().unwrap_or(NO_LABELS);
                if id == NO_LABELS { Labels::default() } else { v.get(id as usize).cloned().unwrap_or_default() }
            }
            LabelSets::Table(t) => Labels::in_table(t, u32::try_from(self.i).unwrap_or(u32::MAX)),
        }
    }

    fn detail(&self) -> Option<&'a Detail> {
        self.g.detail.get(self.i)
    }

    /// Status/wait reason as printed by the runtime (debug=2); `None` in proto and debug=1.
    pub fn state(&self) -> Option<&'a str> {
        self.detail().and_then(|d| d.state.as_deref())
    }

    pub fn wait_minutes_max(&self) -> Option<u64> {
        self.detail().and_then(|d| d.wait_minutes_max)
    }

    pub fn wait_minutes_min(&self) -> Option<u64> {
        self.detail().and_then(|d| d.wait_minutes_min)
    }

    /// `created by X in goroutine N`.
    pub fn created_by(&self) -> Option<&'a Frame> {
        self.detail().and_then(|d| d.created_by.as_ref())
    }

    pub fn parent_goid(&self) -> Option<u64> {
        self.detail().and_then(|d| d.parent_goid)
    }

    /// Goroutine ids (debug=2 only; may be truncated to a few for big groups).
    pub fn goids(&self) -> &'a [u64] {
        self.detail().map_or(&[], |d| d.goids.as_slice())
    }

    pub fn to_group(&self) -> GoroutineGroup {
        GoroutineGroup {
            count: self.count(),
            state: self.state().map(str::to_string),
            wait_minutes_max: self.wait_minutes_max(),
            wait_minutes_min: self.wait_minutes_min(),
            leaked: self.leaked(),
            locked_to_thread: self.locked_to_thread(),
            frames: self.frames().clone(),
            created_by: self.created_by().cloned(),
            parent_goid: self.parent_goid(),
            labels: self.labels(),
            goids: self.goids().to_vec(),
            frames_elided: self.frames_elided(),
        }
    }
}

impl fmt::Debug for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_group(), f)
    }
}

impl PartialEq for Group<'_> {
    fn eq(&self, other: &Group<'_>) -> bool {
        self.count() == other.count()
            && self.g.flags.get(self.i) == other.g.flags.get(other.i)
            && self.frames() == other.frames()
            && self.labels() == other.labels()
            && self.detail().filter(|d| !d.is_empty()) == other.detail().filter(|d| !d.is_empty())
    }
}

/// A goroutine profile in any format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineProfile {
    /// The runtime's own total (`goroutine profile: total N`), or the sum of groups when the format has none.
    pub total: u64,
    pub groups: Groups,
    /// Came from the `goroutineleak` profile: every group is a proven leak.
    pub leak_profile: bool,
}

impl GoroutineProfile {
    /// Saturating: counts come from the target and a hostile one can print anything.
    pub fn sum_of_groups(&self) -> u64 {
        self.groups.sum()
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
