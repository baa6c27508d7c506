//! The HTTP shell of collection: one bounded GET with typed failures.
//!
//! Safety for the operator comes before completeness: every request has a total deadline (a target
//! that drips one byte a second times out instead of hanging), bodies are streamed against a cap and
//! never buffered past it, gzip is inflated against the same cap, redirects are not followed (a
//! target must not send us, with our token, to another host), proxies are not used, and a semaphore
//! bounds how many targets are scraped at once across all audits.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

use crate::scrape::fair::{FairPermit, FairPool, FairShare};

use crate::dereference::credentials::Credentials;
use crate::validate::PprofConfig;
use gohealth_core::scrape_error::ScrapeError;

/// Default cap on a response body, compressed or decompressed.
pub const DEFAULT_MAX_BODY_BYTES: u64 = crate::validate::DEFAULT_MAX_BODY_BYTES;
/// Default number of targets scraped at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default per-request deadline (matches `spec.pprof.timeout`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the collector talks to targets.
#[derive(Clone)]
pub struct CollectorOptions {
    /// Total deadline of one request: connect, headers and the whole body.
    pub timeout: Duration,
    /// Largest body accepted, on the wire and after gunzip.
    pub max_body_bytes: u64,
    /// Targets scraped at once (size of the shared semaphore).
    pub concurrency: usize,
    /// Extra attempts for transient failures (`ScrapeError::is_transient`).
    pub retries: u32,
    /// First backoff; doubles on each retry.
    pub retry_backoff: Duration,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// PEM CA bundle; when set, only these CAs are trusted for https targets.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate. Only when the audit asks for it.
    pub insecure_skip_verify: bool,
    /// PEM client certificate and key, presented over TLS (the CLI, with a kubeconfig user's certificate).
    pub client_identity_pem: Option<Vec<u8>>,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
            retries: 2,
            retry_backoff: Duration::from_millis(200),
            bearer_token: None,
            ca_pem: None,
            insecure_skip_verify: false,
            client_identity_pem: None,
        }
    }
}

// Never print the token.
impl fmt::Debug for CollectorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorOptions")
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("concurrency", &self.concurrency)
            .field("retries", &self.retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("client_identity_pem", &self.client_identity_pem.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl CollectorOptions {
    /// Options for one audit: its validated `spec.pprof` and the credentials read for it.
    pub fn for_audit(pprof: &PprofConfig, credentials: Credentials) -> CollectorOptions {
        CollectorOptions {
            timeout: pprof.timeout,
            max_body_bytes: pprof.max_body_bytes,
            bearer_token: credentials.bearer_token,
            ca_pem: credentials.ca_pem,
            insecure_skip_verify: pprof.insecure_skip_verify,
            ..CollectorOptions::default()
        }
    }
}

/// Installs rustls' ring provider as the process default, once: reqwest's `rustls-no-provider`
/// feature panics when building a client without one. Another component (kube) may have installed
/// one already; that is fine.
pub fn ensure_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err only when another thread won the race: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// Bounds concurrent scrapes. Clones share the permits, so one limiter can be shared by the
/// collectors of every audit (each audit has its own TLS/token options); [`Limiter::for_audit`] gives
/// each audit its fair share of them ([`crate::scrape::fair`]).
#[derive(Clone, Debug)]
pub struct Limiter(FairShare);

impl Limiter {
    pub fn new(permits: usize) -> Limiter {
        Limiter(FairPool::new(permits).share(""))
    }

    /// The same pool, acquired as audit `key`: while several audits scrape, each holds at most its share.
    pub fn for_audit(&self, key: &str) -> Limiter {
        Limiter(self.0.pool().share(key))
    }

    pub fn available(&self) -> usize {
        self.0.pool().available()
    }

    /// Permits in the pool.
    pub fn total(&self) -> usize {
        self.0.pool().total()
    }

    pub(crate) async fn acquire(&self) -> Result<FairPermit, ScrapeError> {
        Ok(self.0.acquire().await)
    }
}

/// Fetches pprof endpoints. Cheap to clone: the HTTP client, the options and the limiter are shared.
#[derive(Clone)]
pub struct Collector {
    client: reqwest::Client,
    opts: Arc<CollectorOptions>,
    limiter: Limiter,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector").field("opts", &self.opts).field("limiter", &self.limiter).finish()
    }
}

/// What every client of the collector shares: no redirects, no proxy, a connect deadline, and one
/// connection per target, reused for the target's profiles, which are fetched one after another.
fn base_client_builder(opts: &CollectorOptions) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(opts.timeout)
        // Between audits (10 s and more apart) an idle connection would only hold its read buffer.
        .pool_idle_timeout(Duration::from_millis(250))
        .pool_max_idle_per_host(1)
        .user_agent(concat!("gohealth/", env!("CARGO_PKG_VERSION")))
}

