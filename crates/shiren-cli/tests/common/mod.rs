//! Shared harness for end-to-end tests: the real `shiren` binary serving on a free loopback
//! port with its own data directory, and a signed client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use shiren_auth::{QueryParams, SignParams, Signer};

pub mod sdk;

/// A temporary directory only its owner can read, as the service wants its data directory (it
/// warns about any other).
pub fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shiren"))
}

/// Models and test photos, provisioned once by the binary itself.
pub fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = bin().args(["models", "fetch", "--test-data", "--quiet"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let path = bin().args(["models", "path"]).output().unwrap();
        PathBuf::from(String::from_utf8(path.stdout).unwrap().trim())
    })
}

pub fn photo(name: &str) -> Vec<u8> {
    std::fs::read(model_dir().join("testdata").join(name)).unwrap()
}

pub fn b64(bytes: &[u8]) -> Value {
    json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub host: String,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `shiren serve` on 127.0.0.1 with a fresh data directory.
    pub fn start(env: &[(&str, &str)]) -> Server {
        let tmp = private_dir();
        let data_dir = tmp.path().to_path_buf();
        let mut server = Server::start_in(&data_dir, env);
        server._tmp = Some(tmp);
        server
    }

    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let _ = model_dir();
        let mut cmd = bin();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("shiren listening on ")
            .unwrap_or_else(|| panic!("unexpected output {line:?}"))
            .to_string();
        let host = url.trim_start_matches("http://").to_string();
        Server {
            child,
            url,
            host,
            data_dir: data_dir.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            _tmp: None,
        }
    }

    /// A key created with the CLI against this server's data directory.
    pub fn key(&self, policy: &str) -> Signer {
        let mut cmd = bin();
        cmd.args(["keys", "create", "--policy", policy, "--json", "--data-dir"]).arg(&self.data_dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        Signer::new(v["access_key_id"].as_str().unwrap(), v["access_key_secret"].as_str().unwrap())
    }

    pub fn client(&self, signer: Signer) -> Api {
        Api { base: self.url.clone(), host: self.host.clone(), signer }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 exchange on loopback, with plain std sockets so the tests need no async
/// runtime and can send anything (tampered headers included); returns status, headers, body.
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        if k != "host" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (e.g. 413 from the announced length) and close without reading the
    // body; the answer is still there to read.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no answer: {e}");
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

pub struct Api {
    pub base: String,
    pub host: String,
    pub signer: Signer,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Api {
    /// Signed headers for a request (exposed so tests can tamper with them).
    pub fn signed(&self, method: &str, path_and_query: &str, body: &[u8]) -> Vec<(String, String)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let ct = vec![("content-type".to_string(), "application/json".to_string())];
        self.signer.sign(&SignParams {
            method,
            host: &self.host,
            path,
            query: &QueryParams::parse(query),
            body,
            action: "Request",
            version: "v1",
            extra_headers: if body.is_empty() { &[] } else { &ct },
        })
    }

    pub fn raw(&self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
        let (status, headers, bytes) = http(&self.host, method, path, headers, body);
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, json }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let headers = self.signed(method, path, &bytes);
        self.raw(method, path, &headers, &bytes)
    }

    pub fn scene(&self, settings: Value) -> String {
        let r = self.call("POST", "/v1/scenes", Some(&json!({ "name": "test scene", "settings": settings })));
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["data"]["id"].as_str().unwrap().to_string()
    }
}
