//! Interactive liveness judged on generated performances: people made from the test photos
//! (shiren-synth) answer each session's challenge on camera, with varied framing, exposure,
//! white balance, noise, reaction time, pace and flash response, and the genuine pass rate is
//! measured per liveness model; then the attacks that need a performing face: the right actions
//! in the wrong order, actions without the colour response, the response to another sequence,
//! another person than the reference, and a person swapped half-way.
//!
//! Synthetic performances prove that the mechanics work end to end and that every attack rule
//! fails closed; they cannot prove a pass rate on real people and real cameras (README).

use std::sync::OnceLock;

use serde_json::{Value, json};
use shiren_synth::perform::{self, Film, Move, Style};
use shiren_synth::{Actor, Camera};
use shiren_verify::sessions::{Challenge, LivenessModel};

use crate::common::{Service, b64, photo};
use crate::products::{id_number, import};
use crate::sessions::{Session, age_challenge, consent, create, start, upload};

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

fn actors(service: &Service) -> &'static [Actor] {
    static ACTORS: OnceLock<Vec<Actor>> = OnceLock::new();
    ACTORS.get_or_init(|| {
        PHOTOS.iter().map(|p| Actor::from_photo(&service.services().engine, &photo(p)).expect("an actor")).collect()
    })
}

/// A session started with its challenge and nonce.
async fn begin(service: &Service, body: Value) -> (Session, Challenge, String) {
    let s = create(service, body).await;
    consent(service, &s).await;
    let r = start(service, &s).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let challenge: Challenge = serde_json::from_value(r.data()["challenge"].clone()).expect("a challenge");
    (s, challenge, r.data()["nonce"].as_str().expect("nonce").to_string())
}

/// Uploads a film as if it had been captured in real time, and reads the verification.
async fn submit(service: &Service, s: &Session, nonce: &str, film: &Film) -> Value {
    let span = film.times_ms.last().copied().unwrap_or(0.0) as i64;
    age_challenge(service, s, span + 1500).await;
    let r = upload(service, s, nonce, &film.times_ms, &film.frames).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let v = service.call("GET", &format!("/v1/verifications/{}", s.id), None).await;
    assert_eq!(v.data()["state"], "finished", "{}", v.json);
    v.data().clone()
}

/// A frame as a camera sees it on a screen: the screen's pixel grid (dark gaps between pixels
/// every `period` pixels of the camera's image, both ways, turned by `angle` degrees) darkens it
/// by up to `contrast`; then JPEG again.
fn through_a_screen(jpeg: &[u8], period: f32, angle: f32, contrast: f32) -> Vec<u8> {
    let mut frame = image::load_from_memory(jpeg).expect("a generated frame").to_rgb8();
    let (c, s) = (angle.to_radians().cos(), angle.to_radians().sin());
    let wave = |p: f32| 0.5 + 0.5 * (2.0 * std::f32::consts::PI * p / period).cos();
    for (x, y, pixel) in frame.enumerate_pixels_mut() {
        let (x, y) = (x as f32, y as f32);
        let grid = (wave(x * c + y * s) + wave(y * c - x * s)) / 2.0;
        for channel in pixel.0.iter_mut() {
            *channel = (f32::from(*channel) * (1.0 - contrast * grid)).round() as u8;
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&frame).expect("JPEG");
    out
}

fn check<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["material"]["checks"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}: {}", v["material"]))
}

