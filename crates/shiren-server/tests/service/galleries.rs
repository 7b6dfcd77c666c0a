//! Face galleries and 1:N search through the API: enrolment, search among synthetic faces past
//! the flat-scan limit (so the binary-code screen answers), removal, the duplicate-identity check, bad
//! input, read-only keys, and two nodes on one database.

use serde_json::{Value, json};
use shiren_index::synthetic;
use shiren_server::config::ServerConfig;
use shiren_store::NewFace;

use crate::common::{Service, b64, models, photo, png};

async fn gallery(service: &Service, name: &str) -> String {
    let r = service.call("POST", "/v1/galleries", Some(json!({ "name": name }))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.data()["id"].as_str().expect("gallery id").to_string()
}

async fn enrol(service: &Service, gallery: &str, external_id: &str, name: &str) -> i64 {
    let r = service
        .call(
            "POST",
            &format!("/v1/galleries/{gallery}/faces"),
            Some(json!({ "external_id": external_id, "image": b64(&photo(name)) })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.data()["face_id"].as_i64().expect("face id")
}

async fn search(service: &Service, scene: &str, galleries: &[&str], name: &str) -> Value {
    let r = service
        .call(
            "POST",
            "/v1/search",
            Some(json!({ "scene_id": scene, "gallery_ids": galleries, "image": b64(&photo(name)) })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.data().clone()
}

/// Synthetic faces (clusters on the sphere at ArcFace's spread), straight into the store.
async fn fill(service: &Service, gallery: &str, identities: u32) -> usize {
    let synthetic = synthetic::Gallery::generate(identities, 2..=4, 7);
    let faces: Vec<(String, Vec<u8>)> = synthetic
        .faces()
        .iter()
        .map(|f| (format!("synthetic-{}", f.identity), f.vector.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    for chunk in faces.chunks(2000) {
        let batch: Vec<NewFace> =
            chunk.iter().map(|(person, template)| NewFace::template_only(gallery, person, template)).collect();
        service.services().store.add_faces(&batch).await.expect("synthetic faces stored");
    }
    faces.len()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    shiren_face::cosine(a, b)
}

#[tokio::test]
async fn search_finds_the_same_person_among_many_and_forgets_removed_faces() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let staff = gallery(&service, "staff").await;
    let obama = enrol(&service, &staff, "obama", "obama.jpg").await;
    let obama3 = enrol(&service, &staff, "obama", "obama3.jpg").await;
    enrol(&service, &staff, "biden", "biden.jpg").await;
    let synthetic = fill(&service, &staff, 1_000).await;
    assert!(synthetic > shiren_index::gallery::EXACT_LIMIT, "past the flat scan: {synthetic}");

    let described = service.call("GET", &format!("/v1/galleries/{staff}"), None).await;
    assert_eq!(described.status, 200, "{}", described.json);
    assert_eq!(described.data()["faces"], json!(synthetic + 3));
    assert_eq!(described.data()["index"]["kind"], "screened", "{}", described.json);
    assert_eq!(described.data()["thresholds"].as_array().map(Vec::len), Some(3));

    // Rank 1 is Obama, with the similarity a 1:1 comparison gives.
    let engine = &service.services().engine;
    let probe = engine.subject_embedding(&photo("obama2.jpg")).expect("probe").0;
    let reference = engine.subject_embedding(&photo("obama.jpg")).expect("reference").0;
    let reference3 = engine.subject_embedding(&photo("obama3.jpg")).expect("reference").0;
    let found = search(&service, &scene, &[&staff], "obama2.jpg").await;
    assert!(found["passed"].as_bool().unwrap(), "{found}");
    let top = &found["detail"]["candidates"][0];
    assert_eq!(top["external_id"], "obama", "{found}");
    let direct = cosine(&probe, &reference).max(cosine(&probe, &reference3));
    let similarity = top["similarity"].as_f64().unwrap() as f32;
    assert!((similarity - direct).abs() < 1e-3, "search {similarity} vs 1:1 {direct}");
    assert!(top["matched"].as_bool().unwrap());
    let best_face = top["face_id"].as_i64().unwrap();
    assert!(best_face == obama || best_face == obama3);

    // Biden finds no Obama above the threshold.
    let biden = search(&service, &scene, &[&staff], "biden.jpg").await;
    for candidate in biden["detail"]["candidates"].as_array().unwrap() {
        if candidate["external_id"] == "obama" {
            assert!(!candidate["matched"].as_bool().unwrap(), "{biden}");
        }
    }
    assert_eq!(biden["detail"]["candidates"][0]["external_id"], "biden", "{biden}");

    // Removing a face removes it from the answers at once.
    let r = service.call("DELETE", &format!("/v1/galleries/{staff}/faces/{best_face}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let again = search(&service, &scene, &[&staff], "obama2.jpg").await;
    for candidate in again["detail"]["candidates"].as_array().unwrap() {
        assert_ne!(candidate["face_id"].as_i64(), Some(best_face), "{again}");
    }

    // The record keeps person ids, not the caller's external ids.
    let record =
        service.call("GET", &format!("/v1/records/{}", again["verification_id"].as_str().unwrap()), None).await;
    assert_eq!(record.status, 200, "{}", record.json);
    assert!(!record.json.to_string().contains("\"external_id\""), "{}", record.json);
}

#[tokio::test]
async fn duplicate_check_names_other_identities_only() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let customers = gallery(&service, "customers").await;
    enrol(&service, &customers, "cust-1", "obama.jpg").await;
    enrol(&service, &customers, "cust-2", "biden.jpg").await;

    let check = |external_id: &'static str| {
        let service = &service;
        let scene = scene.clone();
        let customers = customers.clone();
        async move {
            let body = json!({ "scene_id": scene, "gallery_id": customers, "external_id": external_id, "image": b64(&photo("obama2.jpg")) });
            let r = service.call("POST", "/v1/duplicates", Some(body)).await;
            assert_eq!(r.status, 200, "{}", r.json);
            r.data().clone()
        }
    };
    let applicant = check("cust-9").await;
    assert_eq!(applicant["passed"], false, "{applicant}");
    assert_eq!(applicant["sub_code"], "210");
    assert_eq!(applicant["detail"]["duplicates"][0]["external_id"], "cust-1");
    let same = check("cust-1").await;
    assert_eq!(same["passed"], true, "{same}");
    assert_eq!(same["detail"]["same_identity"][0]["external_id"], "cust-1");
    assert!(same["detail"]["duplicates"].as_array().unwrap().is_empty());

    let neither = service
        .call(
            "POST",
            "/v1/duplicates",
            Some(json!({ "scene_id": scene, "gallery_id": customers, "image": b64(&photo("obama2.jpg")) })),
        )
        .await;
    assert_eq!((neither.status.as_u16(), neither.code()), (400, "MissingParameter.Identity"), "{}", neither.json);
}

#[tokio::test]
async fn bad_gallery_input_gets_specific_errors() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let empty = gallery(&service, "empty").await;
    let taken = service.call("POST", "/v1/galleries", Some(json!({ "name": "empty" }))).await;
    assert_eq!((taken.status.as_u16(), taken.code()), (409, "GalleryAlreadyExists"));

    let searched = |galleries: Value, top_k: Value, image: Value| {
        let service = &service;
        let scene = scene.clone();
        async move {
            let mut body = json!({ "scene_id": scene, "gallery_ids": galleries, "image": image });
            if !top_k.is_null() {
                body["top_k"] = top_k;
            }
            service.call("POST", "/v1/search", Some(body)).await
        }
    };
    let face = b64(&photo("obama.jpg"));
    let r = searched(json!(["nope"]), Value::Null, face.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "GalleryNotFound"), "{}", r.json);
    let r = searched(json!([empty]), Value::Null, face.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "GalleryEmpty"), "{}", r.json);
    enrol(&service, &empty, "someone", "obama.jpg").await;
    for top_k in [json!(0), json!(101)] {
        let r = searched(json!([empty]), top_k, face.clone()).await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.TopK"), "{}", r.json);
    }
    let r = searched(json!([empty]), json!(-1), face.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidJson"), "{}", r.json);
    let blank = png(&image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])));
    let r = searched(json!([empty]), Value::Null, b64(&blank)).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "NoFace"), "{}", r.json);

    // Enrolment: no face, the same photo twice, a bad external id, unknown person and face.
    let add = |body: Value| {
        let service = &service;
        let empty = empty.clone();
        async move { service.call("POST", &format!("/v1/galleries/{empty}/faces"), Some(body)).await }
    };
    let r = add(json!({ "external_id": "x", "image": b64(&blank) })).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "NoFace"), "{}", r.json);
    let r = add(json!({ "external_id": "other", "image": face.clone() })).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "FaceAlreadyEnrolled"), "{}", r.json);
    let r = add(json!({ "external_id": " padded", "image": b64(&photo("obama2.jpg")) })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.ExternalId"), "{}", r.json);
    let r = add(json!({ "external_id": "y", "attributes": [1, 2], "image": b64(&photo("obama2.jpg")) })).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter.Attributes"), "{}", r.json);
    let r = service.call("DELETE", &format!("/v1/galleries/{empty}/faces/999999"), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "FaceNotFound"), "{}", r.json);
    let r = service.call("DELETE", &format!("/v1/galleries/{empty}/persons/gpnope"), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "PersonNotFound"), "{}", r.json);

    // Read-only keys search but change nothing.
    let body = json!({ "scene_id": scene, "gallery_ids": [empty], "image": face });
    let r = service.call_as(&service.readonly.clone(), "POST", "/v1/search", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let body = json!({ "external_id": "z", "image": b64(&photo("obama3.jpg")) });
    let r =
        service.call_as(&service.readonly.clone(), "POST", &format!("/v1/galleries/{empty}/faces"), Some(body)).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "Forbidden.ReadOnlyKey"), "{}", r.json);
    let r = service.call_as(&service.readonly.clone(), "DELETE", &format!("/v1/galleries/{empty}"), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "Forbidden.ReadOnlyKey"), "{}", r.json);

    // A person's attributes come back to a full read, which is audited.
    let r = add(
        json!({ "external_id": "with-attrs", "attributes": { "branch": "north" }, "image": b64(&photo("biden.jpg")) }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let person = r.data()["person_id"].as_str().unwrap().to_string();
    let r = service.call("GET", &format!("/v1/galleries/{empty}/persons/{person}"), None).await;
    assert_eq!(r.data()["attributes"]["branch"], "north", "{}", r.json);
    assert_eq!(r.data()["faces"].as_array().map(Vec::len), Some(1));
    let audit = service.call("GET", "/v1/audit?page_size=100", None).await;
    assert_eq!(audit.status, 200, "{}", audit.json);
    assert!(audit.json.to_string().contains("gallery.person.read"), "{}", audit.json);
    assert!(audit.json.to_string().contains(&person), "{}", audit.json);

    let r = service.call("DELETE", &format!("/v1/galleries/{empty}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = searched(json!([empty]), Value::Null, b64(&photo("obama.jpg"))).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "GalleryNotFound"), "{}", r.json);
}

/// Two nodes on one database: what one enrols the other finds, what one removes the other
/// forgets at once.
#[tokio::test]
async fn two_nodes_on_one_database_agree() {
    let first = Service::start(|_| {}).await;
    let shared = first.data_dir.clone();
    let second = Service::start(move |config: &mut ServerConfig| config.data_dir = shared).await;
    let scene = first.scene(json!({})).await;
    let staff = gallery(&first, "staff").await;
    enrol(&first, &staff, "biden", "biden.jpg").await;
    let face = enrol(&first, &staff, "obama", "obama.jpg").await;

    let found = search(&second, &scene, &[&staff], "obama2.jpg").await;
    assert_eq!(found["detail"]["candidates"][0]["face_id"].as_i64(), Some(face), "{found}");
    let r = first.call("DELETE", &format!("/v1/galleries/{staff}/faces/{face}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let again = search(&second, &scene, &[&staff], "obama2.jpg").await;
    assert!(
        again["detail"]["candidates"].as_array().unwrap().iter().all(|c| c["face_id"].as_i64() != Some(face)),
        "{again}"
    );
    // And a restarted node builds the same index from the database.
    let shared = first.data_dir.clone();
    let third = Service::start(move |config: &mut ServerConfig| config.data_dir = shared).await;
    assert_eq!(third.services().galleries.info(&staff).faces, 1);
    let _ = models();
}
