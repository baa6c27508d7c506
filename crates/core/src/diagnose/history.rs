//! Trend samples per target: a bounded ring in memory, and a compact copy in `status.history` so an
//! operator restart does not reset a trend.
//!
//! Encoding of one sample (a string in `TargetHistory.samples`, oldest first):
//! `T:goroutines:numGC:forcedGC:gcCPUFraction:heapKiB[:site=count...][:~]`
//! - `T` is unix seconds for the first sample and `+delta` seconds for the next ones;
//! - empty fields are unknown, trailing empty fields are dropped;
//! - `forcedGC` is NumForcedGC, with `/N` appended when the scrapes themselves forced N GCs;
//! - `site` is the 8-hex-digit `site_hash` of a blocking site (function@line), `count*` when some of
//!   its goroutines showed debug=2 wait minutes or the runtime's leaked mark;
//! - `hash#ms` is the cumulative delay (ms) at a lock site of the mutex/block profile (hash of
//!   `profile:function@line`), for LockContention's rate;
//! - a `!` token marks a sample taken with a debug=2 dump (wait minutes were observable);
//! - a final `~` marks a truncated site list (a site not listed has an unknown count; otherwise 0/1).

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

use super::contention::lock_sites;
use super::dump_schedule::DumpBaseline;
use super::site::blocked_sites;

/// Trend samples of one target, compact: "unixSeconds:goroutines[:numGC:forcedGC:site=count...]" entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetHistory {
    /// namespace/pod
    pub target: String,
    /// Samples, oldest first, in the compact form above.
    #[serde(default)]
    pub samples: Vec<String>,
}

/// Samples kept per target in memory (at a 5m interval: over 5 hours).
pub const RING_CAPACITY: usize = 64;
/// Blocking sites recorded per sample (the largest ones).
pub const SITES_PER_SAMPLE: usize = 8;
/// Lock sites (mutex/block) recorded per sample (the largest delays).
pub const CONTENTION_SITES_PER_SAMPLE: usize = 4;
/// Targets kept in memory; the least recently seen ones are dropped first.
pub const MAX_TARGETS: usize = 20_000;
/// Samples kept over all targets of one audit. A sample takes about 400 bytes with its lists, so
/// a full ring is 25 KiB, and 10,000 full rings would be 250 MiB. Past `SAMPLE_BUDGET /
/// RING_CAPACITY` targets (2,500) each ring keeps fewer samples, never fewer than [`MIN_RING`]:
/// about 64 MiB for the audit up to 10,000 targets, 128 MiB at [`MAX_TARGETS`].
pub const SAMPLE_BUDGET: usize = 160_000;
/// The fewest samples a ring keeps when the budget is shared by many targets.
pub const MIN_RING: usize = 16;
/// Default byte budget of `status.history` (the whole status must stay well under 256 KiB).
pub const DEFAULT_STATUS_HISTORY_BYTES: usize = 96 * 1024;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum HistoryError {
    #[error("bad history sample {sample:?}: {reason}")]
    BadSample { sample: String, reason: &'static str },
}

/// One audit of one target, reduced to what trend checks need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: i64,
    pub total: Option<u64>,
    pub num_gc: Option<u64>,
    pub num_forced_gc: Option<u64>,
    /// GCs forced by this audit's own scrapes (goroutineleak fetches).
    pub scrape_forced_gcs: u64,
    pub gc_cpu_fraction: Option<f64>,
    /// Bytes (KiB resolution after a round trip through status).
    pub heap_alloc: Option<u64>,
    /// (site_hash, goroutines), largest first.
    pub sites: Vec<(u32, u64)>,
    /// `sites` lists every blocked site with 2 or more goroutines.
    pub sites_complete: bool,
    /// The sample came with a debug=2 dump: wait minutes were observable.
    pub minutes_known: bool,
    /// Sites (hashes) some of whose goroutines showed wait minutes or the leaked mark.
    pub long_waits: Vec<u32>,
    /// Lock sites of the mutex/block profiles (hash, cumulative delay in ms), largest first: the
    /// next audit turns them into a rate.
    pub contention: Vec<(u32, u64)>,
}

