//! Every product through the API, in process: each SubCode of ID_MIN, PV_FC verdicts, input
//! errors with their codes (and their records), image sources (base64, multipart, URLs),
//! element checks, records, statistics, image links, deletion and scenes.

use serde_json::{Value, json};

use crate::common::*;

/// A valid ID number for a region, birth date and sequence.
pub fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    format!("{first17}{}", shiren_idcard::check_character(&first17).expect("17 digits"))
}

fn sub_code(r: &Reply) -> &str {
    r.data()["sub_code"].as_str().unwrap_or_default()
}

/// The local registry, as `shiren authority import` fills it.
pub async fn import(service: &Service, name: &str, number: &str, photo: Option<&[u8]>) {
    use shiren_verify::authority::local;
    let services = service.services();
    let id = shiren_idcard::validate(number, &services.regions, shiren_idcard::Date::today_in_china()).expect("valid");
    let template = photo.map(|p| local::template_of(&services.engine, p).expect("a face"));
    local::import(&services.store, name, &id, template.as_deref()).await.expect("imported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_records_and_statistics() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "store_images": true, "far_level": "1e-4" })).await;
    let obama_id = id_number("110101", "19610804", "001");
    let no_photo_id = id_number("110103", "19800229", "002"); // 崇文区, abolished in 2010: still valid
    import(&service, "奥巴马", &obama_id, Some(&photo("obama.jpg"))).await;
    import(&service, "李四", &no_photo_id, None).await;

    // ID_MIN, every SubCode.
    let identity = async |name: &str, number: &str, image: &[u8]| {
        let body = json!({ "scene_id": scene, "name": name, "id_number": number, "image": b64(image), "order_no": "id-check" });
        service.call("POST", "/v1/identity", Some(body)).await
    };
    let r = identity("奥巴马", &obama_id, &photo("obama2.jpg")).await;
    assert_eq!((r.status.as_u16(), sub_code(&r), r.data()["passed"].as_bool()), (200, "200", Some(true)), "{}", r.json);
    assert!(r.data()["score"].as_f64().unwrap() >= 70.0);
    assert_eq!(r.data()["detail"]["authority"], "local");
    let r = identity("奥巴马", &obama_id, &photo("biden.jpg")).await;
    assert_eq!((r.status.as_u16(), sub_code(&r)), (200, "204"), "{}", r.json);
    let r = identity("王五", &obama_id, &photo("obama2.jpg")).await;
    assert_eq!(sub_code(&r), "201", "{}", r.json);
    let r = identity("奥巴马", &id_number("110101", "19900101", "123"), &photo("obama2.jpg")).await;
    assert_eq!(sub_code(&r), "202", "{}", r.json);
    let r = identity("李四", &no_photo_id, &photo("obama2.jpg")).await;
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
        (bad_check.as_str(), "InvalidIdNumber.WrongCheckCharacter"),
        (impossible_date.as_str(), "InvalidIdNumber.InvalidBirthDate"),
        (unknown_region.as_str(), "InvalidIdNumber.UnknownRegion"),
        ("11010119900101123", "InvalidIdNumber.WrongLength"),
    ] {
        let r = identity("奥巴马", number, b"not even an image").await;
        assert_eq!((r.status.as_u16(), r.code()), (400, code), "{number}: {}", r.json);
    }

    // PV_FC verdicts.
    let compare = async |a: &[u8], b: &[u8]| {
        let body = json!({ "scene_id": scene, "image_a": b64(a), "image_b": b64(b), "order_no": "cmp-1" });
        service.call("POST", "/v1/compare", Some(body)).await
    };
    let r = compare(&photo("obama.jpg"), &photo("obama3.jpg")).await;
    assert_eq!((r.status.as_u16(), sub_code(&r)), (200, "200"), "{}", r.json);
    assert_eq!(r.data()["detail"]["thresholds"]["1e-4"], 70.0);
    assert_eq!(r.data()["detail"]["far_level"], "1e-4");
    let pass_id = r.data()["verification_id"].as_str().unwrap().to_string();
    let r = compare(&photo("obama.jpg"), &photo("biden.jpg")).await;
    assert_eq!(
        (r.status.as_u16(), sub_code(&r), r.data()["passed"].as_bool()),
        (200, "204", Some(false)),
        "{}",
        r.json
    );

    // Input errors: each specific, and recorded.
    let grey = png(&image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])));
    let r = compare(&grey, &photo("obama.jpg")).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "NoFace"), "{}", r.json);
    assert!(r.json["message"].as_str().unwrap().starts_with("image_a: "), "{}", r.json);
    let r = compare(b"name,number\n", &photo("obama.jpg")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.UnsupportedFormat"), "{}", r.json);
    let jpeg = photo("obama.jpg");
    let r = compare(&jpeg[..jpeg.len() / 2], &jpeg).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.Truncated"), "{}", r.json);
    let bad = json!({ "scene_id": scene, "image_a": { "base64": "@@not base64@@" }, "image_b": b64(&jpeg) });
    let r = service.call("POST", "/v1/compare", Some(bad)).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidBase64"), "{}", r.json);
    let r = service.call("POST", "/v1/compare", Some(json!({ "scene_id": scene, "image_a": b64(&jpeg) }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "MissingImage"), "{}", r.json);
    let both = json!({ "scene_id": scene, "image_a": { "base64": "AAAA", "url": "http://example.com/a.jpg" }, "image_b": b64(&jpeg) });
    let r = service.call("POST", "/v1/compare", Some(both)).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "AmbiguousImage"), "{}", r.json);
    let r = service.call("POST", "/v1/compare", Some(json!({ "scene_id": 42 }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidJson"), "{}", r.json);
    let r = compare(&vec![0xAB_u8; 6 << 20], &jpeg).await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "InvalidImage.BytesTooLarge"), "{}", r.json);
    let r = service
        .call("POST", "/v1/compare", Some(json!({ "scene_id": "nope", "image_a": b64(&jpeg), "image_b": b64(&jpeg) })))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "SceneNotFound"), "{}", r.json);
    let r = service
        .call(
            "POST",
            "/v1/compare",
            Some(
                json!({ "scene_id": scene, "order_no": "x".repeat(65), "image_a": b64(&jpeg), "image_b": b64(&jpeg) }),
            ),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.OrderNo"), "{}", r.json);
    let r = service.send(service.request(&service.full, "POST", "/v1/compare", b"scene_id=x".to_vec())).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidJson"), "{}", r.json);

    // Image URLs: refused unless the scene allows them, and never to local addresses.
    let local_url = json!({ "url": "http://127.0.0.1:9/photo.jpg" });
    let r = service
        .call("POST", "/v1/compare", Some(json!({ "scene_id": scene, "image_a": local_url, "image_b": b64(&jpeg) })))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "ImageUrlNotAllowed"), "{}", r.json);
    let url_scene = service.scene(json!({ "allow_image_urls": true, "products": ["PV_FC"] })).await;
    let r = service
        .call(
            "POST",
            "/v1/compare",
            Some(json!({ "scene_id": url_scene, "image_a": local_url, "image_b": b64(&jpeg) })),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "ImageUrlForbidden"), "{}", r.json);
    let r = service.call("POST", "/v1/liveness", Some(json!({ "scene_id": url_scene, "image": b64(&jpeg) }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "ProductNotEnabled"), "{}", r.json);

    // Multipart upload.
    let r = service.send(multipart(&service, &scene, &[("image_a", "obama.jpg"), ("image_b", "obama2.jpg")])).await;
    assert_eq!((r.status.as_u16(), sub_code(&r)), (200, "200"), "{}", r.json);
    let r = service.send(multipart(&service, &scene, &[("image_a", "obama.jpg"), ("stray", "obama2.jpg")])).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter"), "{}", r.json);

    // LR_FR_MIN and attributes.
    let r = service.call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&jpeg) }))).await;
    assert_eq!((r.status.as_u16(), sub_code(&r)), (200, "200"), "{}", r.json);
    assert_eq!(r.data()["detail"]["pad_model"], "none");
    assert!(r.data()["quality_score"].as_f64().unwrap() >= 40.0);
    let blurred = png(&image::load_from_memory(&jpeg).unwrap().blur(12.0).to_rgb8());
    let r = service.call("POST", "/v1/liveness", Some(json!({ "scene_id": scene, "image": b64(&blurred) }))).await;
    assert_eq!((r.status.as_u16(), sub_code(&r)), (200, "206"), "{}", r.json);
    let r = service
        .call("POST", "/v1/attributes", Some(json!({ "scene_id": scene, "image": b64(&photo("biden.jpg")) })))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let face = &r.data()["detail"]["faces"][0];
    assert_eq!(face["gender"]["value"], "male", "{face}");
    assert_eq!(face["glasses"]["available"], false);
    assert!(r.data()["quality_score"].as_f64().is_some());

    // Element checks with the local registry.
    let elements = async |body: Value| service.call("POST", "/v1/elements", Some(body)).await;
    let r = elements(json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id })).await;
    assert_eq!((sub_code(&r), r.data()["product"].as_str()), ("200", Some("ID_2META")), "{}", r.json);
    assert_eq!(
        r.data()["detail"],
        json!({ "found": true, "name_match": true, "phone_match": null, "bank_card_match": null })
    );
    assert_eq!(sub_code(&elements(json!({ "scene_id": scene, "name": "赵六", "id_number": obama_id })).await), "201");
    let stranger = id_number("110101", "19900101", "777");
    let r = elements(json!({ "scene_id": scene, "name": "赵六", "id_number": stranger })).await;
    assert_eq!((sub_code(&r), &r.data()["detail"]), ("202", &json!({ "found": false })));
    let r =
        elements(json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id, "phone": "13800138000" })).await;
    assert_eq!((r.status.as_u16(), r.code()), (501, "ElementNotSupported"), "{}", r.json);
    let r = elements(
        json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id, "bank_card": "4111111111111112" }),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidBankCard.WrongCheckDigit"), "{}", r.json);
    let r =
        elements(json!({ "scene_id": scene, "name": "奥巴马", "id_number": obama_id, "phone": "1380013800" })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidPhone.WrongLength"), "{}", r.json);
    let r = elements(json!({ "scene_id": scene, "name": "", "id_number": obama_id })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidName.Empty"), "{}", r.json);

    // Records: masked listings, filters, detail with image links, deletion.
    let r = service.call("GET", &format!("/v1/records?id_number={obama_id}&product=ID_MIN"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let items = r.data()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3, "{}", r.json);
    // Each record keeps the name the caller claimed, masked.
    let mut names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["奥**", "奥**", "王*"]);
    assert!(items.iter().all(|i| i["id_number"].as_str().unwrap().contains("****")));
    assert!(!r.json.to_string().contains(&obama_id), "the full ID number never appears");
    let r = service.call("GET", "/v1/records?sub_code=InvalidIdNumber.WrongCheckCharacter", None).await;
    assert_eq!(r.data()["total"], 1, "invalid numbers are recorded too: {}", r.json);
    let failed = service.call("GET", &format!("/v1/records?passed=false&scene_id={scene}&page_size=100"), None).await;
    let passed = service.call("GET", &format!("/v1/records?passed=true&scene_id={scene}&page_size=100"), None).await;
    let total = service.call("GET", &format!("/v1/records?scene_id={scene}&page_size=1"), None).await;
    assert_eq!(
        failed.data()["total"].as_i64().unwrap() + passed.data()["total"].as_i64().unwrap(),
        total.data()["total"].as_i64().unwrap()
    );
    assert_eq!(total.data()["items"].as_array().unwrap().len(), 1);
    let r = service.call("GET", "/v1/records?order_no=cmp-1&passed=true", None).await;
    assert_eq!(r.data()["items"][0]["verification_id"], pass_id.as_str());
    assert_eq!(service.call("GET", "/v1/records?from=yesterday", None).await.code(), "InvalidParameter.Time");
    assert_eq!(service.call("GET", "/v1/records?product=PV_XX", None).await.code(), "InvalidParameter.Product");
    assert_eq!(service.call("GET", "/v1/records?colour=red", None).await.code(), "InvalidParameter");

    let detail = service.call("GET", &format!("/v1/records/{pass_id}"), None).await;
    let links = detail.data()["images"].as_array().unwrap().clone();
    assert_eq!(links.len(), 2, "{}", detail.json);
    let image = service.send(get(links[0].as_str().unwrap())).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.headers["content-type"], "image/jpeg");
    // The photo comes back as sent, less its metadata: the same pixels, no camera, no EXIF.
    let original = photo("obama.jpg");
    assert!(original.windows(5).any(|w| w == b"Canon") && !image.bytes.windows(5).any(|w| w == b"Canon"));
    assert_eq!(
        image::load_from_memory(&image.bytes).unwrap().to_rgb8(),
        image::load_from_memory(&original).unwrap().to_rgb8()
    );
    let tampered = links[0].as_str().unwrap().replace("expires=", "expires=9");
    assert_eq!(service.send(get(&tampered)).await.status, 403);
    // Stored images are encrypted: the photo's bytes are nowhere in the data directory.
    let images_dir = service.data_dir.join("images");
    let stored = walk(&images_dir);
    assert!(!stored.iter().any(|f| std::fs::read(f).unwrap().windows(64).any(|w| w == &jpeg[1000..1064])));
    let r = service.call("DELETE", &format!("/v1/records/{pass_id}"), None).await;
    assert_eq!((r.status.as_u16(), r.data()["images_deleted"].as_i64()), (200, Some(2)), "{}", r.json);
    assert_eq!(walk(&images_dir).len(), stored.len() - 2);
    assert_eq!(service.call("GET", &format!("/v1/records/{pass_id}"), None).await.status, 404);
    assert_eq!(service.call("DELETE", &format!("/v1/records/{pass_id}"), None).await.code(), "NotFound");

    // Statistics: 7 days, 30 days, custom up to 180 days.
    let r = service.call("GET", &format!("/v1/statistics?scene_id={scene}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let totals = &r.data()["totals"];
    assert!(totals["submissions"].as_i64().unwrap() >= 20, "{totals}");
    assert_eq!(
        totals["passes"].as_i64().unwrap() + totals["failures"].as_i64().unwrap(),
        totals["submissions"].as_i64().unwrap()
    );
    assert!(totals["pass_rate"].as_f64().unwrap() > 0.0);
    assert!(totals["comparisons"].as_i64().unwrap() >= 4);
    assert_eq!(service.call("GET", "/v1/statistics?range=30d", None).await.status, 200);
    assert_eq!(
        service.call("GET", "/v1/statistics?range=custom&from=2026-01-01&to=2026-06-29", None).await.status,
        200
    );
    let r = service.call("GET", "/v1/statistics?range=custom&from=2026-01-01&to=2026-06-30", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.Range"), "{}", r.json);

    // Reads of records and images are audited.
    let log = service.call("GET", "/v1/audit?page_size=200", None).await;
    let actions: Vec<&str> =
        log.data()["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["record.read", "image.read", "record.delete", "record.list"] {
        assert!(actions.contains(&action), "{action} not audited: {actions:?}");
    }

    // Scenes: update, validation, delete.
    let renamed = json!({ "name": "renamed", "settings": { "retention_days": 7 } });
    let r = service.call("PUT", &format!("/v1/scenes/{url_scene}"), Some(renamed)).await;
    assert_eq!((r.status.as_u16(), r.data()["settings"]["retention_days"].as_i64()), (200, Some(7)), "{}", r.json);
    let r = service
        .call(
            "PUT",
            &format!("/v1/scenes/{url_scene}"),
            Some(json!({ "name": "x", "settings": { "retention_days": 99999 } })),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.RetentionDays"));
    let r = service.call("POST", "/v1/scenes", Some(json!({ "name": "", "settings": {} }))).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.Name"));
    let r = service
        .call("POST", "/v1/scenes", Some(json!({ "name": "x", "settings": { "liveness": { "min_quality": 120 } } })))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.Liveness"));
    assert_eq!(service.call("DELETE", &format!("/v1/scenes/{url_scene}"), None).await.status, 200);
    assert_eq!(service.call("GET", &format!("/v1/scenes/{url_scene}"), None).await.code(), "NotFound");
    assert_eq!(service.call("GET", "/v1/nothing-here", None).await.code(), "NotFound");
}

fn get(path: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap()
}

/// A signed multipart form with `scene_id` and the given files.
fn multipart(service: &Service, scene: &str, files: &[(&str, &str)]) -> axum::http::Request<axum::body::Body> {
    let boundary = "shirenboundary";
    let mut form =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"scene_id\"\r\n\r\n{scene}\r\n").into_bytes();
    for (field, name) in files {
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        form.extend_from_slice(&photo(name));
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let headers = service.full.sign(&shiren_auth::SignParams {
        method: "POST",
        host: HOST,
        path: "/v1/compare",
        query: &shiren_auth::QueryParams::new(),
        body: &form,
        action: "Request",
        version: "v1",
        extra_headers: &[("content-type".to_string(), format!("multipart/form-data; boundary={boundary}"))],
    });
    let mut request = axum::http::Request::post("/v1/compare");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(axum::body::Body::from(form)).unwrap()
}
