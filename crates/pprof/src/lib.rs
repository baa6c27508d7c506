//! Parsers for every Go profile format into one model (`model`).
//!
//! Every parser enforces the caps of [`limits`] (stack depth, samples, distinct strings,
//! label sets, frames over all distinct stacks): deeper stacks are cut and marked, a profile
//! over a cap is refused with [`ParseError::ProfileTooComplex`] before it can take memory.
//!
//! All parsers are pure functions over bytes: they never panic on any input (fuzzed, see
//! `crates/pprof/fuzz`), never allocate more than a bounded multiple of the input (or of `limit` for
//! gzip), and return a typed [`ParseError`] with a stable [`ParseError::reason`].
//!
//! A goroutine profile keeps its groups in columns ([`model::Groups`], read through
//! [`model::Group`] views): counts, stack and label-set numbers per group, each distinct stack
//! stored once, label strings in one arena. Gzipped goroutine profile.proto is decoded as it
//! inflates (the inflated message never exists whole), so parsing takes about the inflated
//! size even with a distinct label value per goroutine (see docs/benchmarks.md).
//!
//! Entry points:
//! - [`detect`]: which format a body is, from its content only.
//! - [`parse`] / [`parse_with`]: detect, gunzip when needed, and parse any format.
//! - per format: [`parse_goroutine_proto`], [`parse_goroutine_debug1`], [`parse_goroutine_debug2`]
//!   (also panic/crash tracebacks; [`parse_traceback`] keeps the panic message and truncation),
//!   [`parse_heap_debug1`], [`parse_heap_proto`], [`parse_contention_debug1`],
//!   [`parse_contention_proto`].

pub mod debug1;
pub mod debug2;
mod detect;
mod gzip;
pub mod hostile;
mod labels;
pub mod limits;
pub mod model;
pub mod proto;
mod proto_goroutines;
mod text;
mod wire;

use thiserror::Error;

pub use debug1::{parse_contention_debug1, parse_goroutine_debug1, parse_heap_debug1};
pub use debug2::{GOIDS_PER_GROUP, Traceback, parse_goroutine_debug2, parse_traceback};
pub use detect::detect;
pub use gzip::{gunzip_limited, is_gzip};
pub use model::{ContentionKind, Profile, ProfileFormat};
pub use proto::{parse_contention_proto, parse_goroutine_proto, parse_heap_proto};

/// Why a body could not be parsed. `reason()` is stable (metric label / status value).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ParseError {
    /// The content is not a Go profile at all (HTML page, JSON, random bytes, empty body...).
    #[error("not a Go profile: found {found}")]
    NotAProfile { found: String },
    /// Decompressing would exceed the caller's limit (a gzip bomb, or just a huge profile).
    #[error("decompressed profile larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// Gzip magic present but the stream is corrupt or truncated.
    #[error("bad gzip stream: {0}")]
    Gzip(String),
    /// Not a decodable profile.proto message, or one that violates the format's invariants.
    #[error("bad profile.proto: {0}")]
    Proto(String),
    /// Text of the detected format with a line that cannot be read.
    #[error("malformed {format} profile at line {line}: {message}")]
    Malformed { format: &'static str, line: usize, message: String },
    /// A valid profile of another kind than the function parses (e.g. heap given to the
    /// goroutine parser).
    #[error("expected a {expected} profile, found {found}")]
    WrongKind { expected: &'static str, found: String },
    /// Over one of the caps of [`limits`] (too many samples, strings, label sets or frames):
    /// refused before it takes more memory or time. `what` names the cap.
    #[error("profile too complex: more than {limit} {what}")]
    ProfileTooComplex { what: &'static str, limit: usize },
}

impl ParseError {
    /// Stable, bounded reason string.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::NotAProfile { .. } => "NotAProfile",
            ParseError::TooLarge { .. } => "TooLarge",
            ParseError::Gzip(_) => "BadGzip",
            ParseError::Proto(_) => "BadProto",
            ParseError::Malformed { .. } => "Malformed",
            ParseError::WrongKind { .. } => "WrongKind",
            ParseError::ProfileTooComplex { .. } => "ProfileTooComplex",
        }
    }
}

/// What the caller knows that the content may not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Maximum decompressed size for gzipped bodies.
    pub limit: usize,
    /// The body came from the `goroutineleak` endpoint. `None`: decide from the content
    /// (`goroutineleak profile: total N` header, `goroutineleak/count` proto sample type).
    /// Applies to proto and debug=1 (every group then is `leaked`); a debug=2 dump lists all
    /// goroutines with their own `(leaked)` markers and ignores it.
    pub leak_profile: Option<bool>,
    /// mutex or block, for proto bodies (whose content does not say). `None`: guess from the
    /// leaf frames (unlock sites ⇒ mutex), else block.
    pub contention_kind: Option<ContentionKind>,
}

impl ParseOptions {
    pub fn new(limit: usize) -> Self {
        ParseOptions { limit, leak_profile: None, contention_kind: None }
    }
}

/// Detects the format (gunzipping up to `limit` bytes when needed) and parses it.
pub fn parse(data: &[u8], limit: usize) -> Result<Profile, ParseError> {
    parse_with(data, &ParseOptions::new(limit))
}

/// [`parse`] with what the caller knows about the body (endpoint, mutex vs block).
pub fn parse_with(data: &[u8], opts: &ParseOptions) -> Result<Profile, ParseError> {
    // Go gzips only profile.proto: decode a goroutine profile as it inflates. Anything else
    // (other kinds, gzipped text, a broken body) takes the general path, which says what it is.
    if is_gzip(data) {
        match proto_goroutines::decode(data, opts.limit, opts.leak_profile) {
            Ok(proto_goroutines::Decoded::Goroutine(p)) => return Ok(Profile::Goroutine(p)),
            Err(e @ (ParseError::TooLarge { .. } | ParseError::Gzip(_) | ParseError::ProfileTooComplex { .. })) => {
                return Err(e);
            }
            Ok(proto_goroutines::Decoded::OtherKind(_)) | Err(_) => {}
        }
    }
    let plain = gunzip_limited(data, opts.limit)?;
    let format = detect::detect_plain(&plain)?;
    match format {
        ProfileFormat::Proto => proto::parse_proto(&plain, opts),
        ProfileFormat::GoroutineDebug1 => {
            let mut p = debug1::parse_goroutine_debug1(&plain)?;
            if let Some(leak) = opts.leak_profile {
                set_leak_profile(&mut p, leak);
            }
            Ok(Profile::Goroutine(p))
        }
        // `goroutineleak?debug=2` dumps *all* goroutines and marks the leaked ones `(leaked)`:
        // those markers are the truth, so `leak_profile` does not apply to this format.
        ProfileFormat::GoroutineDebug2 => debug2::parse_goroutine_debug2(&plain).map(Profile::Goroutine),
        ProfileFormat::HeapDebug1 => debug1::parse_heap_debug1(&plain).map(Profile::Heap),
        ProfileFormat::ContentionDebug1 => debug1::parse_contention_debug1(&plain).map(Profile::Contention),
    }
}

/// The caller knows better than the content: the profile and every group follow.
pub(crate) fn set_leak_profile(p: &mut model::GoroutineProfile, leak: bool) {
    p.leak_profile = leak;
    p.groups.set_leaked(leak);
}

#[cfg(test)]
mod tests;
