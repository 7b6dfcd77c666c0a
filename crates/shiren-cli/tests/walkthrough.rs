//! The README's "First verification in five minutes", command by command, against the real
//! binary: a key from the command line, a scene and a comparison through `shiren call`, and a
//! scene through `shiren sign` and curl.

mod common;

use std::process::Command;

use common::{Server, bin};
use serde_json::Value;

#[test]
fn the_readme_walk_through_works_as_written() {
    let server = Server::start(&[]);
    // shiren keys create --policy full   (text output: the id and the secret, once)
    let out = bin().args(["keys", "create", "--policy", "full", "--data-dir"]).arg(&server.data_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{text}"))
    };
    let (id, secret) = (field("access key id:"), field("access key secret:"));
    assert!(id.starts_with("SR") && secret.len() >= 32, "{text}");
    let env = [
        ("SHIREN_ENDPOINT", server.url.as_str()),
        ("SHIREN_ACCESS_KEY_ID", &id),
        ("SHIREN_ACCESS_KEY_SECRET", &secret),
    ];
    let shiren = |args: &[&str]| {
        let out = bin().args(args).envs(env).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };

    // shiren call POST /v1/scenes --body '{"name": "login"}'          # note data.id
    let scene: Value =
        serde_json::from_slice(&shiren(&["call", "POST", "/v1/scenes", "--body", r#"{"name": "login"}"#])).unwrap();
    let scene_id = scene["data"]["id"].as_str().unwrap().to_string();

    // shiren models fetch --test-data; P=$(shiren models path)/testdata
    shiren(&["models", "fetch", "--test-data", "--quiet"]);
    let path = String::from_utf8(shiren(&["models", "path"])).unwrap();
    let photos = std::path::Path::new(path.trim()).join("testdata");

    // shiren call POST /v1/compare --body '{"scene_id": "SCENE_ID"}' --image image_a=... --image image_b=...
    let body = format!(r#"{{"scene_id": "{scene_id}"}}"#);
    let image_a = format!("image_a={}", photos.join("obama.jpg").display());
    let image_b = format!("image_b={}", photos.join("obama2.jpg").display());
    let verdict: Value = serde_json::from_slice(&shiren(&[
        "call",
        "POST",
        "/v1/compare",
        "--body",
        &body,
        "--image",
        &image_a,
        "--image",
        &image_b,
    ]))
    .unwrap();
    assert_eq!(
        (verdict["data"]["passed"].as_bool(), verdict["data"]["sub_code"].as_str()),
        (Some(true), Some("200")),
        "{verdict}"
    );

    // echo '{"name": "large transfer", ...}' > scene.json; shiren sign ... > headers.txt; curl -H @headers.txt ...
    let dir = tempfile::tempdir().unwrap();
    let scene_json = dir.path().join("scene.json");
    std::fs::write(&scene_json, "{\"name\": \"large transfer\", \"settings\": {\"far_level\": \"1e-5\"}}\n").unwrap();
    let headers = dir.path().join("headers.txt");
    std::fs::write(&headers, shiren(&["sign", "POST", "/v1/scenes", "--body-file", scene_json.to_str().unwrap()]))
        .unwrap();
    let out = Command::new("curl")
        .args(["-s", "-H"])
        .arg(format!("@{}", headers.display()))
        .arg("--data-binary")
        .arg(format!("@{}", scene_json.display()))
        .arg(format!("{}/v1/scenes", server.url))
        .output()
        .expect("curl runs");
    let created: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(created["data"]["settings"]["far_level"], "1e-5", "{created} {}", String::from_utf8_lossy(&out.stderr));
}
