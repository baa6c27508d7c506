//! pprof label sets as Go prints them:
//! - debug=1: `# labels: {"tenant id":"a b", "worker":"capture"}` (`%q` keys and values)
//! - debug=2, Go 1.26 `GODEBUG=tracebacklabels=1`: `labels:{"tenant id": "a b", "worker": "x"}`
//! - debug=2, Go 1.27: `{"tenant id": "a b", worker: ingest}` (quoted only when needed)

use std::borrow::Cow;

use super::model::{Labels, Sym};
use super::text::Syms;

/// Parses a `{...}` label set at the start of `s`. Returns the labels and the bytes consumed
/// (up to and including the closing `}`), or `None` when `s` is not a well-formed label set.
/// Keys are interned in `syms` (every record repeats them); a repeated key keeps its last value.
pub fn parse_label_set<'a>(s: &'a str, syms: &mut Syms<'a>) -> Option<(Labels, usize)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut pairs: Vec<(Sym, Sym)> = Vec::new();
    let mut i = 1;
    loop {
        i = skip_spaces(b, i);
        match b.get(i)? {
            b'}' => return Some((Labels::from_pairs(pairs), i + 1)),
            b',' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let (key, next) = token(s, i, b':')?;
        i = skip_spaces(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_spaces(b, i + 1);
        let (value, next) = token(s, i, b',')?;
        let key = match key {
            Cow::Borrowed(k) => syms.get(k),
            Cow::Owned(k) => syms.owned(&k),
        };
        pairs.push((key, syms.owned(value.as_ref())));
        i = next;
    }
}

/// Length of the `{...}` label set at the start of `s` without building it (headers are
/// scanned per goroutine; labels are built once per group). Quoted strings are skipped with
/// their escapes, so `}` or `]` inside a value do not end the set.
pub fn label_set_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'}' => return Some(i + 1),
            b'"' => {
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// A quoted Go string, or a bare word ending before `stop`, `}` or a space.
/// Borrowed from `s` unless it had escapes.
fn token(s: &str, i: usize, stop: u8) -> Option<(Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    if b.get(i) == Some(&b'"') {
        // without a backslash before the closing quote, the value is the text between the quotes
        let body = b.get(i + 1..)?;
        if let Some(end) = super::text::find_byte(body, b'"')
            && !body.get(..end)?.contains(&b'\\')
        {
            return Some((Cow::Borrowed(s.get(i + 1..i + 1 + end)?), i + end + 2));
        }
        return unquote_at(s, i).map(|(v, n)| (Cow::Owned(v), n));
    }
    let start = i;
    let mut j = i;
    while let Some(&c) = b.get(j) {
        if c == stop || c == b'}' || c == b' ' {
            break;
        }
        j += 1;
    }
    if j == start {
        return None;
    }
    Some((Cow::Borrowed(s.get(start..j)?), j))
}

/// Unquotes the Go-quoted string (`strconv.Quote` syntax) starting at `s[i] == '"'`.
/// Returns the value and the index after the closing quote.
pub fn unquote_at(s: &str, i: usize) -> Option<(String, usize)> {
    let b = s.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut out: Vec<u8> = Vec::new();
    let mut j = i + 1;
    loop {
        let c = *b.get(j)?;
        match c {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), j + 1)),
            b'\\' => {
                let e = *b.get(j + 1)?;
                j += 2;
                match e {
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    b'\\' | b'"' | b'\'' => out.push(e),
                    b'x' => {
                        out.push(hex(s.get(j..j + 2)?)? as u8);
                        j += 2;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let cp = hex(s.get(j..j + n)?)?;
                        let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        j += n;
                    }
                    b'0'..=b'7' => {
                        let oct = s.get(j - 1..j + 2)?;
                        let v = u32::from_str_radix(oct, 8).ok()?;
                        out.push(u8::try_from(v).ok()?);
                        j += 2;
                    }
                    _ => return None,
                }
            }
            _ => {
                out.push(c);
                j += 1;
            }
        }
    }
}

fn hex(s: &str) -> Option<u32> {
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parse_label_set(s: &str) -> Option<(Labels, usize)> {
        super::parse_label_set(s, &mut Syms::default())
    }

    #[test]
    fn debug1_style() {
        let (l, n) = parse_label_set(r#"{"tenant id":"a b", "worker":"capture"}"#).unwrap();
        assert_eq!(l, m(&[("tenant id", "a b"), ("worker", "capture")]));
        assert_eq!(n, 39);
    }

    #[test]
    fn go126_and_go127_styles() {
        let (l, _) = parse_label_set(r#"{"request id": "r-1", "worker": "leaker"}]:"#).unwrap();
        assert_eq!(l, m(&[("request id", "r-1"), ("worker", "leaker")]));
        let s = r#"{"tenant id": "a b", worker: ingest}:"#;
        let (l, n) = parse_label_set(s).unwrap();
        assert_eq!(l, m(&[("tenant id", "a b"), ("worker", "ingest")]));
        assert_eq!(&s[n..], ":");
    }

    #[test]
    fn escapes_and_brackets_inside_quotes() {
        let (l, _) = parse_label_set(r#"{"k\"]}, x":"\x41\u00e9\t\101", "e":""}"#).unwrap();
        assert_eq!(l, m(&[("k\"]}, x", "Aé\tA"), ("e", "")]));
    }

    #[test]
    fn scan_length_matches_parse() {
        for s in [r#"{"k\"]}, x":"v}", w: a}:"#, "{}", r#"{"tenant id": "a b", worker: ingest}]"#] {
            assert_eq!(label_set_len(s), parse_label_set(s).map(|x| x.1), "{s}");
        }
        assert_eq!(label_set_len(r#"{"a":"b"#), None);
        assert_eq!(label_set_len(r#"{"a\"#), None);
    }

    #[test]
    fn malformed() {
        for s in ["", "{", r#"{"a":"b""#, r#"{"a" "b"}"#, r#"{"a":"\q"}"#, r#"{"a":"\x4"}"#, r#"{"a":"\777"}"#, "{:}"] {
            assert_eq!(parse_label_set(s), None, "{s}");
        }
        assert_eq!(parse_label_set("{}").map(|x| x.1), Some(2));
    }
}
