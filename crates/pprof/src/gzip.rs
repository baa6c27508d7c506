//! Bounded gunzip: a hostile target can serve a tiny body that inflates to gigabytes.
//!
//! The gzip framing (RFC 1952) is read here and the deflate body inflated with
//! `flate2::Decompress` straight into the output vector, so nothing is zero-filled or copied
//! twice, and the inflate state is reused per thread (it is ~45 KiB: allocating it per scrape
//! costs more than inflating a typical 3 KiB goroutine profile).

use std::borrow::Cow;
use std::cell::RefCell;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::ParseError;

/// gzip member magic (RFC 1952).
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Deflate cannot expand more than ~1032:1; a size claimed beyond that is a lie.
const MAX_RATIO: usize = 1032;

thread_local! {
    static INFLATE: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

fn bad(msg: &str) -> ParseError {
    ParseError::Gzip(msg.to_string())
}

/// Gunzips `data` when it starts with the gzip magic, else borrows it unchanged.
///
/// Fails with [`ParseError::TooLarge`] as soon as the output would exceed `limit` bytes; the
/// output buffer never grows past `limit + 1` bytes. Concatenated members are inflated in
/// order; bytes after the last member that are not another member are ignored.
pub fn gunzip_limited(data: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, ParseError> {
    if !is_gzip(data) {
        return Ok(Cow::Borrowed(data));
    }
    INFLATE.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| bad("re-entrant gunzip"))?;
        let d = slot.get_or_insert_with(|| Decompress::new(false));
        let mut out: Vec<u8> = Vec::new();
        let mut pos = 0;
        while let Some(member) = data.get(pos..).filter(|m| is_gzip(m)) {
            pos += inflate_member(d, member, limit, &mut out)?;
        }
        Ok(Cow::Owned(out))
    })
}

/// Inflates one member at the start of `m` onto `out`; returns the bytes it used.
fn inflate_member(d: &mut Decompress, m: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<usize, ParseError> {
    let header = header_len(m)?;
    let body = m.get(header..).unwrap_or_default();
    d.reset(false);
    let start = out.len();
    // ISIZE (last 4 bytes, size mod 2^32) of a single-member body sizes the buffer in one go;
    // it is only a hint, bounded by the limit and by what deflate can possibly produce.
    let hint = m.len().checked_sub(4).and_then(|i| m.get(i..)).map_or(0, |t| {
        let mut w = [0u8; 4];
        w.copy_from_slice(t);
        u32::from_le_bytes(w) as usize
    });
    let plausible = hint.min(m.len().saturating_mul(MAX_RATIO)).min(limit.saturating_add(1));
    out.reserve_exact(plausible.max(64));
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(ParseError::TooLarge { limit });
            }
            let cap = out.capacity().saturating_mul(2).max(4096).min(limit.saturating_add(1));
            out.reserve_exact(cap.saturating_sub(out.len()).max(1));
        }
        let used = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
        let input = body.get(used..).unwrap_or_default();
        let before = out.len();
        let status = d.decompress_vec(input, out, FlushDecompress::None).map_err(|e| bad(&e.to_string()))?;
        if out.len() > limit {
            return Err(ParseError::TooLarge { limit });
        }
        match status {
            Status::StreamEnd => break,
            _ => {
                let progressed = out.len() != before || usize::try_from(d.total_in()).unwrap_or(0) != used;
                if !progressed && out.len() < out.capacity() {
                    return Err(bad("unexpected end of gzip stream"));
                }
            }
        }
    }
    let consumed = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
    let trailer = body.get(consumed..).and_then(|t| t.get(..8)).ok_or_else(|| bad("missing gzip trailer"))?;
    let (crc, size) = trailer.split_at(4);
    let mut c = Crc::new();
    c.update(out.get(start..).unwrap_or_default());
    if le32(crc) != c.sum() {
        return Err(bad("gzip CRC mismatch"));
    }
    if le32(size) != (out.len().wrapping_sub(start) as u32) {
        return Err(bad("gzip size mismatch"));
    }
    Ok(header + consumed + 8)
}

