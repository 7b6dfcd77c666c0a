//! The attacks of the hardening review, each performed and shown to fail closed: bodies before
//! authentication, slow and idle connections, decode cost, truncated JPEGs, query
//! canonicalisation, personal data in stored errors, retention, paging, file permissions, audit,
//! NaN verdicts, the authority's answer, echoes, and TLS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shiren_auth::Signer;
use shiren_server::connections::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

fn limits(header_timeout_secs: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        header_timeout: Duration::from_secs(header_timeout_secs),
        shutdown_grace: Duration::from_secs(5),
    }
}

fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    format!("{first17}{}", shiren_idcard::check_character(&first17).expect("17 digits"))
}

async fn audit_actions(service: &Service, action: &str) -> Vec<serde_json::Value> {
    let r = service.call("GET", "/v1/audit?page_size=200", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.data()["items"].as_array().expect("items").iter().filter(|e| e["action"] == action).cloned().collect()
}

// ---------------------------------------------------------------- 1. bodies before authentication

/// Twenty sockets announce 11 MB bodies they never finish, unsigned, forged for a real key, or
/// for an unknown key. Each is answered from its head alone, before the body arrives (the old
/// server read every byte first, holding ~12 MB per socket until its 60 s timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_not_read_before_the_request_is_authenticated() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let mut service = Service::start(|c| c.body_timeout_secs = 1).await;
    let addr = service.listen(limits(10, 256), None).await;
    let small_body = br#"{"scene_id":"x"}"#;
    let forged = Signer::new(service.full.access_key_id.clone(), "not-the-secret");
    let stranger = Signer::new("SRnobody", "whatever");
    let mut sockets = Vec::new();
    for i in 0..20 {
        let headers = match i % 3 {
            0 => vec![("content-type".to_string(), "application/json".to_string())],
            1 => signed_headers(&forged, HOST, "POST", "/v1/compare", small_body),
            _ => signed_headers(&stranger, HOST, "POST", "/v1/compare", small_body),
        };
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&head("POST", "/v1/compare", &headers, 11_000_000)).await.unwrap();
        stream.write_all(&vec![b' '; 64 << 10]).await.unwrap();
        sockets.push(stream);
    }
    let started = Instant::now();
    for (i, stream) in sockets.iter_mut().enumerate() {
        let answer = read_answer(stream, Duration::from_secs(5)).await;
        let (status, text) = answer.unwrap_or_else(|| panic!("socket {i} got no answer before its body"));
        assert_eq!(status, 401, "{text}");
        let code = ["MissingAuthorization", "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound"][i % 3];
        assert!(text.contains(code), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // Failed authentications are audited, a few per source address and minute.
    let failures = audit_actions(&service, "auth.fail").await;
    assert_eq!(failures.len(), 5, "{failures:?}");
    assert!(failures.iter().all(|e| e["source"] == "127.0.0.1"), "{failures:?}");

    // A correctly signed request announcing more than the limit is refused from its head too.
    let headers = signed_headers(&service.full, HOST, "POST", "/v1/compare", small_body);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&head("POST", "/v1/compare", &headers, 13 << 20)).await.unwrap();
    let (status, text) = read_answer(&mut stream, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(status, 413, "{text}");

    // An authenticated body that stalls is cut off after body_timeout_secs.
    let body = br#"{"scene_id": "scene-that-never-finishes-arriving"}"#;
    let headers = signed_headers(&service.full, HOST, "POST", "/v1/compare", body);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&head("POST", "/v1/compare", &headers, body.len())).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    let started = Instant::now();
    let (status, text) = read_answer(&mut stream, Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(status, 408, "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

/// Bodies in memory share `upload_buffer_mb`: while one announced 11 MB body holds most of a
/// 12 MB budget, a second 2 MB body waits until the first is gone (cut off at its body timeout),
/// and a GET with no body at all reserves nothing and is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_share_a_budget_and_requests_without_a_body_reserve_nothing() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let mut service = Service::start(|c| {
        c.upload_buffer_mb = 12;
        // A budget this small must also fit the largest capture upload (the service refuses to
        // start otherwise).
        c.max_capture_bytes = 12 << 20;
        c.body_timeout_secs = 2;
    })
    .await;
    let addr = service.listen(limits(10, 256), None).await;
    let body = br#"{"scene_id": "a-body-that-keeps-arriving"}"#;
    let mut holder = TcpStream::connect(addr).await.unwrap();
    let headers = signed_headers(&service.full, HOST, "POST", "/v1/compare", body);
    holder.write_all(&head("POST", "/v1/compare", &headers, 11_000_000)).await.unwrap();
    holder.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut waiter = TcpStream::connect(addr).await.unwrap();
    let mut second = br#"{"scene_id": "no-such-scene"}"#.to_vec();
    second.resize(2_000_000, b' ');
    let headers = signed_headers(&service.full, HOST, "POST", "/v1/compare", &second);
    waiter.write_all(&head("POST", "/v1/compare", &headers, second.len())).await.unwrap();
    let sent = Instant::now();
    let waiting = tokio::spawn(async move {
        waiter.write_all(&second).await.unwrap();
        let answer = read_answer(&mut waiter, Duration::from_secs(5)).await;
        (answer, sent.elapsed())
    });

    let started = Instant::now();
    let mut getter = TcpStream::connect(addr).await.unwrap();
    let headers = signed_headers(&service.full, HOST, "GET", "/v1/scenes", b"");
    let request = String::from_utf8(head("GET", "/v1/scenes", &headers, 0)).unwrap();
    let request = request.replace("content-length: 0\r\n", "connection: close\r\n");
    getter.write_all(request.as_bytes()).await.unwrap();
    let (status, text) = read_answer(&mut getter, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(status, 200, "{text}");
    assert!(started.elapsed() < Duration::from_secs(1), "the GET did not wait: {:?}", started.elapsed());

    let (status, text) = read_answer(&mut holder, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(status, 408, "{text}");
    let (answer, answered_after) = waiting.await.unwrap();
    let (status, text) = answer.expect("an answer");
    assert_eq!(status, 404, "read once there was room: {text}");
    assert!(answered_after >= Duration::from_millis(1500), "it waited for the first body: {answered_after:?}");
}

// ---------------------------------------------------------------- 2. slow and idle connections

/// A silent socket and one that trickles a header line every 300 ms are both closed at the
/// header deadline; a hundred idle sockets over a cap of 32 do not keep a signed request out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_and_cannot_crowd_out_requests() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let mut service = Service::start(|_| {}).await;
    let quick = service.listen(limits(1, 256), None).await;
    let mut idle = TcpStream::connect(quick).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(4)).await, "an idle connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut slow = TcpStream::connect(quick).await.unwrap();
    slow.write_all(b"GET /v1/scenes HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow.write_all(format!("x-trickle-{i}: 1\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
    }
    closed = closed || closed_within(&mut slow, Duration::from_secs(1)).await;
    assert!(closed, "one header line every 300 ms kept the connection open for {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

    // With a long header deadline, only the cap protects: idle sockets are evicted for new ones.
    let capped = service.listen(limits(60, 32), None).await;
    let mut crowd = Vec::new();
    for _ in 0..100 {
        crowd.push(TcpStream::connect(capped).await.unwrap());
    }
    let started = Instant::now();
    let (status, text) = signed_get(capped, &service.full, "/v1/scenes").await.expect("answered");
    assert_eq!(status, 200, "{text}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let metrics = service.send(axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap()).await;
    let text = String::from_utf8_lossy(&metrics.bytes);
    let evicted: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("shiren_connections_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("eviction counter");
    assert!(evicted >= 60.0, "{text}");
}

// ---------------------------------------------------------------- 3. image URLs

/// Addresses that reach this machine through IPv6 transition forms are refused like 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_urls_to_embedded_local_addresses_are_refused() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "allow_image_urls": true })).await;
    for host in
        ["[::ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "198.18.0.1", "[fec0::1]"]
    {
        let r = service
            .call(
                "POST",
                "/v1/liveness",
                Some(json!({ "scene_id": scene, "image": { "url": format!("http://{host}:9/photo.jpg") } })),
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "ImageUrlForbidden"), "{host}: {}", r.json);
    }
}

// ---------------------------------------------------------------- 4. decode cost

/// Two 125 KB PNGs of 8000×5000 (120 MB each decoded) are refused from their headers; images
/// under the cap are admitted by the memory they will take, so parallel ones wait their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_decodes_are_refused_and_the_rest_share_a_memory_budget() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Arc::new(Service::start(|c| c.decode_memory_mb = 60).await);
    let scene = service.scene(json!({})).await;
    let uniform = |w, h| {
        use image::ImageEncoder;
        let pixels = image::RgbImage::from_pixel(w, h, image::Rgb([200, 190, 180]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Sub,
        )
        .write_image(pixels.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
        out
    };
    let big = uniform(8000, 5000);
    assert!(big.len() < 5 << 20, "legal under the byte limits: {} bytes", big.len());
    let started = Instant::now();
    let r = service
        .call("POST", "/v1/compare", Some(json!({ "scene_id": scene, "image_a": b64(&big), "image_b": b64(&big) })))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "InvalidImage.TooLarge"), "{}", r.json);
    assert!(started.elapsed() < Duration::from_secs(2), "refused from the header: {:?}", started.elapsed());

    // 2000×2000 decodes to 12 MB; a compare of two reserves ~48 MB of the 60 MB budget, so
    // four in parallel run one at a time: the reservation peaks at exactly one compare's.
    let medium = uniform(2000, 2000);
    let one_compare = 2 * service.services().engine.plan(&medium).unwrap().memory_bytes;
    assert!(one_compare <= 60 << 20 && 2 * one_compare > 60 << 20, "{one_compare}");
    let body = json!({ "scene_id": scene, "image_a": b64(&medium), "image_b": b64(&medium) });
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (service, done) = (service.clone(), done.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(service.services().pool.memory_in_use());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (service, body) = (service.clone(), body.clone());
            tokio::spawn(async move { service.call("POST", "/v1/compare", Some(body)).await })
        })
        .collect();
    for call in calls {
        let r = call.await.unwrap();
        assert_eq!((r.status.as_u16(), r.code()), (422, "NoFace"), "{}", r.json);
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = watcher.await.unwrap();
    assert_eq!(peak, one_compare.div_ceil(1024) * 1024, "one compare at a time (reserved in KiB)");
    assert_eq!(service.services().pool.memory_in_use(), 0);
}

// ---------------------------------------------------------------- 5. truncated JPEG

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_jpeg_with_an_end_marker_is_truncated() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let original = photo("obama.jpg");
    let mut half = original[..original.len() / 2].to_vec();
    half.extend_from_slice(&[0xFF, 0xD9]);
    let r = service
        .call(
            "POST",
            "/v1/compare",
            Some(json!({ "scene_id": scene, "image_a": b64(&half), "image_b": b64(&original) })),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.Truncated"), "{}", r.json);
}

// ---------------------------------------------------------------- 6. signature canonicalisation

/// A signature made for `order_no=x%2By` no longer covers `order_no=x+y` (which form decoding
/// reads as a space): a raw `+` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signature_cannot_carry_two_queries() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let signed = service.request(&service.full, "GET", "/v1/records?order_no=x%2By", Vec::new());
    let headers = signed.headers().clone();
    let mut replayed = axum::http::Request::get("/v1/records?order_no=x+y");
    for (name, value) in headers.iter() {
        replayed = replayed.header(name, value);
    }
    let r = service.send(replayed.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidQuery"), "{}", r.json);
    let r = service.send(signed).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = service.call("GET", "/v1/records?order_no=%FF", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidQuery"), "{}", r.json);
}

// ---------------------------------------------------------------- 7. personal data in records

/// Failure records keep codes only: not the ID number's digits a message quoted, not a URL's
/// token, and a read-only key sees nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_records_keep_codes_not_what_the_caller_sent() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "allow_image_urls": true })).await;
    // Born on 31 February: the message names the birth date.
    let bad_date = id_number("110101", "19900231", "123");
    let r = service
        .call(
            "POST",
            "/v1/identity",
            Some(
                json!({ "scene_id": scene, "name": "张三", "id_number": bad_date, "image": b64(&photo("obama.jpg")) }),
            ),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    let secret_url = "http://127.0.0.1:9/photo.jpg?X-Amz-Signature=deadbeefcafe0123456789";
    let r =
        service.call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": { "url": secret_url } }))).await;
    assert_eq!(r.status, 403, "{}", r.json);
    let listed = service.call_as(&service.readonly.clone(), "GET", "/v1/records?passed=false", None).await;
    let items = listed.data()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{}", listed.json);
    for item in items {
        let id = item["verification_id"].as_str().unwrap();
        let detail = service.call_as(&service.readonly.clone(), "GET", &format!("/v1/records/{id}"), None).await;
        let text = detail.json.to_string();
        for leaked in ["19900231", "deadbeefcafe", "X-Amz-Signature"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        let d = &detail.data()["detail"];
        assert_eq!(d.as_object().map(|o| o.len()), Some(1), "{d}");
        assert_eq!(d["error"], detail.data()["sub_code"]);
    }
}

// ---------------------------------------------------------------- 8. retention

/// 1,234 expired records (more than two batches) all go in one sweep, with their images; an
/// image whose deletion fails stays queued after its record is gone and is deleted on a later
/// sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_every_expired_record_and_retries_failed_image_deletions() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let store = &service.services().store;
    let past = shiren_store::now_ms() - 86_400_000;
    for i in 0..1234 {
        let id = format!("vexpired{i:05}");
        let mut images = Vec::new();
        if i % 100 == 0 {
            let key = service.services().images.put(&id, 0, b"image bytes").await.unwrap();
            images.push(shiren_store::ImageRef {
                record_id: id.clone(),
                idx: 0,
                object_key: key,
                content_type: "image/jpeg".into(),
                bytes: 11,
            });
        }
        let row = shiren_store::RecordRow {
            id,
            scene_id: "sc".into(),
            product: "PV_FC".into(),
            passed: true,
            sub_code: "200".into(),
            score: Some(90.0),
            quality_score: None,
            attack_score: None,
            order_no: None,
            name_masked: None,
            id_number_masked: None,
            id_number_hash: None,
            access_key_id: "SRk".into(),
            timings: "{}".into(),
            detail: "{}".into(),
            image_count: images.len() as i64,
            created_at: past - 1000,
            expires_at: Some(past),
        };
        store.insert_record(&row, &images, 1).await.unwrap();
    }
    let report = shiren_verify::records::sweep(service.services()).await;
    assert_eq!(report.records, 1234);
    assert!(store.expired_records(shiren_store::now_ms(), 10).await.unwrap().is_empty());
    let images_dir = service.data_dir.join("images");
    assert!(walk(&images_dir).is_empty(), "{:?}", walk(&images_dir));

    // An image that cannot be deleted right now (its path is blocked by a directory).
    let scene = service.scene(json!({ "store_images": true })).await;
    let r = service
        .call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&photo("obama.jpg")) })))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let id = r.data()["verification_id"].as_str().unwrap().to_string();
    let later = shiren_store::now_ms() + shiren_store::OBJECT_WRITE_GRACE_MS + 1;
    assert!(store.pending_object_deletions(later, 10).await.unwrap().is_empty(), "the record claimed its image");
    let object = walk(&images_dir).pop().expect("the stored image");
    std::fs::remove_file(&object).unwrap();
    std::fs::create_dir_all(object.join("blocker")).unwrap();
    let r = service.call("DELETE", &format!("/v1/records/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(service.call("GET", &format!("/v1/records/{id}"), None).await.status, 404, "the record is gone at once");
    let now = shiren_store::now_ms();
    assert_eq!(store.pending_object_deletions(now, 10).await.unwrap().len(), 1, "the image is still queued");
    assert_eq!(shiren_verify::records::sweep(service.services()).await.objects_retried, 0);
    std::fs::remove_dir_all(&object).unwrap();
    std::fs::write(&object, b"sealed image").unwrap();
    assert_eq!(shiren_verify::records::sweep(service.services()).await.objects_retried, 1);
    assert!(!object.exists());
    assert!(store.pending_object_deletions(shiren_store::now_ms(), 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------- 9. paging

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_would_overflow_are_refused() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    for path in [
        "/v1/records?page=9223372036854775807",
        "/v1/records?page=0",
        "/v1/records?page=-3",
        "/v1/records?page=184467440737095517&page_size=100",
        "/v1/audit?page=9223372036854775807&page_size=200",
    ] {
        let r = service.call("GET", path, None).await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.Page"), "{path}: {}", r.json);
    }
    let r = service.call("GET", "/v1/records?page=2&page_size=1000", None).await;
    assert_eq!((r.status.as_u16(), r.data()["page_size"].as_i64()), (200, Some(100)), "{}", r.json);
}

// ---------------------------------------------------------------- 10. file permissions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_everything_in_it_are_owner_only() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    use std::os::unix::fs::PermissionsExt;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "store_images": true })).await;
    let r = service
        .call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&photo("obama.jpg")) })))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&service.data_dir), 0o700);
    let mut files = walk(&service.data_dir);
    files.retain(|f| !f.ends_with(".fetch.lock"));
    assert!(
        files.iter().any(|f| f.ends_with("shiren.db"))
            && files.iter().any(|f| f.extension().is_some_and(|e| e == "bin"))
    );
    for file in files {
        assert_eq!(mode(&file) & 0o077, 0, "{} is {:o}", file.display(), mode(&file));
    }
}

