//! Prints every line the engine reads in an image, with its box and confidences:
//! `cargo run -p shiren-ocr --example read -- IMAGE [--upright]`.

use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::{OcrEngine, OcrModelPaths, OcrSettings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: read IMAGE [--upright]")?;
    let upright = args.next().as_deref() == Some("--upright");
    let store = ModelStore::from_env()?;
    store.ensure(&[Group::Runtime, Group::Ocr], &PipFetcher::default(), Progress::Bar)?;
    let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), OcrSettings::default())?;
    let image = image::open(&path)?.to_rgb8();
    let lines = if upright {
        let page = engine.read_upright(&image)?;
        println!("turned {} degrees", page.rotation.degrees());
        page.lines
    } else {
        engine.read(&image)?
    };
    for l in lines {
        let q = l.quad.0;
        println!(
            "{:<40} conf {:.3} det {:.2} turned {} box ({:.0},{:.0})-({:.0},{:.0})-({:.0},{:.0})-({:.0},{:.0})",
            l.text,
            l.confidence,
            l.detection_score,
            l.turned,
            q[0][0],
            q[0][1],
            q[1][0],
            q[1][1],
            q[2][0],
            q[2][1],
            q[3][0],
            q[3][1]
        );
    }
    Ok(())
}
