//! Typed reasons a scrape fails. `reason()` strings are stable: they appear in status, in the
//! `ScrapeFailed` finding and as the `reason` label of `gohealth_scrapes_total`.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScrapeError {
    #[error("no pprof endpoint: {0}")]
    NoEndpoint(String),
    #[error("request timed out after {0} ms")]
    Timeout(u64),
    #[error("connection refused")]
    ConnectionRefused,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    #[error("response larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("decompressed response larger than {0} bytes (gzip bomb?)")]
    DecompressedTooLarge(u64),
    #[error("not a Go profile: {0}")]
    NotAProfile(String),
    #[error("TLS error: {0}")]
    TlsError(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("transfer failed: {0}")]
    Transfer(String),
}

impl ScrapeError {
    /// Stable, bounded reason: a metric label value and the status `result`.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::NoEndpoint(_) => "NoEndpoint",
            ScrapeError::Timeout(_) => "Timeout",
            ScrapeError::ConnectionRefused => "ConnectionRefused",
            ScrapeError::Connect(_) => "ConnectError",
            ScrapeError::HttpStatus(_) => "HttpStatus",
            ScrapeError::BodyTooLarge(_) => "BodyTooLarge",
            ScrapeError::DecompressedTooLarge(_) => "BodyTooLarge",
            ScrapeError::NotAProfile(_) => "NotAProfile",
            ScrapeError::TlsError(_) => "TlsError",
            ScrapeError::Auth(_) => "AuthError",
            ScrapeError::Transfer(_) => "TransferError",
        }
    }

    /// Worth retrying: the target may answer next time.
    pub fn is_transient(&self) -> bool {
        match self {
            ScrapeError::Connect(_) | ScrapeError::Transfer(_) => true,
            ScrapeError::HttpStatus(code) => matches!(code, 502..=504 | 429),
            _ => false,
        }
    }
}
