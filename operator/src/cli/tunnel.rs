//! Loopback tunnels that let `analyze` scrape pods and the apiserver with the user's kubeconfig, so
//! the same collector (timeouts, body caps, typed errors) reads every source:
//! - [`ApiProxy`]: `http://127.0.0.1:PORT/<path>` → the apiserver, authenticated by the kubeconfig
//!   (the `pods/proxy` subresource, or the apiserver's own `/debug/pprof`). Only GETs under the
//!   prefixes it was opened for are forwarded, so it is not a general proxy for other local users.
//! - [`PortForward`]: `127.0.0.1:PORT` → one pod port through the `pods/portforward` subresource, for
//!   pods the apiserver will not proxy to (host-network and loopback pod IPs, or RBAC without
//!   `pods/proxy`).
//!
//! Both listen on 127.0.0.1 only and stop when dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Why a tunnel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(String),
}

async fn listen() -> Result<(TcpListener, SocketAddr), TunnelError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| TunnelError::Listen(e.to_string()))?;
    let addr = listener.local_addr().map_err(|e| TunnelError::Listen(e.to_string()))?;
    Ok((listener, addr))
}

/// A loopback HTTP listener that forwards GETs to the apiserver.
pub struct ApiProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

struct ProxyState {
    client: kube::Client,
    allowed: Vec<String>,
}

impl ApiProxy {
    /// Forwards GETs whose path starts with one of `allowed` (e.g.
    /// `/api/v1/namespaces/shop/pods/http:web-0:6060/proxy/`, `/debug/pprof`).
    pub async fn open(client: kube::Client, allowed: Vec<String>) -> Result<ApiProxy, TunnelError> {
        let (listener, addr) = listen().await?;
        let state = Arc::new(ProxyState { client, allowed });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            // Ends when the listener fails or the task is aborted (on drop).
            let _ = axum::serve(listener, app).await;
        });
        Ok(ApiProxy { addr, task })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let allowed = req.method() == Method::GET && state.allowed.iter().any(|p| path_and_query.starts_with(p.as_str()));
    if !allowed {
        return (StatusCode::FORBIDDEN, "gohealth: not forwarded").into_response();
    }
    let upstream = match axum::http::Request::get(&path_and_query).body(kube::client::Body::empty()) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match state.client.send(upstream).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, AxumBody::new(body))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("gohealth: apiserver: {e}")).into_response(),
    }
}

/// A loopback TCP listener; each connection is a new port-forward stream to the pod's port.
pub struct PortForward {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl PortForward {
    pub async fn open(pods: Api<Pod>, pod: String, port: u16) -> Result<PortForward, TunnelError> {
        let (listener, addr) = listen().await?;
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let pods = pods.clone();
                let pod = pod.clone();
                tokio::spawn(async move {
                    let Ok(mut pf) = pods.portforward(&pod, &[port]).await else {
                        return;
                    };
                    if let Some(mut upstream) = pf.take_stream(port) {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                    }
                    // Close the websocket once the local connection is done.
                    pf.abort();
                });
            }
        });
        Ok(PortForward { addr, task })
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}
