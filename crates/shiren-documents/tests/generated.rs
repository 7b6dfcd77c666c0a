//! Card reading on generated cards (`shiren-cardsynth`): a dozen ID card pairs and bank cards
//! photographed at random angles and turns, read end to end, with the warnings on greyscale
//! copies. The full measurement (200 of each, per-field table) is the `cards` bench; this keeps
//! the same path from regressing within the test suite.

use image::RgbImage;
use shiren_cardsynth::{CardSynth, Fonts, PhotoSettings, Variant, photograph};
use shiren_documents::Lexicon;
use shiren_documents::bankcard::{self, BinTable};
use shiren_documents::idcard::{Field, field_texts};
use shiren_documents::reader::{self, ReaderSettings, Warning};
use shiren_idcard::RegionTable;
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::{OcrEngine, OcrModelPaths, OcrSettings};

const CARDS: u64 = 12;

fn text(f: &Option<Field>) -> &str {
    f.as_ref().map(|f| f.text.as_str()).unwrap_or("")
}

/// What both tests read with: the provisioned models, the region table, the card generator,
/// the OCR engine and the portrait printed on the cards.
struct Fixture {
    store: ModelStore,
    regions: RegionTable,
    names: Lexicon,
    synth: CardSynth,
    engine: OcrEngine,
    portrait: RgbImage,
}

fn fixture() -> Fixture {
    let store = ModelStore::from_env().expect("model directory");
    store
        .ensure(&[Group::Runtime, Group::Data, Group::Ocr, Group::Testdata], &PipFetcher::default(), Progress::Quiet)
        .expect("models");
    let regions = RegionTable::load(store.path("data/cn-regions.dat")).expect("regions");
    let synth = CardSynth::new(Fonts::discover().expect("fonts"), &regions).expect("synth");
    let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), OcrSettings::default()).expect("engine");
    let bytes = std::fs::read(store.path("testdata/obama.jpg")).expect("photo");
    let portrait = image::load_from_memory(&bytes).expect("decodes").to_rgb8();
    let names = Lexicon::load(&regions, store.root()).expect("lexicon");
    Fixture { store, names, regions, synth, engine, portrait }
}

