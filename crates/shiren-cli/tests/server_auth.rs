//! Every way a request can fail authentication or authorisation gets its own status and code.

mod common;

use common::{Server, http};
use serde_json::json;

#[test]
fn signatures_keys_and_policies() {
    let server = Server::start(&[]);
    let full = server.client(server.key("full"));
    let readonly = server.client(server.key("readonly"));
    let scene = full.scene(json!({}));

    // Public endpoints need no signature.
    let (status, _, body) = http(&server.host, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = http(&server.host, "GET", "/openapi.json", &[], b"");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["paths"]["/v1/compare"]["post"].is_object());
    let (status, _, body) = http(&server.host, "GET", "/docs", &[], b"");
    assert!(status == 200 && String::from_utf8_lossy(&body).contains("openapi.json"));

    // Unsigned.
    let r = full.raw("GET", "/v1/scenes", &[], b"");
    assert_eq!((r.status, r.code()), (401, "MissingAuthorization"), "{}", r.json);
    assert!(r.json["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    // Wrong signature: signed by a different secret for the same key id.
    let forged = common::Api {
        base: full.base.clone(),
        host: full.host.clone(),
        signer: shiren_auth::Signer::new(full.signer.access_key_id.clone(), "not-the-secret"),
    };
    let r = forged.call("GET", "/v1/scenes", None);
    assert_eq!((r.status, r.code()), (401, "SignatureDoesNotMatch"), "{}", r.json);

    // Body changed after signing.
    let body = serde_json::to_vec(&json!({ "name": "a" })).unwrap();
    let headers = full.signed("POST", "/v1/scenes", &body);
    let r = full.raw("POST", "/v1/scenes", &headers, br#"{"name":"b"}"#);
    assert_eq!((r.status, r.code()), (400, "ContentSha256Mismatch"), "{}", r.json);

    // Query changed after signing.
    let headers = full.signed("GET", "/v1/records?passed=true", b"");
    let r = full.raw("GET", "/v1/records?passed=false", &headers, b"");
    assert_eq!((r.status, r.code()), (401, "SignatureDoesNotMatch"), "{}", r.json);

    // Timestamp outside the window (signed correctly, 20 minutes ago).
    let now = shiren_auth::unix_now();
    let q = shiren_auth::QueryParams::new();
    let old = full.signer.sign_at(
        &shiren_auth::SignParams {
            method: "GET",
            host: &full.host,
            path: "/v1/scenes",
            query: &q,
            body: b"",
            action: "Request",
            version: "v1",
            extra_headers: &[],
        },
        now - 1200,
        &shiren_auth::new_nonce(),
    );
    let r = full.raw("GET", "/v1/scenes", &old, b"");
    assert_eq!((r.status, r.code()), (401, "RequestTimeTooSkewed"), "{}", r.json);

    // Replay: the same signed request twice.
    let headers = full.signed("GET", "/v1/scenes", b"");
    assert_eq!(full.raw("GET", "/v1/scenes", &headers, b"").status, 200);
    let r = full.raw("GET", "/v1/scenes", &headers, b"");
    assert_eq!((r.status, r.code()), (401, "SignatureNonceUsed"), "{}", r.json);

    // Unknown key.
    let stranger = common::Api {
        base: full.base.clone(),
        host: full.host.clone(),
        signer: shiren_auth::Signer::new("SRnosuchkey", "whatever"),
    };
    let r = stranger.call("GET", "/v1/scenes", None);
    assert_eq!(r.status, 401, "{}", r.json);
    assert!(r.code().starts_with("InvalidAccessKeyId"), "{}", r.json);

    // Read-only keys read, but never verify or change anything.
    assert_eq!(readonly.call("GET", "/v1/records", None).status, 200);
    assert_eq!(readonly.call("GET", "/v1/statistics", None).status, 200);
    let r = readonly.call("POST", "/v1/compare", Some(&json!({ "scene_id": scene })));
    assert_eq!((r.status, r.code()), (403, "Forbidden.ReadOnlyKey"), "{}", r.json);
    let r = readonly.call("DELETE", &format!("/v1/scenes/{scene}"), None);
    assert_eq!((r.status, r.code()), (403, "Forbidden.ReadOnlyKey"));
    let r = readonly.call("POST", "/v1/keys", Some(&json!({ "policy": "full" })));
    assert_eq!((r.status, r.code()), (403, "Forbidden.ReadOnlyKey"));
    assert_eq!(readonly.call("GET", "/v1/keys", None).status, 403);

    // Keys over the API, and a disabled key.
    let r = full.call("POST", "/v1/keys", Some(&json!({ "policy": "readonly", "description": "auditor" })));
    assert_eq!(r.status, 200, "{}", r.json);
    let new_id = r.json["data"]["access_key_id"].as_str().unwrap().to_string();
    let new_secret = r.json["data"]["access_key_secret"].as_str().unwrap().to_string();
    let listed = full.call("GET", "/v1/keys", None);
    assert!(!listed.json.to_string().contains(&new_secret), "secrets are never listed");
    let auditor = server.client(shiren_auth::Signer::new(new_id.clone(), new_secret));
    assert_eq!(auditor.call("GET", "/v1/scenes", None).status, 200);
    assert_eq!(full.call("POST", &format!("/v1/keys/{new_id}/disable"), None).status, 200);
    let r = auditor.call("GET", "/v1/scenes", None);
    assert_eq!((r.status, r.code()), (403, "InvalidAccessKeyId.Inactive"), "{}", r.json);
    assert_eq!(full.call("DELETE", &format!("/v1/keys/{new_id}"), None).status, 200);
    let r = auditor.call("GET", "/v1/scenes", None);
    assert_eq!(r.status, 401);

    // Administrative actions are audited.
    let log = full.call("GET", "/v1/audit", None);
    let actions: Vec<&str> =
        log.json["data"]["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["scene.create", "key.create", "key.disable", "key.delete"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let (status, _, metrics) = http(&server.host, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("shiren_errors_total{code=\"SignatureNonceUsed\"}"), "{metrics}");
}