// ---------------------------------------------------------------- 11. audit

/// Audit entries carry the server's request id (the caller's is kept beside it), keys record
/// when they were last used, and image reads are attributed to the key that made the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_what_the_server_knows() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let body = serde_json::to_vec(&json!({ "name": "audited", "settings": { "store_images": true } })).unwrap();
    let mut request = service.request(&service.full, "POST", "/v1/scenes", body);
    request.headers_mut().insert("x-request-id", "client-chosen-1".parse().unwrap());
    let r = service.send(request).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let server_id = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(server_id.starts_with("rq") && server_id != "client-chosen-1");
    assert_eq!(r.json["request_id"], server_id.as_str());
    let scene = r.data()["id"].as_str().unwrap().to_string();
    let created = audit_actions(&service, "scene.create").await;
    assert_eq!(created[0]["request_id"], server_id.as_str());
    assert_eq!(created[0]["client_request_id"], "client-chosen-1");

    let keys = service.call("GET", "/v1/keys", None).await;
    let me = keys
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key_id"] == service.full.access_key_id.as_str())
        .unwrap()
        .clone();
    assert!(me["last_used_at"].as_i64().is_some_and(|t| t > 0), "{me}");

    let r = service
        .call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&photo("obama.jpg")) })))
        .await;
    let id = r.data()["verification_id"].as_str().unwrap().to_string();
    let detail = service.call_as(&service.readonly.clone(), "GET", &format!("/v1/records/{id}"), None).await;
    let link = detail.data()["images"][0].as_str().unwrap().to_string();
    assert!(link.contains(&format!("key={}", service.readonly.access_key_id)), "{link}");
    let image = service.send(axum::http::Request::get(&link).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(image.status, 200);
    let reads = audit_actions(&service, "image.read").await;
    assert_eq!(reads[0]["actor"], service.readonly.access_key_id.as_str(), "{reads:?}");
    // A link names its key: changing the key breaks the signature.
    let swapped = link.replace(&service.readonly.access_key_id, &service.full.access_key_id);
    let r = service.send(axum::http::Request::get(&swapped).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "InvalidLink"));
    // Links stop working when their key is disabled.
    let ro = service.readonly.access_key_id.clone();
    assert_eq!(service.call("POST", &format!("/v1/keys/{ro}/disable"), None).await.status, 200);
    let r = service.send(axum::http::Request::get(&link).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "InvalidLink"));
}

