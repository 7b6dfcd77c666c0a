//! The real process under stress: a full inference queue, kill -9 during a burst, and graceful
//! shutdown on SIGTERM. (The API itself is tested in process, in crates/shiren-server/tests.)

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, b64, photo};
use serde_json::{Value, json};

fn compare_body(scene: &str) -> Value {
    json!({ "scene_id": scene, "image_a": b64(&photo("obama.jpg")), "image_b": b64(&photo("obama2.jpg")) })
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
    // A refusal was never looked at: only the verifications made are recorded.
    let records = api.call("GET", &format!("/v1/records?scene_id={scene}"), None);
    let made = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(records.json["data"]["total"], json!(made), "{}", records.json);
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = common::private_dir();
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
