//! The service under stress and with its other parts: PostgreSQL, an HTTP authority gateway
//! (including one that times out), a PAD model in the slot, a full inference queue, kill -9
//! during a burst, and graceful shutdown.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, b64, model_dir, photo};
use serde_json::{Value, json};

fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    format!("{first17}{}", shiren_idcard::check_character(&first17).unwrap())
}

fn compare_body(scene: &str) -> Value {
    json!({ "scene_id": scene, "image_a": b64(&photo("obama.jpg")), "image_b": b64(&photo("obama2.jpg")) })
}

#[test]
fn postgresql_backend_serves_the_same_api() {
    let admin_url =
        std::env::var("SHIREN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let rt = tokio::runtime::Runtime::new().unwrap();
    sqlx::any::install_default_drivers();
    let admin = match rt.block_on(sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&admin_url)) {
        Ok(p) => p,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: PostgreSQL at {admin_url} unreachable ({e}); CI runs this");
            return;
        }
        Err(e) => panic!("PostgreSQL is required in CI: {e}"),
    };
    let name = format!("shiren_e2e_{}", std::process::id());
    // The name is built from our own process id.
    rt.block_on(
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin),
    )
    .unwrap();
    rt.block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin)).unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    {
        let server = Server::start(&[("DATABASE_URL", &url)]);
        let api = server.client(server.key("full"));
        let scene = api.scene(json!({}));
        let r = api.call("POST", "/v1/compare", Some(&compare_body(&scene)));
        assert_eq!((r.status, r.json["data"]["sub_code"].as_str()), (200, Some("200")), "{}", r.json);
        let id = r.json["data"]["verification_id"].as_str().unwrap().to_string();
        let records = api.call("GET", &format!("/v1/records?verification_id={id}"), None);
        assert_eq!(records.json["data"]["total"], 1, "{}", records.json);
        let stats = api.call("GET", &format!("/v1/statistics?scene_id={scene}"), None);
        assert_eq!(stats.json["data"]["totals"]["passes"], 1, "{}", stats.json);
        // The records really are in PostgreSQL, not in a stray SQLite file.
        assert!(!server.data_dir.join("shiren.db").exists());
    }
    rt.block_on(
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin),
    )
    .unwrap();
}

/// A tiny authority gateway on loopback: `known` is found (with a reference photo and a
/// matching phone), `slow` never answers in time, anything else is not found.
fn gateway(known: String, slow: String) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let reference = b64(&photo("obama.jpg"))["base64"].as_str().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (known, slow, reference, log) = (known.clone(), slow.clone(), reference.clone(), log.clone());
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
                reader.read_exact(&mut body).unwrap();
                let query: Value = serde_json::from_slice(&body).unwrap();
                log.lock().unwrap().push(query.clone());
                let answer = if query["id_number"] == slow.as_str() {
                    std::thread::sleep(Duration::from_secs(3));
                    json!({ "found": false })
                } else if query["id_number"] == known.as_str() {
                    json!({ "found": true, "name_match": query["name"] == "奥巴马", "phone_match": query["phone"] == "13800138000",
                            "bank_card_match": null, "photo_base64": if query["want_photo"] == true { json!(reference) } else { Value::Null } })
                } else {
                    json!({ "found": false })
                };
                let text = answer.to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    (format!("http://{addr}/check"), seen)
}

#[test]
fn http_authority_gateway_and_its_timeouts() {
    let known = id_number("310101", "19610804", "001");
    let slow = id_number("310101", "19700101", "002");
    let (url, seen) = gateway(known.clone(), slow.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shiren.toml");
    std::fs::write(
        &config,
        format!("[authority]\nprovider = \"http\"\nurl = \"{url}\"\ntoken = \"gateway-token\"\ntimeout_ms = 800\n"),
    )
    .unwrap();
    let server = Server::start(&[("SHIREN_CONFIG", config.to_str().unwrap())]);
    let api = server.client(server.key("full"));
    let scene = api.scene(json!({}));

    let r = api.call(
        "POST",
        "/v1/identity",
        Some(&json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "image": b64(&photo("obama2.jpg")) })),
    );
    assert_eq!((r.status, r.json["data"]["sub_code"].as_str()), (200, Some("200")), "{}", r.json);
    assert_eq!(r.json["data"]["detail"]["authority"], "http");
    let r = api.call(
        "POST",
        "/v1/elements",
        Some(&json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "phone": "13800138000" })),
    );
    assert_eq!(
        (r.json["data"]["sub_code"].as_str(), r.json["data"]["product"].as_str()),
        (Some("200"), Some("ID_3META_PHONE")),
        "{}",
        r.json
    );
    let r = api.call(
        "POST",
        "/v1/elements",
        Some(&json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "phone": "13900139000" })),
    );
    assert_eq!(r.json["data"]["sub_code"].as_str(), Some("201"), "{}", r.json);

    let r = api.call(
        "POST",
        "/v1/identity",
        Some(&json!({ "scene_id": scene, "name": "奥巴马", "id_number": slow, "image": b64(&photo("obama2.jpg")) })),
    );
    assert_eq!((r.status, r.code()), (503, "AUTHORITY_UNAVAILABLE"), "{}", r.json);
    let recorded = api.call("GET", "/v1/records?sub_code=AUTHORITY_UNAVAILABLE", None);
    assert_eq!(recorded.json["data"]["total"], 1, "{}", recorded.json);
    assert!(seen.lock().unwrap().iter().all(|q| q["id_number"].is_string()));
}