/// A client for plain-http targets only: its TLS configuration trusts no CA, so it cannot complete
/// a handshake, and it is built once. reqwest's own TLS setup loads the system's CA store on every
/// client built, which cost more than the scrape itself when done per target. `None` if the
/// configuration cannot be made (the caller then uses the audit's client).
fn plain_http_client(opts: &CollectorOptions) -> Option<reqwest::Client> {
    static NO_CA: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    let tls = NO_CA
        .get_or_init(|| {
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .ok()
                .map(|b| b.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth())
        })
        .clone()?;
    base_client_builder(opts).tls_backend_preconfigured(tls).build().ok()
}

impl Collector {
    /// A collector with its own limiter of `opts.concurrency` permits (the CLI's case).
    pub fn new(opts: &CollectorOptions) -> Result<Collector, ScrapeError> {
        Collector::with_limiter(opts, Limiter::new(opts.concurrency))
    }

    /// A collector sharing `limiter` with others (the operator: one limiter, one collector per audit).
    pub fn with_limiter(opts: &CollectorOptions, limiter: Limiter) -> Result<Collector, ScrapeError> {
        ensure_crypto_provider();
        let mut b = base_client_builder(opts);
        if opts.insecure_skip_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        } else if let Some(pem) = &opts.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ScrapeError::TlsError(format!("CA bundle: {}", chain(&e))))?;
            if certs.is_empty() {
                return Err(ScrapeError::TlsError("CA bundle holds no PEM certificate".into()));
            }
            b = b.tls_certs_only(certs);
        }
        if let Some(pem) = &opts.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| ScrapeError::TlsError(format!("client certificate: {}", chain(&e))))?;
            b = b.identity(identity);
        }
        let client =
            b.build().map_err(|e| ScrapeError::TlsError(format!("building the HTTP client: {}", chain(&e))))?;
        Ok(Collector { client, opts: Arc::new(opts.clone()), limiter })
    }

    /// The collector for one target's scrape. A plain-http target gets an HTTP client of its own:
    /// its connection, and the read buffer hyper grew to the size of a debug=2 dump (about 400 KiB),
    /// are dropped with it when the scrape ends. A client shared by the audit kept them pooled after
    /// the target was done: at hundreds of targets a second that was most of the operator's memory.
    /// An https target (the control plane, a few pods) shares the audit's client, whose idle
    /// connections close within a fraction of a second.
    pub(crate) fn for_one_target(&self, tls: bool) -> Collector {
        let own = if tls { None } else { plain_http_client(&self.opts) };
        match own {
            Some(client) => Collector { client, ..self.clone() },
            None => self.clone(),
        }
    }

    pub fn options(&self) -> &CollectorOptions {
        &self.opts
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// GETs `url` under the concurrency limit, with retries for transient failures; returns the body
    /// (gunzipped when it is gzip) or a typed reason.
    pub async fn fetch(&self, url: &str) -> Result<Bytes, ScrapeError> {
        let _permit = self.limiter.acquire().await?;
        self.fetch_unlimited(url).await
    }

    /// [`Self::fetch`] returning the body as served, gzip included: for profiles, which the
    /// parsers inflate themselves within the same cap (a goroutine profile.proto is decoded as
    /// it inflates, so the inflated body is never held whole).
    pub async fn fetch_raw(&self, url: &str) -> Result<Bytes, ScrapeError> {
        let _permit = self.limiter.acquire().await?;
        self.fetch_with_retries(url, false).await
    }

    /// `fetch` without taking a permit: for callers that already hold one for the whole target.
    pub(crate) async fn fetch_unlimited(&self, url: &str) -> Result<Bytes, ScrapeError> {
        self.fetch_with_retries(url, true).await
    }

    /// [`Self::fetch_raw`] without taking a permit.
    pub(crate) async fn fetch_raw_unlimited(&self, url: &str) -> Result<Bytes, ScrapeError> {
        self.fetch_with_retries(url, false).await
    }

    async fn fetch_with_retries(&self, url: &str, inflate: bool) -> Result<Bytes, ScrapeError> {
        let mut attempt = 0u32;
        loop {
            match self.fetch_once(url, inflate).await {
                Err(e) if e.is_transient() && attempt < self.opts.retries => {
                    let backoff = self.opts.retry_backoff.saturating_mul(2u32.saturating_pow(attempt));
                    tracing::debug!(url, attempt, error = %e, ?backoff, "transient scrape failure, retrying");
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One attempt under the total deadline; `inflate`: gunzip a gzip body here.
    async fn fetch_once(&self, url: &str, inflate: bool) -> Result<Bytes, ScrapeError> {
        let timeout = self.opts.timeout;
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let body =
            tokio::time::timeout(timeout, self.get_capped(url)).await.map_err(|_| ScrapeError::Timeout(ms))??;
        let cap = usize::try_from(self.opts.max_body_bytes).unwrap_or(usize::MAX);
        if !inflate || !gohealth_pprof::is_gzip(&body) {
            return Ok(body);
        }
        // Inflating up to 64 MiB is CPU work: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            gohealth_pprof::gunzip_limited(&body, cap)
                .map(|plain| Bytes::from(plain.into_owned()))
                .map_err(ScrapeError::from)
        })
        .await
        // Not transient: the same body would fail the same way again.
        .map_err(|e| ScrapeError::NotAProfile(format!("gunzip task failed: {e}")))?
    }

    async fn get_capped(&self, url: &str) -> Result<Bytes, ScrapeError> {
        let mut req = self.client.get(url);
        if let Some(token) = &self.opts.bearer_token {
            // A token in clear text is a token given away: never over plain http (redirects are off, so
            // the URL checked here is the only one the request goes to).
            if !url.starts_with("https://") {
                return Err(ScrapeError::CredentialsOverPlainHttp(
                    "a bearer token is configured and the endpoint is http; nothing was sent".into(),
                ));
            }
            req = req.bearer_auth(token);
        }
        let timeout_ms = u64::try_from(self.opts.timeout.as_millis()).unwrap_or(u64::MAX);
        let map = |e: reqwest::Error| match map_reqwest_error(&e) {
            ScrapeError::Timeout(_) => ScrapeError::Timeout(timeout_ms),
            other => other,
        };
        let mut resp = req.send().await.map_err(map)?;
        status_to_error(resp.status())?;
        let cap = self.opts.max_body_bytes;
        if let Some(len) = resp.content_length()
            && len > cap
        {
            return Err(ScrapeError::BodyTooLarge(cap));
        }
        let mut body = BodyBuffer::new(cap, resp.content_length());
        while let Some(chunk) = resp.chunk().await.map_err(map)? {
            body.push(&chunk)?;
        }
        Ok(body.finish())
    }
}

/// 2xx passes; 401/403 are `Auth`; everything else (3xx included: redirects are not followed) is
/// `HttpStatus`.
pub fn status_to_error(status: StatusCode) -> Result<(), ScrapeError> {
    if status.is_success() {
        return Ok(());
    }
    match status.as_u16() {
        401 | 403 => Err(ScrapeError::Auth(format!(
            "HTTP {} (set spec.pprof.auth, or grant the token access to /debug/pprof)",
            status.as_u16()
        ))),
        code => Err(ScrapeError::HttpStatus(code)),
    }
}

/// Accumulates a body, never holding more than `cap` bytes.
pub struct BodyBuffer {
    buf: Vec<u8>,
    cap: u64,
}

impl BodyBuffer {
    /// Pre-sizes from Content-Length (already checked against `cap`), bounded by 1 MiB so a lying
    /// header cannot make us reserve much.
    pub fn new(cap: u64, content_length: Option<u64>) -> BodyBuffer {
        let initial = content_length.unwrap_or(16 * 1024).min(cap).min(1 << 20);
        BodyBuffer { buf: Vec::with_capacity(usize::try_from(initial).unwrap_or(0)), cap }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ScrapeError> {
        let new_len = (self.buf.len() as u64).saturating_add(chunk.len() as u64);
        if new_len > self.cap {
            return Err(ScrapeError::BodyTooLarge(self.cap));
        }
        if self.buf.capacity() < self.buf.len() + chunk.len() {
            // Geometric growth clamped to the cap, so the buffer never exceeds it.
            let want = (self.buf.capacity() as u64).saturating_mul(2).max(new_len).min(self.cap);
            let extra = usize::try_from(want).unwrap_or(usize::MAX) - self.buf.len();
            self.buf.reserve_exact(extra);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

/// Maps a reqwest error to a typed reason by looking at its cause chain.
pub fn map_reqwest_error(e: &reqwest::Error) -> ScrapeError {
    for err in causes(e) {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ScrapeError::ConnectionRefused;
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return ScrapeError::TlsError(tls.to_string());
        }
    }
    if e.is_timeout() {
        // reqwest's own connect timeout; the caller substitutes the configured deadline.
        return ScrapeError::Timeout(0);
    }
    if e.is_connect() {
        return ScrapeError::Connect(chain(e));
    }
    ScrapeError::Transfer(chain(e))
}

/// An error and all its causes. `io::Error::source()` skips the error it wraps (it returns the
/// wrapped error's source), and tokio-rustls/hyper nest rustls errors in two io::Errors, so wrapped
/// errors are visited through `get_ref()` too.
fn causes<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(err) = stack.pop() {
        // Bounded: real chains are a handful deep.
        if out.len() >= 32 {
            break;
        }
        out.push(err);
        if let Some(src) = err.source() {
            stack.push(src);
        }
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            stack.push(inner);
        }
    }
    out
}

/// `a: b: c` from an error and its causes, without repeating identical messages; the URL that
/// reqwest puts in its message is dropped (the caller knows it).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let msg = match err.downcast_ref::<reqwest::Error>() {
            Some(r) => r.without_url_string(),
            None => err.to_string(),
        };
        if !parts.iter().any(|p| p == &msg) {
            parts.push(msg);
        }
        cur = err.source();
    }
    parts.join(": ")
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let full = self.to_string();
        match self.url() {
            Some(u) => full.replace(&format!(" for url ({u})"), "").replace(&format!(" ({u})"), ""),
            None => full,
        }
    }
}

#[cfg(test)]
mod tests;
