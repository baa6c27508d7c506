//! A zero-copy profile.proto decoder for the parsers: strings are borrowed from the input and
//! repeated fields land in a few flat vectors, so decoding allocates O(1) times instead of once
//! per sample, label, location, function and string (prost's generated types own all of those).
//!
//! It accepts what prost accepts for the fields the parsers read (packed or unpacked repeated
//! scalars, any field order, unknown fields skipped) and rejects the same malformations: bad
//! varints, lengths past the end, wrong wire types on known fields, invalid UTF-8 in strings.
//! Mappings, comments and the other fields the parsers do not use are skipped unread. Groups
//! (wire types 3/4, deprecated, never written by Go) are rejected. Unlike prost, a string that
//! is not UTF-8 is kept with U+FFFD replacements (Go strings may hold any bytes; one odd name
//! should not lose the whole profile).
//!
//! Every table is capped ([`super::limits`]) while it is decoded: an entry costs 16–56 bytes
//! here from as little as 2 input bytes, so an uncapped table would grow ~28× the input.

use std::borrow::Cow;
use std::ops::Range;

use super::ParseError;
use super::limits::{MAX_SAMPLES, MAX_STRINGS, MAX_TABLE_ENTRIES, too_complex};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ValueType {
    pub r#type: i64,
    pub unit: i64,
}

/// One sample: the (validated) bytes of its location ids, which [`Profile::sample_locations`]
/// reads again, and ranges into [`Profile::values`] and [`Profile::labels`].
/// Location ids are ~90 % of a goroutine profile's numbers (one per frame of every sample):
/// re-reading them from the input beats copying them into a vector as large as the input, and
/// their bytes identify the stack ([`Sample::location_bytes`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Sample<'a> {
    /// The part of the message from the first location id field to the end of the last one
    /// (usually one packed field; any other field in between is skipped when re-read).
    locations: &'a [u8],
    /// How many location ids `locations` holds.
    pub location_count: usize,
    pub values: Range<usize>,
    pub labels: Range<usize>,
}