#[test]
fn a_licensed_pad_model_fills_the_slot() {
    // Any ONNX classifier with the slot's layout exercises the plumbing; the CC0 gender model
    // (32×32 input, two probabilities) stands in for a licensed PAD model here.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shiren.toml");
    let model = model_dir().join("attributes/gender-v1.onnx");
    std::fs::write(&config, format!("[pad]\nmodel = \"{}\"\ninput_size = 32\nlive_index = 1\n", model.display()))
        .unwrap();
    let server = Server::start(&[("SHIREN_CONFIG", config.to_str().unwrap())]);
    let api = server.client(server.key("full"));
    let scene = api.scene(json!({ "liveness": { "max_attack_score": 1.0 } }));
    let r = api.call("POST", "/v1/liveness", Some(&json!({ "scene_id": scene, "image": b64(&photo("obama.jpg")) })));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["data"]["detail"]["pad_model"], "configured");
    let attack = r.json["data"]["attack_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&attack), "{attack}");
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let server = Server::start(&[("SHIREN_WORKERS", "1"), ("SHIREN_QUEUE", "0")]);
    let api = Arc::new(server.client(server.key("full")));
    let scene = api.scene(json!({}));
    let body = Arc::new(compare_body(&scene));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            std::thread::spawn(move || {
                let r = api.call("POST", "/v1/compare", Some(&body));
                (r.status, r.code().to_string(), r.header("retry-after").map(str::to_string))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let busy: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert!(!busy.is_empty(), "{results:?}");
    assert!(busy.iter().all(|r| r.1 == "ServiceBusy" && r.2.as_deref() == Some("1")), "{results:?}");
    assert!(results.iter().all(|r| r.0 == 200 || r.0 == 503), "{results:?}");
    assert!(results.iter().any(|r| r.0 == 200), "{results:?}");
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let api = Arc::new(server.client(server.key("full")));
    let scene = api.scene(json!({}));
    let body = Arc::new(compare_body(&scene));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (api, body, acknowledged) = (api.clone(), body.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let r = std::panic::catch_unwind(|| api.call("POST", "/v1/compare", Some(&body)));
                    match r {
                        Ok(r) if r.status == 200 => acknowledged
                            .lock()
                            .unwrap()
                            .push(r.json["data"]["verification_id"].as_str().unwrap().to_string()),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 6 {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    for h in handles {
        let _ = h.join();
    }
    let ids = acknowledged.lock().unwrap().clone();
    assert!(ids.len() >= 6);
    let server = Server::start_in(dir.path(), &[]);
    let api = server.client(api.signer.clone());
    for id in &ids {
        let r = api.call("GET", &format!("/v1/records/{id}"), None);
        assert_eq!(r.status, 200, "acknowledged {id} lost after kill -9: {}", r.json);
        assert_eq!(r.json["data"]["sub_code"], "200");
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut server = Server::start(&[]);
    let api = Arc::new(server.client(server.key("full")));
    let scene = api.scene(json!({}));
    // A comparison in flight when the signal arrives still completes.
    let in_flight = {
        let (api, body) = (api.clone(), compare_body(&scene));
        std::thread::spawn(move || api.call("POST", "/v1/compare", Some(&body)).status)
    };
    // Signal only once the comparison is inside the inference pool.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = common::http(&server.host, "GET", "/readyz", &[], b"");
        let ready: Value = serde_json::from_slice(&body).unwrap();
        if ready["inference_queue_depth"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the comparison never reached the pool");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = server.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(in_flight.join().unwrap(), 200);
}
