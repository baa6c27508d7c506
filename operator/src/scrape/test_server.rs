//! A tiny in-process HTTP/1.1 server on 127.0.0.1 for transport and scrape tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test server does for one request.
#[derive(Clone)]
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Chunked transfer of `count` chunks of `chunk` bytes (no Content-Length).
    Chunked {
        chunk: usize,
        count: usize,
    },
    /// Headers, then one byte every `every`.
    Drip {
        every: Duration,
    },
    /// Accepts and reads, never writes.
    Silent,
    /// Claims a Content-Length, sends nothing more.
    Claims {
        len: u64,
    },
}

impl Server {
    /// Request paths in arrival order.
    pub fn paths(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|h| h.split_whitespace().nth(1).unwrap_or("").to_string()).collect()
    }
}

pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full { status: 200, headers: vec![], body: body.into() }
}

pub fn status(code: u16) -> Reply {
    Reply::Full { status: code, headers: vec![], body: b"nope".to_vec() }
}

pub struct Server {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Serves `route(path, hit_number)` for every request, one request per connection.
pub async fn serve<F>(route: F) -> Server
where
    F: Fn(&str, usize) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let route = Arc::new(route);
    let (h, r) = (hits.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let n = h.fetch_add(1, Ordering::SeqCst);
            let (route, r) = (route.clone(), r.clone());
            tokio::spawn(async move { handle(sock, n, &*route, &r).await });
        }
    });
    Server { addr, hits, requests }
}

async fn handle<F: Fn(&str, usize) -> Reply>(mut sock: TcpStream, n: usize, route: &F, requests: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
        // A TLS ClientHello (0x16) on this plain port: answer like Go's server does.
        if head.first() == Some(&0x16) {
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n").await;
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    requests.lock().unwrap().push(head);
    let _ = match route(&path, n) {
        Reply::Full { status, headers, body } => {
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            sock.write_all(&bytes).await
        }
        Reply::Chunked { chunk, count } => {
            let hdr = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if sock.write_all(hdr.as_bytes()).await.is_err() {
                return;
            }
            let data = vec![b'x'; chunk];
            for _ in 0..count {
                let mut c = format!("{chunk:x}\r\n").into_bytes();
                c.extend_from_slice(&data);
                c.extend_from_slice(b"\r\n");
                if sock.write_all(&c).await.is_err() {
                    return;
                }
            }
            sock.write_all(b"0\r\n\r\n").await
        }
        Reply::Drip { every } => {
            let hdr = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
            if sock.write_all(hdr.as_bytes()).await.is_err() {
                return;
            }
            loop {
                if sock.write_all(b"1\r\ng\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
        Reply::Silent => {
            let mut sink = [0u8; 1024];
            while let Ok(k) = sock.read(&mut sink).await {
                if k == 0 {
                    return;
                }
            }
            Ok(())
        }
        Reply::Claims { len } => {
            let hdr = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            let _ = sock.write_all(hdr.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
    };
}