#[test]
fn generated_cards_are_read_and_copies_flagged() {
    let Fixture { store, names, synth, engine, portrait, .. } = fixture();
    let bins = BinTable::load(&store.path("ocr/cardbin.py")).expect("BIN table");
    let mut bin_list: Vec<(String, String)> =
        bins.prefixes().filter(|(p, _)| p.len() == 6).map(|(p, i)| (p.to_string(), i.bank.clone())).collect();
    bin_list.sort();
    let settings = ReaderSettings::default();
    let shot = |card: &RgbImage, seed: u64, variant: Variant| {
        let settings = PhotoSettings { turns: vec![0, 1, 2, 3], variant, ..PhotoSettings::default() };
        let photo = photograph(card, seed, &settings).expect("photo");
        image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8()
    };

    let (mut fields_exact, mut fields_all, mut numbers, mut copies, mut false_copies, mut bank_numbers) =
        (0, 0, 0, 0, 0, 0);
    let (mut blurred_flagged, mut false_blurry) = (0, 0);
    let mut sharpness = (Vec::new(), Vec::new());
    let mut misses = Vec::new();
    // Seeds of their own, apart from the bench's 0..200.
    for seed in 1000..1000 + CARDS {
        let truth = synth.id_card_truth(seed);
        let front = reader::read_side(
            &engine,
            &shot(&synth.render_id_front(&truth, &portrait), seed, Variant::Clean),
            &settings,
            &names,
        )
        .expect("front");
        let back = reader::read_side(
            &engine,
            &shot(&synth.render_id_back(&truth), seed + 1, Variant::Clean),
            &settings,
            &names,
        )
        .expect("back");
        let f = front.front.clone().unwrap_or_default();
        let b = back.back.clone().unwrap_or_default();
        for ((name, got), want) in field_texts(&f, &b).into_iter().zip(truth.field_texts()) {
            fields_all += 1;
            if got == want {
                fields_exact += 1;
            } else {
                misses.push(format!("{seed} {name}: {got:?} for {want:?}"));
            }
        }
        numbers += usize::from(text(&f.id_number) == truth.id_number);
        false_blurry +=
            usize::from(front.warnings.contains(&Warning::Blurry) || back.warnings.contains(&Warning::Blurry));
        sharpness.0.extend([front.measures.sharpness, back.measures.sharpness]);
        // The same front out of focus (a gaussian of 2.5 px over the whole photo).
        let out_of_focus =
            image::imageops::blur(&shot(&synth.render_id_front(&truth, &portrait), seed, Variant::Clean), 2.5);
        let blurred = reader::read_side(&engine, &out_of_focus, &settings, &names).expect("blurred front");
        blurred_flagged += usize::from(blurred.warnings.contains(&Warning::Blurry) || blurred.side.is_none());
        sharpness.1.push(blurred.measures.sharpness);
        false_copies += usize::from(front.warnings.contains(&Warning::GreyscaleCopy));
        let copy = reader::read_side(
            &engine,
            &shot(&synth.render_id_front(&truth, &portrait), seed + 2, Variant::GreyscaleCopy),
            &settings,
            &names,
        )
        .expect("copy");
        copies += usize::from(copy.warnings.contains(&Warning::GreyscaleCopy));
        let card = synth.bank_card_truth(seed, &bin_list);
        let bank =
            bankcard::read(&engine, &shot(&synth.render_bank_card(&card, seed), seed + 3, Variant::Clean), &bins)
                .expect("bank card");
        if bank.number.as_ref().is_some_and(|n| n.text == card.number) {
            bank_numbers += 1;
            assert!(bank.issuer.is_some(), "the generated number's prefix is in the table");
        } else {
            misses.push(format!("{seed} bank number: {:?} for {:?}", bank.number.map(|n| n.text), card.number));
        }
    }
    println!(
        "fields {fields_exact}/{fields_all}, numbers {numbers}/{CARDS}, copies {copies}/{CARDS}, bank {bank_numbers}/{CARDS}"
    );
    println!("sharpness, clean sides: {:?}\nsharpness, blurred fronts: {:?}", sharpness.0, sharpness.1);
    println!("blurred fronts flagged {blurred_flagged}/{CARDS}, clean sides flagged blurry {false_blurry}");
    for miss in &misses {
        println!("  {miss}");
    }
    // Floors under what this build reads (see the bench's figures in the README), with room
    // for a card or two: a regression shows, the generator's hardest draws do not fail it.
    assert!(fields_exact * 100 >= fields_all * 88, "{fields_exact}/{fields_all} fields exact: {misses:?}");
    assert!(numbers as u64 >= CARDS - 1, "{numbers}/{CARDS} ID numbers: {misses:?}");
    assert_eq!(copies as u64, CARDS, "every greyscale copy is flagged");
    assert_eq!(false_copies, 0, "no clean card is taken for a copy");
    assert_eq!(blurred_flagged as u64, CARDS, "every out-of-focus front is flagged blurry");
    assert_eq!(false_blurry, 0, "no clean side is taken for blurred");
    assert!(bank_numbers as u64 >= CARDS * 2 / 3, "{bank_numbers}/{CARDS} bank numbers: {misses:?}");
}

