//! ID_PLUS through the API, as the capture page drives it: generated ID cards (shiren-cardsynth,
//! with the actor's own photo as the card's portrait) photographed for the card steps, then a
//! generated performance (shiren-synth) for the liveness challenge. The hints a person gets for
//! a wrong side or no card, the order the steps are enforced in, the verdict with both scores
//! and the card's fields (in full for the caller, masked in the record), a greyscale copy that
//! passes the card steps and fails the verdict, another person than the card's, and a session
//! that runs out of card photos.

use std::sync::OnceLock;

use serde_json::{Value, json};
use shiren_cardsynth::{CardSynth, Fonts, IdCardTruth, PhotoSettings, Variant, photograph};
use shiren_synth::perform::{self, Style};
use shiren_synth::{Actor, Camera};
use shiren_verify::sessions::Challenge;

use crate::common::{CPU_HEAVY, Reply, Service, photo, png};
use crate::products::import;
use crate::sessions::{Session, age_challenge, consent, create, page, start, upload};

/// A card whose photographs read whole at the first try (the card is large and sharp in both).
const CARD_SEED: u64 = 4;

pub(crate) fn synth(service: &Service) -> &'static CardSynth {
    static SYNTH: OnceLock<CardSynth> = OnceLock::new();
    SYNTH.get_or_init(|| {
        CardSynth::new(Fonts::discover().expect("the CJK fonts"), &service.services().regions).expect("a card synth")
    })
}

/// The card's two sides photographed (front, back), as JPEG.
fn card_photos(service: &Service, truth: &IdCardTruth, variant: Variant) -> (Vec<u8>, Vec<u8>) {
    let synth = synth(service);
    let portrait = image::load_from_memory(&photo("obama.jpg")).expect("the portrait").to_rgb8();
    let settings = PhotoSettings { variant, ..PhotoSettings::default() };
    let front = photograph(&synth.render_id_front(truth, &portrait), CARD_SEED, &settings).expect("the front");
    let back = photograph(&synth.render_id_back(truth), CARD_SEED + 1, &settings).expect("the back");
    (front.jpeg, back.jpeg)
}

/// The same photographs as another camera exposure would give them: the same picture, other
/// bytes (a photo accepted in one session is a replay in another).
fn retaken(cards: &(Vec<u8>, Vec<u8>), exposure: u8) -> (Vec<u8>, Vec<u8>) {
    let again = |jpeg: &[u8]| {
        let mut picture = image::load_from_memory(jpeg).expect("a card photo").to_rgb8();
        let corner = picture.get_pixel_mut(0, 0);
        corner.0[0] = corner.0[0].wrapping_add(exposure);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92).encode_image(&picture).expect("JPEG");
        out
    };
    (again(&cards.0), again(&cards.1))
}

async fn card(service: &Service, s: &Session, side: &str, jpeg: Vec<u8>) -> Reply {
    page(service, "POST", &format!("/h5/{}/card/{side}", s.token), "image/jpeg", jpeg).await
}

