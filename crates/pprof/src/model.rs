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
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// `created by X in goroutine N`.
    pub created_by: Option<Frame>,
    pub parent_goid: Option<u64>,
    /// pprof labels (`pprof.Do`), sorted.
    pub labels: BTreeMap<String, String>,
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
    pub frames: Vec<Frame>,
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