impl Sample {
    pub fn from_snapshot(s: &Snapshot) -> Sample {
        let profile = s.goroutines_full.as_ref().or(s.goroutines.as_ref());
        let total = s.goroutines.as_ref().or(s.goroutines_full.as_ref()).map(|p| p.total);
        let mut blocked = profile.map(blocked_sites).unwrap_or_default();
        blocked.retain(|x| x.count >= 2);
        // A ring holds 64 samples per target for every target: each list is allocated at its kept
        // length. Truncating a list collected from every site kept its whole capacity, about 1 KiB
        // per sample for a program with 50 blocked sites, 64 KiB per target once the ring was full.
        let sites: Vec<(u32, u64)> = blocked.iter().take(SITES_PER_SAMPLE).map(|x| (x.hash, x.count)).collect();
        let complete = profile.is_some() && blocked.len() <= SITES_PER_SAMPLE;
        let mut long_waits: Vec<u32> = blocked
            .iter()
            .take(SITES_PER_SAMPLE)
            .filter(|x| x.leaked > 0 || x.wait_minutes_max.unwrap_or(0) >= 1)
            .map(|x| x.hash)
            .collect();
        long_waits.shrink_to_fit();
        let mut contention: Vec<(u32, u64)> = [&s.mutex, &s.block]
            .into_iter()
            .flatten()
            .filter(|p| p.sampling_period != Some(0))
            .flat_map(|p| lock_sites(p).into_iter().map(|x| (x.hash, x.delay_ns / 1_000_000)))
            .filter(|(_, ms)| *ms > 0)
            .collect();
        contention.sort_by_key(|c| std::cmp::Reverse(c.1));
        contention.truncate(CONTENTION_SITES_PER_SAMPLE);
        contention.shrink_to_fit();
        let ms = s.mem_stats.as_ref();
        Sample {
            contention,
            at: s.at,
            total,
            num_gc: ms.and_then(|m| m.num_gc),
            num_forced_gc: ms.and_then(|m| m.num_forced_gc),
            scrape_forced_gcs: s.forced_gcs,
            gc_cpu_fraction: ms.and_then(|m| m.gc_cpu_fraction),
            heap_alloc: ms.and_then(|m| m.heap_alloc.or(m.alloc)),
            sites,
            sites_complete: complete,
            minutes_known: s.goroutines_full.is_some(),
            long_waits,
        }
    }

    /// Goroutines at a site in this sample: `Some(0)` when the list is complete and the site is absent
    /// (it had fewer than 2), `None` when unknown.
    pub fn site_count(&self, hash: u32) -> Option<u64> {
        match self.sites.iter().find(|(h, _)| *h == hash) {
            Some((_, n)) => Some(*n),
            None if self.sites_complete => Some(0),
            None => None,
        }
    }

    /// Cumulative delay (ms) at a lock site in this sample, when recorded.
    pub fn contention_ms(&self, hash: u32) -> Option<u64> {
        self.contention.iter().find(|(h, _)| *h == hash).map(|(_, ms)| *ms)
    }

