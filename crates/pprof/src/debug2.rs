//! `goroutine?debug=2` dumps and panic/crash tracebacks (Go 1.17 … 1.27).
//!
//! ```text
//! panic: boom                                  ← crash preamble (tracebacks only)
//!
//! goroutine 7 gp=0x… m=0 mp=0x… [chan receive (leaked), 45 minutes, locked to thread] {k: v}:
//! main.worker(0xc000010000, {0x0?, 0x0?})      ← function line (args vary per goroutine)
//!     /app/main.go:28 +0x71                    ← file line (may end in ` fp=… sp=… pc=…`)
//! ...3 frames elided...
//! created by main.start in goroutine 1         ← ` in goroutine N` since Go 1.21
//!     /app/main.go:20 +0x51
//! [originating from goroutine 1]:              ← GODEBUG=tracebackancestors (skipped)
//! ```
//!
//! Goroutines are grouped by (state without minutes, flags, labels, frames, creator): frames are
//! interned as borrowed slices of the input and a group key is a slice of frame ids, so a
//! goroutine whose stack was seen before costs no allocation.

use super::ParseError;
use super::debug1::expect;
use super::labels::label_set_len;
use super::limits::{MAX_SAMPLES, MAX_STACK_FRAMES, MAX_TRACEBACK_FRAMES, too_complex};
use super::model::{GoroutineGroup, GoroutineProfile, ProfileFormat};
use super::text::{FxHashMap, Stacks, as_text, find_byte, parse_u64, split_file_line};

/// Goroutine ids kept per group (the count is exact; ids are examples).
pub const GOIDS_PER_GROUP: usize = 16;

/// `runtime.Stack` stops at 64 MiB: a body of exactly that size was cut by the runtime.
const RUNTIME_STACK_CAP: usize = 64 << 20;

/// Longest crash message kept.
const PANIC_MESSAGE_MAX: usize = 4096;

/// A debug=2 dump or crash output with what the profile model has no place for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traceback {
    pub profile: GoroutineProfile,
    /// The lines before the first goroutine (`panic: …`, `fatal error: …`, `[signal …]`),
    /// `None` for a pprof dump.
    pub panic_message: Option<String>,
    /// The input ended inside a goroutine (runtime's 64 MiB cap, or a cut body); that
    /// goroutine is not counted.
    pub truncated: bool,
    /// Id of the first goroutine printed: the requesting one in a dump, the crashing one in a
    /// panic.
    pub first_goid: Option<u64>,
}

/// `goroutine?debug=2`, `goroutineleak?debug=2`, or a panic/crash traceback.
/// `total` is the number of goroutines parsed. Excerpts of a few goroutines and pasted text
/// whose tabs became spaces are read too. Stacks are cut at the runtime's own maximum
/// ([`MAX_TRACEBACK_FRAMES`], marked `frames_elided`); over a cap of [`super::limits`]:
/// `ProfileTooComplex`.
pub fn parse_goroutine_debug2(data: &[u8]) -> Result<GoroutineProfile, ParseError> {
    parse_traceback(data).map(|t| t.profile)
}

/// [`parse_goroutine_debug2`] keeping the crash message and truncation.
pub fn parse_traceback(data: &[u8]) -> Result<Traceback, ParseError> {
    expect(data, ProfileFormat::GoroutineDebug2)?;
    let text = as_text(data);
    let mut p = Parser::default();
    let mut rest: &str = &text;
    let mut ended_cleanly = true;
    while !rest.is_empty() {
        let (line, next, complete) = match find_byte(rest.as_bytes(), b'\n') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..).unwrap_or(""), true),
            None => (rest, "", false),
        };
        rest = next;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !complete && !p.completes_frame(line) {
            // A last line without its newline was cut mid-way: do not trust it (a pasted
            // excerpt that simply lacks the final newline ends in a whole `file:line +0x…`).
            ended_cleanly = false;
            break;
        }
        p.line(line);
        if let Some(e) = p.error.take().or_else(|| p.stacks.error().cloned()) {
            return Err(e);
        }
    }
    // A function line without its file line at the very end is noise (`exit status 2`), not a cut.
    let truncated = !ended_cleanly || data.len() == RUNTIME_STACK_CAP;
    if truncated {
        p.cur = None; // the goroutine being read is incomplete
    } else {
        p.finish_goroutine();
    }
    p.into_traceback(truncated)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct AttrKey<'a> {
    state: &'a str,
    leaked: bool,
    locked: bool,
    elided: bool,
    /// Raw text of the label set (same labels print the same text).
    labels: &'a str,
    created_by: Option<u32>,
}

