//! ID_OCR and BANKCARD_OCR through the API, in process: the specimen card read field by field,
//! the record keeping the fields masked (and findable by the ID number), a generated foreigner's
//! permanent residence card read with its own fields, and bad input: no image, a blank photo, a
//! photo of a face, a truncated image, a tiny image.

use serde_json::json;

use crate::common::*;

fn field<'a>(r: &'a Reply, side: &str, name: &str) -> &'a str {
    r.data()["detail"][side][name]["text"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specimen_card_is_read_and_recorded_masked() {
    let _heavy = CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let specimen = photo("idcard-specimen.jpg");
    let body =
        json!({ "scene_id": scene, "front_image": b64(&specimen), "return_portrait": true, "order_no": "ocr-1" });
    let r = service.call("POST", "/v1/ocr/idcard", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.data()["product"], "ID_OCR");
    assert_eq!(r.data()["detail"]["document"], "resident_id_card", "{}", r.json);
    for (name, want) in [
        ("name", "二哈"),
        ("sex", "男"),
        ("ethnicity", "汉"),
        ("birth_date", "2015-03-08"),
        ("address", "河南省安阳市文峰区"),
        ("id_number", "410502201503081234"),
    ] {
        assert_eq!(field(&r, "front", name), want, "{}", r.json);
    }
    // The specimen's portrait is a dog: no face, which is a warning; the tight crop has no
    // outline around it. Neither refuses a card whose fields all read and agree.
    let warnings: Vec<&str> =
        r.data()["detail"]["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    assert!(warnings.contains(&"portrait_missing") && warnings.contains(&"incomplete_border"), "{warnings:?}");
    assert_eq!(r.data()["sub_code"], "200", "{}", r.json);
    assert_eq!(r.data()["passed"], true);
    assert!(r.data()["detail"]["checks"].as_array().unwrap().iter().all(|c| c["passed"] == true), "{}", r.json);
    let portrait = r.data()["detail"]["portrait"]["jpeg_base64"].as_str().expect("a portrait");
    assert!(portrait.len() > 1000);

    // The record: masked fields, no portrait, found by the full ID number.
    let id = r.data()["verification_id"].as_str().unwrap().to_string();
    let record = service.call("GET", &format!("/v1/records/{id}"), None).await;
    assert_eq!(record.status, 200, "{}", record.json);
    let text = record.json.to_string();
    for secret in ["二哈", "410502201503081234", "文峰区", "03-08", "jpeg_base64"] {
        assert!(!text.contains(secret), "{secret} in the record: {text}");
    }
    let found = service.call("GET", "/v1/records?id_number=410502201503081234&product=ID_OCR", None).await;
    assert_eq!(found.data()["items"].as_array().map(Vec::len), Some(1), "{}", found.json);

    // The same card upside down, given as the "back": recognised as a front all the same.
    let upside_down = image::load_from_memory(&specimen).unwrap().to_rgb8();
    let upside_down = image::imageops::rotate180(&upside_down);
    let body = json!({ "scene_id": scene, "back_image": b64(&png(&upside_down)) });
    let r = service.call("POST", "/v1/ocr/idcard", Some(body)).await;
    assert_eq!(field(&r, "front", "id_number"), "410502201503081234", "{}", r.json);
    assert_eq!(r.data()["detail"]["photos"][0]["rotation"], 180, "{}", r.json);
}

/// A generated 2023-edition foreigner's card, both sides: its own fields answered, every check
/// passed, the names and the number masked in the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreigners_permanent_residence_card_is_read() {
    use shiren_cardsynth::{ForeignEdition, PhotoSettings, photograph};
    let _heavy = CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let synth = crate::id_plus::synth(&service);
    let truth = synth.foreign_card_truth(1, ForeignEdition::Of2023);
    let portrait = image::load_from_memory(&photo("obama.jpg")).expect("the portrait").to_rgb8();
    let settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
    let front = photograph(&synth.render_foreign_front(&truth, &portrait), 1, &settings).expect("the front");
    let back = photograph(&synth.render_foreign_back(&truth), 101, &settings).expect("the back");
    let body = json!({ "scene_id": scene, "front_image": b64(&front.jpeg), "back_image": b64(&back.jpeg) });
    let r = service.call("POST", "/v1/ocr/idcard", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.data()["detail"]["document"], "foreign_permanent_resident_card", "{}", r.json);
    for (name, want) in [
        ("name", truth.chinese_name.as_str()),
        ("english_name", &truth.english_name),
        ("sex", &truth.sex),
        ("birth_date", &truth.birth),
        ("nationality", &truth.nationality),
        ("nationality_code", &truth.nationality_code),
        ("valid_from", &truth.valid_from),
        ("valid_until", &truth.valid_until),
        ("id_number", &truth.id_number),
    ] {
        assert_eq!(field(&r, "front", name), want, "{name}: {}", r.json);
    }
    assert_eq!(field(&r, "back", "issuing_authority"), truth.authority, "{}", r.json);
    let checks: Vec<&str> =
        r.data()["detail"]["checks"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(checks.contains(&"validity_period") && checks.contains(&"birth_date"), "{checks:?}");
    assert!(r.data()["detail"]["checks"].as_array().unwrap().iter().all(|c| c["passed"] == true), "{}", r.json);
    assert_eq!(r.data()["sub_code"], "200", "{}", r.json);

    let id = r.data()["verification_id"].as_str().unwrap().to_string();
    let record = service.call("GET", &format!("/v1/records/{id}"), None).await;
    let text = record.json.to_string();
    let (family, given) = truth.english_name.split_once(", ").expect("SURNAME, GIVEN");
    let after_first = |text: &str| text.chars().skip(1).collect::<String>();
    for secret in [after_first(&truth.id_number), after_first(&truth.chinese_name), after_first(family), given.into()] {
        assert!(!text.contains(secret.as_str()), "{secret} in the record: {text}");
    }
    assert!(text.contains(&truth.nationality), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_card_photos_get_clear_answers() {
    let _heavy = CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let call = async |path: &str, body: serde_json::Value| service.call("POST", path, Some(body)).await;

    let r = call("/v1/ocr/idcard", json!({ "scene_id": scene })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "MissingImage"), "{}", r.json);
    let r = call("/v1/ocr/bankcard", json!({ "scene_id": scene })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "MissingImage"), "{}", r.json);

    // A blank photo and a photo of a face are no ID card: recorded as unreadable (209).
    let blank = png(&image::RgbImage::from_pixel(800, 500, image::Rgb([235, 235, 235])));
    for image in [blank.clone(), photo("obama.jpg")] {
        let r = call("/v1/ocr/idcard", json!({ "scene_id": scene, "front_image": b64(&image) })).await;
        assert_eq!((r.status.as_u16(), r.data()["sub_code"].as_str()), (200, Some("209")), "{}", r.json);
        let codes: Vec<&str> =
            r.data()["detail"]["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
        assert!(codes.contains(&"not_an_id_card"), "{codes:?}");
    }
    let r = call("/v1/ocr/bankcard", json!({ "scene_id": scene, "image": b64(&blank) })).await;
    assert_eq!((r.status.as_u16(), r.data()["sub_code"].as_str()), (200, Some("209")), "{}", r.json);

    // Broken images are refused with the decoder's own codes, before any OCR.
    let jpeg = photo("obama.jpg");
    let r = call("/v1/ocr/idcard", json!({ "scene_id": scene, "front_image": b64(&jpeg[..jpeg.len() / 2]) })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.Truncated"), "{}", r.json);
    let tiny = png(&image::RgbImage::from_pixel(6, 6, image::Rgb([0, 0, 0])));
    let r = call("/v1/ocr/bankcard", json!({ "scene_id": scene, "image": b64(&tiny) })).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.json);
    let r = call("/v1/ocr/idcard", json!({ "scene_id": scene, "front_image": { "base64": "%%%not base64" } })).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.json);
}