/// Residence permits of Hong Kong, Macao and Taiwan residents: recognised by their numbers and
/// titles, the fields they print read (no ethnicity expected; issue count and travel permit
/// number on the back), their numbers validated, the five-year validity checked.
#[test]
fn residence_permits_are_recognised_and_read() {
    use shiren_idcard::DocumentKind;
    let Fixture { regions, names, synth, engine, portrait, .. } = fixture();
    let settings = ReaderSettings::default();
    let kinds = [
        DocumentKind::HongKongResidencePermit,
        DocumentKind::MacaoResidencePermit,
        DocumentKind::TaiwanResidencePermit,
    ];
    let (mut numbers, mut kinds_right, mut backs_whole, mut clean) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let total = 6u64;
    for seed in 0..total {
        let kind = kinds[seed as usize % 3];
        let truth = synth.residence_permit_truth(seed, kind);
        let shot = |card: &RgbImage, seed: u64| {
            let photo = photograph(card, seed, &PhotoSettings::default()).expect("photo");
            image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8()
        };
        let front =
            reader::read_side(&engine, &shot(&synth.render_id_front(&truth, &portrait), seed), &settings, &names)
                .expect("front");
        let back = reader::read_side(&engine, &shot(&synth.render_id_back(&truth), seed + 1), &settings, &names)
            .expect("back");
        let reading = reader::combine(vec![front, back], &regions);
        let f = reading.front.clone().unwrap_or_default();
        let b = reading.back.clone().unwrap_or_default();
        numbers += usize::from(text(&f.id_number) == truth.id_number);
        // Hong Kong and Macao permits share a title; the number tells them apart.
        kinds_right += usize::from(reading.document == Some(kind));
        let back_whole = text(&b.pass_number) == truth.pass_number
            && text(&b.issue_count) == truth.issue_count
            && text(&b.valid_until) == truth.valid_until;
        backs_whole += usize::from(back_whole);
        let no_ethnicity_asked =
            !reading.warnings.iter().any(|w| matches!(w, Warning::FieldUnreadable { field } if field == "ethnicity"));
        let ok = reading.checks.iter().all(|c| c.passed)
            && !reading.warnings.contains(&Warning::FrontBackMismatch)
            && no_ethnicity_asked;
        clean += usize::from(ok);
        if !(ok && back_whole) {
            misses.push(format!(
                "{seed} {kind:?}: number {:?} back {b:?} checks {:?} warnings {:?}",
                text(&f.id_number),
                reading.checks,
                reading.warnings
            ));
        }
    }
    println!(
        "permits: numbers {numbers}/{total}, kinds {kinds_right}/{total}, backs {backs_whole}/{total}, clean {clean}/{total}"
    );
    for miss in &misses {
        println!("  {miss}");
    }
    assert!(numbers as u64 >= total - 1, "{misses:#?}");
    assert!(kinds_right as u64 >= total - 1, "{misses:#?}");
    assert!(backs_whole as u64 >= total - 2, "{misses:#?}");
    assert!(clean as u64 >= total - 1, "{misses:#?}");
}

/// Every name of the provisioned region table is written as cards print it: nothing OpenCC's
/// table would fold (the source writes a few in traditional characters, which the table's parser
/// makes simplified; a reading is folded the same way, so the two must agree).
#[test]
fn region_names_are_simplified() {
    let Fixture { regions, names, .. } = fixture();
    let mut traditional = Vec::new();
    for region in regions.iter() {
        for name in
            region.history.iter().map(|h| h.name.as_str()).chain([region.name.as_str(), region.province.as_str()])
        {
            if names.variants.fold(name) != name {
                traditional.push(format!("{} {name}", region.code));
            }
        }
    }
    assert!(traditional.is_empty(), "{traditional:?}");
}

