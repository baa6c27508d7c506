//! Small helpers shared by the text parsers. Everything works on borrowed slices of the input.

use std::borrow::Cow;

use super::ParseError;
use super::labels::parse_label_set;
use super::limits::{MAX_LABEL_SETS, MAX_NAME_BYTES, MAX_STACK_DEPTH, MAX_STACK_FRAMES, MAX_STRINGS, too_complex};
use super::model::{Frame, Labels, Stack, Sym};

/// The input as text. Go writes UTF-8; anything else (corrupt bytes in a path) is replaced
/// rather than rejected, which costs one copy only for such inputs.
pub fn as_text(data: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(data) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(data),
    }
}

/// Position of the first `needle` in `hay`, eight bytes at a time (profile lines are short, so
/// a plain byte loop or the generic `str` searcher dominates the parse otherwise).
#[inline]
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let rep = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ rep;
        // a zero byte in x is a match; the lowest flagged byte is always a true match
        let t = x.wrapping_sub(LO) & !x & HI;
        if t != 0 {
            return Some(base + (t.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == needle).map(|i| base + i)
}

/// Lines without their `\n` / `\r\n` terminator, numbered from 1.
pub fn lines(text: &str) -> Lines<'_> {
    Lines { rest: Some(text), n: 0 }
}

