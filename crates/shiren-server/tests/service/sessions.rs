//! Interactive sessions through the API, as a caller and as the capture page (or an attacker
//! holding its link) would drive them: creation and its validation, consent, the challenge,
//! uploads and every attack that needs no performing face (a still photo, frames faster than
//! real time, replayed frames, a second start, a forged verdict, a reused or expired link), the
//! record and the callback.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shiren_verify::sessions::callbacks;

use crate::common::{Reply, Service, b64, photo};

/// A session and its capture token.
pub struct Session {
    pub id: String,
    pub token: String,
}

pub async fn create(service: &Service, body: Value) -> Session {
    let r = service.call("POST", "/v1/verifications", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let url = r.data()["capture_url"].as_str().expect("capture_url").to_string();
    assert!(url.starts_with("http://shiren.test/h5/"), "{url}");
    let token = url.rsplit('/').next().expect("token").to_string();
    assert!(token.len() >= 40, "the token is unguessable: {token}");
    Session { id: r.data()["verification_id"].as_str().expect("id").to_string(), token }
}

/// A request of the capture page.
pub async fn page(service: &Service, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let mut request = Request::builder().method(method).uri(path).header("host", "shiren.test");
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    service.send(request.body(Body::from(body)).expect("request")).await
}

pub async fn consent(service: &Service, s: &Session) -> Reply {
    let r =
        page(service, "POST", &format!("/h5/{}/consent", s.token), "application/json", br#"{"agree":true}"#.to_vec())
            .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r
}

pub async fn start(service: &Service, s: &Session) -> Reply {
    page(service, "POST", &format!("/h5/{}/start", s.token), "", Vec::new()).await
}

/// The multipart upload the page sends.
pub fn upload_body(meta: &Value, frames: &[Vec<u8>]) -> (String, Vec<u8>) {
    let boundary = "shirenboundary7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"meta\"; filename=\"meta.json\"\r\ncontent-type: application/json\r\n\r\n{meta}\r\n")
            .as_bytes(),
    );
    for (i, frame) in frames.iter().enumerate() {
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"frame\"; filename=\"{i}.jpg\"\r\ncontent-type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(frame);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn upload(service: &Service, s: &Session, nonce: &str, times: &[f64], frames: &[Vec<u8>]) -> Reply {
    let meta = json!({ "nonce": nonce, "frames": times.iter().map(|t| json!({ "t_ms": t })).collect::<Vec<_>>() });
    let (content_type, body) = upload_body(&meta, frames);
    page(service, "POST", &format!("/h5/{}/frames", s.token), &content_type, body).await
}

/// Pretends the challenge was issued `ms` earlier, as if the person had taken that long.
pub async fn age_challenge(service: &Service, s: &Session, ms: i64) {
    let url = shiren_store::Store::sqlite_url(&service.data_dir);
    let pool = sqlx::AnyPool::connect(&url).await.expect("database");
    sqlx::query("UPDATE verification_sessions SET started_at = started_at - $1 WHERE id = $2")
        .bind(ms)
        .bind(&s.id)
        .execute(&pool)
        .await
        .expect("update");
}

/// A still photo as 640×480 camera frames.
fn still_frame(name: &str) -> Vec<u8> {
    let img = image::load_from_memory(&photo(name)).expect("photo").to_rgb8();
    let frame = image::imageops::resize(&img, 640, 480, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&frame).expect("JPEG");
    out.into_inner()
}

/// Times at 15 fps covering `duration_ms`.
fn times_for(duration_ms: u64) -> Vec<f64> {
    (0..).map(|i| f64::from(i) * 66.7).take_while(|t| *t <= duration_ms as f64 + 40.0).collect()
}

async fn service() -> Service {
    sqlx::any::install_default_drivers();
    Service::start(|c| c.url_fetch_allow_private = true).await
}

async fn started(service: &Service, scene: &str, liveness: &str) -> (Session, Value) {
    let s = create(service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": liveness })).await;
    consent(service, &s).await;
    let r = start(service, &s).await;
    assert_eq!(r.status, 200, "{}", r.json);
    (s, r.data().clone())
}

#[tokio::test]
async fn creation_checks_every_input_before_a_session_exists() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let cases = [
        (json!({ "scene_id": scene, "product": "ID_PRO", "liveness": "LIVENESS" }), 400, "MissingParameter.Identity"),
        (
            json!({ "scene_id": scene, "product": "ID_PRO", "liveness": "LIVENESS", "name": "张三", "id_number": "110105194912310020" }),
            400,
            "InvalidIdNumber.WrongCheckCharacter",
        ),
        (
            json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS", "name": "张三" }),
            400,
            "InvalidParameter.NotForProduct",
        ),
        (json!({ "scene_id": scene, "product": "LR_FR", "liveness": "BLINK_TWICE" }), 400, "InvalidJson"),
        (
            json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS", "callback_url": "ftp://x/y" }),
            400,
            "InvalidParameter.Url",
        ),
        (json!({ "scene_id": scene, "product": "PV_FV", "liveness": "LIVENESS" }), 400, "MissingImage"),
        (
            json!({ "scene_id": scene, "product": "PV_FV", "liveness": "LIVENESS",
                    "reference_image": b64(&crate::common::png(&image::RgbImage::from_pixel(200, 200, image::Rgb([90, 90, 90])))) }),
            422,
            "NoFace",
        ),
        (json!({ "scene_id": "sc-none", "product": "LR_FR", "liveness": "LIVENESS" }), 404, "SceneNotFound"),
    ];
    for (body, status, code) in cases {
        let r = service.call("POST", "/v1/verifications", Some(body.clone())).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{body}: {}", r.json);
    }
    let r = service.call_as(&service.readonly.clone(), "POST", "/v1/verifications", Some(json!({}))).await;
    assert_eq!(r.code(), "Forbidden.ReadOnlyKey");
    // A PV_FV session keeps the reference's template, not the photo.
    let s = create(
        &service,
        json!({ "scene_id": scene, "product": "PV_FV", "liveness": "MULTI_ACTION", "reference_image": b64(&photo("obama.jpg")) }),
    )
    .await;
    let r = service.call_as(&service.readonly.clone(), "GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.data()["state"], "created");
    assert_eq!(r.data()["product"], "PV_FV");
}

#[tokio::test]
async fn the_page_walks_consent_start_and_refuses_steps_out_of_order() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let s = create(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "MULTI_PHOTINUS" })).await;
    let r = page(&service, "GET", &format!("/h5/{}/session", s.token), "", Vec::new()).await;
    assert_eq!(r.data()["state"], "created");
    assert!(r.data()["consent"]["text_zh"].as_str().unwrap().contains("摄像头"));
    // No challenge and no upload before consent.
    assert_eq!(start(&service, &s).await.code(), "ConsentRequired");
    assert_eq!(upload(&service, &s, "x", &[0.0], &[still_frame("obama.jpg")]).await.code(), "ConsentRequired");
    let page_html = page(&service, "GET", &format!("/h5/{}", s.token), "", Vec::new()).await;
    assert_eq!(page_html.status, 200);
    assert_eq!(page_html.headers["referrer-policy"], "no-referrer");
    assert!(page_html.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    consent(&service, &s).await;
    // Hints from a preview frame.
    let r = page(&service, "POST", &format!("/h5/{}/hint", s.token), "image/jpeg", still_frame("obama.jpg")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(!r.data()["hints"].as_array().unwrap().is_empty());
    let first = start(&service, &s).await;
    let second = start(&service, &s).await;
    assert_eq!(first.status, 200, "{}", first.json);
    // A second start fishes for an easier challenge: it gets the same one, with the same nonce.
    assert_eq!(first.data(), second.data());
    let challenge = &first.data()["challenge"];
    assert!((2..=3).contains(&challenge["steps"].as_array().unwrap().len()));
    assert_eq!(challenge["flashes"].as_array().unwrap().len(), 8);
    // The session shows who consented to what.
    let r = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(r.data()["state"], "capturing");
    assert_eq!(r.data()["consent"]["agreed"], true);
    assert!(r.data()["consent"]["text_version"].is_string());
    // An upload without the nonce, or with another, is refused and the session stays open.
    let frames = vec![still_frame("obama.jpg"); 3];
    assert_eq!(upload(&service, &s, "guess", &[0.0, 66.0, 133.0], &frames).await.code(), "InvalidNonce");
    assert_eq!(page(&service, "GET", "/h5/not-a-token/session", "", Vec::new()).await.code(), "CaptureLinkInvalid");
}

#[tokio::test]
async fn declining_ends_the_session() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let s = create(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS" })).await;
    let r =
        page(&service, "POST", &format!("/h5/{}/consent", s.token), "application/json", br#"{"agree":false}"#.to_vec())
            .await;
    assert_eq!(r.data()["state"], "declined");
    assert_eq!(start(&service, &s).await.code(), "SessionAlreadyUsed");
    let r =
        page(&service, "POST", &format!("/h5/{}/consent", s.token), "application/json", br#"{"agree":true}"#.to_vec())
            .await;
    assert_eq!(r.code(), "SessionAlreadyUsed");
}

#[tokio::test]
async fn a_forged_verdict_in_the_upload_is_refused() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let (s, started) = started(&service, &scene, "LIVENESS").await;
    let nonce = started["nonce"].as_str().unwrap();
    let meta = json!({ "nonce": nonce, "frames": [{ "t_ms": 0.0 }], "passed": true });
    let (content_type, body) = upload_body(&meta, &[still_frame("obama.jpg")]);
    let r = page(&service, "POST", &format!("/h5/{}/frames", s.token), &content_type, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidFrames"), "{}", r.json);
    // A part of its own is refused as well.
    let (content_type, mut body) = upload_body(&json!({ "nonce": nonce, "frames": [] }), &[]);
    let tail = body.split_off(body.len() - "--shirenboundary7f3a--\r\n".len());
    body.extend_from_slice(
        b"--shirenboundary7f3a\r\ncontent-disposition: form-data; name=\"verdict\"\r\n\r\npassed\r\n",
    );
    body.extend_from_slice(&tail);
    let r = page(&service, "POST", &format!("/h5/{}/frames", s.token), &content_type, body).await;
    assert_eq!(r.code(), "InvalidFrames", "{}", r.json);
    // Neither attempt used the session up.
    let r = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(r.data()["state"], "capturing");
}

#[tokio::test]
async fn a_still_photo_fails_and_the_link_cannot_be_used_again() {
    let service = service().await;
    let scene = service.scene(json!({ "store_images": true })).await;
    let (s, started) = started(&service, &scene, "LIVENESS").await;
    let duration = started["challenge"]["duration_ms"].as_u64().unwrap();
    let nonce = started["nonce"].as_str().unwrap().to_string();
    let times = times_for(duration);
    let frames = vec![still_frame("obama.jpg"); times.len()];
    age_challenge(&service, &s, duration as i64 + 1000).await;
    let r = upload(&service, &s, &nonce, &times, &frames).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.data()["passed"], false);
    assert_eq!(r.data()["reason"], "liveness");
    assert!(r.data().get("score").is_none(), "the page gets no numbers: {}", r.json);
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(v.data()["state"], "finished");
    assert_eq!(v.data()["sub_code"], "205");
    let checks = v.data()["material"]["checks"].as_array().expect("material").clone();
    let blink = checks.iter().find(|c| c["name"] == "action:blink").expect("blink check");
    assert_eq!(blink["passed"], false, "{blink}");
    for name in ["timing", "one_face", "same_person", "replay"] {
        let check = checks.iter().find(|c| c["name"] == name).expect(name);
        assert_eq!(check["passed"], true, "{check}");
    }
    // The best frame, through an expiring link, and one record under the session's id.
    assert_eq!(v.data()["images"].as_array().unwrap().len(), 1);
    let record = service.call("GET", &format!("/v1/records/{}", s.id), None).await;
    assert_eq!(record.data()["product"], "LR_FR");
    assert_eq!(record.data()["sub_code"], "205");
    // The page retrying its upload (a lost answer) gets the same answer, and nothing else works.
    let again = upload(&service, &s, &nonce, &times, &frames).await;
    assert_eq!(again.data(), r.data());
    assert_eq!(upload(&service, &s, "other", &times, &frames).await.code(), "SessionAlreadyUsed");
    assert_eq!(start(&service, &s).await.code(), "SessionAlreadyUsed");
    let p = page(&service, "GET", &format!("/h5/{}/session", s.token), "", Vec::new()).await;
    assert_eq!(p.data()["state"], "finished");
    assert_eq!(p.data()["result"]["passed"], false);
}

#[tokio::test]
async fn frames_made_faster_than_real_time_fail() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let (s, started) = started(&service, &scene, "LIVENESS").await;
    let duration = started["challenge"]["duration_ms"].as_u64().unwrap();
    let times = times_for(duration);
    let frames = vec![still_frame("obama.jpg"); times.len()];
    // Posted at once: the frames claim more time than has passed since the challenge.
    let r = upload(&service, &s, started["nonce"].as_str().unwrap(), &times, &frames).await;
    assert_eq!(r.data()["passed"], false);
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    let timing = v.data()["material"]["checks"].as_array().unwrap().iter().find(|c| c["name"] == "timing").cloned();
    assert_eq!(timing.as_ref().map(|t| t["passed"].clone()), Some(json!(false)), "{timing:?}");
}

#[tokio::test]
async fn frames_of_an_earlier_session_fail_a_new_one() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let mut frames = Vec::new();
    for round in 0..2 {
        let (s, started) = started(&service, &scene, "LIVENESS").await;
        let duration = started["challenge"]["duration_ms"].as_u64().unwrap();
        let times = times_for(duration);
        if round == 0 {
            frames = vec![still_frame("obama2.jpg"); times.len()];
        }
        age_challenge(&service, &s, duration as i64 + 1000).await;
        let r =
            upload(&service, &s, started["nonce"].as_str().unwrap(), &times, &frames[..times.len().min(frames.len())])
                .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
        let replay =
            v.data()["material"]["checks"].as_array().unwrap().iter().find(|c| c["name"] == "replay").cloned().unwrap();
        assert_eq!(replay["passed"], round == 0, "round {round}: {replay}");
    }
}