struct Cur<'a> {
    goid: u64,
    state: &'a str,
    leaked: bool,
    locked: bool,
    minutes: Option<u64>,
    labels: &'a str,
    elided: bool,
    created_by: Option<u32>,
    parent_goid: Option<u64>,
    /// After `[originating from goroutine N]:` the frames are an ancestor's: skip them.
    in_ancestors: bool,
}

enum Pending<'a> {
    Func(&'a str),
    CreatedBy(&'a str, Option<u64>),
}

struct Acc {
    count: u64,
    any_minutes: bool,
    max_minutes: u64,
    min_minutes: u64,
    goids: Vec<u64>,
    parent_goid: Option<u64>,
    attr: u32,
    frames: Box<[u32]>,
}

#[derive(Default)]
struct Parser<'a> {
    /// Frames (interned as they are read) and, at the end, the groups' shared stacks.
    stacks: Stacks<'a>,
    attr_ids: FxHashMap<AttrKey<'a>, u32>,
    attrs: Vec<AttrKey<'a>>,
    /// Group key: attr id followed by frame ids.
    group_ids: FxHashMap<Box<[u32]>, usize>,
    groups: Vec<Acc>,
    key: Vec<u32>,
    cur: Option<Cur<'a>>,
    pending: Option<Pending<'a>>,
    seen_goroutine: bool,
    preamble: Vec<&'a str>,
    preamble_done: bool,
    first_goid: Option<u64>,
    total: u64,
    /// Frames summed over the groups' distinct stacks.
    group_frames: usize,
    /// The first cap exceeded.
    error: Option<ParseError>,
}

/// The `file:line` line under a function: a tab, or spaces when the dump was pasted.
fn file_line_of(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix('\t') {
        return Some(rest);
    }
    line.starts_with("  ").then(|| line.trim_start())
}

impl<'a> Parser<'a> {
    /// `line` (the last one, without a newline) is a whole `file:line +0x…` that ends the
    /// frame being read.
    fn completes_frame(&self, line: &str) -> bool {
        self.pending.is_some()
            && file_line_of(line).is_some_and(|f| {
                let f = f.trim_end();
                split_file_line(f).is_some()
                    && f.rsplit_once(" +0x")
                        .is_none_or(|(_, off)| !off.is_empty() && off.bytes().all(|b| b.is_ascii_hexdigit()))
            })
    }

