//! Image fields and multipart forms on arbitrary input, through the whole signed API: every
//! answer is a client error with a code (never a 5xx, a hang or a panic). The per-image and
//! per-request byte limits are checked before any decoding, which bounds memory.

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::common::*;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

fn base64_text() -> impl Strategy<Value = String> {
    let valid = proptest::collection::vec(any::<u8>(), 0..300)
        .prop_map(|b| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b));
    prop_oneof![
        "\\PC{0,200}",
        "[A-Za-z0-9+/=\\n\\r \\t]{0,400}",
        valid.clone(),
        valid.clone().prop_map(|v| format!("data:image/png;base64,{v}")),
        valid.prop_map(|v| format!("data:;base64,{v}==")),
    ]
}

#[test]
fn image_fields_take_any_text() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let service = rt.block_on(Service::start(|_| {}));
    let scene = rt.block_on(service.scene(json!({})));
    runner(96)
        .run(&base64_text(), |text| {
            let body = json!({ "scene_id": scene, "image": { "base64": text } });
            let r = rt.block_on(service.call("POST", "/v1/liveness", Some(body)));
            prop_assert!(r.status.is_client_error(), "{} {}", r.status, r.json);
            prop_assert!(!r.code().is_empty());
            Ok(())
        })
        .unwrap();
    // Long enough to be refused by its size before it is decoded.
    let body = json!({ "scene_id": scene, "image": { "base64": "A".repeat(7_000_001) } });
    let r = rt.block_on(service.call("POST", "/v1/liveness", Some(body)));
    assert_eq!((r.status.as_u16(), r.code()), (413, "InvalidImage.BytesTooLarge"), "{}", r.json);
}

fn part() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just("scene_id".to_string()),
        Just("image".to_string()),
        Just("order_no".to_string()),
        "[a-z_\"]{0,12}"
    ];
    let filename = proptest::option::of("[a-z.\"]{0,10}");
    let content = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        Just(b"\xFF\xD8\xFF\xE0".to_vec()),
        Just(b"--shiren".to_vec()),
    ];
    (name, filename, content).prop_map(|(name, filename, content)| {
        let mut out = format!("Content-Disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = filename {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&content);
        out
    })
}

fn form() -> impl Strategy<Value = (String, Vec<u8>)> {
    let boundary = "[a-zA-Z0-9'()+_,-./:=?]{1,40}";
    (boundary, proptest::collection::vec(part(), 0..5), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(boundary, parts, closed, noise)| {
            let mut body = noise;
            for p in parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                body.extend_from_slice(&p);
                body.extend_from_slice(b"\r\n");
            }
            if closed {
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            (boundary, body)
        })
}

#[test]
fn multipart_forms_take_any_bytes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let service = rt.block_on(Service::start(|_| {}));
    runner(128)
        .run(&form(), |(boundary, body)| {
            let content_type = format!("multipart/form-data; boundary={boundary}");
            let headers = service.full.sign(&shiren_auth::SignParams {
                method: "POST",
                host: HOST,
                path: "/v1/liveness",
                query: &shiren_auth::QueryParams::new(),
                body: &body,
                action: "Request",
                version: "v1",
                extra_headers: &[("content-type".to_string(), content_type)],
            });
            let mut request = Request::post("/v1/liveness");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let r = rt.block_on(service.send(request.body(Body::from(body)).unwrap()));
            prop_assert!(r.status.is_client_error(), "{} {}", r.status, r.json);
            Ok(())
        })
        .unwrap();
}