fn hints(r: &Reply) -> Vec<String> {
    r.data()["hints"]
        .as_array()
        .map(|h| h.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Both card sides accepted, then the challenge performed by `actor`: the verification.
async fn through(service: &Service, scene: &str, cards: (Vec<u8>, Vec<u8>), actor: &Actor, seed: u64) -> Value {
    let s = create(service, json!({ "scene_id": scene, "product": "ID_PLUS", "liveness": "LIVENESS" })).await;
    consent(service, &s).await;
    let r = card(service, &s, "front", cards.0).await;
    assert_eq!((r.status.as_u16(), &r.data()["accepted"]), (200, &json!(true)), "{}", r.json);
    assert_eq!(r.data()["next"], "back", "{}", r.json);
    let r = card(service, &s, "back", cards.1).await;
    assert_eq!((r.status.as_u16(), &r.data()["accepted"]), (200, &json!(true)), "{}", r.json);
    assert_eq!(r.data()["next"], "liveness", "{}", r.json);
    let r = start(service, &s).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let challenge: Challenge = serde_json::from_value(r.data()["challenge"].clone()).expect("a challenge");
    let nonce = r.data()["nonce"].as_str().expect("nonce").to_string();
    let style = Style::default();
    let moves = perform::moves_for(&challenge, &style);
    let camera = Camera { seed, ..Camera::default() };
    let film = tokio::task::block_in_place(|| {
        perform::film(|_| actor, &camera, &moves, &[], &style, f64::from(challenge.duration_ms), 15.0)
    });
    age_challenge(service, &s, film.times_ms.last().copied().unwrap_or(0.0) as i64 + 1500).await;
    let r = upload(service, &s, &nonce, &film.times_ms, &film.frames).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(v.data()["state"], "finished", "{}", v.json);
    let m = &v.data()["material"];
    println!(
        "ID_PLUS: sub_code {} score {} similarity {} authority score {} warnings {}",
        v.data()["sub_code"],
        v.data()["score"],
        m["similarity"],
        m["authority_score"],
        m["document"]["warnings"]
    );
    v.data().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_plus_reads_the_card_then_compares_the_live_face_with_its_portrait() {
    let _heavy = CPU_HEAVY.write().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "store_images": true, "id_plus": { "compare_with_authority": true } })).await;
    let truth = synth(&service).id_card_truth(CARD_SEED);
    import(&service, &truth.name, &truth.id_number, Some(&photo("obama.jpg"))).await;
    let (front, back) = card_photos(&service, &truth, Variant::Clean);
    let obama = Actor::from_photo(&service.services().engine, &photo("obama2.jpg")).expect("an actor");
    let biden = Actor::from_photo(&service.services().engine, &photo("biden.jpg")).expect("an actor");

    // The steps in order: no challenge before both sides, the wrong side and no card are hints.
    let s = create(&service, json!({ "scene_id": scene, "product": "ID_PLUS", "liveness": "LIVENESS" })).await;
    consent(&service, &s).await;
    let session = page(&service, "GET", &format!("/h5/{}/session", s.token), "", Vec::new()).await;
    assert_eq!(session.data()["cards"], json!({ "front": false, "back": false, "photos_left": 8 }), "{}", session.json);
    let r = start(&service, &s).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "CardsRequired"), "{}", r.json);
    let r = card(&service, &s, "back", front.clone()).await;
    assert_eq!(r.data()["accepted"], false, "{}", r.json);
    assert_eq!(hints(&r), ["wrong_side"], "{}", r.json);
    let blank = png(&image::RgbImage::from_pixel(1280, 960, image::Rgb([120, 110, 100])));
    let r = card(&service, &s, "front", blank).await;
    assert_eq!(hints(&r), ["no_card"], "{}", r.json);
    assert_eq!(r.data()["photos_left"], 6, "{}", r.json);
    let r = card(&service, &s, "middle", front.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidParameter"), "{}", r.json);

    // The whole walk: both scores pass; the caller gets the fields in full, the record masked.
    let v = through(&service, &scene, (front.clone(), back.clone()), &obama, 11).await;
    assert_eq!(v["sub_code"], "200", "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert!(v["score"].as_f64().is_some_and(|s| s > 70.0), "{v}");
    assert!(v["material"]["authority_score"].as_f64().is_some_and(|s| s > 70.0), "{v}");
    let fields = &v["document"]["front"];
    assert_eq!(fields["id_number"]["text"], truth.id_number.as_str(), "{v}");
    assert_eq!(fields["name"]["text"], truth.name.as_str(), "{v}");
    assert_eq!(v["document"]["back"]["issuing_authority"]["text"], truth.authority.as_str(), "{v}");
    assert_eq!(v["images"].as_array().map(Vec::len), Some(3), "both sides and the best frame: {v}");
    let id = v["verification_id"].as_str().unwrap().to_string();
    let read_only = service.call_as(&service.readonly.clone(), "GET", &format!("/v1/verifications/{id}"), None).await;
    assert_eq!(read_only.data()["document"], Value::Null, "read-only keys see the masked record only");
    assert!(!read_only.json.to_string().contains(&truth.id_number), "{}", read_only.json);
    let record = service.call("GET", &format!("/v1/records/{id}"), None).await;
    let text = record.json.to_string();
    assert!(!text.contains(&truth.id_number) && !text.contains(&truth.address), "the record is masked: {text}");
    let found = service.call("GET", &format!("/v1/records?id_number={}&product=ID_PLUS", truth.id_number), None).await;
    assert_eq!(found.data()["items"].as_array().map(Vec::len), Some(1), "{}", found.json);

    // Another person holding this card.
    let cards = (front.clone(), back.clone());
    let v = through(&service, &scene, retaken(&cards, 1), &biden, 12).await;
    assert_eq!(v["sub_code"], "204", "{v}");

    // The first session's very photos sent again: a replay, whoever performs.
    let v = through(&service, &scene, cards, &obama, 14).await;
    assert_eq!(v["sub_code"], "208", "{v}");
    assert_eq!(v["document"]["replayed_photos"], 2, "{v}");

    // A greyscale copy of the card: nothing tells the page, the verdict is a document risk.
    let copies = card_photos(&service, &truth, Variant::GreyscaleCopy);
    let v = through(&service, &scene, copies, &obama, 13).await;
    assert_eq!(v["sub_code"], "208", "{v}");
    let warnings = v["document"]["warnings"].to_string();
    assert!(warnings.contains("greyscale_copy"), "{warnings}");

    // Erasing the first verification's record erases the card fields its session held.
    let erased = service.call("DELETE", &format!("/v1/records/{id}"), None).await;
    assert_eq!(erased.status, 200, "{}", erased.json);
    let after = service.call("GET", &format!("/v1/verifications/{id}"), None).await;
    assert_eq!(after.data()["document"], Value::Null, "{}", after.json);
    assert!(!after.json.to_string().contains(&truth.id_number), "{}", after.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_out_of_card_photos_ends_unread() {
    let _heavy = CPU_HEAVY.read().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({ "id_plus": { "max_card_photos": 2 } })).await;
    let s = create(&service, json!({ "scene_id": scene, "product": "ID_PLUS", "liveness": "LIVENESS" })).await;
    // Before consent the card steps are closed.
    let blank = png(&image::RgbImage::from_pixel(640, 480, image::Rgb([200, 200, 200])));
    let r = card(&service, &s, "front", blank.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "ConsentRequired"), "{}", r.json);
    consent(&service, &s).await;
    let r = card(&service, &s, "front", photo("obama.jpg")).await;
    assert_eq!((r.data()["accepted"].clone(), r.data()["next"].clone()), (json!(false), json!("front")), "{}", r.json);
    let r = card(&service, &s, "front", blank.clone()).await;
    assert_eq!(r.data()["next"], "finished", "{}", r.json);
    assert_eq!(r.data()["result"]["reason"], "document", "{}", r.json);
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!((&v.data()["state"], &v.data()["sub_code"]), (&json!("finished"), &json!("209")), "{}", v.json);
    let r = card(&service, &s, "front", blank).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "SessionAlreadyUsed"), "{}", r.json);

    // Broken and oversized photos get the decoder's and the limit's answers, and other
    // products have no card step.
    let s = create(&service, json!({ "scene_id": scene, "product": "ID_PLUS", "liveness": "LIVENESS" })).await;
    consent(&service, &s).await;
    let jpeg = photo("obama.jpg");
    let r = card(&service, &s, "front", jpeg[..jpeg.len() / 2].to_vec()).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.Truncated"), "{}", r.json);
    let r = card(&service, &s, "front", vec![0xFF; shiren_verify::sessions::cards::MAX_CARD_BYTES + 10]).await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.json);
    // Broken photos count against the allowance (decoding them costs as much as a card): the
    // second uses it up, and the next request ends the session unread.
    let r = card(&service, &s, "front", jpeg[..jpeg.len() / 3].to_vec()).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidImage.Truncated"), "{}", r.json);
    let r = card(&service, &s, "front", jpeg.clone()).await;
    assert_eq!(
        (r.data()["next"].clone(), r.data()["photos_left"].clone()),
        (json!("finished"), json!(0)),
        "{}",
        r.json
    );
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(v.data()["sub_code"], "209", "{}", v.json);
    let lr = create(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS" })).await;
    consent(&service, &lr).await;
    let r = card(&service, &lr, "front", jpeg).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "InvalidOperation.NoCardStep"), "{}", r.json);
}