    fn line(&mut self, line: &'a str) {
        if let Some(h) = line.strip_prefix("goroutine ")
            && let Some(cur) = parse_header(h)
        {
            self.finish_goroutine();
            self.first_goid.get_or_insert(cur.goid);
            self.seen_goroutine = true;
            self.key.clear();
            self.key.push(0); // slot for the attribute id
            self.cur = Some(cur);
            return;
        }
        let Some(cur) = self.cur.as_mut() else {
            self.preamble_line(line);
            return;
        };
        if line.is_empty() {
            self.finish_goroutine();
            return;
        }
        if cur.in_ancestors {
            return;
        }
        if let Some(file_line) = file_line_of(line) {
            let Some(pending) = self.pending.take() else {
                return;
            };
            // A continuation without `file:line` (e.g. a cut line): keep the frame, no location.
            let (file, lineno) = split_file_line(file_line).unwrap_or(("", 0));
            match pending {
                Pending::Func(func) => {
                    // key = attribute slot + frames
                    if self.key.len() > MAX_TRACEBACK_FRAMES {
                        if let Some(cur) = self.cur.as_mut() {
                            cur.elided = true;
                        }
                        return;
                    }
                    let id = self.stacks.frame_id((func, file, lineno));
                    self.key.push(id);
                }
                Pending::CreatedBy(func, parent) => {
                    let id = self.stacks.frame_id((func, file, lineno));
                    if let Some(cur) = self.cur.as_mut() {
                        cur.created_by = Some(id);
                        cur.parent_goid = parent;
                    }
                }
            }
            return;
        }
        self.pending = None;
        if let Some(c) = line.strip_prefix("created by ") {
            let (func, parent) = created_by(c);
            self.pending = Some(Pending::CreatedBy(func, parent));
        } else if line.starts_with("...") && line.ends_with("elided...") {
            cur.elided = true;
        } else if line.starts_with("[originating from goroutine ") {
            cur.in_ancestors = true;
        } else {
            self.pending = Some(Pending::Func(function_name(line)));
        }
    }

    fn preamble_line(&mut self, line: &'a str) {
        if self.seen_goroutine || self.preamble_done {
            return; // lines between goroutines (register dumps, `exit status 2`) are noise
        }
        if line.trim().is_empty() {
            if !self.preamble.is_empty() {
                self.preamble_done = true;
            }
            return;
        }
        self.preamble.push(line);
    }

    fn finish_goroutine(&mut self) {
        self.pending = None;
        let Some(cur) = self.cur.take() else {
            self.key.clear();
            return;
        };
        let attr = AttrKey {
            state: cur.state,
            leaked: cur.leaked,
            locked: cur.locked,
            elided: cur.elided,
            labels: cur.labels,
            created_by: cur.created_by,
        };
        let attr_id = match self.attr_ids.get(&attr) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.attrs.len()).unwrap_or(u32::MAX);
                self.attrs.push(attr);
                self.attr_ids.insert(attr, id);
                id
            }
        };
        if let Some(slot) = self.key.first_mut() {
            *slot = attr_id;
        }
        let idx = match self.group_ids.get(self.key.as_slice()) {
            Some(i) => *i,
            None => {
                let i = self.groups.len();
                self.group_frames = self.group_frames.saturating_add(self.key.len());
                if i >= MAX_SAMPLES {
                    self.error.get_or_insert(too_complex("goroutine groups", MAX_SAMPLES));
                    self.key.clear();
                    return;
                }
                if self.group_frames > MAX_STACK_FRAMES {
                    self.error.get_or_insert(too_complex("frames in distinct stacks", MAX_STACK_FRAMES));
                    self.key.clear();
                    return;
                }
                let frames: Box<[u32]> = self.key.get(1..).unwrap_or_default().into();
                self.group_ids.insert(self.key.as_slice().into(), i);
                self.groups.push(Acc {
                    count: 0,
                    any_minutes: false,
                    max_minutes: 0,
                    min_minutes: u64::MAX,
                    goids: Vec::new(),
                    parent_goid: cur.parent_goid,
                    attr: attr_id,
                    frames,
                });
                i
            }
        };
        self.key.clear();
        self.total = self.total.saturating_add(1);
        if let Some(g) = self.groups.get_mut(idx) {
            g.count = g.count.saturating_add(1);
            let m = cur.minutes.unwrap_or(0);
            g.any_minutes |= cur.minutes.is_some();
            g.max_minutes = g.max_minutes.max(m);
            g.min_minutes = g.min_minutes.min(m);
            if g.goids.len() < GOIDS_PER_GROUP {
                g.goids.push(cur.goid);
            }
        }
    }

    fn into_traceback(mut self, truncated: bool) -> Result<Traceback, ParseError> {
        let mut groups = Vec::with_capacity(self.groups.len());
        for acc in &self.groups {
            let Some(attr) = self.attrs.get(acc.attr as usize) else {
                continue;
            };
            let labels = if attr.labels.is_empty() {
                Default::default()
            } else {
                self.stacks.labels(attr.labels).map(|(_, l)| l).unwrap_or_default()
            };
            groups.push(GoroutineGroup {
                count: acc.count,
                state: Some(attr.state.to_string()),
                wait_minutes_max: acc.any_minutes.then_some(acc.max_minutes),
                wait_minutes_min: acc.any_minutes.then_some(acc.min_minutes),
                leaked: attr.leaked,
                locked_to_thread: attr.locked,
                frames: self.stacks.stack(&acc.frames),
                created_by: attr.created_by.map(|id| self.stacks.frame(id)),
                parent_goid: acc.parent_goid,
                labels,
                goids: acc.goids.clone(),
                frames_elided: attr.elided,
            });
        }
        let panic_message = (!self.preamble.is_empty()).then(|| {
            let mut m = self.preamble.join("\n");
            if m.len() > PANIC_MESSAGE_MAX {
                let mut cut = PANIC_MESSAGE_MAX;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
            }
            m
        });
        if let Some(e) = self.error.take().or_else(|| self.stacks.error().cloned()) {
            return Err(e);
        }
        Ok(Traceback {
            profile: GoroutineProfile { total: self.total, groups: groups.into(), leak_profile: false },
            panic_message,
            truncated,
            first_goid: self.first_goid,
        })
    }
}

