//! How `gohealth analyze` talks to a protected pprof endpoint: `--token`/`--token-file`,
//! `--cacert`, `--insecure-skip-verify`, and the rule that a token never goes over plain HTTP unless
//! the user says so with `--allow-token-over-http` (a token sent in clear text is a token given away).

use std::path::PathBuf;
use std::time::Duration;

use crate::scrape::http::CollectorOptions;

/// Connection flags for URLs and pods.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Bearer token sent to https endpoints (kube-controller-manager, kube-scheduler and most
    /// controllers protect /debug/pprof with delegated authentication).
    #[arg(long, env = "GOHEALTH_TOKEN", hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// File holding the bearer token (e.g. a ServiceAccount token); surrounding whitespace is removed.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for https endpoints (instead of the system roots).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate (a self-signed serving certificate, a port-forward).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Send the token to http:// endpoints too. Anyone on the path can read it.
    #[arg(long)]
    pub allow_token_over_http: bool,
    /// Deadline of one request (connect, headers and body), e.g. 10s, 1m.
    #[arg(long, default_value = "30s", value_parser = parse_positive_duration)]
    pub timeout: Duration,
}

/// Why the connection flags cannot be used. Every one exits with code 2.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RemoteError {
    #[error("--token-file {path}: cannot read: {err}")]
    TokenFile { path: String, err: String },
    #[error("--token-file {path}: the file is empty")]
    EmptyToken { path: String },
    #[error("--cacert {path}: cannot read: {err}")]
    CaFile { path: String, err: String },
    #[error(
        "{url}: refusing to send the bearer token over plain HTTP (anyone on the path can read it); use https, or pass --allow-token-over-http"
    )]
    TokenOverPlainHttp { url: String },
}

/// A Go duration greater than zero, for flags such as `--timeout`, `--every`, `--for`.
pub(super) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match gohealth_core::duration::parse_go_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than 0s".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl RemoteArgs {
    /// The token, from `--token` or `--token-file`.
    pub fn bearer_token(&self) -> Result<Option<String>, RemoteError> {
        if let Some(t) = &self.token {
            return Ok(Some(t.trim().to_string()));
        }
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let shown = path.display().to_string();
        let raw = std::fs::read_to_string(path)
            .map_err(|e| RemoteError::TokenFile { path: shown.clone(), err: e.to_string() })?;
        let token = raw.trim();
        if token.is_empty() {
            return Err(RemoteError::EmptyToken { path: shown });
        }
        Ok(Some(token.to_string()))
    }

    /// Collector options for these flags; `max_body_bytes` comes from `--max-bytes`.
    pub fn collector_options(&self, max_body_bytes: u64) -> Result<CollectorOptions, RemoteError> {
        let ca_pem = match &self.cacert {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| RemoteError::CaFile { path: p.display().to_string(), err: e.to_string() })?,
            ),
            None => None,
        };
        Ok(CollectorOptions {
            timeout: self.timeout,
            max_body_bytes,
            bearer_token: self.bearer_token()?,
            ca_pem,
            insecure_skip_verify: self.insecure_skip_verify,
            ..CollectorOptions::default()
        })
    }

    /// Refuses a plain-HTTP URL when a token would be sent to it, unless explicitly allowed.
    pub fn check_url(&self, url: &str, has_token: bool) -> Result<(), RemoteError> {
        let plain = url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        if has_token && plain && !self.allow_token_over_http {
            return Err(RemoteError::TokenOverPlainHttp { url: url.to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_goes_over_plain_http_without_the_flag() {
        let mut a = RemoteArgs { token: Some("s3cret".into()), ..Default::default() };
        let err = a.check_url("http://127.0.0.1:6060/debug/pprof/", true).unwrap_err();
        assert!(matches!(err, RemoteError::TokenOverPlainHttp { .. }));
        assert!(!err.to_string().contains("s3cret"), "the token is never printed");
        assert!(a.check_url("HTTP://127.0.0.1:6060/", true).is_err(), "scheme is case-insensitive");
        assert!(a.check_url("https://127.0.0.1:10257/debug/pprof/", true).is_ok());
        assert!(a.check_url("http://127.0.0.1:6060/", false).is_ok(), "no token, nothing to protect");
        a.allow_token_over_http = true;
        assert!(a.check_url("http://127.0.0.1:6060/", true).is_ok());
    }

    #[test]
    fn token_file_is_trimmed_and_must_not_be_empty() {
        let dir = std::env::temp_dir().join(format!("gohealth-remote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "abc.def\n").unwrap();
        let a = RemoteArgs { token_file: Some(f.clone()), ..Default::default() };
        assert_eq!(a.bearer_token().unwrap().as_deref(), Some("abc.def"));
        std::fs::write(&f, " \n").unwrap();
        assert!(matches!(a.bearer_token(), Err(RemoteError::EmptyToken { .. })));
        let missing = RemoteArgs { token_file: Some(dir.join("nope")), ..Default::default() };
        assert!(matches!(missing.bearer_token(), Err(RemoteError::TokenFile { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn timeout_must_be_positive() {
        assert_eq!(parse_positive_duration("10s"), Ok(Duration::from_secs(10)));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("soon").is_err());
    }
}
