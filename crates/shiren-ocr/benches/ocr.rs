//! How long reading one ID-card side takes on one core: the specimen card (804×498) read stage
//! by stage — detection with the fast and the fine detector (network and post-processing),
//! straightening the lines, the line orientation classifier, recognition — and whole, plus a
//! whole read of the card photographed upside down (a quick look finds which way up first). Medians of several rounds; one session per model, so every
//! model run uses one thread. Run with `cargo bench -p shiren-ocr --bench ocr`.

use std::time::Instant;

use image::RgbImage;
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::geometry::crop_line;
use shiren_ocr::{Detector, OcrEngine, OcrModelPaths, OcrSettings};

const ROUNDS: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1000.0)
}

fn main() {
    let store = ModelStore::from_env().expect("model directory");
    store
        .ensure(&[Group::Runtime, Group::Ocr, Group::Testdata], &PipFetcher::default(), Progress::Quiet)
        .expect("models");
    let settings = OcrSettings { sessions_per_model: 1, ..OcrSettings::default() };
    let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), settings.clone()).expect("engine");
    let bytes = std::fs::read(store.path("testdata/idcard-specimen.jpg")).expect("specimen");
    let card = image::load_from_memory(&bytes).expect("decodes").to_rgb8();
    let upside_down = image::imageops::rotate180(&card);
    // Warm-up: the first run of each model allocates its buffers.
    engine.read(&card).expect("read");

    let (mut detect, mut detect_fine, mut crop, mut classify, mut recognise, mut whole, mut turned) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut line_count = 0;
    for _ in 0..ROUNDS {
        let (boxes, t) = ms(|| engine.detect(&card).expect("detect"));
        detect.push(t);
        let (_, t) = ms(|| engine.detect_with(&card, settings.detect.max_side, Detector::Fine).expect("detect"));
        detect_fine.push(t);
        let (crops, t) = ms(|| boxes.iter().filter_map(|b| crop_line(&card, &b.quad)).collect::<Vec<RgbImage>>());
        crop.push(t);
        let refs: Vec<&RgbImage> = crops.iter().collect();
        let (_, t) = ms(|| engine.upside_down(&refs).expect("classify"));
        classify.push(t);
        let (_, t) = ms(|| engine.recognize(&refs).expect("recognise"));
        recognise.push(t);
        let (lines, t) = ms(|| engine.read(&card).expect("read"));
        line_count = lines.len();
        whole.push(t);
        let (_, t) = ms(|| engine.read_upright(&upside_down).expect("read"));
        turned.push(t);
    }
    println!(
        "ID card side {}x{}, {line_count} lines, medians of {ROUNDS} rounds, one thread per model",
        card.width(),
        card.height()
    );
    println!("stage                                median ms");
    println!("detection, fast (network + boxes)    {:9.1}", median(detect));
    println!("detection, fine (network + boxes)    {:9.1}", median(detect_fine));
    println!("straighten lines                     {:9.1}", median(crop));
    println!("line orientation                     {:9.1}", median(classify));
    println!("recognition                          {:9.1}", median(recognise));
    println!("whole read                           {:9.1}", median(whole));
    println!("whole read, photo upside down        {:9.1}", median(turned));
}
