//! Bounded gunzip: a hostile target can serve a tiny body that inflates to gigabytes.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

use super::ParseError;

/// gzip member magic (RFC 1952).
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

const CHUNK: usize = 64 * 1024;

/// Gunzips `data` when it starts with the gzip magic, else borrows it unchanged.
///
/// Fails with [`ParseError::TooLarge`] as soon as the output would exceed `limit` bytes; the
/// output buffer never grows past `limit` (plus one 64 KiB read chunk).
pub fn gunzip_limited(data: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, ParseError> {
    if !is_gzip(data) {
        return Ok(Cow::Borrowed(data));
    }
    let mut decoder = MultiGzDecoder::new(data);
    let mut chunk = vec![0u8; CHUNK];
    // Start small: most profiles are a few KiB; grow geometrically but never past the limit.
    let mut out: Vec<u8> = Vec::with_capacity(data.len().saturating_mul(4).min(limit).min(1 << 20));
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ParseError::Gzip(e.to_string())),
        };
        let new_len = out.len().saturating_add(n);
        if new_len > limit {
            return Err(ParseError::TooLarge { limit });
        }
        if out.capacity() < new_len {
            let want = out.capacity().saturating_mul(2).max(new_len).min(limit);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(Cow::Owned(out))
}
