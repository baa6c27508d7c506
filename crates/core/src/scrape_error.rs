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
    /// A Go profile over one of the parser's caps (`gohealth_pprof::limits`): refused for this
    /// target, the rest of the audit goes on.
    #[error("{0}")]
    ProfileTooComplex(String),
    #[error("TLS error: {0}")]
    TlsError(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("transfer failed: {0}")]
    Transfer(String),
    /// The audit may not reach this address (tenancy: host network, node or apiserver address, undeclared port).
    #[error("target refused: {0}")]
    TargetRefused(String),
    /// A bearer token would have gone over plain HTTP; the request was not sent.
    #[error("credentials refused over plain HTTP: {0}")]
    CredentialsOverPlainHttp(String),
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
            ScrapeError::ProfileTooComplex(_) => "ProfileTooComplex",
            ScrapeError::TlsError(_) => "TlsError",
            ScrapeError::Auth(_) => "AuthError",
            ScrapeError::Transfer(_) => "TransferError",
            ScrapeError::TargetRefused(_) => "TargetRefused",
            ScrapeError::CredentialsOverPlainHttp(_) => "CredentialsOverPlainHttp",
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

/// `NotAProfile` → `ScrapeError::NotAProfile`, `TooLarge` → `ScrapeError::DecompressedTooLarge`,
/// `ProfileTooComplex` → `ScrapeError::ProfileTooComplex`; the rest are bodies that looked like
/// a profile but could not be read, also `NotAProfile`.
impl From<gohealth_pprof::ParseError> for ScrapeError {
    fn from(e: gohealth_pprof::ParseError) -> Self {
        use gohealth_pprof::ParseError;
        match e {
            ParseError::NotAProfile { found } => ScrapeError::NotAProfile(found),
            ParseError::TooLarge { limit } => {
                ScrapeError::DecompressedTooLarge(u64::try_from(limit).unwrap_or(u64::MAX))
            }
            e @ ParseError::ProfileTooComplex { .. } => ScrapeError::ProfileTooComplex(e.to_string()),
            other => ScrapeError::NotAProfile(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_pprof::ParseError;

    #[test]
    fn parse_errors_become_typed_scrape_errors() {
        let ScrapeError::NotAProfile(s) = ScrapeError::from(ParseError::NotAProfile { found: "JSON".into() }) else {
            panic!("not NotAProfile")
        };
        assert_eq!(s, "JSON");
        let e = ScrapeError::from(ParseError::TooLarge { limit: 1 << 20 });
        assert_eq!(e, ScrapeError::DecompressedTooLarge(1 << 20));
        assert_eq!(e.reason(), "BodyTooLarge");
        let e = ScrapeError::from(ParseError::Proto("truncated".into()));
        assert_eq!(e.reason(), "NotAProfile");
        let e = ScrapeError::from(ParseError::ProfileTooComplex { what: "samples", limit: 524_288 });
        assert_eq!(e.reason(), "ProfileTooComplex");
        assert_eq!(e.to_string(), "profile too complex: more than 524288 samples");
        assert!(!e.is_transient());
    }
}