// ---------------------------------------------------------------- 12. NaN

/// A PAD model whose output is NaN (here: a normalisation mean of NaN) must refuse, not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_attack_score_fails_closed() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let r = crate::integrations::liveness_with_stand_in_pad("mean = [nan, nan, nan]\n").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!((r.data()["passed"].as_bool(), r.data()["sub_code"].as_str()), (Some(false), Some("205")), "{}", r.json);
}

// ---------------------------------------------------------------- 13. the authority's answer

/// A gateway that redirects (to itself), or answers well-formed JSON past the 8 MB bound (with or
/// without announcing its length), is "unavailable": the redirect is not followed, the answer not
/// buffered, and the caller is told a fixed reason, never the gateway's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_gateway_is_neither_followed_nor_read_without_bound() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap();
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf).await;
                if n == 0 {
                    let redirect = format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{gateway}/check\r\ncontent-length: 0\r\n\r\n"
                    );
                    let _ = stream.write_all(redirect.as_bytes()).await;
                    return;
                }
                // Valid JSON, 9 MB: a photo field of base64 text.
                let body =
                    format!("{{\"found\": true, \"name_match\": true, \"photo_base64\": \"{}\"}}", "A".repeat(9 << 20));
                let head = if n == 1 {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    )
                };
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    let service = Service::start(|c| {
        c.authority = gateway_authority(gateway, 5000);
    })
    .await;
    let scene = service.scene(json!({})).await;
    let mut reasons = Vec::new();
    for _ in 0..3 {
        let r = check_elements(&service, &scene).await;
        assert_eq!((r.status.as_u16(), r.code()), (503, "AuthorityUnavailable"), "{}", r.json);
        let message = r.json["message"].as_str().unwrap().to_string();
        assert!(!message.contains("127.0.0.1") && !message.contains("/check"), "{message}");
        reasons.push(message);
    }
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3, "the redirect to itself was not followed");
    assert!(reasons[0].contains("error status"), "{}", reasons[0]);
    assert!(reasons[1].contains("too large") && reasons[2].contains("too large"), "{reasons:?}");
}

