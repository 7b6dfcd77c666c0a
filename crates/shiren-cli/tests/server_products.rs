//! The products over HTTP against the real binary (embedded SQLite): every SubCode of ID_MIN,
//! PV_FC verdicts, input errors, image sources, records, statistics and deletion.

mod common;

use common::{Server, b64, bin, model_dir, photo};
use serde_json::{Value, json};

/// A valid ID number for a region, birth date and sequence.
fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    let check = shiren_idcard::check_character(&first17).unwrap();
    format!("{first17}{check}")
}

fn sub_code(r: &common::Reply) -> &str {
    r.json["data"]["sub_code"].as_str().unwrap_or_default()
}

#[test]
fn products_records_and_statistics() {
    let server = Server::start(&[]);
    let api = server.client(server.key("full"));
    let scene = api.scene(json!({ "store_images": true, "far_level": "1e-4" }));

    // The local authority registry: one identity with a reference photo, one without.
    let obama_id = id_number("110101", "19610804", "001");
    let no_photo_id = id_number("110103", "19800229", "002"); // 崇文区, abolished in 2010: still valid
    let csv_dir = tempfile::tempdir().unwrap();
    let csv = csv_dir.path().join("registry.csv");
    let obama_path = model_dir().join("testdata/obama.jpg");
    std::fs::write(
        &csv,
        format!(
            "name,id_number,photo\n奥巴马,{obama_id},{}\n李四,{no_photo_id},\n张三,110101199913320011,\n",
            obama_path.display()
        ),
    )
    .unwrap();
    let out = bin().args(["authority", "import"]).arg(&csv).arg("--data-dir").arg(&server.data_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 2 identities (1 without a usable reference photo), rejected 1"), "{stdout}");

    // ID_MIN, every SubCode.
    let identity = |name: &str, number: &str, image: &[u8]| {
        api.call("POST", "/v1/identity", Some(&json!({ "scene_id": scene, "name": name, "id_number": number, "image": b64(image), "order_no": "id-check" })))
    };
    let r = identity("奥巴马", &obama_id, &photo("obama2.jpg"));
    assert_eq!((r.status, sub_code(&r), r.json["data"]["passed"].as_bool()), (200, "200", Some(true)), "{}", r.json);
    assert!(r.json["data"]["score"].as_f64().unwrap() >= 70.0);
    let r = identity("奥巴马", &obama_id, &photo("biden.jpg"));
    assert_eq!((r.status, sub_code(&r)), (200, "204"), "{}", r.json);
    let r = identity("王五", &obama_id, &photo("obama2.jpg"));
    assert_eq!(sub_code(&r), "201", "{}", r.json);
    let r = identity("奥巴马", &id_number("110101", "19900101", "123"), &photo("obama2.jpg"));
    assert_eq!(sub_code(&r), "202", "{}", r.json);
    let r = identity("李四", &no_photo_id, &photo("obama2.jpg"));
    assert_eq!(sub_code(&r), "203", "{}", r.json);

    // Invalid ID numbers are refused before any inference, each with its own code.
    let mut bad_check = obama_id.clone();
    let last = if bad_check.ends_with('0') { '1' } else { '0' };
    bad_check.pop();
    bad_check.push(last);
    let first17 = "11010119901301123";
    let impossible_date = format!("{first17}{}", shiren_idcard::check_character(first17).unwrap());
    let unknown_region = id_number("990199", "19900101", "123");
    for (number, code) in [
        (bad_check.as_str(), "ID_NUMBER_WRONG_CHECK_CHARACTER"),
        (impossible_date.as_str(), "ID_NUMBER_INVALID_BIRTH_DATE"),
        (unknown_region.as_str(), "ID_NUMBER_UNKNOWN_REGION"),
        ("11010119900101123", "ID_NUMBER_WRONG_LENGTH"),
    ] {
        let r = identity("奥巴马", number, b"not even an image");
        assert_eq!((r.status, r.code()), (400, code), "{number}: {}", r.json);
    }

    // PV_FC verdicts.
    let compare = |a: &[u8], b: &[u8]| {
        api.call(
            "POST",
            "/v1/compare",
            Some(&json!({ "scene_id": scene, "image_a": b64(a), "image_b": b64(b), "order_no": "cmp-1" })),
        )
    };
    let r = compare(&photo("obama.jpg"), &photo("obama3.jpg"));
    assert_eq!((r.status, sub_code(&r)), (200, "200"), "{}", r.json);
    assert_eq!(r.json["data"]["detail"]["thresholds"]["1e-4"], 70.0);
    let pass_id = r.json["data"]["verification_id"].as_str().unwrap().to_string();
    let r = compare(&photo("obama.jpg"), &photo("biden.jpg"));
    assert_eq!((r.status, sub_code(&r), r.json["data"]["passed"].as_bool()), (200, "204", Some(false)), "{}", r.json);

    // Input errors: each specific, and recorded.
    let grey = {
        let img = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    let r = compare(&grey, &photo("obama.jpg"));
    assert_eq!((r.status, r.code()), (422, "NO_FACE"), "{}", r.json);
    let r = compare(b"name,number\n", &photo("obama.jpg"));
    assert_eq!((r.status, r.code()), (400, "UNSUPPORTED_FORMAT"), "{}", r.json);
    let jpeg = photo("obama.jpg");
    let r = compare(&jpeg[..jpeg.len() / 2], &jpeg);
    assert_eq!((r.status, r.code()), (400, "TRUNCATED_IMAGE"), "{}", r.json);
    let r = api.call(
        "POST",
        "/v1/compare",
        Some(&json!({ "scene_id": scene, "image_a": { "base64": "@@not base64@@" }, "image_b": b64(&jpeg) })),
    );
    assert_eq!((r.status, r.code()), (400, "InvalidBase64"), "{}", r.json);
    let r = api.call("POST", "/v1/compare", Some(&json!({ "scene_id": scene, "image_a": b64(&jpeg) })));
    assert_eq!((r.status, r.code()), (400, "MissingImage"), "{}", r.json);
    let r = api.call("POST", "/v1/compare", Some(&json!({ "scene_id": scene, "image_a": { "base64": "AAAA", "url": "http://example.com/a.jpg" }, "image_b": b64(&jpeg) })));
    assert_eq!((r.status, r.code()), (400, "AmbiguousImage"), "{}", r.json);
    let r = api.call("POST", "/v1/compare", Some(&json!({ "scene_id": 42 })));
    assert_eq!((r.status, r.code()), (400, "InvalidJson"), "{}", r.json);
    let huge = vec![0xAB_u8; 6 << 20];
    let r = compare(&huge, &jpeg);
    assert_eq!((r.status, r.code()), (413, "IMAGE_BYTES_TOO_LARGE"), "{}", r.json);
    let too_big_body = vec![b' '; 13 << 20];
    let headers = api.signed("POST", "/v1/compare", &too_big_body);
    let r = api.raw("POST", "/v1/compare", &headers, &too_big_body);
    assert_eq!((r.status, r.code()), (413, "RequestTooLarge"), "{}", r.json);
    let r = api.call(
        "POST",
        "/v1/compare",
        Some(&json!({ "scene_id": "nope", "image_a": b64(&jpeg), "image_b": b64(&jpeg) })),
    );
    assert_eq!((r.status, r.code()), (404, "SceneNotFound"), "{}", r.json);

    // Image URLs: refused unless the scene allows them, and never to local addresses.
    let r = api.call(
        "POST",
        "/v1/compare",
        Some(
            &json!({ "scene_id": scene, "image_a": { "url": format!("{}/docs", server.url) }, "image_b": b64(&jpeg) }),
        ),
    );
    assert_eq!((r.status, r.code()), (403, "ImageUrlNotAllowed"), "{}", r.json);
    let url_scene = api.scene(json!({ "allow_image_urls": true, "products": ["PV_FC"] }));
    let r = api.call("POST", "/v1/compare", Some(&json!({ "scene_id": url_scene, "image_a": { "url": format!("{}/docs", server.url) }, "image_b": b64(&jpeg) })));
    assert_eq!((r.status, r.code()), (403, "ImageUrlForbidden"), "{}", r.json);
    let r = api.call("POST", "/v1/liveness", Some(&json!({ "scene_id": url_scene, "image": b64(&jpeg) })));
    assert_eq!((r.status, r.code()), (403, "ProductNotEnabled"), "{}", r.json);

    // Multipart upload.
    let boundary = "shirenboundary";
    let mut form = Vec::new();
    form.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"scene_id\"\r\n\r\n{scene}\r\n").as_bytes(),
    );
    for (field, name) in [("image_a", "obama.jpg"), ("image_b", "obama2.jpg")] {
        form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        form.extend_from_slice(&photo(name));
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = [("content-type".to_string(), format!("multipart/form-data; boundary={boundary}"))];
    let q = shiren_auth::QueryParams::new();
    let headers = api.signer.sign(&shiren_auth::SignParams {
        method: "POST",
        host: &api.host,
        path: "/v1/compare",
        query: &q,
        body: &form,
        action: "Request",
        version: "v1",
        extra_headers: &ct,
    });
    let r = api.raw("POST", "/v1/compare", &headers, &form);
    assert_eq!((r.status, sub_code(&r)), (200, "200"), "{}", r.json);

    // LR_FR_MIN and attributes.
    let r = api.call("POST", "/v1/liveness", Some(&json!({ "scene_id": scene, "image": b64(&jpeg) })));
    assert_eq!((r.status, sub_code(&r)), (200, "200"), "{}", r.json);
    assert_eq!(r.json["data"]["detail"]["pad_model"], "none");
    assert!(r.json["data"]["quality_score"].as_f64().unwrap() >= 40.0);
    let blurred = {
        let img = image::load_from_memory(&jpeg).unwrap().blur(12.0);
        let mut out = std::io::Cursor::new(Vec::new());
        img.to_rgb8().write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    let r = api.call("POST", "/v1/liveness", Some(&json!({ "scene_id": scene, "image": b64(&blurred) })));
    assert_eq!((r.status, sub_code(&r)), (200, "206"), "{}", r.json);
    let r = api.call("POST", "/v1/attributes", Some(&json!({ "scene_id": scene, "image": b64(&photo("biden.jpg")) })));
    assert_eq!(r.status, 200, "{}", r.json);
    let face = &r.json["data"]["detail"]["faces"][0];
    assert_eq!(face["gender"]["value"], "male", "{face}");
    assert_eq!(face["glasses"]["available"], false);

    // Element checks with the local registry.
    let elements = |body: Value| api.call("POST", "/v1/elements", Some(&body));
    let r = elements(json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id }));
    assert_eq!((sub_code(&r), r.json["data"]["product"].as_str()), ("200", Some("ID_2META")), "{}", r.json);
    assert_eq!(sub_code(&elements(json!({ "scene_id": scene, "name": "赵六", "id_number": obama_id }))), "201");
    assert_eq!(
        sub_code(&elements(
            json!({ "scene_id": scene, "name": "赵六", "id_number": id_number("110101", "19900101", "777") })
        )),
        "202"
    );
    let r = elements(json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id, "phone": "13800138000" }));
    assert_eq!((r.status, r.code()), (501, "ElementNotSupported"), "{}", r.json);
    let r = elements(
        json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id, "bank_card": "4111111111111112" }),
    );
    assert_eq!((r.status, r.code()), (400, "BANK_CARD_WRONG_CHECK_DIGIT"), "{}", r.json);

    // Records: masked listings, filters, detail with image links, deletion.
    let r = api.call("GET", &format!("/v1/records?id_number={obama_id}&product=ID_MIN"), None);
    assert_eq!(r.status, 200, "{}", r.json);
    let items = r.json["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", r.json);
    // Each record keeps the name the caller claimed, masked.
    let mut names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["奥**", "奥**", "王*"]);
    for item in items {
        assert!(item["id_number"].as_str().unwrap().contains("****"));
        assert!(!r.json.to_string().contains(&obama_id), "the full ID number never appears");
    }
    let r = api.call("GET", "/v1/records?sub_code=ID_NUMBER_WRONG_CHECK_CHARACTER", None);
    assert_eq!(r.json["data"]["total"], 1, "invalid numbers are recorded too: {}", r.json);
    let failed = api.call("GET", &format!("/v1/records?passed=false&scene_id={scene}&page_size=100"), None);
    let passed = api.call("GET", &format!("/v1/records?passed=true&scene_id={scene}&page_size=100"), None);
    let total = api.call("GET", &format!("/v1/records?scene_id={scene}&page_size=1"), None);
    assert_eq!(
        failed.json["data"]["total"].as_i64().unwrap() + passed.json["data"]["total"].as_i64().unwrap(),
        total.json["data"]["total"].as_i64().unwrap()
    );
    assert_eq!(total.json["data"]["items"].as_array().unwrap().len(), 1);
    let r = api.call("GET", "/v1/records?order_no=cmp-1&passed=true", None);
    assert_eq!(r.json["data"]["items"][0]["verification_id"], pass_id.as_str());
    assert_eq!(api.call("GET", "/v1/records?from=yesterday", None).code(), "InvalidParameter.Time");

    let detail = api.call("GET", &format!("/v1/records/{pass_id}"), None);
    let links = detail.json["data"]["images"].as_array().unwrap().clone();
    assert_eq!(links.len(), 2, "{}", detail.json);
    let (status, headers, body) = common::http(&server.host, "GET", links[0].as_str().unwrap(), &[], b"");
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "image/jpeg"));
    // The photo comes back as sent, less its metadata: the same pixels, no camera, no EXIF.
    let original = photo("obama.jpg");
    assert!(original.windows(5).any(|w| w == b"Canon") && !body.windows(5).any(|w| w == b"Canon"));
    assert!(!body.windows(6).any(|w| w == b"Exif\0\0"));
    assert_eq!(
        image::load_from_memory(&body).unwrap().to_rgb8(),
        image::load_from_memory(&original).unwrap().to_rgb8()
    );
    assert!(body.len() < original.len());
    let tampered = links[0].as_str().unwrap().replace("expires=", "expires=9");
    assert_eq!(common::http(&server.host, "GET", &tampered, &[], b"").0, 403);
    // Stored images are encrypted: the photo's bytes are nowhere in the data directory.
    let mut found_plain = false;
    for entry in walk(&server.data_dir.join("images")) {
        let data = std::fs::read(&entry).unwrap();
        found_plain |= data.windows(64).any(|w| w == &jpeg[1000..1064]);
    }
    assert!(!found_plain);
    let objects_before = walk(&server.data_dir.join("images")).len();
    let r = api.call("DELETE", &format!("/v1/records/{pass_id}"), None);
    assert_eq!((r.status, r.json["data"]["images_deleted"].as_i64()), (200, Some(2)), "{}", r.json);
    assert_eq!(walk(&server.data_dir.join("images")).len(), objects_before - 2);
    assert_eq!(api.call("GET", &format!("/v1/records/{pass_id}"), None).status, 404);
    assert_eq!(common::http(&server.host, "GET", links[0].as_str().unwrap(), &[], b"").0, 404);

    // Statistics: 7 days, 30 days, custom up to 180 days.
    let r = api.call("GET", &format!("/v1/statistics?scene_id={scene}"), None);
    assert_eq!(r.status, 200, "{}", r.json);
    let totals = &r.json["data"]["totals"];
    assert!(totals["submissions"].as_i64().unwrap() >= 20, "{totals}");
    assert_eq!(
        totals["passes"].as_i64().unwrap() + totals["failures"].as_i64().unwrap(),
        totals["submissions"].as_i64().unwrap()
    );
    assert!(totals["pass_rate"].as_f64().unwrap() > 0.0);
    assert!(totals["comparisons"].as_i64().unwrap() >= 4);
    assert_eq!(api.call("GET", "/v1/statistics?range=30d", None).status, 200);
    assert_eq!(api.call("GET", "/v1/statistics?range=custom&from=2026-01-01&to=2026-06-29", None).status, 200);
    let r = api.call("GET", "/v1/statistics?range=custom&from=2026-01-01&to=2026-06-30", None);
    assert_eq!((r.status, r.code()), (400, "InvalidParameter.Range"), "{}", r.json);

    // Reads of records and images are audited.
    let log = api.call("GET", "/v1/audit?page_size=200", None);
    let actions: Vec<String> = log.json["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["record.read", "image.read", "record.delete", "record.list"] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited: {actions:?}");
    }

    // Scenes: update, delete.
    let r = api.call(
        "PUT",
        &format!("/v1/scenes/{url_scene}"),
        Some(&json!({ "name": "renamed", "settings": { "retention_days": 7 } })),
    );
    assert_eq!((r.status, r.json["data"]["settings"]["retention_days"].as_i64()), (200, Some(7)), "{}", r.json);
    let r = api.call(
        "PUT",
        &format!("/v1/scenes/{url_scene}"),
        Some(&json!({ "name": "x", "settings": { "retention_days": 99999 } })),
    );
    assert_eq!(r.status, 400);
    assert_eq!(api.call("DELETE", &format!("/v1/scenes/{url_scene}"), None).status, 200);
    assert_eq!(api.call("GET", &format!("/v1/scenes/{url_scene}"), None).status, 404);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
