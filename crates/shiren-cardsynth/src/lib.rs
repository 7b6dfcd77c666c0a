//! Test support: photographed PRC resident ID cards (front and back), residence permits,
//! foreigners' permanent residence cards ([`ForeignCardTruth`]) and bank cards with their ground
//! truth, for measuring OCR accuracy without real people's documents.
//!
//! [`CardSynth`] draws a card's contents from a seed ([`IdCardTruth`], [`BankCardTruth`]) and
//! renders each face on the canonical canvas of [`CARD_WIDTH`]×[`CARD_HEIGHT`] pixels (85.6×54 mm
//! at 10 px/mm); [`photograph`] then puts a canvas on a desk in perspective and degrades it as a
//! phone camera would, optionally as a photocopy or a screen recapture ([`Variant`]), returning
//! the JPEG, the decoded image and where the card's corners are.
//!
//! Everything is deterministic in the seed. Fonts come from Debian's Noto CJK and DejaVu packages
//! ([`Fonts::discover`] runs `tools/fonts/ensure-cjk-fonts.sh`, which installs them when
//! missing); region names and codes from the region table the service itself uses
//! (`data/cn-regions.dat` in the model directory).
//!
//! ```no_run
//! use shiren_cardsynth::{CardSynth, Fonts, PhotoSettings, photograph};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let table = shiren_idcard::RegionTable::load("models/data/cn-regions.dat")?;
//! let synth = CardSynth::new(Fonts::discover()?, &table)?;
//! let truth = synth.id_card_truth(42);
//! let portrait = image::RgbImage::from_pixel(300, 380, image::Rgb([200, 200, 210]));
//! let photo = photograph(&synth.render_id_front(&truth, &portrait), 42, &PhotoSettings::default())?;
//! std::fs::write("front.jpg", &photo.jpeg)?;
//! # Ok(()) }
//! ```

mod bank;
mod draw;
mod fonts;
mod foreign;
mod idcard;
mod lists;
mod photo;
mod rng;
mod truth;

use std::path::PathBuf;

use image::RgbImage;
use shiren_idcard::RegionTable;
use thiserror::Error;

pub use bank::BankCardTruth;
pub use fonts::{FontPaths, Fonts};
pub use foreign::{ForeignCardTruth, ForeignEdition};
pub use photo::{Photo, PhotoSettings, Variant, photograph};
pub use truth::{ADDRESS_LINE_CHARS, IdCardTruth};

/// The canonical card canvas: 85.6 mm at 10 px/mm.
pub const CARD_WIDTH: u32 = 856;
/// 54 mm at 10 px/mm.
pub const CARD_HEIGHT: u32 = 540;
/// The radius of the card's rounded corners on the canonical canvas. Canvases are drawn square
/// cornered; [`photograph`] cuts the corners.
pub const CARD_CORNER_RADIUS: f32 = 30.0;

/// Why cards could not be made.
#[derive(Debug, Error)]
pub enum CardSynthError {
    #[error("cannot run the font script {path}: {source}")]
    FontScript {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the font script {path} failed ({status}): {stderr}")]
    FontScriptFailed { path: PathBuf, status: String, stderr: String },
    #[error("cannot read the font {path}: {source}")]
    FontRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} face {index} is not a font ab_glyph can read")]
    FontParse { path: PathBuf, index: u32 },
    #[error("the font collection {path} has no Simplified Chinese face (a family named \"… SC\")")]
    NoChineseFace { path: PathBuf },
    #[error("the region table has no county-level region in use whose names the font can draw")]
    NoRegions,
    #[error("the card image is empty")]
    EmptyCard,
    #[error("the drawn card corners do not define a perspective transform")]
    Geometry,
    #[error("cannot encode or decode the photo as JPEG: {0}")]
    Jpeg(#[source] image::ImageError),
    #[error("cannot read the portrait photo {path}: {source}")]
    PortraitRead {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

/// The provisioned test photos (face_recognition's) that portraits are cut from, in the order
/// the benchmark and the tests pick them by seed.
pub const PORTRAIT_PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

/// The portraits for generated fronts: a 3:4 crop around the middle of each of
/// `PORTRAIT_PHOTOS` in `dir`, where those photos have their face.
pub fn portraits(dir: &std::path::Path) -> Result<Vec<RgbImage>, CardSynthError> {
    PORTRAIT_PHOTOS
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let photo = image::open(&path)
                .map_err(|source| CardSynthError::PortraitRead { path: path.clone(), source })?
                .to_rgb8();
            let (w, h) = photo.dimensions();
            let crop_width = (h * 3 / 4).min(w);
            Ok(image::imageops::crop_imm(&photo, (w - crop_width) / 2, 0, crop_width, h).to_image())
        })
        .collect()
}

/// Draws and renders cards. Holds the fonts and the places addresses are drawn from.
#[derive(Debug)]
pub struct CardSynth {
    fonts: Fonts,
    places: Vec<truth::Place>,
    surnames: Vec<char>,
    given_name_chars: Vec<char>,
}

/// Salts for the seeded draws, so one seed used for an ID card and a bank card gives unrelated
/// contents.
const ID_CARD_SALT: u64 = 0x1DCA_4D00;
const BANK_CARD_SALT: u64 = 0xBA4C_CA4D;

impl CardSynth {
    /// Prepares the regions addresses are drawn from (county-level codes in use, outside Hong
    /// Kong, Macao and Taiwan) and the name characters, keeping only what the sans-serif font can
    /// draw.
    pub fn new(fonts: Fonts, regions: &RegionTable) -> Result<CardSynth, CardSynthError> {
        let places = truth::places(regions, |text| fonts.sans_covers(text));
        if places.is_empty() {
            return Err(CardSynthError::NoRegions);
        }
        let drawable = |list: &str| -> Vec<char> {
            list.chars().filter(|&c| fonts.sans_covers(c.encode_utf8(&mut [0; 4]))).collect()
        };
        let surnames = drawable(lists::SURNAMES);
        let given_name_chars = drawable(lists::GIVEN_NAME_CHARS);
        Ok(CardSynth { fonts, places, surnames, given_name_chars })
    }

