//! Goroutine profile.proto (`goroutine`, `goroutineleak`) decoded as it is inflated, straight
//! into the columnar [`Groups`]: the inflated message never exists whole, samples are never
//! collected, a sample costs its count, a stack number and a label-set number, and label
//! strings live in one arena ([`LabelTable`]). A profile with a distinct label value per
//! goroutine thus takes about its inflated size, instead of ~10× with a struct per sample.
//!
//! Go writes samples before the locations, functions and strings they point at, so samples
//! keep ids only (location-id lists and label string ids, each distinct list once) and frames
//! and label order are resolved at the end.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::limits::{
    MAX_NAME_BYTES, MAX_SAMPLES, MAX_STACK_DEPTH, MAX_STACK_FRAMES, MAX_STRINGS, MAX_TABLE_ENTRIES, too_complex,
};
use super::model::{Counts, Frame, GoroutineProfile, Groups, LabelTable, Stack, Sym};
use super::text::{FxBuild, FxHashMap};
use super::wire::{self, Function, Label, Line, ValueType};
use super::{ParseError, gzip};

/// What a decoded profile turned out to be.
pub(super) enum Decoded {
    Goroutine(GoroutineProfile),
    /// Not a goroutine profile: its sample types as `type/unit`, for the caller's error or
    /// its fallback to the other kinds.
    OtherKind(Vec<(String, String)>),
}