/// `main.(*T).run(0xc0000, {0x1?, 0x2})` → `main.(*T).run`; `main.f(...)` (inlined) → `main.f`.
/// Argument lists never contain parentheses, so the last `(` opens them.
fn function_name(line: &str) -> &str {
    let line = line.trim_end();
    if line.ends_with(')')
        && let Some(i) = line.rfind('(')
        && i > 0
    {
        return line.get(..i).unwrap_or(line);
    }
    line
}

/// `pkg.f in goroutine 7` (what follows `created by `): the creator's function and parent goroutine.
/// Splits at the last space, not by a substring search: this runs once per goroutine.
fn created_by(c: &str) -> (&str, Option<u64>) {
    let c = c.trim_end();
    if let Some(f) = c.strip_suffix(" in goroutine") {
        return (f, None); // cut before the number
    }
    match c.rsplit_once(' ') {
        Some((head, n)) => match head.strip_suffix(" in goroutine") {
            Some(f) => (f, parse_u64(n)),
            None => (c, None),
        },
        None => (c, None),
    }
}

/// Parses what follows `goroutine ` in a header line; `None` when it is not a header.
fn parse_header(h: &str) -> Option<Cur<'_>> {
    let digits = h.bytes().take_while(u8::is_ascii_digit).count();
    let goid = parse_u64(h.get(..digits)?)?;
    let rest = h.get(digits..)?;
    if !(rest.starts_with(" [") || rest.starts_with(" gp=")) {
        return None;
    }
    // ` gp=0x… m=N mp=0x…` (crash dumps, Go 1.22+) precede the bracket.
    let open = rest.find('[')?;
    let inner = rest.get(open + 1..)?;
    let close = inner.find(']')?;
    // Per goroutine: search for the label text only when a brace is there at all.
    let labels_at = if inner.contains('{') { inner.find("labels:{") } else { None };
    let (status, labels, after) = match labels_at {
        // Go 1.26 GODEBUG=tracebacklabels=1: `[chan receive labels:{"k": "v"}]`; the label
        // text may contain `]`, so parse it before looking for the bracket.
        Some(lab) if lab < close => {
            let set = inner.get(lab + 7..)?;
            let n = label_set_len(set)?;
            let labels = set.get(..n)?;
            let after = set.get(n..)?.trim_start();
            let after = after.strip_prefix(']')?;
            (inner.get(..lab)?.trim_end(), labels, after)
        }
        _ => (inner.get(..close)?, "", inner.get(close + 1..)?),
    };
    // Go 1.27: labels after the bracket: `[chan receive] {"tenant id": "a b", worker: x}:`.
    let after = after.trim_start();
    let labels = if after.starts_with('{') {
        let n = label_set_len(after)?;
        after.get(..n)?
    } else {
        labels
    };
    let mut parts = status.split(", ");
    let mut state = parts.next().unwrap_or("").trim();
    let mut leaked = false;
    // Flags the runtime appends to the reason: `(leaked)` (1.26+) and the transient `(scan)`.
    loop {
        if let Some(s) = state.strip_suffix(" (scan)") {
            state = s;
        } else if let Some(s) = state.strip_suffix(" (leaked)") {
            state = s;
            leaked = true;
        } else {
            break;
        }
    }
    if state.contains('(') && state.contains(" (leaked)") {
        leaked = true;
    }
    let mut minutes = None;
    let mut locked = false;
    for part in parts {
        let part = part.trim();
        if let Some(m) = part.strip_suffix(" minutes") {
            minutes = parse_u64(m);
        } else if part == "locked to thread" {
            locked = true;
        }
        // `synctest bubble N` / `synctest group N` and unknown modifiers do not split groups.
    }
    Some(Cur {
        goid,
        state,
        leaked,
        locked,
        minutes,
        labels,
        elided: false,
        created_by: None,
        parent_goid: None,
        in_ancestors: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_variants() {
        let c = parse_header("7 [chan receive, 45 minutes]:").unwrap();
        assert_eq!((c.goid, c.state, c.minutes, c.locked), (7, "chan receive", Some(45), false));
        let c = parse_header("9 gp=0x3ae340b9fc20 m=0 mp=0xa43b00 [running]:").unwrap();
        assert_eq!((c.goid, c.state), (9, "running"));
        let c = parse_header("3 [select, locked to thread]:").unwrap();
        assert!(c.locked);
        let c = parse_header("22 [chan send (leaked)]:").unwrap();
        assert_eq!((c.state, c.leaked), ("chan send", true));
        let c =
            parse_header(r#"16 [chan receive (leaked) labels:{"request id": "r-1", "worker": "le]aker"}]:"#).unwrap();
        assert_eq!((c.state, c.leaked), ("chan receive", true));
        assert_eq!(c.labels, r#"{"request id": "r-1", "worker": "le]aker"}"#);
        let c = parse_header(r#"29 [chan receive] {"tenant id": "a b", worker: ingest}:"#).unwrap();
        assert_eq!(c.labels, r#"{"tenant id": "a b", worker: ingest}"#);
        let c = parse_header("5 [some future reason (scan), 3 minutes, synctest bubble 4]:").unwrap();
        assert_eq!((c.state, c.minutes), ("some future reason", Some(3)));
        assert!(parse_header("profile: total 3").is_none());
        assert!(parse_header("12 [unterminated").is_none());
    }

    #[test]
    fn created_by_lines() {
        assert_eq!(created_by("main.start in goroutine 1"), ("main.start", Some(1)));
        assert_eq!(created_by("main.start in goroutine 17 "), ("main.start", Some(17)));
        assert_eq!(created_by("main.start in goroutine "), ("main.start", None));
        assert_eq!(created_by("main.start"), ("main.start", None));
        assert_eq!(created_by("main.(*T).run.func1 in goroutine x"), ("main.(*T).run.func1", None));
    }

    #[test]
    fn function_names() {
        assert_eq!(function_name("main.(*T).run(0xc0, {0x1?, 0x2})"), "main.(*T).run");
        assert_eq!(function_name("main.blockedSender(...)"), "main.blockedSender");
        assert_eq!(function_name("runtime.goexit({})"), "runtime.goexit");
        assert_eq!(function_name("main.main()"), "main.main");
        assert_eq!(function_name("weird line"), "weird line");
        assert_eq!(function_name("()"), "()");
    }
}