    /// The number of county-level regions addresses and ID numbers are drawn from.
    pub fn region_count(&self) -> usize {
        self.places.len()
    }

    /// The contents of an ID card, determined by `seed`.
    pub fn id_card_truth(&self, seed: u64) -> IdCardTruth {
        let mut rng = rng::Rng::new(seed, ID_CARD_SALT);
        // `new` guarantees at least one place.
        let place = &self.places[rng.below(self.places.len() as u64) as usize];
        truth::draw_id_card(&mut rng, place, &self.surnames, &self.given_name_chars)
    }

    /// The contents of a residence permit of `kind` (Hong Kong, Macao or Taiwan residents),
    /// determined by `seed`.
    pub fn residence_permit_truth(&self, seed: u64, kind: shiren_idcard::DocumentKind) -> IdCardTruth {
        let mut rng = rng::Rng::new(seed, ID_CARD_SALT ^ 0x9E57);
        let place = &self.places[rng.below(self.places.len() as u64) as usize];
        truth::draw_permit(&mut rng, place, &self.surnames, &self.given_name_chars, kind)
    }

    /// The contents of a foreigner's permanent residence card of `edition`, determined by `seed`.
    pub fn foreign_card_truth(&self, seed: u64, edition: ForeignEdition) -> ForeignCardTruth {
        let edition_salt = match edition {
            ForeignEdition::Of2017 => 0xF017,
            ForeignEdition::Of2023 => 0xF023,
        };
        let mut rng = rng::Rng::new(seed, ID_CARD_SALT ^ edition_salt);
        foreign::draw(&mut rng, edition, &self.surnames, &self.given_name_chars)
    }

    /// The front of a foreigner's permanent residence card, the portrait on the right.
    pub fn render_foreign_front(&self, truth: &ForeignCardTruth, portrait: &RgbImage) -> RgbImage {
        foreign::render_front(&self.fonts, truth, portrait)
    }

    /// The back of a foreigner's permanent residence card: emblem, title, issuing authority.
    pub fn render_foreign_back(&self, truth: &ForeignCardTruth) -> RgbImage {
        foreign::render_back(&self.fonts, truth)
    }

    /// The front of the card on the canonical canvas, with `portrait` scaled and cropped to fill
    /// the photo box (its top kept: faces sit in the upper part of a portrait).
    pub fn render_id_front(&self, truth: &IdCardTruth, portrait: &RgbImage) -> RgbImage {
        idcard::render_front(&self.fonts, truth, portrait)
    }

    /// The back of the card (issuing authority and validity period) on the canonical canvas.
    pub fn render_id_back(&self, truth: &IdCardTruth) -> RgbImage {
        idcard::render_back(&self.fonts, truth)
    }

    /// The contents of a bank card, determined by `seed`, under a prefix from `bins` (prefix,
    /// bank name), or from a built-in list of ten well-known prefixes when `bins` has no usable
    /// entry.
    pub fn bank_card_truth(&self, seed: u64, bins: &[(String, String)]) -> BankCardTruth {
        let mut rng = rng::Rng::new(seed, BANK_CARD_SALT);
        bank::draw_bank_card(&mut rng, bins)
    }

    /// The front of a bank card on the canonical canvas; `seed` picks colours and print style
    /// (flat or embossed digits, label wording).
    pub fn render_bank_card(&self, truth: &BankCardTruth, seed: u64) -> RgbImage {
        bank::render(&self.fonts, truth, seed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn lists_are_long_enough_and_have_no_repeats() {
        let surnames: Vec<char> = lists::SURNAMES.chars().collect();
        let given: Vec<char> = lists::GIVEN_NAME_CHARS.chars().collect();
        assert!(surnames.len() + lists::COMPOUND_SURNAMES.len() >= 100);
        assert!(given.len() >= 300);
        assert_eq!(surnames.iter().collect::<HashSet<_>>().len(), surnames.len());
        assert_eq!(given.iter().collect::<HashSet<_>>().len(), given.len());
        assert_eq!(lists::ETHNICITIES.iter().collect::<HashSet<_>>().len(), 56);
        for compound in ["欧阳", "司马", "诸葛", "上官"] {
            assert!(lists::COMPOUND_SURNAMES.contains(&compound));
        }
        for rare in "玥喆堃昇燚淼犇赟珺翀".chars() {
            assert!(given.contains(&rare), "{rare}");
        }
    }

    #[test]
    fn the_font_draws_every_listed_character() {
        let fonts = Fonts::discover().unwrap();
        let mut text: String = [lists::SURNAMES, lists::GIVEN_NAME_CHARS].concat();
        for list in [lists::COMPOUND_SURNAMES, &lists::ETHNICITIES, lists::ROADS, lists::ROAD_KINDS, lists::TOWNS] {
            text.extend(list.iter().copied());
        }
        for list in [lists::VILLAGES, lists::ESTATES] {
            text.extend(list.iter().copied());
        }
        text.extend(lists::FALLBACK_BINS.iter().map(|(_, bank)| *bank));
        let missing: String = text.chars().filter(|c| !fonts.sans_covers(c.encode_utf8(&mut [0; 4]))).collect();
        assert!(missing.is_empty(), "no glyph for {missing}");
    }
}
