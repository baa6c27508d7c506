//! Format detection from content only (a misconfigured target may serve its index page, a JSON
//! health check or a binary under a pprof URL).

use super::model::ProfileFormat;
use super::{ParseError, gzip, proto, text};

/// Which format `data` is. Gzip is reported as [`ProfileFormat::Proto`] without inflating it
/// (Go gzips only the proto format); use [`super::parse`] to check the inside too.
pub fn detect(data: &[u8]) -> Result<ProfileFormat, ParseError> {
    if gzip::is_gzip(data) {
        return Ok(ProfileFormat::Proto);
    }
    detect_plain(data)
}

/// How many bytes are enough to classify text: headers are on the first lines; tracebacks may
/// start with a long panic message, so scan further for the first goroutine header.
const TEXT_SCAN: usize = 64 * 1024;

/// Detection of an already-gunzipped body.
pub(super) fn detect_plain(data: &[u8]) -> Result<ProfileFormat, ParseError> {
    let not = |found: &str| Err(ParseError::NotAProfile { found: found.to_string() });
    let trimmed = trim_start(data);
    if trimmed.is_empty() {
        return not(if data.is_empty() { "empty input" } else { "only whitespace" });
    }
    if gzip::is_gzip(data) {
        return not("gzip inside gzip");
    }
    let head = trimmed.get(..TEXT_SCAN).unwrap_or(trimmed);
    if !looks_like_text(head) {
        // Go never sends uncompressed proto, but files and tests may: accept one that decodes
        // into a plausible profile, otherwise call it binary data.
        if proto::is_plausible_profile(data) {
            return Ok(ProfileFormat::Proto);
        }
        return not("binary data");
    }
    // Only the first line decides, except for crash output (scan on for a goroutine header).
    let first_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = String::from_utf8_lossy(head.get(..first_end).unwrap_or_default());
    let first = first.trim_end();
    if let Some(f) = classify_first_line(first) {
        return Ok(f);
    }
    if is_crash_preamble(first) {
        if String::from_utf8_lossy(head).lines().any(is_goroutine_header) {
            return Ok(ProfileFormat::GoroutineDebug2);
        }
        return not("a Go crash message without goroutine stacks");
    }
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<head") {
        return not("an HTML document");
    }
    if lower.starts_with("<?xml") || lower.starts_with('<') {
        return not("an XML/HTML document");
    }
    if first.starts_with('{') || first.starts_with('[') {
        if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() {
            return not("JSON");
        }
        return not(&format!("JSON-like text starting with {}", text::excerpt(first)));
    }
    not(&format!("text starting with {}", text::excerpt(first)))
}

fn classify_first_line(first: &str) -> Option<ProfileFormat> {
    // `goroutine profile: total N`, `goroutineleak profile: total N`, `threadcreate profile: …`
    if let Some((name, rest)) = first.split_once(" profile: ") {
        if name == "heap" {
            return Some(ProfileFormat::HeapDebug1);
        }
        if rest.starts_with("total ") && !name.is_empty() && !name.contains(' ') {
            return Some(ProfileFormat::GoroutineDebug1);
        }
    }
    if first.starts_with("--- mutex:") || first.starts_with("--- contention:") {
        return Some(ProfileFormat::ContentionDebug1);
    }
    if is_goroutine_header(first) {
        return Some(ProfileFormat::GoroutineDebug2);
    }
    if is_goroutine_record(first) {
        return Some(ProfileFormat::GoroutineDebug1);
    }
    None
}

/// `3 @ 0x48a7aa 0x4172bc`: a debug=1 goroutine record, first line of records pasted without
/// their `goroutine profile: total N` header (mutex/block records have two numbers, heap ones
/// a colon).
fn is_goroutine_record(line: &str) -> bool {
    let Some((count, pcs)) = line.split_once(" @") else {
        return false;
    };
    !count.is_empty()
        && count.bytes().all(|b| b.is_ascii_digit())
        && pcs
            .split_whitespace()
            .all(|pc| pc.strip_prefix("0x").is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())))
}

/// `goroutine 7 [`, `goroutine 7 gp=0x… m=… [`.
pub(super) fn is_goroutine_header(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("goroutine ") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let after = rest.get(digits..).unwrap_or("");
    after.starts_with(" [") || after.starts_with(" gp=")
}

/// First lines of a Go crash: `panic: …`, `fatal error: …`, signals, `runtime: …` messages.
fn is_crash_preamble(first: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "panic: ",
        "fatal error: ",
        "fatal: ",
        "runtime: ",
        "SIGQUIT",
        "SIGABRT",
        "unexpected fault address",
        "[signal ",
    ];
    PREFIXES.iter().any(|p| first.starts_with(p)) || first == "panic:"
}

fn trim_start(data: &[u8]) -> &[u8] {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let n = data.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
    data.get(n..).unwrap_or_default()
}

/// Text if it has no NUL/control bytes (besides tab, CR, LF, ESC) and is mostly UTF-8.
fn looks_like_text(head: &[u8]) -> bool {
    let sample = head.get(..1024).unwrap_or(head);
    if sample.iter().any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x1b)) {
        return false;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        // A cut in the middle of a multi-byte character at the end of the sample is fine.
        Err(e) => e.error_len().is_none() || e.valid_up_to() + 16 >= sample.len(),
    }
}
