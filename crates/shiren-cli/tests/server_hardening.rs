//! Hardening that only the real process shows: outbound calls ignore proxy settings in the
//! environment, and a data directory open to other users is reported.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Server, b64, bin, photo};
use serde_json::json;

/// Answers every connection on a loopback port with `answer(request body)`; counts them.
fn http_server(answer: impl Fn(&[u8]) -> (String, Vec<u8>) + Send + Sync + 'static) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let (count, answer) = (hits.clone(), Arc::new(answer));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (content_type, payload) = answer(&body);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    payload.len()
                );
                let _ = stream.write_all(&payload);
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), hits)
}

#[test]
fn image_urls_and_the_authority_are_fetched_directly_whatever_the_proxy_settings() {
    let jpeg = photo("obama.jpg");
    let (images, image_hits) = http_server(move |_| ("image/jpeg".into(), jpeg.clone()));
    let reference = b64(&photo("obama2.jpg"))["base64"].as_str().unwrap().to_string();
    let (gateway, gateway_hits) = http_server(move |_| {
        let answer = json!({ "found": true, "name_match": true, "photo_base64": reference });
        ("application/json".into(), answer.to_string().into_bytes())
    });
    // A "proxy" that would see any request routed through it.
    let (proxy, proxy_hits) = http_server(|_| ("text/plain".into(), b"proxied".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shiren.toml");
    std::fs::write(
        &config,
        format!("url_fetch_allow_private = true\n[authority]\nprovider = \"http\"\nurl = \"http://{gateway}/check\"\n"),
    )
    .unwrap();
    let proxy_url = format!("http://{proxy}");
    let server = Server::start(&[
        ("SHIREN_CONFIG", config.to_str().unwrap()),
        ("HTTP_PROXY", &proxy_url),
        ("http_proxy", &proxy_url),
        ("HTTPS_PROXY", &proxy_url),
        ("ALL_PROXY", &proxy_url),
    ]);
    let api = server.client(server.key("full"));
    let scene = api.scene(json!({ "allow_image_urls": true }));
    let r = api.call(
        "POST",
        "/v1/liveness",
        Some(&json!({ "scene_id": scene, "image": { "url": format!("http://{images}/obama.jpg") } })),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let first = id_number();
    let r = api.call(
        "POST",
        "/v1/identity",
        Some(&json!({ "scene_id": scene, "name": "奥巴马", "id_number": first, "image": b64(&photo("obama.jpg")) })),
    );
    assert_eq!((r.status, r.json["data"]["sub_code"].as_str()), (200, Some("200")), "{}", r.json);
    assert_eq!(image_hits.load(Ordering::SeqCst), 1);
    assert_eq!(gateway_hits.load(Ordering::SeqCst), 1);
    assert_eq!(proxy_hits.load(Ordering::SeqCst), 0, "an outbound call went through the proxy");
}

fn id_number() -> String {
    let first17 = "31010119610804001";
    format!("{first17}{}", shiren_idcard::check_character(first17).unwrap())
}

#[test]
fn a_data_directory_open_to_other_users_is_reported_and_new_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shared");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = bin().args(["keys", "create", "--policy", "readonly", "--data-dir"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: data directory") && stderr.contains("chmod 700"), "{stderr}");
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
    }
    // A fresh data directory is created owner-only, without a warning.
    let fresh = dir.path().join("fresh");
    let out = bin().args(["keys", "list", "--data-dir"]).arg(&fresh).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
}
