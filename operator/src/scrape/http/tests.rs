//! Transport tests against a tiny in-process HTTP/1.1 server on 127.0.0.1.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::scrape::test_server::{Reply, ok, serve, status};

fn opts() -> CollectorOptions {
    CollectorOptions {
        timeout: Duration::from_millis(800),
        max_body_bytes: 1 << 20,
        retry_backoff: Duration::from_millis(10),
        ..CollectorOptions::default()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn ok_body_is_returned() {
    let s = serve(|_, _| ok("goroutine profile: total 1\n")).await;
    let c = Collector::new(&opts()).unwrap();
    let body = c.fetch(&s.url("/debug/pprof/goroutine?debug=1")).await.unwrap();
    assert_eq!(&body[..], b"goroutine profile: total 1\n");
    assert!(s.requests.lock().unwrap()[0].starts_with("GET /debug/pprof/goroutine?debug=1 "));
}

#[tokio::test]
async fn statuses_map_to_typed_reasons() {
    let s = serve(|path, _| match path {
        "/401" => status(401),
        "/403" => status(403),
        "/404" => status(404),
        "/500" => status(500),
        _ => Reply::Full {
            status: 302,
            headers: vec![("Location", "http://127.0.0.2:1/elsewhere".into())],
            body: vec![],
        },
    })
    .await;
    let c = Collector::new(&opts()).unwrap();
    assert_eq!(c.fetch(&s.url("/401")).await.unwrap_err().reason(), "AuthError");
    assert_eq!(c.fetch(&s.url("/403")).await.unwrap_err().reason(), "AuthError");
    assert_eq!(c.fetch(&s.url("/404")).await, Err(ScrapeError::HttpStatus(404)));
    assert_eq!(c.fetch(&s.url("/500")).await, Err(ScrapeError::HttpStatus(500)));
    // redirects are not followed: a target must not send us (and our token) elsewhere
    assert_eq!(c.fetch(&s.url("/302")).await, Err(ScrapeError::HttpStatus(302)));
    // 500 is not transient: one request each, no retries
    assert_eq!(s.hits.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn transient_statuses_are_retried_with_backoff() {
    let s = serve(|_, n| if n < 2 { status(503) } else { ok("fine") }).await;
    let c = Collector::new(&opts()).unwrap();
    assert_eq!(&c.fetch(&s.url("/x")).await.unwrap()[..], b"fine");
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);

    let s = serve(|_, _| status(502)).await;
    let c = Collector::new(&CollectorOptions { retries: 1, ..opts() }).unwrap();
    assert_eq!(c.fetch(&s.url("/x")).await, Err(ScrapeError::HttpStatus(502)));
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn content_length_over_cap_is_refused_up_front() {
    let s = serve(|_, _| Reply::Claims { len: 1 << 30 }).await;
    let c = Collector::new(&opts()).unwrap();
    let t = Instant::now();
    assert_eq!(c.fetch(&s.url("/huge")).await, Err(ScrapeError::BodyTooLarge(1 << 20)));
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
}

#[tokio::test]
async fn streamed_body_over_cap_stops_at_cap() {
    // 64 KiB × 100 = 6.4 MiB, chunked so there is no Content-Length to check first
    let s = serve(|_, _| Reply::Chunked { chunk: 64 * 1024, count: 100 }).await;
    let c = Collector::new(&opts()).unwrap();
    assert_eq!(c.fetch(&s.url("/stream")).await, Err(ScrapeError::BodyTooLarge(1 << 20)));
    // just under the cap passes
    let s = serve(|_, _| Reply::Chunked { chunk: 64 * 1024, count: 16 }).await;
    assert_eq!(c.fetch(&s.url("/stream")).await.unwrap().len(), 1 << 20);
}

#[tokio::test]
async fn drip_and_silence_hit_the_total_deadline() {
    let drip = serve(|_, _| Reply::Drip { every: Duration::from_millis(100) }).await;
    let silent = serve(|_, _| Reply::Silent).await;
    let c = Collector::new(&opts()).unwrap();
    for url in [drip.url("/drip"), silent.url("/silent")] {
        let t = Instant::now();
        assert_eq!(c.fetch(&url).await, Err(ScrapeError::Timeout(800)), "{url}");
        let el = t.elapsed();
        assert!(el >= Duration::from_millis(790) && el < Duration::from_millis(1500), "{url}: {el:?}");
    }
    // Timeout is not transient: one connection each
    assert_eq!(drip.hits.load(Ordering::SeqCst), 1);
    assert_eq!(silent.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refused_port_is_connection_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let c = Collector::new(&opts()).unwrap();
    assert_eq!(c.fetch(&format!("http://127.0.0.1:{port}/debug/pprof/")).await, Err(ScrapeError::ConnectionRefused));
}

#[tokio::test]
async fn gzip_is_inflated_and_bombs_are_refused() {
    let plain = b"goroutine profile: total 3\n".repeat(100);
    let gz = gzip(&plain);
    let bomb = gzip(&vec![0u8; 8 << 20]); // 8 MiB of zeros in a few KiB
    assert!(bomb.len() < 64 * 1024);
    let s = serve(move |path, _| match path {
        "/ok" => ok(gz.clone()),
        _ => ok(bomb.clone()),
    })
    .await;
    let c = Collector::new(&opts()).unwrap();
    assert_eq!(&c.fetch(&s.url("/ok")).await.unwrap()[..], &plain[..]);
    let err = c.fetch(&s.url("/bomb")).await.unwrap_err();
    assert_eq!(err, ScrapeError::DecompressedTooLarge(1 << 20));
    assert_eq!(err.reason(), "BodyTooLarge");
}

#[tokio::test]
async fn bearer_token_never_goes_over_plain_http_and_is_not_printed() {
    let s = serve(|_, _| ok("x")).await;
    let o = CollectorOptions { bearer_token: Some("s3cr3t".into()), ..opts() };
    let c = Collector::new(&o).unwrap();
    let err = c.fetch(&s.url("/x")).await.unwrap_err();
    assert_eq!(err.reason(), "CredentialsOverPlainHttp");
    assert!(!err.to_string().contains("s3cr3t"));
    assert!(s.requests.lock().unwrap().is_empty(), "no request at all reached the target");
    assert!(!format!("{c:?}").contains("s3cr3t"));
    // without a token the same endpoint is fine
    Collector::new(&opts()).unwrap().fetch(&s.url("/x")).await.unwrap();
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    let s = serve(|_, _| ok("x")).await;
    let c = Collector::new(&opts()).unwrap();
    let err = c.fetch(&format!("https://{}/debug/pprof/", s.addr)).await.unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err:?}");
    // insecureSkipVerify does not make plain HTTP speak TLS either
    let c = Collector::new(&CollectorOptions { insecure_skip_verify: true, ..opts() }).unwrap();
    let err = c.fetch(&format!("https://{}/debug/pprof/", s.addr)).await.unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err:?}");
}

#[tokio::test]
async fn a_target_client_speaks_plain_http_and_no_tls() {
    let s = serve(|_, _| ok("goroutine profile: total 1\n")).await;
    let audit = Collector::new(&opts()).unwrap();
    let own = audit.for_one_target(false);
    let body = own.fetch(&s.url("/debug/pprof/goroutine?debug=1")).await.unwrap();
    assert_eq!(&body[..], b"goroutine profile: total 1\n");
    // https through it ends in a typed TlsError (it trusts no CA, so no handshake can complete)
    let err = own.fetch(&format!("https://{}/debug/pprof/", s.addr)).await.unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err:?}");
    // the two share the audit's options and limiter
    assert_eq!(own.limiter().total(), audit.limiter().total());
    assert_eq!(own.options().timeout, audit.options().timeout);
}

#[test]
fn bad_ca_bundle_is_a_tls_error() {
    let o = CollectorOptions { ca_pem: Some(b"not a certificate".to_vec()), ..opts() };
    assert_eq!(Collector::new(&o).unwrap_err().reason(), "TlsError");
}

#[tokio::test]
async fn limiter_bounds_concurrent_fetches() {
    let s = serve(|_, _| Reply::Drip { every: Duration::from_millis(50) }).await;
    let o = CollectorOptions { concurrency: 1, timeout: Duration::from_millis(300), ..opts() };
    let c = Collector::new(&o).unwrap();
    assert_eq!(c.limiter().available(), 1);
    let t = Instant::now();
    let (ua, ub, c2) = (s.url("/a"), s.url("/b"), c.clone());
    let (a, b) = tokio::join!(c.fetch(&ua), c2.fetch(&ub));
    assert_eq!(a.unwrap_err().reason(), "Timeout");
    assert_eq!(b.unwrap_err().reason(), "Timeout");
    // serialized by the single permit: two deadlines back to back
    assert!(t.elapsed() >= Duration::from_millis(590), "{:?}", t.elapsed());
    assert_eq!(c.limiter().available(), 1);
}

#[test]
fn body_buffer_never_exceeds_cap() {
    let cap = 100_000u64;
    let mut b = BodyBuffer::new(cap, None);
    for _ in 0..99 {
        b.push(&[1u8; 1000]).unwrap();
        assert!(b.buf.capacity() as u64 <= cap, "{}", b.buf.capacity());
    }
    b.push(&[1u8; 1000]).unwrap();
    assert_eq!(b.len(), 100_000);
    assert_eq!(b.push(&[1u8]), Err(ScrapeError::BodyTooLarge(cap)));
    // a lying Content-Length does not make us reserve more than 1 MiB
    let b = BodyBuffer::new(1 << 30, Some(1 << 30));
    assert!(b.buf.capacity() <= 1 << 20);
    assert!(b.is_empty());
}

#[test]
fn options_for_an_audit() {
    use crate::crd::PprofSpec;
    use crate::validate::pprof;
    let creds = |token: Option<&str>| Credentials { bearer_token: token.map(String::from), ca_pem: None };
    let o = CollectorOptions::for_audit(&pprof(&PprofSpec::default()).unwrap(), creds(Some("t")));
    assert_eq!(o.timeout, Duration::from_secs(10));
    assert_eq!(o.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(o.bearer_token.as_deref(), Some("t"));
    assert!(!o.insecure_skip_verify);
    let spec = PprofSpec {
        timeout: "2s".into(),
        max_body_bytes: Some(4096),
        tls: Some(crate::crd::PprofTls { ca_secret: None, insecure_skip_verify: true }),
        ..PprofSpec::default()
    };
    let o = CollectorOptions::for_audit(&pprof(&spec).unwrap(), creds(None));
    assert_eq!(o.timeout, Duration::from_secs(2));
    assert_eq!(o.max_body_bytes, 4096);
    assert!(o.insecure_skip_verify);
    // Bad timeouts never reach the collector: validate names the field.
    for bad in ["soon", "0s"] {
        let spec = PprofSpec { timeout: bad.into(), ..PprofSpec::default() };
        assert_eq!(pprof(&spec).unwrap_err().field, "spec.pprof.timeout");
    }
}
