//! The service with its other parts: PostgreSQL instead of the embedded database, an HTTP
//! authority gateway (including one that times out), and a PAD model in the slot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::products::id_number;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_backend_serves_the_same_api() {
    let admin_url =
        std::env::var("SHIREN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let admin = match sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&admin_url).await {
        Ok(p) => p,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: PostgreSQL at {admin_url} unreachable ({e}); CI runs this");
            return;
        }
        Err(e) => panic!("PostgreSQL is required in CI: {e}"),
    };
    let name = format!("shiren_service_{}", std::process::id());
    // The name is built from our own process id.
    let drop = || sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    sqlx::raw_sql(drop()).execute(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    {
        let service = Service::start(|c| c.database_url = Some(url.clone())).await;
        let scene = service.scene(json!({})).await;
        let body =
            json!({ "scene_id": scene, "image_a": b64(&photo("obama.jpg")), "image_b": b64(&photo("obama2.jpg")) });
        let r = service.call("POST", "/v1/compare", Some(body)).await;
        assert_eq!((r.status.as_u16(), r.data()["sub_code"].as_str()), (200, Some("200")), "{}", r.json);
        let id = r.data()["verification_id"].as_str().unwrap().to_string();
        let records = service.call("GET", &format!("/v1/records?verification_id={id}"), None).await;
        assert_eq!(records.data()["total"], 1, "{}", records.json);
        let stats = service.call("GET", &format!("/v1/statistics?scene_id={scene}"), None).await;
        assert_eq!(stats.data()["totals"]["passes"], 1, "{}", stats.json);
        assert_eq!(
            service.call("GET", "/v1/records?page=9223372036854775807", None).await.code(),
            "InvalidParameter.Page"
        );
        // The records really are in PostgreSQL, not in a stray SQLite file.
        assert!(!service.data_dir.join("shiren.db").exists());
        service.services().store.close().await;
    }
    sqlx::raw_sql(drop()).execute(&admin).await.unwrap();
}

/// A tiny authority gateway on loopback: `known` is found (with a reference photo and a
/// matching phone), `slow` never answers in time, anything else is not found.
pub(crate) async fn gateway(known: String, slow: String) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let reference = b64(&photo("obama.jpg"))["base64"].as_str().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (known, slow, reference, log) = (known.clone(), slow.clone(), reference.clone(), log.clone());
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                let body = loop {
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        if raw.len() >= end + 4 + length {
                            break raw[end + 4..end + 4 + length].to_vec();
                        }
                    }
                };
                let query: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock().unwrap().push(query.clone());
                let answer = if query["id_number"] == slow.as_str() {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    json!({ "found": false })
                } else if query["id_number"] == known.as_str() {
                    json!({ "found": true, "name_match": query["name"] == "奥巴马", "phone_match": query["phone"] == "13800138000",
                            "bank_card_match": null, "photo_base64": if query["want_photo"] == true { json!(reference) } else { Value::Null } })
                } else {
                    json!({ "found": false })
                };
                let text = answer.to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    text.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(text.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/check"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_authority_gateway_and_its_timeouts() {
    let known = id_number("310101", "19610804", "001");
    let slow = id_number("310101", "19700101", "002");
    let (url, seen) = gateway(known.clone(), slow.clone()).await;
    let service = Service::start(|c| {
        c.authority = toml::from_str(&format!(
            "provider = \"http\"\nurl = \"{url}\"\ntoken = \"gateway-token\"\ntimeout_ms = 800\n"
        ))
        .unwrap()
    })
    .await;
    let scene = service.scene(json!({})).await;
    let body = json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "image": b64(&photo("obama2.jpg")) });
    let r = service.call("POST", "/v1/identity", Some(body)).await;
    assert_eq!((r.status.as_u16(), r.data()["sub_code"].as_str()), (200, Some("200")), "{}", r.json);
    assert_eq!(r.data()["detail"]["authority"], "http");
    let r = service
        .call(
            "POST",
            "/v1/elements",
            Some(json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "phone": "13800138000" })),
        )
        .await;
    assert_eq!(
        (r.data()["sub_code"].as_str(), r.data()["product"].as_str()),
        (Some("200"), Some("ID_3META_PHONE")),
        "{}",
        r.json
    );
    assert_eq!(r.data()["detail"]["phone_match"], true);
    let r = service
        .call(
            "POST",
            "/v1/elements",
            Some(json!({ "scene_id": scene, "name": "奥巴马", "id_number": known, "phone": "13900139000" })),
        )
        .await;
    assert_eq!(r.data()["sub_code"], "201", "{}", r.json);
    let r = service
        .call("POST", "/v1/elements", Some(json!({ "scene_id": scene, "name": "奥巴马", "id_number": slow })))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (503, "AuthorityUnavailable"), "{}", r.json);
    let recorded = service.call("GET", "/v1/records?sub_code=AuthorityUnavailable", None).await;
    assert_eq!(recorded.data()["total"], 1, "{}", recorded.json);
    assert!(seen.lock().unwrap().iter().all(|q| q["id_number"].is_string()));
}

/// LR_FR_MIN on obama.jpg with a stand-in PAD model in the slot: any ONNX classifier with the
/// slot's layout exercises the plumbing, and the CC0 gender model (32×32 input, two
/// probabilities) stands in for a licensed one. `extra` adds PAD settings (TOML lines).
pub async fn liveness_with_stand_in_pad(extra: &str) -> Reply {
    let model = models().path("attributes/gender-v1.onnx");
    let settings = format!("model = \"{}\"\ninput_size = 32\nlive_index = 1\n{extra}", model.display());
    let service = Service::start(|c| c.pad = Some(toml::from_str(&settings).unwrap())).await;
    let scene = service.scene(json!({ "liveness": { "max_attack_score": 1.0 } })).await;
    service.call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&photo("obama.jpg")) }))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licensed_pad_model_fills_the_slot() {
    let r = liveness_with_stand_in_pad("").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.data()["detail"]["pad_model"], "configured");
    let attack = r.data()["attack_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&attack), "{attack}");
}