    fn encode(&self, prev_at: Option<i64>, max_sites: usize, with_contention: bool) -> String {
        let t = match prev_at {
            Some(p) => format!("+{}", self.at - p),
            None => self.at.to_string(),
        };
        let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        let forced = match (self.num_forced_gc, self.scrape_forced_gcs) {
            (f, 0) => opt(f),
            (f, n) => format!("{}/{n}", opt(f)),
        };
        let frac = self
            .gc_cpu_fraction
            .map(|f| {
                let s = format!("{f:.5}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                if s.is_empty() { "0".to_string() } else { s.to_string() }
            })
            .unwrap_or_default();
        let heap = self.heap_alloc.map(|b| (b / 1024).to_string()).unwrap_or_default();
        let mut fields = vec![t, opt(self.total), opt(self.num_gc), forced, frac, heap];
        let kept = self.sites.len().min(max_sites);
        if kept == 0 {
            while fields.len() > 2 && fields.last().is_some_and(String::is_empty) {
                fields.pop();
            }
        }
        for (h, n) in self.sites.iter().take(kept) {
            let long = if self.long_waits.contains(h) { "*" } else { "" };
            fields.push(format!("{h:08x}={n}{long}"));
        }
        // Only the newest sample's lock delays are needed (the next rate starts from them); under a
        // tight status budget (no sites kept) the rate can wait for one more audit.
        for (h, ms) in self.contention.iter().filter(|_| with_contention && max_sites > 0) {
            fields.push(format!("{h:08x}#{ms}"));
        }
        if self.minutes_known && kept > 0 {
            fields.push("!".into());
        }
        if !self.sites_complete || kept < self.sites.len() {
            fields.push("~".into());
        }
        fields.join(":")
    }

    fn decode(s: &str, prev_at: Option<i64>) -> Result<Sample, HistoryError> {
        let bad = |reason| HistoryError::BadSample { sample: s.chars().take(80).collect(), reason };
        let mut parts = s.split(':');
        let t = parts.next().ok_or_else(|| bad("empty"))?;
        let at = match (t.strip_prefix('+'), prev_at) {
            (Some(d), Some(p)) => p + d.parse::<i64>().map_err(|_| bad("bad time delta"))?,
            (Some(_), None) => return Err(bad("relative time in first sample")),
            (None, _) => t.parse().map_err(|_| bad("bad time"))?,
        };
        let num = |v: Option<&str>| -> Result<Option<u64>, HistoryError> {
            match v {
                None | Some("") => Ok(None),
                Some(x) => x.parse().map(Some).map_err(|_| bad("bad number")),
            }
        };
        let mut sample = Sample { at, sites_complete: true, ..Default::default() };
        let mut positional = Vec::new();
        for p in parts {
            if p == "~" {
                sample.sites_complete = false;
            } else if p == "!" {
                sample.minutes_known = true;
            } else if let Some((h, ms)) = p.split_once('#') {
                let h = u32::from_str_radix(h, 16).map_err(|_| bad("bad lock site hash"))?;
                sample.contention.push((h, ms.parse().map_err(|_| bad("bad lock delay"))?));
            } else if let Some((h, n)) = p.split_once('=') {
                let h = u32::from_str_radix(h, 16).map_err(|_| bad("bad site hash"))?;
                let (n, long) = match n.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (n, false),
                };
                let n = n.parse().map_err(|_| bad("bad site count"))?;
                sample.sites.push((h, n));
                if long {
                    sample.long_waits.push(h);
                }
            } else {
                positional.push(p);
            }
        }
        let mut it = positional.into_iter();
        sample.total = num(it.next())?;
        sample.num_gc = num(it.next())?;
        if let Some(f) = it.next() {
            let (forced, scrape) = f.split_once('/').unwrap_or((f, ""));
            sample.num_forced_gc = num(Some(forced))?;
            sample.scrape_forced_gcs = num(Some(scrape))?.unwrap_or(0);
        }
        sample.gc_cpu_fraction = match it.next() {
            None | Some("") => None,
            Some(x) => Some(x.parse().map_err(|_| bad("bad fraction"))?),
        };
        sample.heap_alloc = num(it.next())?.map(|k| k * 1024);
        Ok(sample)
    }
}

/// Recent samples of one target, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetHistoryRing {
    samples: VecDeque<Sample>,
    capacity: usize,
    /// The last debug=2 dump, while the next one may be deferred.
    dump_baseline: Option<DumpBaseline>,
}

impl Default for TargetHistoryRing {
    fn default() -> Self {
        TargetHistoryRing::new(RING_CAPACITY)
    }
}

impl TargetHistoryRing {
    pub fn new(capacity: usize) -> Self {
        TargetHistoryRing { samples: VecDeque::new(), capacity: capacity.max(2), dump_baseline: None }
    }

    /// Keeps at most `capacity` samples from now on, dropping the oldest beyond it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(2);
        while self.samples.len() > self.capacity {
            self.samples.pop_front();
        }
    }

    /// Adds a sample; one with the same time replaces the last, an older one is ignored.
    pub fn push(&mut self, sample: Sample) {
        match self.samples.back() {
            Some(last) if last.at == sample.at => {
                self.samples.pop_back();
            }
            Some(last) if last.at > sample.at => return,
            _ => {}
        }
        self.samples.push_back(sample);
        while self.samples.len() > self.capacity {
            self.samples.pop_front();
        }
    }

    pub fn dump_baseline(&self) -> Option<&DumpBaseline> {
        self.dump_baseline.as_ref()
    }

    pub fn samples(&self) -> impl DoubleEndedIterator<Item = &Sample> + ExactSizeIterator {
        self.samples.iter()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// The newest `max_samples` samples with at most `max_sites` sites each.
    pub fn encode(&self, max_samples: usize, max_sites: usize) -> Vec<String> {
        let skip = self.samples.len().saturating_sub(max_samples);
        let newest = self.samples.back().map_or(i64::MIN, |s| s.at);
        let mut prev = None;
        self.samples
            .iter()
            .skip(skip)
            .map(|s| {
                let e = s.encode(prev, max_sites, s.at == newest);
                prev = Some(s.at);
                e
            })
            .collect()
    }

    pub fn decode(samples: &[String], capacity: usize) -> Result<Self, HistoryError> {
        let mut ring = TargetHistoryRing::new(capacity);
        let mut prev = None;
        for s in samples {
            let sample = Sample::decode(s, prev)?;
            prev = Some(sample.at);
            ring.push(sample);
        }
        Ok(ring)
    }

    /// How much the target's total grew over its ring (for deciding what to keep in status).
    fn interest(&self) -> u64 {
        let totals: Vec<u64> = self.samples.iter().filter_map(|s| s.total).collect();
        match (totals.iter().min(), totals.last()) {
            (Some(min), Some(last)) => last.saturating_sub(*min),
            _ => 0,
        }
    }
}