impl<'a> Sample<'a> {
    /// The encoded location ids: samples with equal bytes have the same ids.
    pub fn location_bytes(&self) -> &'a [u8] {
        self.locations
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Label {
    pub key: i64,
    /// 0 for numeric labels.
    pub str: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Location {
    pub id: u64,
    /// Range into [`Profile::lines`]; inlined callees first, as Go writes them.
    pub lines: Range<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Line {
    pub function_id: u64,
    pub line: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Function {
    pub id: u64,
    pub name: i64,
    pub filename: i64,
}

/// The fields of a decoded profile that the parsers use.
#[derive(Debug, Default)]
pub(super) struct Profile<'a> {
    pub sample_types: Vec<ValueType>,
    pub samples: Vec<Sample<'a>>,
    pub values: Vec<i64>,
    pub labels: Vec<Label>,
    pub locations: Vec<Location>,
    pub lines: Vec<Line>,
    pub functions: Vec<Function>,
    /// Borrowed from the input unless a string was not UTF-8.
    pub strings: Vec<Cow<'a, str>>,
}

impl<'a> Profile<'a> {
    /// String table entry; out of range (hostile input) reads as "".
    pub fn str(&self, idx: i64) -> &str {
        usize::try_from(idx).ok().and_then(|i| self.strings.get(i)).map_or("", |s| s.as_ref())
    }

    /// The sample's location ids, in order, onto `out` (cleared first).
    pub fn sample_locations(&self, s: &Sample<'_>, out: &mut Vec<u64>) {
        out.clear();
        out.reserve(s.location_count);
        let mut r = Reader::new(s.locations);
        // `decode` validated the message: an error here cannot happen, and would only end the
        // list early.
        while !r.done() {
            let step = match r.tag() {
                Ok((1, w)) => r.repeated(w, |v| out.push(v)),
                Ok((_, w)) => r.skip(w),
                Err(e) => Err(e),
            };
            if step.is_err() {
                break;
            }
        }
    }

    pub fn sample_values(&self, s: &Sample<'_>) -> &[i64] {
        self.values.get(s.values.clone()).unwrap_or_default()
    }

    #[cfg(test)]
    pub fn sample_labels(&self, s: &Sample<'_>) -> &[Label] {
        self.labels.get(s.labels.clone()).unwrap_or_default()
    }

    pub fn location_lines(&self, l: &Location) -> &[Line] {
        self.lines.get(l.lines.clone()).unwrap_or_default()
    }
}

fn err(msg: &str) -> ParseError {
    ParseError::Proto(msg.to_string())
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ParseError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or_else(|| err("truncated varint"))?;
            self.pos += 1;
            // the 10th byte holds bit 63 only
            if i == 9 && b > 1 {
                return Err(err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(err("varint longer than 10 bytes"))
    }

    /// (field number, wire type)
    fn tag(&mut self) -> Result<(u32, u8), ParseError> {
        let t = self.varint()?;
        let field = u32::try_from(t >> 3).map_err(|_| err("field number out of range"))?;
        if field == 0 {
            return Err(err("field number 0"));
        }
        Ok((field, (t & 7) as u8))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let len = usize::try_from(self.varint()?).map_err(|_| err("length out of range"))?;
        let end = self.pos.checked_add(len).ok_or_else(|| err("length out of range"))?;
        let b = self.buf.get(self.pos..end).ok_or_else(|| err("length past the end of the message"))?;
        self.pos = end;
        Ok(b)
    }

    fn skip(&mut self, wire: u8) -> Result<(), ParseError> {
        let n = match wire {
            VARINT => return self.varint().map(drop),
            LEN => return self.bytes().map(drop),
            FIXED64 => 8,
            FIXED32 => 4,
            _ => return Err(err("unsupported wire type")),
        };
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| err("truncated field"))?;
        self.pos = end;
        Ok(())
    }

    /// A scalar varint field (int64/uint64/bool): must be wire type 0.
    fn scalar(&mut self, wire: u8) -> Result<u64, ParseError> {
        if wire != VARINT {
            return Err(err("invalid wire type for a varint field"));
        }
        self.varint()
    }

    fn message(&mut self, wire: u8) -> Result<&'a [u8], ParseError> {
        if wire != LEN {
            return Err(err("invalid wire type for a message field"));
        }
        self.bytes()
    }

    /// How many varints a packed field holds, validating them as [`Self::varint`] would (a
    /// varint ends at a byte below 0x80; at most 10 bytes, the 10th holding bit 63 only),
    /// without decoding them.
    fn packed_count(&mut self) -> Result<usize, ParseError> {
        let b = self.bytes()?;
        let mut count = 0;
        let mut run = 0; // bytes of the current varint so far
        for &c in b {
            if run == 9 && c > 1 {
                return Err(err("varint overflows 64 bits"));
            }
            if c < 0x80 {
                count += 1;
                run = 0;
            } else {
                run += 1;
            }
        }
        if run > 0 {
            return Err(err("truncated varint"));
        }
        Ok(count)
    }

    /// A repeated varint field, packed (wire type 2) or not (0), each value to `push`.
    fn repeated(&mut self, wire: u8, mut push: impl FnMut(u64)) -> Result<(), ParseError> {
        match wire {
            VARINT => {
                push(self.varint()?);
                Ok(())
            }
            LEN => {
                let mut r = Reader::new(self.bytes()?);
                while !r.done() {
                    push(r.varint()?);
                }
                Ok(())
            }
            _ => Err(err("invalid wire type for a repeated varint field")),
        }
    }
}

/// Decodes a plain (not gzipped) profile.proto.
pub(super) fn decode(data: &[u8]) -> Result<Profile<'_>, ParseError> {
    let mut p = Profile::default();
    let mut r = Reader::new(data);
    while !r.done() {
        let (field, wire) = r.tag()?;
        match field {
            1 => {
                cap(p.sample_types.len(), MAX_TABLE_ENTRIES, "sample types")?;
                p.sample_types.push(value_type(r.message(wire)?)?);
            }
            2 => {
                cap(p.samples.len(), MAX_SAMPLES, "samples")?;
                sample(r.message(wire)?, &mut p)?;
            }
            4 => {
                cap(p.locations.len(), MAX_TABLE_ENTRIES, "locations")?;
                location(r.message(wire)?, &mut p)?;
            }
            5 => {
                cap(p.functions.len(), MAX_TABLE_ENTRIES, "functions")?;
                p.functions.push(function(r.message(wire)?)?);
            }
            6 => {
                cap(p.strings.len(), MAX_STRINGS, "strings")?;
                let b = r.message(wire)?;
                p.strings.push(match std::str::from_utf8(b) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(_) => String::from_utf8_lossy(b),
                });
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(p)
}

/// `Err` when a table already holds `limit` entries and another one comes.
fn cap(len: usize, limit: usize, what: &'static str) -> Result<(), ParseError> {
    if len >= limit { Err(too_complex(what, limit)) } else { Ok(()) }
}

pub(super) fn value_type(b: &[u8]) -> Result<ValueType, ParseError> {
    let mut v = ValueType::default();
    let mut r = Reader::new(b);
    while !r.done() {
        match r.tag()? {
            (1, w) => v.r#type = r.scalar(w)? as i64,
            (2, w) => v.unit = r.scalar(w)? as i64,
            (_, w) => r.skip(w)?,
        }
    }
    Ok(v)
}

fn sample<'a>(b: &'a [u8], p: &mut Profile<'a>) -> Result<(), ParseError> {
    let (v0, b0) = (p.values.len(), p.labels.len());
    let mut location_count = 0;
    let mut locations: Option<Range<usize>> = None;
    let mut r = Reader::new(b);
    // Only this sample appends while it is decoded, so its entries stay contiguous even when
    // its fields come interleaved.
    while !r.done() {
        let field_start = r.pos;
        match r.tag()? {
            (1, w) => location_field(&mut r, w, field_start, &mut location_count, &mut locations)?,
            // int64 on the wire is the two's complement u64, as prost reads it
            (2, w) => {
                let mut over = false;
                r.repeated(w, |v| {
                    if p.values.len() < MAX_TABLE_ENTRIES {
                        p.values.push(v as i64);
                    } else {
                        over = true;
                    }
                })?;
                if over {
                    return Err(too_complex("sample values", MAX_TABLE_ENTRIES));
                }
            }
            (3, w) => {
                cap(p.labels.len(), MAX_TABLE_ENTRIES, "sample labels")?;
                p.labels.push(label(r.message(w)?)?);
            }
            (_, w) => r.skip(w)?,
        }
    }
    let locations = locations.and_then(|l| b.get(l)).unwrap_or_default();
    p.samples.push(Sample { locations, location_count, values: v0..p.values.len(), labels: b0..p.labels.len() });
    Ok(())
}

pub(super) fn label(b: &[u8]) -> Result<Label, ParseError> {
    let mut l = Label::default();
    let mut r = Reader::new(b);
    while !r.done() {
        match r.tag()? {
            (1, w) => l.key = r.scalar(w)? as i64,
            (2, w) => l.str = r.scalar(w)? as i64,
            (3 | 4, w) => drop(r.scalar(w)?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(l)
}

fn location(b: &[u8], p: &mut Profile<'_>) -> Result<(), ParseError> {
    let start = p.lines.len();
    let id = location_parts(b, &mut p.lines)?;
    p.locations.push(Location { id, lines: start..p.lines.len() });
    Ok(())
}

/// A sample's location-id field (packed or not) at `field_start`: counts its ids without
/// decoding them and stretches `span` (first location field to the end of the last) over it.
fn location_field(
    r: &mut Reader<'_>,
    wire: u8,
    field_start: usize,
    count: &mut usize,
    span: &mut Option<Range<usize>>,
) -> Result<(), ParseError> {
    if wire == LEN {
        *count += r.packed_count()?;
    } else {
        r.repeated(wire, |_| *count += 1)?;
    }
    let start = span.as_ref().map_or(field_start, |l| l.start);
    *span = Some(start..r.pos);
    Ok(())
}

pub(super) fn line(b: &[u8]) -> Result<Line, ParseError> {
    let mut l = Line::default();
    let mut r = Reader::new(b);
    while !r.done() {
        match r.tag()? {
            (1, w) => l.function_id = r.scalar(w)?,
            (2, w) => l.line = r.scalar(w)? as i64,
            (3, w) => drop(r.scalar(w)?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(l)
}

pub(super) fn function(b: &[u8]) -> Result<Function, ParseError> {
    let mut f = Function::default();
    let mut r = Reader::new(b);
    while !r.done() {
        match r.tag()? {
            (1, w) => f.id = r.scalar(w)?,
            (2, w) => f.name = r.scalar(w)? as i64,
            (4, w) => f.filename = r.scalar(w)? as i64,
            (3 | 5, w) => drop(r.scalar(w)?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(f)
}

/// Splits a profile.proto that arrives in chunks into its top-level fields: each complete
/// message field (`field`, payload) goes to the visitor as soon as its bytes are in; only an
/// incomplete field's bytes are kept between chunks. Scalar top-level fields are skipped.
/// What [`Splitter`] calls with each top-level message field: (field number, payload).
pub(super) type Visit<'v> = dyn FnMut(u32, &[u8]) -> Result<(), ParseError> + 'v;

#[derive(Default)]
pub(super) struct Splitter {
    pending: Vec<u8>,
}

/// A varint at `pos`: `Ok(None)` when the buffer ends inside it.
fn try_varint(buf: &[u8], pos: usize) -> Result<Option<(u64, usize)>, ParseError> {
    let mut r = Reader { buf, pos };
    match r.varint() {
        Ok(v) => Ok(Some((v, r.pos))),
        Err(_)
            if buf.len().saturating_sub(pos) < 10 && buf.get(pos..).is_some_and(|b| b.iter().all(|c| *c >= 0x80)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Splitter {
    /// Feeds the next chunk; calls `visit(field, payload)` for every message field it completes.
    /// A field cut by the chunk's end is completed from the next chunk's first bytes, so only
    /// that field is ever copied.
    pub fn feed(&mut self, chunk: &[u8], visit: &mut Visit<'_>) -> Result<(), ParseError> {
        let mut rest = chunk;
        while !self.pending.is_empty() && !rest.is_empty() {
            // The pending field's size once its header is in; until then, a few bytes at a time.
            let want = match field_len(&self.pending)? {
                Some(total) => total.saturating_sub(self.pending.len()),
                None => 16,
            };
            let (head, tail) = rest.split_at(want.min(rest.len()));
            self.pending.extend_from_slice(head);
            rest = tail;
            let used = split(&self.pending, visit)?;
            self.pending.drain(..used);
        }
        if self.pending.is_empty() {
            let used = split(rest, visit)?;
            self.pending.extend_from_slice(rest.get(used..).unwrap_or_default());
        }
        Ok(())
    }

    /// The input ended: a field left incomplete is a truncated message.
    pub fn finish(&self) -> Result<(), ParseError> {
        if self.pending.is_empty() { Ok(()) } else { Err(err("truncated message")) }
    }
}

/// The size of the field at the start of `buf` (header included), once its header is complete.
fn field_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let Some((tag, after_tag)) = try_varint(buf, 0)? else { return Ok(None) };
    Ok(match (tag & 7) as u8 {
        VARINT => try_varint(buf, after_tag)?.map(|(_, end)| end),
        FIXED64 => Some(after_tag + 8),
        FIXED32 => Some(after_tag + 4),
        LEN => match try_varint(buf, after_tag)? {
            Some((len, start)) => {
                Some(start.saturating_add(usize::try_from(len).map_err(|_| err("length out of range"))?))
            }
            None => None,
        },
        _ => return Err(err("unsupported wire type")),
    })
}

/// Visits the complete fields at the start of `buf`; returns how many bytes they took.
fn split(buf: &[u8], visit: &mut Visit<'_>) -> Result<usize, ParseError> {
    let mut pos = 0;
    while pos < buf.len() {
        let Some((tag, after_tag)) = try_varint(buf, pos)? else { break };
        let field = u32::try_from(tag >> 3).map_err(|_| err("field number out of range"))?;
        if field == 0 {
            return Err(err("field number 0"));
        }
        let end = match (tag & 7) as u8 {
            VARINT => match try_varint(buf, after_tag)? {
                Some((_, end)) => end,
                None => break,
            },
            FIXED64 => after_tag + 8,
            FIXED32 => after_tag + 4,
            LEN => {
                let Some((len, start)) = try_varint(buf, after_tag)? else { break };
                let len = usize::try_from(len).map_err(|_| err("length out of range"))?;
                let end = start.checked_add(len).ok_or_else(|| err("length out of range"))?;
                let Some(payload) = buf.get(start..end) else { break };
                visit(field, payload)?;
                end
            }
            _ => return Err(err("unsupported wire type")),
        };
        if end > buf.len() {
            break;
        }
        if (tag & 7) as u8 != LEN && matches!(field, 1 | 2 | 4 | 5 | 6) {
            return Err(err("invalid wire type for a message field"));
        }
        pos = end;
    }
    Ok(pos)
}

/// One sample for the streaming decoder: the bytes of its location-id fields (as
/// [`Sample::location_bytes`]: equal bytes, equal ids) and how many ids they hold, its first
/// value, its labels onto `labels` (cleared first). The ids are validated, not decoded.
pub(super) fn sample_parts<'b>(
    b: &'b [u8],
    first_value: &mut Option<i64>,
    labels: &mut Vec<Label>,
) -> Result<(&'b [u8], usize), ParseError> {
    labels.clear();
    *first_value = None;
    let mut count = 0usize;
    let mut locations: Option<Range<usize>> = None;
    let mut r = Reader::new(b);
    while !r.done() {
        let field_start = r.pos;
        match r.tag()? {
            (1, w) => location_field(&mut r, w, field_start, &mut count, &mut locations)?,
            (2, w) => r.repeated(w, |v| {
                first_value.get_or_insert(v as i64);
            })?,
            (3, w) => {
                if labels.len() >= MAX_TABLE_ENTRIES {
                    return Err(too_complex("sample labels", MAX_TABLE_ENTRIES));
                }
                labels.push(label(r.message(w)?)?);
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((locations.and_then(|l| b.get(l)).unwrap_or_default(), count))
}

/// The first `max` location ids of bytes from [`sample_parts`], onto `out` (cleared first).
pub(super) fn location_ids(bytes: &[u8], max: usize, out: &mut Vec<u64>) {
    out.clear();
    let mut r = Reader::new(bytes);
    // `sample_parts` validated these bytes: an error here cannot happen, and would only end
    // the list early.
    while !r.done() && out.len() < max {
        let step = match r.tag() {
            Ok((1, w)) => r.repeated(w, |v| {
                if out.len() < max {
                    out.push(v);
                }
            }),
            Ok((_, w)) => r.skip(w),
            Err(e) => Err(e),
        };
        if step.is_err() {
            break;
        }
    }
}

/// One location for the streaming decoder: its id, its lines onto `lines` (appended).
pub(super) fn location_parts(b: &[u8], lines: &mut Vec<Line>) -> Result<u64, ParseError> {
    let mut id = 0;
    let mut r = Reader::new(b);
    while !r.done() {
        match r.tag()? {
            (1, w) => id = r.scalar(w)?,
            (2 | 3 | 5, w) => drop(r.scalar(w)?),
            (4, w) => {
                cap(lines.len(), MAX_TABLE_ENTRIES, "location lines")?;
                lines.push(line(r.message(w)?)?);
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::proto::pb;
    use super::*;

    fn roundtrip(p: &pb::Profile) {
        let bytes = p.encode_to_vec();
        let w = decode(&bytes).unwrap();
        let strings: Vec<&str> = w.strings.iter().map(|s| s.as_ref()).collect();
        assert_eq!(strings, p.string_table.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(w.samples.len(), p.sample.len());
        let mut ids = Vec::new();
        for (ws, ps) in w.samples.iter().zip(&p.sample) {
            w.sample_locations(ws, &mut ids);
            assert_eq!(ids, ps.location_id);
            assert_eq!(ws.location_count, ids.len());
            assert_eq!(w.sample_values(ws), &ps.value[..]);
            let labels: Vec<(i64, i64)> = w.sample_labels(ws).iter().map(|l| (l.key, l.str)).collect();
            assert_eq!(labels, ps.label.iter().map(|l| (l.key, l.str)).collect::<Vec<_>>());
        }
        assert_eq!(w.locations.len(), p.location.len());
        for (wl, pl) in w.locations.iter().zip(&p.location) {
            assert_eq!(wl.id, pl.id);
            let lines: Vec<(u64, i64)> = w.location_lines(wl).iter().map(|l| (l.function_id, l.line)).collect();
            assert_eq!(lines, pl.line.iter().map(|l| (l.function_id, l.line)).collect::<Vec<_>>());
        }
        let fns: Vec<(u64, i64, i64)> = w.functions.iter().map(|f| (f.id, f.name, f.filename)).collect();
        assert_eq!(fns, p.function.iter().map(|f| (f.id, f.name, f.filename)).collect::<Vec<_>>());
        let types: Vec<(i64, i64)> = w.sample_types.iter().map(|t| (t.r#type, t.unit)).collect();
        assert_eq!(types, p.sample_type.iter().map(|t| (t.r#type, t.unit)).collect::<Vec<_>>());
    }

    #[test]
    fn agrees_with_prost_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut n = 0;
        for ver in std::fs::read_dir(&root).unwrap() {
            let ver = ver.unwrap().path();
            if !ver.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(ver).unwrap() {
                let path = f.unwrap().path();
                if path.extension().is_some_and(|e| e == "gz") {
                    let gz = std::fs::read(&path).unwrap();
                    let plain = super::super::gunzip_limited(&gz, 1 << 30).unwrap();
                    roundtrip(&pb::Profile::decode(&plain[..]).unwrap());
                    n += 1;
                }
            }
        }
        assert!(n >= 3, "{n} proto fixtures");
    }

    #[test]
    fn unpacked_repeated_scalars_and_interleaved_fields() {
        // Sample fields written field by field (unpacked) and interleaved: still one sample.
        let mut b = Vec::new();
        for (tag, v) in [(0x08u8, 3u8), (0x10, 7), (0x08, 4), (0x10, 0x7f)] {
            b.extend([tag, v]);
        }
        let mut msg = vec![0x12, b.len() as u8];
        msg.extend(&b);
        msg.extend([0x32, 0]); // string_table[0] = ""
        let w = decode(&msg).unwrap();
        let s = &w.samples[0];
        let mut ids = Vec::new();
        w.sample_locations(s, &mut ids);
        assert_eq!(ids, [3, 4]);
        assert_eq!(w.sample_values(s), &[7, 0x7f]);
        let p = pb::Profile::decode(&msg[..]).unwrap();
        assert_eq!(p.sample[0].location_id, vec![3, 4]);
    }

    #[test]
    fn rejects_what_prost_rejects() {
        let cases: [&[u8]; 6] = [
            &[0x12, 0x05, 0x08],                                                 // length past the end
            &[0x10, 0x01],                                                       // sample as a varint
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], // varint overflow
            &[0x00, 0x00],                                                       // field 0
            &[0x0b],                                                             // group start
            &[0x12, 0x02, 0x08, 0x80],                                           // truncated packed varint
        ];
        for c in cases {
            assert!(decode(c).is_err(), "{c:?}");
            assert!(pb::Profile::decode(c).is_err(), "prost accepts {c:?}");
        }
    }

    #[test]
    fn invalid_utf8_strings_are_replaced_not_rejected() {
        let msg = [0x32, 0x00, 0x32, 0x02, 0xc3, 0x28]; // "", then invalid UTF-8
        assert!(pb::Profile::decode(&msg[..]).is_err(), "prost rejects it");
        let w = decode(&msg).unwrap();
        assert_eq!(w.str(1), "\u{fffd}(");
    }

    #[test]
    fn tables_are_capped_while_decoding() {
        // MAX_SAMPLES + 1 empty samples: 2 bytes each on the wire
        let mut msg = Vec::new();
        for _ in 0..=MAX_SAMPLES {
            msg.extend([0x12, 0x00]);
        }
        let e = decode(&msg).unwrap_err();
        assert_eq!(e.reason(), "ProfileTooComplex", "{e}");
        let mut msg = Vec::new();
        for _ in 0..=MAX_STRINGS {
            msg.extend([0x32, 0x00]);
        }
        assert_eq!(decode(&msg).unwrap_err().reason(), "ProfileTooComplex");
    }
}