/// Decodes a gzipped or plain goroutine profile.proto; `leak`: `Some` when the caller knows the
/// endpoint, `None` decides from the sample type (`goroutineleak/count`).
pub(super) fn decode(data: &[u8], limit: usize, leak: Option<bool>) -> Result<Decoded, ParseError> {
    let mut d = Decoder::default();
    let mut splitter = wire::Splitter::default();
    // After a decoding error the rest is still inflated (and dropped) to its end: a body over the
    // limit is `TooLarge` whatever its content (a gzip bomb of zeros fails to decode at once),
    // and the caller's fallback then never inflates it into memory.
    let mut failed: Option<ParseError> = None;
    gzip::gunzip_chunks(data, limit, &mut |chunk| {
        if failed.is_none()
            && let Err(e) = splitter.feed(chunk, &mut |field, payload| d.field(field, payload))
        {
            failed = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    splitter.finish()?;
    d.finish(leak)
}

#[derive(Default)]
struct Decoder {
    hasher: FxBuild,
    sample_types: Vec<ValueType>,
    samples: usize,
    total: u64,
    // one entry per group; group `i` has label set `i` of `table`
    count: Counts,
    stack: Vec<u32>,
    groups: HashTable<u32>,
    // distinct location-id lists (stacks before their frames are known), as their encoded
    // bytes: a sample whose list was seen costs a hash and a compare, no decoding
    list_bytes: Vec<u8>,
    lists: Vec<List>,
    /// Location ids over the distinct lists (capped by [`MAX_STACK_FRAMES`]).
    list_ids: usize,
    list_index: HashTable<u32>,
    // label sets (string ids = string table indices; the strings arrive later)
    table: LabelTable,
    // the tables the samples point into
    locations: Vec<(u64, u32, u32)>,
    lines: Vec<Line>,
    functions: Vec<Function>,
    // scratch
    sample_labels: Vec<Label>,
    pairs: Vec<(u32, u32)>,
}

/// A distinct location-id list: its encoded bytes `list_bytes[start..start + len]`, and
/// whether it holds more ids than a stack keeps.
#[derive(Clone, Copy)]
struct List {
    start: u32,
    len: u32,
    cut: bool,
}

impl List {
    fn bytes(self, arena: &[u8]) -> &[u8] {
        arena.get(self.start as usize..(self.start as usize).saturating_add(self.len as usize)).unwrap_or_default()
    }
}

fn cap(len: usize, limit: usize, what: &'static str) -> Result<(), ParseError> {
    if len >= limit { Err(too_complex(what, limit)) } else { Ok(()) }
}

/// A string table index as a [`LabelTable`] string id (out of range reads as "").
fn string_id(idx: i64) -> u32 {
    u32::try_from(idx).unwrap_or(u32::MAX)
}

impl Decoder {
    fn field(&mut self, field: u32, payload: &[u8]) -> Result<(), ParseError> {
        match field {
            1 => {
                cap(self.sample_types.len(), MAX_TABLE_ENTRIES, "sample types")?;
                self.sample_types.push(wire::value_type(payload)?);
            }
            2 => self.sample(payload)?,
            4 => {
                cap(self.locations.len(), MAX_TABLE_ENTRIES, "locations")?;
                let start = u32::try_from(self.lines.len()).unwrap_or(u32::MAX);
                let id = wire::location_parts(payload, &mut self.lines)?;
                let len = u32::try_from(self.lines.len()).unwrap_or(u32::MAX).saturating_sub(start);
                self.locations.push((id, start, len));
            }
            5 => {
                cap(self.functions.len(), MAX_TABLE_ENTRIES, "functions")?;
                self.functions.push(wire::function(payload)?);
            }
            6 => {
                cap(self.table.string_count(), MAX_STRINGS, "strings")?;
                // Names end up in findings and status: a megabyte-long "function name" is not a profile.
                if payload.len() > MAX_NAME_BYTES {
                    return Err(too_complex("bytes in one string", MAX_NAME_BYTES));
                }
                let s = String::from_utf8_lossy(payload);
                self.table.push_str(&s).ok_or_else(|| too_complex("strings", MAX_STRINGS))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn sample(&mut self, payload: &[u8]) -> Result<(), ParseError> {
        cap(self.samples, MAX_SAMPLES, "samples")?;
        self.samples += 1;
        let mut value = None;
        let (locations, n) = wire::sample_parts(payload, &mut value, &mut self.sample_labels)?;
        // Negative values only occur in delta profiles; they mean "fewer than before".
        let count = value.map_or(0, |v| u64::try_from(v).unwrap_or(0));
        self.total = self.total.saturating_add(count);
        let list = self.list(locations, n)?;
        self.canonical_labels();
        // Go writes one sample per stack and label set; a repeat (hand-made or merged files)
        // is the same goroutines, counted once.
        let key = self.pairs.as_slice();
        let h = self.hasher.hash_one((list, key));
        let (stack, table) = (&self.stack, &self.table);
        let found = self.groups.find(h, |&g| stack.get(g as usize) == Some(&list) && table.set(g) == key);
        match found.copied() {
            Some(g) => self.count.add(g, count),
            None => {
                cap(self.table.pair_count().saturating_add(key.len()), MAX_TABLE_ENTRIES, "sample labels")?;
                let g = self.table.push_set(key).ok_or_else(|| too_complex("samples", MAX_SAMPLES))?;
                self.count.push(count);
                self.stack.push(list);
                let (hasher, stack, table) = (&self.hasher, &self.stack, &self.table);
                self.groups.insert_unique(h, g, |&g| {
                    hasher.hash_one((stack.get(g as usize).copied().unwrap_or(0), table.set(g)))
                });
            }
        }
        Ok(())
    }

    /// The number of a sample's location-id list (`key`: its encoded bytes, `n` ids), added
    /// when new.
    fn list(&mut self, key: &[u8], n: usize) -> Result<u32, ParseError> {
        let h = self.hasher.hash_one(key);
        let (arena, lists) = (&self.list_bytes, &self.lists);
        if let Some(&i) = self.list_index.find(h, |&i| lists.get(i as usize).is_some_and(|l| l.bytes(arena) == key)) {
            return Ok(i);
        }
        self.list_ids = self.list_ids.saturating_add(n.min(MAX_STACK_DEPTH));
        if self.list_ids > MAX_STACK_FRAMES {
            return Err(too_complex("frames in distinct stacks", MAX_STACK_FRAMES));
        }
        let too_big = || too_complex("bytes of distinct stacks", u32::MAX as usize);
        let i = u32::try_from(self.lists.len()).map_err(|_| too_big())?;
        let start = u32::try_from(self.list_bytes.len()).map_err(|_| too_big())?;
        let len = u32::try_from(key.len()).map_err(|_| too_big())?;
        self.list_bytes.extend_from_slice(key);
        self.lists.push(List { start, len, cut: n > MAX_STACK_DEPTH });
        let (hasher, arena, lists) = (&self.hasher, &self.list_bytes, &self.lists);
        self.list_index
            .insert_unique(h, i, |&i| hasher.hash_one(lists.get(i as usize).map_or(&[][..], |l| l.bytes(arena))));
        Ok(i)
    }

    /// The sample's labels (`sample_labels`) into `pairs`: numeric labels are not pprof.Do
    /// labels and are left out; ordered by key id (so equal sets compare equal) and by key
    /// text at the end ([`LabelTable::sort_sets`]); a repeated key keeps its last value.
    fn canonical_labels(&mut self) {
        self.pairs.clear();
        self.pairs
            .extend(self.sample_labels.iter().filter(|l| l.str != 0).map(|l| (string_id(l.key), string_id(l.str))));
        if self.pairs.len() > 1 {
            self.pairs.reverse(); // the stable sort then puts the last value of a key first
            self.pairs.sort_by_key(|p| p.0);
            self.pairs.dedup_by_key(|p| p.0);
        }
    }

    fn sample_type_names(&self) -> Vec<(String, String)> {
        self.sample_types
            .iter()
            .map(|t| (self.table.str(string_id(t.r#type)).to_string(), self.table.str(string_id(t.unit)).to_string()))
            .collect()
    }

    fn finish(mut self, leak: Option<bool>) -> Result<Decoded, ParseError> {
        if self.table.string_count() > 0 && !self.table.str(0).is_empty() {
            return Err(ParseError::Proto("string_table[0] is not empty".into()));
        }
        let leak_type = match self.sample_types.first().map(|t| self.table.str(string_id(t.r#type))) {
            Some("goroutine") => false,
            Some("goroutineleak") => true,
            _ => return Ok(Decoded::OtherKind(self.sample_type_names())),
        };
        let leak = leak.unwrap_or(leak_type);
        // Free what only the decoding needed before the frames are built.
        self.groups = HashTable::new();
        self.list_index = HashTable::new();
        self.table.shrink_to_fit();
        self.count.shrink_to_fit();
        self.stack.shrink_to_fit();
        let (stacks, cuts) = self.stacks()?;
        let flags: Vec<u8> = self
            .stack
            .iter()
            .map(|s| Groups::flags(leak, false, cuts.get(*s as usize).copied().unwrap_or(false)))
            .collect();
        self.table.sort_sets();
        let groups = Groups::from_columns(self.count, self.stack, flags, stacks, self.table);
        Ok(Decoded::Goroutine(GoroutineProfile { total: self.total, groups, leak_profile: leak }))
    }

    /// The frames of every distinct location-id list, innermost first (a location's inlined
    /// lines first), unknown ids skipped, cut at [`MAX_STACK_DEPTH`]; and whether each was cut.
    fn stacks(&self) -> Result<(Vec<Stack>, Vec<bool>), ParseError> {
        let functions = index(self.functions.iter().map(|f| f.id));
        let locations = index(self.locations.iter().map(|l| l.0));
        let mut syms: FxHashMap<u32, Sym> = FxHashMap::default();
        let mut sym = |id: i64| -> Sym {
            let id = string_id(id);
            syms.entry(id).or_insert_with(|| Sym::from(self.table.str(id))).clone()
        };
        // A location's lines, innermost (inlined callees) first, as Go writes them.
        let lines_of = |id: &u64| {
            locations.get(id).and_then(|i| self.locations.get(*i)).and_then(|&(_, start, len)| {
                self.lines.get(start as usize..(start as usize).saturating_add(len as usize))
            })
        };
        let mut stacks = Vec::with_capacity(self.lists.len());
        let mut cuts = Vec::with_capacity(self.lists.len());
        let mut total_frames = 0usize;
        let mut ids = Vec::new();
        for l in &self.lists {
            wire::location_ids(l.bytes(&self.list_bytes), MAX_STACK_DEPTH, &mut ids);
            let all: usize = ids.iter().filter_map(lines_of).map(<[Line]>::len).sum();
            let n = all.min(MAX_STACK_DEPTH);
            total_frames = total_frames.saturating_add(n);
            if total_frames > MAX_STACK_FRAMES {
                return Err(too_complex("frames in distinct stacks", MAX_STACK_FRAMES));
            }
            let mut frames = Vec::with_capacity(n);
            for line in ids.iter().filter_map(lines_of).flatten().take(n) {
                let f = functions.get(&line.function_id).and_then(|i| self.functions.get(*i));
                let (name, file) = f.map_or((0, 0), |f| (f.name, f.filename));
                frames.push(Frame {
                    function: sym(name),
                    file: sym(file),
                    line: u32::try_from(line.line).unwrap_or(0),
                });
            }
            stacks.push(Stack::from(frames));
            cuts.push(l.cut || all > n);
        }
        Ok((stacks, cuts))
    }
}

/// Id → position; a repeated id: the last one wins.
fn index(ids: impl Iterator<Item = u64>) -> FxHashMap<u64, usize> {
    ids.enumerate().map(|(i, id)| (id, i)).collect()
}