/// The samples a trend check looks at: ring samples inside the window and older than the snapshot,
/// then the snapshot itself (so callers may record before or after diagnosing).
pub fn series(ring: &TargetHistoryRing, snapshot: &Snapshot, window_secs: f64) -> Vec<Sample> {
    let from = snapshot.at as f64 - window_secs;
    let mut out: Vec<Sample> = ring.samples().filter(|s| s.at < snapshot.at && s.at as f64 >= from).cloned().collect();
    out.push(Sample::from_snapshot(snapshot));
    out
}

/// Rings of every target, keyed by `namespace/pod`.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    rings: BTreeMap<String, TargetHistoryRing>,
    max_targets: usize,
    capacity: usize,
}

impl Default for History {
    fn default() -> Self {
        History::new(MAX_TARGETS, RING_CAPACITY)
    }
}

impl History {
    pub fn new(max_targets: usize, capacity: usize) -> Self {
        History { rings: BTreeMap::new(), max_targets: max_targets.max(1), capacity }
    }

    pub fn record(&mut self, key: &str, snapshot: &Snapshot) {
        if !self.rings.contains_key(key) && self.rings.len() >= self.max_targets {
            // Evict the target seen least recently: it is most likely gone.
            if let Some(oldest) =
                self.rings.iter().min_by_key(|(_, r)| r.last().map_or(i64::MIN, |s| s.at)).map(|(k, _)| k.clone())
            {
                self.rings.remove(&oldest);
            }
        }
        let capacity = self.ring_capacity();
        let ring = self.rings.entry(key.to_string()).or_insert_with(|| TargetHistoryRing::new(capacity));
        ring.set_capacity(capacity);
        ring.push(Sample::from_snapshot(snapshot));
    }

    /// Samples each target's ring keeps now: [`SAMPLE_BUDGET`] shared by the targets, within
    /// [`MIN_RING`] and the history's capacity.
    pub fn ring_capacity(&self) -> usize {
        (SAMPLE_BUDGET / self.rings.len().max(1)).clamp(MIN_RING.min(self.capacity), self.capacity)
    }

    pub fn ring(&self, key: &str) -> Option<&TargetHistoryRing> {
        self.rings.get(key)
    }

    /// Targets and their rings, by key.
    pub fn rings(&self) -> impl Iterator<Item = (&str, &TargetHistoryRing)> {
        self.rings.iter().map(|(k, r)| (k.as_str(), r))
    }

    pub fn len(&self) -> usize {
        self.rings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Keeps what the target's last dump leaves for the next one (`None`: the next audit takes a dump).
    pub fn set_dump_baseline(&mut self, key: &str, baseline: Option<DumpBaseline>) {
        if let Some(ring) = self.rings.get_mut(key) {
            ring.dump_baseline = baseline;
        }
    }

    /// Drops targets that no longer exist.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.rings.retain(|k, _| keep(k));
    }

    /// Restores rings from status; entries that do not decode are skipped (returned as errors).
    pub fn from_status(entries: &[TargetHistory]) -> (History, Vec<HistoryError>) {
        let mut h = History::default();
        let mut errors = Vec::new();
        for e in entries {
            match TargetHistoryRing::decode(&e.samples, h.capacity) {
                Ok(ring) if !ring.is_empty() => {
                    h.rings.insert(e.target.clone(), ring);
                }
                Ok(_) => {}
                Err(err) => errors.push(err),
            }
        }
        (h, errors)
    }

