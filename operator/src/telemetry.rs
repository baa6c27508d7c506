//! Logs (tracing) and the admin HTTP server: `/metrics`, `/healthz`, `/readyz` on one port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::Metrics;

/// Log filter when RUST_LOG is unset: our own crate at info, dependencies at warn (kube and hyper are chatty).
const DEFAULT_FILTER: &str = "warn,gohealth=info";

/// Install the global tracing subscriber: JSON lines (for log pipelines) or human-readable text,
/// filtered by RUST_LOG. Calling it twice is harmless (the second call is ignored), which tests need.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result =
        if json { builder.json().flatten_event(true).with_current_span(true).try_init() } else { builder.try_init() };
    if let Err(e) = result {
        // Already initialised (tests, or a second call): keep the first subscriber.
        tracing::debug!(error = %e, "tracing already initialised");
    }
}

/// Readiness: false until the controller's first successful list/watch.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// E.g. the watch lost its connection for good: report not ready again.
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// The admin router, separate from `serve` so tests can drive it without a socket.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    let metrics = state.metrics.clone();
    // Rendering reads /proc and walks every series: keep it off the async workers.
    match tokio::task::spawn_blocking(move || (metrics.render(), metrics.content_type())).await {
        Ok((body, content_type)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering metrics failed\n").into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.health.is_ready() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: waiting for the first successful list/watch\n").into_response()
    }
}

/// Serve the admin endpoints on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, metrics, health, shutdown).await
}

/// Like `serve`, on a bound listener (tests bind port 0 and read the address back).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(local) = listener.local_addr() {
        tracing::info!(addr = %local, "admin server listening (/metrics, /healthz, /readyz)");
    }
    axum::serve(listener, router(metrics, health)).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap();
        (status, buf)
    }

    #[tokio::test]
    async fn endpoints_answer_and_shutdown_is_graceful() {
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(listener, metrics.clone(), health.clone(), async move {
            let _ = rx.await;
        }));

        assert_eq!(get(addr, "/healthz").await.0, 200);
        let (code, body) = get(addr, "/readyz").await;
        assert_eq!(code, 503, "{body}");
        health.set_ready();
        assert_eq!(get(addr, "/readyz").await.0, 200);

        let mut audit = metrics.audit_series("ns", "a");
        metrics.record_reconcile(&mut audit, 0.5, None);
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(body.contains("text/plain; version=0.0.4"), "{body}");
        assert!(body.contains(r#"gohealth_reconciles_total{audit="a",namespace="ns"} 1"#));
        assert_eq!(get(addr, "/nope").await.0, 404);

        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn init_tracing_twice_is_harmless() {
        init_tracing(true);
        init_tracing(false);
    }
}