/// Foreigners' permanent residence cards of both editions: recognised, their own fields read
/// from the front (Latin and Chinese names, sex, birth date, nationality and its code, validity,
/// the number) and the authority from the back, every cross-check passed.
#[test]
fn foreign_permanent_residence_cards_are_read() {
    use shiren_cardsynth::ForeignEdition;
    use shiren_idcard::DocumentKind;
    let Fixture { regions, names, synth, engine, portrait, .. } = fixture();
    let settings = ReaderSettings::default();
    let total = 8u64;
    let (mut whole, mut kinds_right, mut clean) = (0, 0, 0);
    let mut misses = Vec::new();
    for seed in 0..total {
        let edition = if seed % 2 == 0 { ForeignEdition::Of2017 } else { ForeignEdition::Of2023 };
        let truth = synth.foreign_card_truth(seed, edition);
        let shot = |card: &RgbImage, seed: u64| {
            let settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
            let photo = photograph(card, seed, &settings).expect("photo");
            image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8()
        };
        let front =
            reader::read_side(&engine, &shot(&synth.render_foreign_front(&truth, &portrait), seed), &settings, &names)
                .expect("front");
        let back = reader::read_side(&engine, &shot(&synth.render_foreign_back(&truth), seed + 100), &settings, &names)
            .expect("back");
        let reading = reader::combine(vec![front, back], &regions);
        let f = reading.front.clone().unwrap_or_default();
        let b = reading.back.clone().unwrap_or_default();
        let got = [
            text(&f.english_name),
            text(&f.name),
            text(&f.sex),
            text(&f.birth_date),
            text(&f.nationality),
            text(&f.nationality_code),
            text(&f.valid_from),
            text(&f.valid_until),
            text(&f.id_number),
            text(&b.issuing_authority),
        ];
        let want = [
            truth.english_name.as_str(),
            &truth.chinese_name,
            &truth.sex,
            &truth.birth,
            &truth.nationality,
            &truth.nationality_code,
            &truth.valid_from,
            &truth.valid_until,
            &truth.id_number,
            &truth.authority,
        ];
        let fields_whole = got == want;
        whole += usize::from(fields_whole);
        kinds_right += usize::from(reading.document == Some(DocumentKind::ForeignPermanentResidentCard));
        // A 2017 card may have expired by the time the suite runs: only that check may fail then.
        let expired = truth.valid_until.as_str() < shiren_idcard::Date::today_in_china().to_string().as_str();
        let ok = reading.checks.iter().all(|c| c.passed || (expired && c.name == "not_expired"))
            && ["validity_period", "nationality"].iter().all(|name| reading.checks.iter().any(|c| c.name == *name))
            && reading.warnings.iter().all(|w| matches!(w, Warning::IncompleteBorder));
        clean += usize::from(ok);
        if !(ok && fields_whole) {
            misses.push(format!(
                "{seed} {edition:?}: got {got:?} want {want:?} checks {:?} warnings {:?}",
                reading.checks, reading.warnings
            ));
        }
    }
    println!("foreigners' cards: whole {whole}/{total}, kinds {kinds_right}/{total}, clean {clean}/{total}");
    for miss in &misses {
        println!("  {miss}");
    }
    assert_eq!(kinds_right as u64, total, "{misses:#?}");
    assert!(whole as u64 >= total - 1, "{misses:#?}");
    assert!(clean as u64 >= total - 1, "{misses:#?}");
}

/// The second looks that mend a first reading, on the generated fronts of the `cards` bench
/// where each was needed: a stray mark before the name (seed 28: `8白茂`), a birth day whose 日
/// was read as 8 (52 and 98: `3月18` for `3月1日`), a surname read as a character no surname
/// uses (157: 股 for 殷). A rare surname outside the common list, read right, stays (107: 璩).
/// The cards and photos are the bench's (the same portraits, seeds and photo salts).
#[test]
fn second_looks_mend_names_and_birth_days() {
    let Fixture { synth, engine, names, store, .. } = fixture();
    let faces = shiren_cardsynth::portraits(&store.path("testdata")).expect("portraits");
    let settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
    let mut misses = Vec::new();
    for seed in [28u64, 52, 98, 157, 107] {
        let truth = synth.id_card_truth(seed);
        let card = synth.render_id_front(&truth, &faces[seed as usize % faces.len()]);
        let photo = photograph(&card, seed * 16 + 1, &settings).expect("photo");
        let photo = image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8();
        let front = reader::read_side(&engine, &photo, &ReaderSettings::default(), &names)
            .expect("read")
            .front
            .unwrap_or_default();
        if text(&front.name) != truth.name || text(&front.birth_date) != truth.birth {
            misses.push(format!(
                "seed {seed}: {:?} {:?}, printed {:?} {:?}",
                text(&front.name),
                text(&front.birth_date),
                truth.name,
                truth.birth
            ));
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
}