    /// Compact copy for status, at most `max_bytes` of JSON: fewer samples and sites per target
    /// first; if even that does not fit, the targets whose totals grew most are kept.
    pub fn to_status(&self, max_bytes: usize) -> Vec<TargetHistory> {
        const LEVELS: [(usize, usize); 8] = [(16, 4), (12, 3), (8, 2), (6, 1), (4, 1), (4, 0), (3, 0), (2, 0)];
        let build = |samples: usize, sites: usize| -> Vec<TargetHistory> {
            self.rings
                .iter()
                .map(|(k, r)| TargetHistory { target: k.clone(), samples: r.encode(samples, sites) })
                .collect()
        };
        for (samples, sites) in LEVELS {
            let entries = build(samples, sites);
            if json_len(&entries) <= max_bytes {
                return entries;
            }
        }
        // Too many targets: keep the most interesting ones (growth first, then most recent).
        let mut ranked: Vec<(&String, &TargetHistoryRing)> = self.rings.iter().collect();
        ranked.sort_by(|a, b| {
            b.1.interest()
                .cmp(&a.1.interest())
                .then_with(|| {
                    let at = |r: &TargetHistoryRing| r.last().map_or(i64::MIN, |s| s.at);
                    at(b.1).cmp(&at(a.1))
                })
                .then_with(|| a.0.cmp(b.0))
        });
        let mut out = Vec::new();
        let mut used = 2; // "[]"
        for (k, r) in ranked {
            let entry = TargetHistory { target: k.clone(), samples: r.encode(4, 1) };
            let len = json_len(std::slice::from_ref(&entry)) - 2 + 1;
            if used + len > max_bytes {
                continue;
            }
            used += len;
            out.push(entry);
        }
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }
}