/// A request that outlives `request_timeout_secs` (here: a gateway that never answers, with a
/// longer timeout of its own) is answered 503 `DeadlineExceeded` with the request id, counted in
/// the metrics like every error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_a_coded_answer() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let service = Service::start(|c| {
        c.body_timeout_secs = 1;
        c.request_timeout_secs = 2;
        c.authority = gateway_authority(gateway, 30000);
    })
    .await;
    let scene = service.scene(json!({})).await;
    let started = std::time::Instant::now();
    let r = check_elements(&service, &scene).await;
    assert_eq!((r.status.as_u16(), r.code()), (503, "DeadlineExceeded"), "{}", r.json);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(r.json["request_id"].as_str().is_some_and(|id| id.starts_with("rq")), "{}", r.json);
    let metrics = service.send(axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap()).await;
    let text = String::from_utf8_lossy(&metrics.bytes).to_string();
    assert!(text.contains("errors_total{code=\"DeadlineExceeded\"} 1"), "{text}");
}

/// The HTTP authority provider, pointed at a test gateway.
fn gateway_authority(gateway: std::net::SocketAddr, timeout_ms: u64) -> shiren_verify::authority::AuthorityConfig {
    toml::from_str(&format!("provider = \"http\"\nurl = \"http://{gateway}/check\"\ntimeout_ms = {timeout_ms}\n"))
        .unwrap()
}