#[tokio::test]
async fn an_expired_session_refuses_every_step() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    let s = create(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS" })).await;
    let url = shiren_store::Store::sqlite_url(&service.data_dir);
    let pool = sqlx::AnyPool::connect(&url).await.expect("database");
    sqlx::query("UPDATE verification_sessions SET expires_at = 1 WHERE id = $1")
        .bind(&s.id)
        .execute(&pool)
        .await
        .unwrap();
    let r = page(&service, "GET", &format!("/h5/{}/session", s.token), "", Vec::new()).await;
    assert_eq!(r.data()["state"], "expired");
    let r =
        page(&service, "POST", &format!("/h5/{}/consent", s.token), "application/json", br#"{"agree":true}"#.to_vec())
            .await;
    assert_eq!((r.status.as_u16(), r.code()), (410, "SessionExpired"));
    assert_eq!(start(&service, &s).await.code(), "SessionExpired");
}

/// A one-shot HTTP receiver on loopback: answers `status` and hands over what it received.
async fn receiver(status: u16) -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = tx.send(String::from_utf8_lossy(&raw).into_owned());
    });
    (format!("http://{addr}/callback"), rx)
}

#[tokio::test]
async fn the_outcome_is_called_back_signed_and_retried() {
    let service = service().await;
    let scene = service.scene(json!({})).await;
    for (status, delivered) in [(500, false), (200, true)] {
        let (url, received) = receiver(status).await;
        let s = create(
            &service,
            json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS", "order_no": "order-7",
                    "callback_url": url, "callback_token": "tok-123" }),
        )
        .await;
        consent(&service, &s).await;
        let started = start(&service, &s).await;
        let duration = started.data()["challenge"]["duration_ms"].as_u64().unwrap();
        let times = times_for(duration);
        age_challenge(&service, &s, duration as i64 + 1000).await;
        let frames = vec![still_frame("obama3.jpg"); times.len()];
        upload(&service, &s, started.data()["nonce"].as_str().unwrap(), &times, &frames).await;
        let count = callbacks::deliver_due(service.services()).await;
        assert_eq!(count, usize::from(delivered));
        let raw = tokio::time::timeout(Duration::from_secs(5), received).await.unwrap().unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["verification_id"], s.id.as_str());
        assert_eq!(body["callback_token"], "tok-123");
        assert_eq!(body["passed"], false);
        assert_eq!(body["sub_code"], "205");
        let signature = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().starts_with("x-shiren-signature:").then(|| l[19..].trim().to_string()))
            .expect("signature header");
        let timestamp: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        let text = raw.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(signature, callbacks::sign(&service.full.access_key_secret, timestamp, text));
        let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
        assert_eq!(v.data()["callback"]["attempts"], 1);
        assert_eq!(v.data()["callback"]["delivered_at"].is_number(), delivered, "{}", v.json);
        if !delivered {
            // Not due again for 15 s: a second pass sends nothing.
            assert_eq!(callbacks::deliver_due(service.services()).await, 0);
            assert!(v.data()["callback"]["last_error"].as_str().unwrap().contains("500"));
        }
    }
}