pub struct Lines<'a> {
    rest: Option<&'a str>,
    n: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let (line, next) = match find_byte(rest.as_bytes(), b'\n') {
            // `\n` is ASCII, so both sides are on char boundaries
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..)),
            None => (rest, None),
        };
        self.rest = next;
        self.n += 1;
        Some((self.n, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// `path/to/file.go:123` with an optional ` +0x1d` and crash-dump ` fp=… sp=… pc=…` suffix.
/// The line number is the first `:<digits>` followed by the end or a space, so Windows paths
/// (`C:\x\main.go:12`, `C:/Users/main.go:12`) work. Returns `None` when there is none.
pub fn split_file_line(s: &str) -> Option<(&str, u32)> {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| c != b'\t' && c != b' ')?;
    let mut from = start;
    while let Some(off) = find_byte(b.get(from..)?, b':') {
        let colon = from + off;
        let digits = b.get(colon + 1..)?.iter().take_while(|c| c.is_ascii_digit()).count();
        let end = colon + 1 + digits;
        if digits > 0 && matches!(b.get(end), None | Some(b' ') | Some(b'\r')) {
            let line = parse_u32(b.get(colon + 1..end)?)?;
            return Some((s.get(start..colon)?, line));
        }
        from = colon + 1;
    }
    None
}

fn parse_u32(d: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in d {
        v = v.checked_mul(10)?.checked_add(u32::from(c.wrapping_sub(b'0')))?;
    }
    Some(v)
}

/// Strips a `+0x1f` offset from `func+0x1f`.
pub fn strip_offset(s: &str) -> &str {
    let b = s.as_bytes();
    match b.iter().rposition(|&c| c == b'+') {
        Some(i) if b.get(i + 1..i + 3) == Some(b"0x") => s.get(..i).unwrap_or(s),
        _ => s,
    }
}

/// Decimal u64 without sign or spaces.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decimal i64 (debug=1 heap records can be negative in theory; be lenient).
pub fn parse_i64(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// A short, printable description of the start of an unrecognised text, for error messages.
pub fn excerpt(s: &str) -> String {
    let first = s.trim_start().lines().next().unwrap_or("");
    let mut out: String = first.chars().take(40).collect();
    if first.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

/// Small, fast, non-cryptographic hash for interning (inputs are bounded by the caller's limit;
/// a hash-flooding target only slows its own audit).
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w.get_mut(..rest.len()).map(|d| d.copy_from_slice(rest)).unwrap_or_default();
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

/// Per-parse interner for frame strings: a profile repeats the same few hundred function and
/// file names in every record, and a hash lookup plus a reference count beats an allocation
/// per frame (and the frames then share memory). Capped at [`MAX_STRINGS`] distinct strings of
/// at most [`MAX_NAME_BYTES`]; past a cap it records the error and hands out empty strings,
/// and the parser stops at its next check of [`Syms::error`].
#[derive(Default)]
pub(super) struct Syms<'a> {
    map: FxHashMap<&'a str, Sym>,
    error: Option<ParseError>,
}

impl<'a> Syms<'a> {
    pub fn get(&mut self, s: &'a str) -> Sym {
        if let Some(sym) = self.map.get(s) {
            return sym.clone();
        }
        if !self.allowed(s) {
            return Sym::default();
        }
        if self.map.len() >= MAX_STRINGS {
            self.fail(too_complex("distinct strings", MAX_STRINGS));
            return Sym::default();
        }
        let sym = Sym::from(s);
        self.map.insert(s, sym.clone());
        sym
    }

    /// A string that is not interned (label values): only its length is checked.
    pub fn owned(&mut self, s: &str) -> Sym {
        if self.allowed(s) { Sym::from(s) } else { Sym::default() }
    }

    fn allowed(&mut self, s: &str) -> bool {
        if s.len() > MAX_NAME_BYTES {
            self.fail(too_complex("bytes in one name", MAX_NAME_BYTES));
            return false;
        }
        true
    }

    /// Keeps the first error.
    pub fn fail(&mut self, e: ParseError) {
        self.error.get_or_insert(e);
    }

    /// The first cap exceeded, if any.
    pub fn error(&self) -> Option<&ParseError> {
        self.error.as_ref()
    }

    pub fn frame(&mut self, (function, file, line): (&'a str, &'a str, u32)) -> Frame {
        Frame { function: self.get(function), file: self.get(file), line }
    }
}

/// Frames and stacks of one text profile. Frames are numbered by their text line (debug=1:
/// records with the same stack repeat the same lines, so a repeat costs one lookup instead of
/// parsing the line again) or by their parsed value (debug=2); a stack is a list of frame ids
/// and each distinct list becomes one shared [`Stack`]. Stacks are cut at [`MAX_STACK_DEPTH`];
/// over [`MAX_STACK_FRAMES`] frames in distinct stacks or [`MAX_LABEL_SETS`] label sets the
/// error is recorded in `syms` (see [`Stacks::error`]).
#[derive(Default)]
pub(super) struct Stacks<'a> {
    lines: FxHashMap<&'a str, Option<u32>>,
    frame_ids: FxHashMap<(&'a str, &'a str, u32), u32>,
    frames: Vec<Frame>,
    stacks: FxHashMap<Box<[u32]>, (u32, Stack)>,
    /// Frames summed over `stacks`.
    stack_frames: usize,
    pub syms: Syms<'a>,
    /// Labels by their text: records with the same labels print the same text.
    labels: FxHashMap<&'a str, (u32, Labels)>,
    /// Frame ids of the stack being read.
    current: Vec<u32>,
    /// The stack being read had more than [`MAX_STACK_DEPTH`] frames.
    cut: bool,
}

/// A finished stack: its number (a merge key), the shared frames, and whether it was cut.
pub(super) struct Finished {
    pub id: u32,
    pub stack: Stack,
    pub cut: bool,
}

impl<'a> Stacks<'a> {
    /// Appends the frame of a text line (parsed by `parse` the first time the line is seen) to
    /// the current stack. Lines that `parse` rejects are skipped.
    pub fn push_line(&mut self, line: &'a str, parse: impl FnOnce(&'a str) -> Option<(&'a str, &'a str, u32)>) {
        let id = match self.lines.get(line) {
            Some(id) => *id,
            None => {
                let id = parse(line).map(|f| self.frame_id(f));
                self.lines.insert(line, id);
                id
            }
        };
        if id.is_some() && self.current.len() >= MAX_STACK_DEPTH {
            self.cut = true;
            return;
        }
        self.current.extend(id);
    }

    /// The first cap exceeded, if any.
    pub fn error(&self) -> Option<&ParseError> {
        self.syms.error()
    }

    /// Id of a frame given by value.
    pub fn frame_id(&mut self, f: (&'a str, &'a str, u32)) -> u32 {
        if let Some(id) = self.frame_ids.get(&f) {
            return *id;
        }
        let id = u32::try_from(self.frames.len()).unwrap_or(u32::MAX);
        let frame = self.syms.frame(f);
        self.frames.push(frame);
        self.frame_ids.insert(f, id);
        id
    }

    pub fn frame(&self, id: u32) -> Frame {
        self.frames.get(id as usize).cloned().unwrap_or_default()
    }

    /// The current stack (ended; the next one starts empty).
    pub fn finish(&mut self) -> Finished {
        let ids = std::mem::take(&mut self.current);
        let (id, stack) = self.stack_with_id(&ids);
        self.current = ids;
        self.current.clear();
        Finished { id, stack, cut: std::mem::take(&mut self.cut) }
    }

    /// The shared stack of these frame ids.
    pub fn stack(&mut self, ids: &[u32]) -> Stack {
        self.stack_with_id(ids).1
    }

    fn stack_with_id(&mut self, ids: &[u32]) -> (u32, Stack) {
        if let Some(s) = self.stacks.get(ids) {
            return s.clone();
        }
        self.stack_frames = self.stack_frames.saturating_add(ids.len());
        if self.stack_frames > MAX_STACK_FRAMES {
            self.syms.fail(too_complex("frames in distinct stacks", MAX_STACK_FRAMES));
            return (u32::MAX, Stack::default());
        }
        let stack: Stack = ids.iter().map(|id| self.frame(*id)).collect();
        let id = u32::try_from(self.stacks.len()).unwrap_or(u32::MAX);
        self.stacks.insert(ids.into(), (id, stack.clone()));
        (id, stack)
    }

    /// The shared label set printed as `text` (`{...}`) and its number, or `None` when it is
    /// malformed.
    pub fn labels(&mut self, text: &'a str) -> Option<(u32, Labels)> {
        if let Some(l) = self.labels.get(text) {
            return Some(l.clone());
        }
        if self.labels.len() >= MAX_LABEL_SETS {
            self.syms.fail(too_complex("label sets", MAX_LABEL_SETS));
            return None;
        }
        let (labels, _) = parse_label_set(text, &mut self.syms)?;
        let id = u32::try_from(self.labels.len()).unwrap_or(u32::MAX);
        self.labels.insert(text, (id, labels.clone()));
        Some((id, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_line_variants() {
        assert_eq!(split_file_line("\t/app/main.go:28 +0x71"), Some(("/app/main.go", 28)));
        assert_eq!(split_file_line("\tnet/http/server.go:698"), Some(("net/http/server.go", 698)));
        assert_eq!(
            split_file_line("\tC:/Users/dev/go/src/app/main.go:12 +0x1d"),
            Some(("C:/Users/dev/go/src/app/main.go", 12))
        );
        assert_eq!(
            split_file_line("\tC:\\Users\\dev\\app\\main.go:7 +0x2f"),
            Some(("C:\\Users\\dev\\app\\main.go", 7))
        );
        assert_eq!(
            split_file_line("\truntime/panic.go:878 +0x159 fp=0x3ae3 sp=0x3ae3 pc=0x489d79"),
            Some(("runtime/panic.go", 878))
        );
        assert_eq!(split_file_line("\tC:/Program Files/Go/src/x.go:3 +0x1"), Some(("C:/Program Files/Go/src/x.go", 3)));
        assert_eq!(split_file_line("\tno line here"), None);
    }

    #[test]
    fn crlf_lines() {
        let v: Vec<_> = lines("a\r\nb\n\r\nc").collect();
        assert_eq!(v, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
    }

    #[test]
    fn find_byte_matches_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for n in 0..=255u8 {
            for start in [0, 1, 5, 9, 100] {
                let h = &hay[start..];
                assert_eq!(find_byte(h, n), h.iter().position(|&b| b == n), "{n} {start}");
            }
        }
        assert_eq!(find_byte(b"", b'x'), None);
        assert_eq!(find_byte(b"\x81\x80\x01\n", b'\n'), Some(3));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("+42"), None);
        assert_eq!(parse_u64("99999999999999999999999"), None);
        assert_eq!(parse_u64(""), None);
    }
}