fn le32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(..4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

/// Length of the member header: 10 fixed bytes plus FEXTRA, FNAME, FCOMMENT, FHCRC.
fn header_len(m: &[u8]) -> Result<usize, ParseError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let fixed = m.get(..10).ok_or_else(|| bad("truncated gzip header"))?;
    if fixed.get(2) != Some(&8) {
        return Err(bad("unknown gzip compression method"));
    }
    let flags = fixed.get(3).copied().unwrap_or(0);
    let mut i = 10;
    if flags & FEXTRA != 0 {
        let xlen = m.get(i..i + 2).ok_or_else(|| bad("truncated gzip header"))?;
        i += 2 + (usize::from(xlen[0]) | usize::from(xlen[1]) << 8);
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = m.get(i..).ok_or_else(|| bad("truncated gzip header"))?;
            let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| bad("truncated gzip header"))?;
            i += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        i += 2;
    }
    if i > m.len() {
        return Err(bad("truncated gzip header"));
    }
    Ok(i)
}

/// Output chunk of [`gunzip_chunks`]: small enough to stay in cache, large enough that the
/// per-call cost of the inflater does not show.
const CHUNK: usize = 8 * 1024;

/// Gunzips `data` (or passes it through when it is not gzip) to `sink` in consecutive chunks,
/// without ever holding the whole output: the streaming profile.proto decoder keeps only what
/// it needs of each chunk. Same checks as [`gunzip_limited`] (limit, CRC, size, members).
pub(crate) fn gunzip_chunks(
    data: &[u8],
    limit: usize,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    if !is_gzip(data) {
        return sink(data);
    }
    INFLATE.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| bad("re-entrant gunzip"))?;
        let d = slot.get_or_insert_with(|| Decompress::new(false));
        let mut out: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut total = 0usize;
        let mut pos = 0;
        while let Some(member) = data.get(pos..).filter(|m| is_gzip(m)) {
            pos += stream_member(d, member, limit, &mut total, &mut out, sink)?;
        }
        Ok(())
    })
}

/// [`inflate_member`] in chunks: returns the bytes of `m` it used.
fn stream_member(
    d: &mut Decompress,
    m: &[u8],
    limit: usize,
    total: &mut usize,
    out: &mut Vec<u8>,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), ParseError>,
) -> Result<usize, ParseError> {
    let header = header_len(m)?;
    let body = m.get(header..).unwrap_or_default();
    d.reset(false);
    let mut crc = Crc::new();
    let mut size: u32 = 0;
    loop {
        out.clear();
        let used = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
        let input = body.get(used..).unwrap_or_default();
        let status = d.decompress_vec(input, out, FlushDecompress::None).map_err(|e| bad(&e.to_string()))?;
        *total = total.saturating_add(out.len());
        if *total > limit {
            return Err(ParseError::TooLarge { limit });
        }
        crc.update(out);
        size = size.wrapping_add(out.len() as u32);
        if !out.is_empty() {
            sink(out)?;
        }
        match status {
            Status::StreamEnd => break,
            _ => {
                let progressed = !out.is_empty() || usize::try_from(d.total_in()).unwrap_or(0) != used;
                if !progressed {
                    return Err(bad("unexpected end of gzip stream"));
                }
            }
        }
    }
    let consumed = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
    let trailer = body.get(consumed..).and_then(|t| t.get(..8)).ok_or_else(|| bad("missing gzip trailer"))?;
    let (c, s) = trailer.split_at(4);
    if le32(c) != crc.sum() {
        return Err(bad("gzip CRC mismatch"));
    }
    if le32(s) != size {
        return Err(bad("gzip size mismatch"));
    }
    Ok(header + consumed + 8)
}