fn json_len(entries: &[TargetHistory]) -> usize {
    serde_json::to_vec(entries).map(|v| v.len()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, total: u64) -> Sample {
        Sample {
            at,
            total: Some(total),
            num_gc: Some(1200 + at as u64 % 97),
            num_forced_gc: Some(0),
            scrape_forced_gcs: 0,
            gc_cpu_fraction: Some(0.0123),
            heap_alloc: Some(12_345_678),
            sites: vec![(0xdead_beef, total / 2), (0x0123_4567, 12), (0x89ab_cdef, 3)],
            sites_complete: true,
            minutes_known: true,
            long_waits: vec![0x0123_4567],
            contention: vec![(0x0c0f_fee0, 2348), (0x0000_0001, 160)],
        }
    }

    /// 60 blocked sites (2 goroutines each, waiting for minutes) and 20 contended locks: a ring
    /// keeps 64 samples per target for every target, so a sample's lists must hold only what is kept.
    #[test]
    fn a_sample_of_a_large_program_holds_only_what_it_keeps() {
        use gohealth_pprof::model::{
            ContentionKind, ContentionProfile, ContentionSite, Frame, GoroutineGroup, GoroutineProfile,
        };
        let groups: Vec<GoroutineGroup> = (0..60u32)
            .map(|i| GoroutineGroup {
                count: 2,
                state: Some("chan receive".into()),
                wait_minutes_max: Some(30),
                wait_minutes_min: Some(30),
                frames: vec![Frame::new(format!("example.com/app.worker{i}"), "example.com/app/w.go", 10 + i)].into(),
                ..Default::default()
            })
            .collect();
        let profile = GoroutineProfile { total: 200, groups: groups.into(), leak_profile: false };
        let sites: Vec<ContentionSite> = (0..20u32)
            .map(|i| ContentionSite {
                count: 5,
                delay_ns: 1_000_000_000 + u64::from(i),
                frames: vec![
                    Frame::new("sync.(*Mutex).Unlock", "sync/mutex.go", 223),
                    Frame::new(format!("example.com/app.lock{i}"), "example.com/app/l.go", 5 + i),
                ]
                .into(),
            })
            .collect();
        let mutex = ContentionProfile { kind: ContentionKind::Mutex, sampling_period: Some(1), sites };
        let snap = Snapshot { at: 1, goroutines_full: Some(profile), mutex: Some(mutex), ..Default::default() };
        let s = Sample::from_snapshot(&snap);
        assert_eq!(s.sites.len(), SITES_PER_SAMPLE);
        assert!(!s.sites_complete);
        assert_eq!(s.long_waits.len(), SITES_PER_SAMPLE);
        assert_eq!(s.contention.len(), CONTENTION_SITES_PER_SAMPLE, "{:?}", s.contention);
        assert_eq!(s.sites.capacity(), SITES_PER_SAMPLE);
        assert_eq!(s.long_waits.capacity(), SITES_PER_SAMPLE);
        assert_eq!(s.contention.capacity(), CONTENTION_SITES_PER_SAMPLE);
        // What an audit's rings take, lists and their allocation headers included: the budget
        // keeps 10,000 targets at the memory of 2,500 full rings.
        let per_sample = std::mem::size_of::<Sample>()
            + s.sites.capacity() * std::mem::size_of::<(u32, u64)>()
            + s.long_waits.capacity() * std::mem::size_of::<u32>()
            + s.contention.capacity() * std::mem::size_of::<(u32, u64)>()
            + 3 * 16;
        assert!(per_sample <= 460, "{per_sample} B per sample");
        let audit_bytes = |targets: usize| {
            let mut h = History::new(MAX_TARGETS, RING_CAPACITY);
            h.rings = (0..targets).map(|i| (format!("ns/p{i}"), TargetHistoryRing::new(1))).collect();
            targets * h.ring_capacity() * per_sample
        };
        assert!(audit_bytes(2_500) <= 72 << 20);
        assert!(audit_bytes(10_000) <= 72 << 20, "{}", audit_bytes(10_000));
        assert!(audit_bytes(MAX_TARGETS) <= 144 << 20);
        assert_eq!(History::new(MAX_TARGETS, RING_CAPACITY).ring_capacity(), RING_CAPACITY);
    }

    #[test]
    fn many_targets_share_the_sample_budget() {
        let mut h = History::new(MAX_TARGETS, RING_CAPACITY);
        let snap = |at: i64| Snapshot { at, ..Default::default() };
        for at in 0..70 {
            h.record("ns/a", &snap(at));
        }
        assert_eq!(h.ring("ns/a").map(TargetHistoryRing::len), Some(RING_CAPACITY));
        h.rings.extend((0..9_999).map(|i| (format!("ns/p{i}"), TargetHistoryRing::new(RING_CAPACITY))));
        h.record("ns/a", &snap(70));
        assert_eq!(h.ring_capacity(), MIN_RING);
        let ring = h.ring("ns/a").expect("ring");
        assert_eq!(ring.len(), MIN_RING);
        assert_eq!(ring.last().map(|s| s.at), Some(70), "the newest samples stay");
    }

    #[test]
    fn round_trip_through_status() {
        let mut ring = TargetHistoryRing::new(8);
        for i in 0..10 {
            ring.push(sample(1_764_150_000 + i * 30, 100 + i as u64 * 5));
        }
        assert_eq!(ring.len(), 8);
        let enc = ring.encode(8, 8);
        assert!(enc[0].starts_with("1764150060:"), "{}", enc[0]);
        assert!(enc[1].starts_with("+30:"), "{}", enc[1]);
        let back = TargetHistoryRing::decode(&enc, 8).unwrap();
        assert_eq!(back.len(), 8);
        let (a, b) = (ring.last().unwrap(), back.last().unwrap());
        assert_eq!(a.at, b.at);
        assert_eq!(a.total, b.total);
        assert_eq!(a.sites, b.sites);
        assert_eq!(b.long_waits, vec![0x0123_4567]);
        assert_eq!(b.contention, a.contention, "the newest sample keeps its lock delays");
        assert!(back.samples().next().is_some_and(|s| s.contention.is_empty()), "older ones do not");
        assert_eq!(b.contention_ms(0x0c0f_fee0), Some(2348));
        assert!(b.minutes_known);
        assert_eq!(b.heap_alloc, Some(12_345_678 / 1024 * 1024));
        assert_eq!(b.gc_cpu_fraction, Some(0.0123));
        assert!(b.sites_complete);
        // Trimmed sites: the list is marked incomplete, so absent sites are unknown, not 0.
        let trimmed = TargetHistoryRing::decode(&ring.encode(2, 1), 8).unwrap();
        let last = trimmed.last().unwrap();
        assert_eq!(last.sites.len(), 1);
        assert_eq!(last.site_count(0x0123_4567), None);
        assert_eq!(back.last().unwrap().site_count(0x5555_5555), Some(0));
    }

    #[test]
    fn unknown_fields_and_bad_samples() {
        let s = Sample { at: 10, total: Some(5), ..Default::default() };
        assert_eq!(s.encode(None, 4, true), "10:5:~");
        let d = Sample::decode("10:5", None).unwrap();
        assert_eq!((d.at, d.total, d.num_gc), (10, Some(5), None));
        let d = Sample::decode("10:5:7:2/1::64", None).unwrap();
        assert_eq!(d.num_forced_gc, Some(2));
        assert_eq!(d.scrape_forced_gcs, 1);
        assert_eq!(d.heap_alloc, Some(64 * 1024));
        assert!(Sample::decode("+5:1", None).is_err());
        assert!(Sample::decode("x:1", None).is_err());
        assert!(Sample::decode("1:1:zz=3", None).is_err());
        let (h, errs) = History::from_status(&[
            TargetHistory { target: "a/b".into(), samples: vec!["10:5".into(), "+10:6".into()] },
            TargetHistory { target: "a/c".into(), samples: vec!["garbage".into()] },
        ]);
        assert_eq!(h.len(), 1);
        assert_eq!(errs.len(), 1);
        assert_eq!(h.ring("a/b").unwrap().last().unwrap().at, 20);
    }

    #[test]
    fn ring_ignores_older_and_replaces_same_time() {
        let mut r = TargetHistoryRing::new(4);
        r.push(sample(100, 1));
        r.push(sample(100, 2));
        r.push(sample(50, 3));
        assert_eq!(r.len(), 1);
        assert_eq!(r.last().unwrap().total, Some(2));
    }

    #[test]
    fn history_evicts_least_recent_target() {
        let mut h = History::new(2, 4);
        let snap = |at| Snapshot { at, ..Default::default() };
        h.record("a/1", &snap(100));
        h.record("a/2", &snap(200));
        h.record("a/3", &snap(300));
        assert!(h.ring("a/1").is_none());
        assert_eq!(h.len(), 2);
        h.retain(|k| k != "a/2");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn status_size_at_5000_targets() {
        let mut h = History::new(MAX_TARGETS, RING_CAPACITY);
        for t in 0..5000u64 {
            let key = format!("team-{:02}/service-{t:04}-7c9f8d6b5-x2k4q", t % 40);
            let ring = h.rings.entry(key).or_insert_with(|| TargetHistoryRing::new(RING_CAPACITY));
            for i in 0..RING_CAPACITY as i64 {
                // Every 25th target leaks: its total grows.
                let total = if t % 25 == 0 { 200 + i as u64 * 40 } else { 180 + (i as u64 % 3) };
                ring.push(sample(1_764_150_000 + i * 300, total));
            }
        }
        let full = json_len(&h.to_status(usize::MAX));
        let budget = DEFAULT_STATUS_HISTORY_BYTES;
        let trimmed = h.to_status(budget);
        let size = json_len(&trimmed);
        let growing_kept = trimmed
            .iter()
            .filter(|e| {
                let n: u64 = e.target.split('-').nth(2).unwrap().parse().unwrap();
                n.is_multiple_of(25)
            })
            .count();
        println!(
            "status.history at 5000 targets x {RING_CAPACITY} samples: untrimmed {full} bytes; \
             trimmed to {size} bytes (budget {budget}), {} targets kept ({growing_kept} of the 200 growing)",
            trimmed.len()
        );
        assert!(size <= budget);
        assert_eq!(growing_kept, 200, "growing targets are kept first");
        // Restored rings still carry a trend.
        let (back, errs) = History::from_status(&trimmed);
        assert!(errs.is_empty());
        let ring = back.ring(&trimmed[0].target).unwrap();
        assert!(ring.len() >= 2);

        // 100 targets fit with more detail.
        let mut small = History::new(MAX_TARGETS, RING_CAPACITY);
        for (k, r) in h.rings.iter().take(100) {
            small.rings.insert(k.clone(), r.clone());
        }
        let s = small.to_status(budget);
        println!("status.history at 100 targets: {} bytes, {} samples per target", json_len(&s), s[0].samples.len());
        assert_eq!(s.len(), 100);
        assert!(s[0].samples.len() >= 12);
    }
}