fn failed_checks(v: &Value) -> Vec<String> {
    v["material"]["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["passed"] == false)
                .map(|c| c["name"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Deterministic variety for the `i`th genuine session.
fn variation(i: u64) -> (usize, Camera, Style) {
    let mut rng = shiren_synth::SplitMix64::new(0x5eed ^ i);
    let mut pick = |lo: f32, hi: f32| lo + (hi - lo) * rng.next_f32();
    let camera = Camera {
        // The framings the page's guide leads to: beyond about half the frame's width the
        // tightest portrait (obama2.jpg) loses forehead and chin out of the frame and shows no
        // face (the page's hint says so before the challenge can start).
        face_width_fraction: pick(0.3, 0.48),
        offset: [pick(-0.06, 0.06), pick(-0.05, 0.05)],
        brightness: pick(0.7, 1.2),
        tint: [pick(0.92, 1.08), 1.0, pick(0.9, 1.1)],
        noise_sigma: pick(0.8, 3.0),
        seed: i,
        ..Camera::default()
    };
    let style = Style {
        reaction_ms: f64::from(pick(300.0, 750.0)),
        speed: f64::from(pick(0.8, 1.3)),
        flash_strength: pick(0.14, 0.3),
        flash_delay_ms: f64::from(pick(60.0, 220.0)),
        ..Style::default()
    };
    ((i % 4) as usize, camera, style)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_performances_pass_for_every_liveness_model() {
    let _heavy = crate::common::CPU_HEAVY.write().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let actors = actors(&service);
    let mut tally: Vec<(LivenessModel, usize, usize)> = LivenessModel::ALL.iter().map(|m| (*m, 0, 0)).collect();
    let mut failures = Vec::new();
    let mut screen = Vec::new();
    for i in 0..40u64 {
        let model = LivenessModel::ALL[(i as usize / 4 + i as usize) % 4];
        let (s, challenge, nonce) =
            begin(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": model })).await;
        let (who, camera, style) = variation(i);
        let actor = &actors[who];
        let moves = perform::moves_for(&challenge, &style);
        let film = tokio::task::block_in_place(|| {
            perform::film(
                |_| actor,
                &camera,
                &moves,
                &challenge.flashes,
                &style,
                f64::from(challenge.duration_ms),
                15.0,
            )
        });
        let v = submit(&service, &s, &nonce, &film).await;
        let entry = tally.iter_mut().find(|(m, _, _)| *m == model).expect("model");
        entry.1 += 1;
        screen.push(check(&v, "screen_pattern")["value"].as_f64().unwrap_or(f64::NAN));
        if v["passed"] == true {
            entry.2 += 1;
        } else {
            failures.push(format!("#{i} {model:?} {} {:?}: {:?}", PHOTOS[who], v["sub_code"], failed_checks(&v)));
        }
    }
    for (model, sessions, passed) in &tally {
        println!("genuine pass rate {model:?}: {passed}/{sessions}");
    }
    for f in &failures {
        println!("failed: {f}");
    }
    screen.sort_by(f64::total_cmp);
    println!("screen_pattern on genuine sessions (sorted): {screen:.1?}");
    let passed: usize = tally.iter().map(|t| t.2).sum();
    assert!(passed * 100 >= 95 * 40, "{passed}/40 passed: {failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performed_attacks_fail_closed() {
    let _heavy = crate::common::CPU_HEAVY.write().await;
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let actors = actors(&service);
    let (obama, biden) = (&actors[0], &actors[3]);
    // Each film gets its own sensor noise: identical frames in two sessions are a replay.
    let seeds = std::sync::atomic::AtomicU64::new(100);
    let camera = || Camera { seed: seeds.fetch_add(1, std::sync::atomic::Ordering::Relaxed), ..Camera::default() };
    let style = Style::default();
    let still = |c: &Challenge| f64::from(c.duration_ms);

    // The right actions in the wrong order.
    let (s, c, nonce) =
        begin(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "MULTI_ACTION" })).await;
    let mut moves = perform::moves_for(&c, &style);
    let times: Vec<f64> = moves.iter().map(|m| m.at_ms).collect();
    moves.reverse();
    for (m, t) in moves.iter_mut().zip(times) {
        m.at_ms = t;
    }
    let film =
        tokio::task::block_in_place(|| perform::film(|_| obama, &camera(), &moves, &[], &style, still(&c), 15.0));
    let v = submit(&service, &s, &nonce, &film).await;
    assert_eq!(v["sub_code"], "205", "{v}");
    assert!(failed_checks(&v).iter().any(|f| f.starts_with("action:")), "{:?}", failed_checks(&v));

    // Actions without the colour response, and the response to another sequence.
    for respond_to_other in [false, true] {
        let (s, c, nonce) =
            begin(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "PHOTINUS_LIVENESS" })).await;
        let other = shiren_verify::sessions::challenge::issue(LivenessModel::Photinus).expect("a challenge");
        let flashes = if respond_to_other { other.flashes.clone() } else { Vec::new() };
        let moves = perform::moves_for(&c, &style);
        let film = tokio::task::block_in_place(|| {
            perform::film(|_| obama, &camera(), &moves, &flashes, &style, still(&c), 15.0)
        });
        let v = submit(&service, &s, &nonce, &film).await;
        assert_eq!(v["sub_code"], "205", "{v}");
        assert_eq!(failed_checks(&v), ["colour_response"], "other sequence: {respond_to_other}: {}", v["material"]);
    }

    // A person swapped half-way.
    let (s, c, nonce) = begin(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS" })).await;
    let moves = perform::moves_for(&c, &style);
    let half = still(&c) / 2.0;
    let film = tokio::task::block_in_place(|| {
        perform::film(|t| if t < half { obama } else { biden }, &camera(), &moves, &[], &style, still(&c), 15.0)
    });
    let v = submit(&service, &s, &nonce, &film).await;
    assert_eq!(v["sub_code"], "205", "{v}");
    assert!(failed_checks(&v).contains(&"same_person".to_string()), "{:?}", failed_checks(&v));

    // The right performance filmed off a screen: the screen's pixel grid on every frame
    // (a period of 3.4 pixels turned 6 degrees, 8% contrast, as a phone held close to a laptop
    // screen shows it), JPEG again.
    let (s, c, nonce) = begin(&service, json!({ "scene_id": scene, "product": "LR_FR", "liveness": "LIVENESS" })).await;
    let moves = perform::moves_for(&c, &style);
    let mut film =
        tokio::task::block_in_place(|| perform::film(|_| obama, &camera(), &moves, &[], &style, still(&c), 15.0));
    film.frames =
        tokio::task::block_in_place(|| film.frames.iter().map(|f| through_a_screen(f, 3.4, 6.0, 0.08)).collect());
    let v = submit(&service, &s, &nonce, &film).await;
    assert_eq!(v["sub_code"], "205", "{v}");
    assert_eq!(failed_checks(&v), ["screen_pattern"], "{}", v["material"]);
    println!("screen recapture: {}", check(&v, "screen_pattern"));

    // PV_FV: the reference's own person passes with a score; another person is a face mismatch.
    for (actor, expected) in [(obama, "200"), (biden, "204")] {
        let (s, c, nonce) = begin(
            &service,
            json!({ "scene_id": scene, "product": "PV_FV", "liveness": "LIVENESS", "reference_image": b64(&photo("obama2.jpg")) }),
        )
        .await;
        let moves = perform::moves_for(&c, &style);
        let film =
            tokio::task::block_in_place(|| perform::film(|_| actor, &camera(), &moves, &[], &style, still(&c), 15.0));
        let v = submit(&service, &s, &nonce, &film).await;
        assert_eq!(v["sub_code"], expected, "{v}");
        assert!(v["score"].is_number(), "{v}");
    }

    // ID_PRO against the local authority registry.
    let number = id_number("110101", "19610804", "001");
    import(&service, "奥巴马", &number, Some(&photo("obama.jpg"))).await;
    for (name, expected) in [("奥巴马", "200"), ("李四", "201")] {
        let (s, c, nonce) = begin(
            &service,
            json!({ "scene_id": scene, "product": "ID_PRO", "liveness": "LIVENESS", "name": name, "id_number": number }),
        )
        .await;
        let moves: Vec<Move> = perform::moves_for(&c, &style);
        let film =
            tokio::task::block_in_place(|| perform::film(|_| obama, &camera(), &moves, &[], &style, still(&c), 15.0));
        let v = submit(&service, &s, &nonce, &film).await;
        assert_eq!(v["sub_code"], expected, "{v}");
    }
}