/// A two-element check, which asks the authority.
async fn check_elements(service: &Service, scene: &str) -> Reply {
    let number = id_number("310101", "19610804", "001");
    service.call("POST", "/v1/elements", Some(json!({ "scene_id": scene, "name": "张三", "id_number": number }))).await
}

// ---------------------------------------------------------------- 14. echoes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_values_are_not_echoed_back_whole() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let long = "s".repeat(100_000);
    let r = service.call("POST", "/v1/liveness", Some(json!({ "scene_id": long, "image": b64(b"x") }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "SceneNotFound"));
    assert!(r.bytes.len() < 500, "{} bytes", r.bytes.len());
    assert!(r.json["message"].as_str().unwrap().contains("100000 characters"), "{}", r.json);
}

// ---------------------------------------------------------------- 15. TLS

/// With a certificate and a client CA configured, the API is served over TLS only to clients
/// holding a certificate from that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let _timed = crate::common::CPU_HEAVY.read().await;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let (cert, key, ca_file) = (
        write("server.pem", server_cert.pem()),
        write("server.key", server_key.serialize_pem()),
        write("ca.pem", ca.pem()),
    );
    let acceptor = shiren_server::connections::tls_acceptor(&cert, &key, Some(&ca_file)).unwrap();
    let mut service = Service::start(|_| {}).await;
    let addr = service.listen(limits(5, 64), Some(acceptor)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    let connect = |identity: bool| {
        let roots = roots.clone();
        let (client_cert, client_key) = (client_cert.der().to_vec(), client_key.serialize_der());
        async move {
            let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
            let config = if identity {
                builder
                    .with_client_auth_cert(
                        vec![CertificateDer::from(client_cert)],
                        PrivateKeyDer::try_from(client_key).unwrap(),
                    )
                    .unwrap()
            } else {
                builder.with_no_client_auth()
            };
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.ok()?;
            tls.write_all(&head("GET", "/healthz", &[], 0)).await.ok()?;
            read_answer(&mut tls, Duration::from_secs(5)).await
        }
    };
    let (status, _) = connect(true).await.expect("answered over TLS");
    assert_eq!(status, 200);
    assert!(connect(false).await.is_none(), "a client without a certificate must not be served");
    // Plain HTTP on the TLS port gets nothing useful.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(&head("GET", "/healthz", &[], 0)).await.unwrap();
    assert!(read_answer(&mut plain, Duration::from_secs(3)).await.is_none_or(|(s, _)| s != 200));
}
