//! Every way a request can fail authentication or authorisation gets its own status and code;
//! read-only keys read and never change; keys over the API; administrative actions audited.

use serde_json::json;
use shiren_auth::{QueryParams, SignParams, Signer};

use crate::common::*;

fn get(path: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_keys_and_policies() {
    let service = Service::start(|_| {}).await;
    let readonly = service.readonly.clone();
    let scene = service.scene(json!({})).await;

    // Public endpoints need no signature.
    assert_eq!(service.send(get("/healthz")).await.status, 200);
    let doc = service.send(get("/openapi.json")).await;
    assert!(doc.json["paths"]["/v1/compare"]["post"].is_object());
    assert!(doc.json["components"]["schemas"]["Detail"].is_object(), "typed details are in the document");
    // Listing filters are optional query parameters, not path parameters.
    for path in ["/v1/records", "/v1/statistics", "/v1/audit"] {
        let params = doc.json["paths"][path]["get"]["parameters"].as_array().expect(path);
        assert!(!params.is_empty(), "{path}");
        for p in params {
            assert_eq!((p["in"].as_str(), p["required"].as_bool()), (Some("query"), Some(false)), "{path}: {p}");
        }
    }
    let docs = service.send(get("/docs")).await;
    assert!(docs.status == 200 && String::from_utf8_lossy(&docs.bytes).contains("openapi.json"));

    // Unsigned.
    let r = service.send(get("/v1/scenes")).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "MissingAuthorization"), "{}", r.json);
    assert!(r.json["request_id"].as_str().is_some_and(|id| id.starts_with("rq")));

    // Wrong signature: signed by a different secret for the same key id.
    let forged = Signer::new(service.full.access_key_id.clone(), "not-the-secret");
    let r = service.call_as(&forged, "GET", "/v1/scenes", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "SignatureDoesNotMatch"), "{}", r.json);

    // Body changed after signing.
    let mut request = service.request(&service.full, "POST", "/v1/scenes", br#"{"name":"a"}"#.to_vec());
    *request.body_mut() = axum::body::Body::from(r#"{"name":"b"}"#);
    let r = service.send(request).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "ContentSha256Mismatch"), "{}", r.json);

    // Query changed after signing.
    let signed = service.request(&service.full, "GET", "/v1/records?passed=true", Vec::new());
    let mut changed = axum::http::Request::get("/v1/records?passed=false");
    for (name, value) in signed.headers() {
        changed = changed.header(name, value);
    }
    let r = service.send(changed.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "SignatureDoesNotMatch"), "{}", r.json);

    // Timestamp outside the window (signed correctly, 20 minutes ago).
    let old = service.full.sign_at(
        &SignParams {
            method: "GET",
            host: HOST,
            path: "/v1/scenes",
            query: &QueryParams::new(),
            body: b"",
            action: "Request",
            version: "v1",
            extra_headers: &[],
        },
        shiren_auth::unix_now() - 1200,
        &shiren_auth::new_nonce(),
    );
    let mut stale = axum::http::Request::get("/v1/scenes");
    for (name, value) in old {
        stale = stale.header(name, value);
    }
    let r = service.send(stale.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "RequestTimeTooSkewed"), "{}", r.json);

    // Replay: the same signed request twice.
    let first = service.request(&service.full, "GET", "/v1/scenes", Vec::new());
    let headers = first.headers().clone();
    assert_eq!(service.send(first).await.status, 200);
    let mut again = axum::http::Request::get("/v1/scenes");
    for (name, value) in &headers {
        again = again.header(name, value);
    }
    let r = service.send(again.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "SignatureNonceUsed"), "{}", r.json);

    // Unknown key.
    let r = service.call_as(&Signer::new("SRnosuchkey", "whatever"), "GET", "/v1/scenes", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "InvalidAccessKeyId.NotFound"), "{}", r.json);

    // Read-only keys read, but never verify or change anything.
    assert_eq!(service.call_as(&readonly, "GET", "/v1/records", None).await.status, 200);
    assert_eq!(service.call_as(&readonly, "GET", "/v1/statistics", None).await.status, 200);
    let r = service.call_as(&readonly, "POST", "/v1/compare", Some(json!({ "scene_id": scene }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "Forbidden.ReadOnlyKey"), "{}", r.json);
    let r = service.call_as(&readonly, "DELETE", &format!("/v1/scenes/{scene}"), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "Forbidden.ReadOnlyKey"));
    let r = service.call_as(&readonly, "POST", "/v1/keys", Some(json!({ "policy": "full" }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "Forbidden.ReadOnlyKey"));
    assert_eq!(service.call_as(&readonly, "GET", "/v1/keys", None).await.code(), "Forbidden.ReadOnlyKey");

    // Keys over the API, and a disabled key.
    let r = service.call("POST", "/v1/keys", Some(json!({ "policy": "readonly", "description": "auditor" }))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let new_id = r.data()["access_key_id"].as_str().unwrap().to_string();
    let new_secret = r.data()["access_key_secret"].as_str().unwrap().to_string();
    let listed = service.call("GET", "/v1/keys", None).await;
    assert!(!listed.json.to_string().contains(&new_secret), "secrets are never listed");
    let auditor = Signer::new(new_id.clone(), new_secret);
    assert_eq!(service.call_as(&auditor, "GET", "/v1/scenes", None).await.status, 200);
    assert_eq!(service.call("POST", &format!("/v1/keys/{new_id}/disable"), None).await.status, 200);
    let r = service.call_as(&auditor, "GET", "/v1/scenes", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "InvalidAccessKeyId.Inactive"), "{}", r.json);
    let me = service.full.access_key_id.clone();
    assert_eq!(service.call("POST", &format!("/v1/keys/{me}/disable"), None).await.code(), "InvalidOperation");
    assert_eq!(service.call("DELETE", &format!("/v1/keys/{me}"), None).await.code(), "InvalidOperation");
    let r = service.call("POST", "/v1/keys", Some(json!({ "policy": "full", "description": "x".repeat(201) }))).await;
    assert_eq!(r.code(), "InvalidParameter.Description");
    assert_eq!(service.call("DELETE", &format!("/v1/keys/{new_id}"), None).await.status, 200);
    assert_eq!(service.call("DELETE", &format!("/v1/keys/{new_id}"), None).await.code(), "NotFound");
    let r = service.call_as(&auditor, "GET", "/v1/scenes", None).await;
    assert_eq!(r.status, 401);

    // Administrative actions are audited.
    let log = service.call("GET", "/v1/audit", None).await;
    let actions: Vec<&str> =
        log.data()["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["scene.create", "key.create", "key.disable", "key.delete", "auth.fail"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let metrics = service.send(get("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.bytes);
    assert!(text.contains("shiren_errors_total{code=\"SignatureNonceUsed\"}"), "{text}");
}
