//! Reading a photographed ID card end to end: find and straighten the card, turn it by its text,
//! decide the side, read the fields by layout, measure what a copy, a screen or glare leave
//! behind, and, over both sides, cross-check the fields.

use std::borrow::Cow;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use shiren_idcard::{DocumentKind, RegionTable};
use shiren_ocr::{Detector, OcrEngine, OcrError, Quad, TextLine, TextScores};

use crate::Lexicon;
use crate::idcard::{self, Back, Check, Field, Front, Side};
use crate::locate::{self, CARD_HEIGHT, CARD_WIDTH};

/// Something about a photo that makes its reading less trustworthy. Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Warning {
    /// The card's outline was not found whole: the card runs off the photo, or was cropped.
    IncompleteBorder,
    /// The card has no colour: a photocopy or a greyscale print.
    GreyscaleCopy,
    /// A periodic pattern over the card: a screen's pixel grid or a print raster.
    ScreenRecapture,
    /// The card is out of focus, moved, or too small in the photo to read well.
    Blurry,
    /// Saturated glare over a field.
    Glare { field: Cow<'static, str> },
    /// A field was not found, or read with low confidence.
    FieldUnreadable { field: Cow<'static, str> },
    /// No face in the portrait area of the front (set by the caller, who holds the face engine).
    PortraitMissing,
    /// The two photos are not the two sides of one card.
    FrontBackMismatch,
    /// The photo shows neither side of an ID card.
    NotAnIdCard,
}

/// Thresholds for the warnings, documented with their measured ranges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderSettings {
    /// A card whose colour spread (see `Measures::colour_spread`) is below this is a copy.
    pub min_colour_spread: f32,
    /// A card whose periodic peak (see `Measures::screen_pattern`) is above this is recaptured.
    pub max_screen_pattern: f32,
    /// A photo whose periodic peak around the card (see `Measures::background_pattern`) is
    /// above this is recaptured.
    pub max_background_pattern: f32,
    /// A field read with a lower mean character probability is reported unreadable.
    pub min_field_confidence: f32,
    /// A field's area with more saturated pixels than this share is under glare.
    pub max_glare_share: f32,
    /// A card whose sharpness (see `Measures::sharpness`) is below this is blurry.
    pub min_sharpness: f32,
}

impl Default for ReaderSettings {
    fn default() -> Self {
        Self {
            min_colour_spread: 6.0,
            max_screen_pattern: 60.0,
            // Measured on 200 generated card pairs (the `cards` bench): screen recaptures 74%
            // above it, none of 400 clean sides or 200 copies. Generated desks are smooth; a
            // woven or printed real surface may need a higher limit.
            max_background_pattern: 60.0,
            min_field_confidence: 0.8,
            max_glare_share: 0.08,
            min_sharpness: MIN_SHARPNESS,
        }
    }
}

/// What was measured on one photo, for the warnings and for calibration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measures {
    /// The 98th percentile of the card's pixels' chroma distance from the card's median chroma
    /// (YCbCr units): a printed card has coloured labels, an emblem or a portrait over a few per
    /// cent of its area; a copy has one tint at most.
    pub colour_spread: f32,
    /// The median periodic peak over patches inside the card at the photo's own resolution
    /// (`shiren_spectrum::periodic_peak`); `None` when the card is too small in the photo.
    pub screen_pattern: Option<f32>,
    /// The same measure on the photo around the card (the median over patches clear of it): a
    /// screen's grid covers the whole displayed photo, desk included, where a genuine photo's
    /// desk carries no print pattern. `None` when the card fills the photo.
    pub background_pattern: Option<f32>,
    /// The variance of the Laplacian of the straightened card's luma over its text: focus,
    /// motion and a card too small in the photo (upscaled to the reading size) all lower it.
    pub sharpness: f32,
}

/// One photo's reading.
#[derive(Debug, Clone, Serialize)]
pub struct SideReading {
    pub side: Option<Side>,
    /// The document, from the front's number or the back's title.
    pub document: Option<DocumentKind>,
    pub front: Option<Front>,
    pub back: Option<Back>,
    /// Clockwise turn, in degrees, that made the straightened card upright.
    pub rotation: u32,
    /// The card's corners in the photo (top-left first, as the card reads before turning).
    pub corners: Option<Quad>,
    /// The portrait area of the front, in the straightened card's pixels.
    pub portrait_area: Option<Quad>,
    pub measures: Measures,
    pub warnings: Vec<Warning>,
    /// The checks one side allows alone (a foreigner's card's nationality against its number,
    /// which needs the country table); `combine` adds them to the cross-checks.
    pub checks: Vec<Check>,
    /// Every line read, in the straightened card's pixels.
    pub lines: Vec<TextLine>,
    /// The straightened, upright card (`CARD_WIDTH`×`CARD_HEIGHT`).
    #[serde(skip)]
    pub card: RgbImage,
}

/// Both sides read together.
#[derive(Debug, Clone, Serialize)]
pub struct IdCardReading {
    /// The document: the front's number's, else the back's title's.
    pub document: Option<DocumentKind>,
    pub front: Option<Front>,
    pub back: Option<Back>,
    pub checks: Vec<Check>,
    /// Every side's warnings and the cross-side ones, without repeats.
    pub warnings: Vec<Warning>,
    pub sides: Vec<SideReading>,
}

/// The detector's input side for a straightened ID card (856×540): the card whole, slightly
/// enlarged. With PP-OCRv5's detector, 640 went faster but lost lone characters and merged
/// rows (on the 200 generated pairs of the `cards` bench: 87.5% of cards whole against 92.0% at
/// 960); PP-OCRv6's tiny detector takes 67 ms at 960 on one core, so nothing is saved there.
const ID_CARD_DETECTOR_SIDE: u32 = 960;

/// Regions of the fields on the straightened card, as shares of its width and height (left,
/// top, right, bottom), for the glare measure.
const FRONT_FIELDS: [(&str, [f32; 4]); 5] = [
    ("name", [0.15, 0.08, 0.60, 0.22]),
    ("sex", [0.15, 0.22, 0.60, 0.33]),
    ("birth_date", [0.15, 0.33, 0.60, 0.45]),
    ("address", [0.15, 0.45, 0.62, 0.76]),
    ("id_number", [0.30, 0.76, 0.96, 0.93]),
];
const BACK_FIELDS: [(&str, [f32; 4]); 2] =
    [("issuing_authority", [0.35, 0.62, 0.96, 0.77]), ("valid_until", [0.35, 0.77, 0.96, 0.92])];
/// Where the ethnicity's value begins on the front, as a share of the card's width (the label
/// 民族 stands at about 31%, the value at 39-40%).
const ETHNICITY_VALUE_FROM: f32 = 0.37;
/// Where the portrait is on the front.
const PORTRAIT: [f32; 4] = [0.60, 0.08, 0.95, 0.76];

/// Reads one photo of one side; region names in the address and the authority are mended,
/// a name's first character checked, and traditional forms read for simplified characters
/// folded, against `lexicon`.
pub fn read_side(
    engine: &OcrEngine,
    photo: &RgbImage,
    settings: &ReaderSettings,
    lexicon: &Lexicon,
) -> Result<SideReading, OcrError> {
    let (located, page) = locate::read_upright(engine, photo, ID_CARD_DETECTOR_SIDE, Detector::Fast)?;
    let width = CARD_WIDTH as f32;
    let side = idcard::side_of(&page.lines);
    // The foreigner's card is known by its number, or by its layout when the number is unread.
    let foreign = side == Some(Side::Front) && crate::foreign::is_front(&page.lines);
    let (front, back) = match side {
        Some(Side::Front) => {
            let mut front;
            if foreign {
                front = crate::foreign::read_front(&page.lines, width);
                crate::foreign::second_looks(engine, &page.image, &page.lines, &mut front)?;
            } else {
                front = idcard::read_front(&page.lines, width);
                reread_missing(engine, &page.image, &page.lines, &mut front)?;
                rescore_birth_day(engine, &page.image, &page.lines, &mut front)?;
                rescore_surname(engine, &page.image, &page.lines, &lexicon.surnames, &mut front)?;
            }
            for field in [front.name.as_mut(), front.address.as_mut(), front.nationality.as_mut()].into_iter().flatten()
            {
                field.text = lexicon.variants.fold(&field.text);
            }
            if let Some(address) = front.address.as_mut() {
                address.text = lexicon.regions.mend_address(&address.text);
            }
            (Some(front), None)
        }
        Some(Side::Back) => {
            let mut back = idcard::read_back(&page.lines, width);
            if let Some(authority) = back.issuing_authority.as_mut() {
                authority.text = lexicon.regions.mend_authority(&lexicon.variants.fold(&authority.text));
            }
            (None, Some(back))
        }
        None => (None, None),
    };
    let measures = Measures {
        colour_spread: colour_spread(&page.image),
        screen_pattern: located.corners.as_ref().and_then(|q| screen_pattern(photo, q)),
        background_pattern: located.corners.as_ref().and_then(|q| background_pattern(photo, q)),
        sharpness: sharpness(&page.image),
    };
    let mut warnings = Vec::new();
    if !located.border_complete {
        warnings.push(Warning::IncompleteBorder);
    }
    if measures.colour_spread < settings.min_colour_spread {
        warnings.push(Warning::GreyscaleCopy);
    }
    if measures.screen_pattern.is_some_and(|p| p > settings.max_screen_pattern)
        || measures.background_pattern.is_some_and(|p| p > settings.max_background_pattern)
    {
        warnings.push(Warning::ScreenRecapture);
    }
    if side.is_some() && measures.sharpness < settings.min_sharpness {
        warnings.push(Warning::Blurry);
    }
    let fields: &[(&str, [f32; 4])] = match side {
        Some(Side::Front) => &FRONT_FIELDS,
        Some(Side::Back) => &BACK_FIELDS,
        None => &[],
    };
    for (field, area) in fields {
        if glare_share(&page.image, *area) > settings.max_glare_share {
            warnings.push(Warning::Glare { field: Cow::Borrowed(field) });
        }
    }
    let document = match (&front, &back) {
        (Some(f), _) => idcard::front_kind(f).or(foreign.then_some(DocumentKind::ForeignPermanentResidentCard)),
        (_, Some(b)) => b.title_kind,
        _ => None,
    };
    match (&front, &back) {
        (Some(f), _) => {
            let mut expected = vec![("name", &f.name), ("sex", &f.sex)];
            // Only the resident card prints 民族; the foreigner's card has no address, but its
            // Latin name, nationality and validity on the front.
            if document.is_none_or(|d| d == DocumentKind::ResidentIdCard) {
                expected.push(("ethnicity", &f.ethnicity));
            }
            expected.push(("birth_date", &f.birth_date));
            if document == Some(DocumentKind::ForeignPermanentResidentCard) {
                expected.extend([
                    ("english_name", &f.english_name),
                    ("nationality", &f.nationality),
                    ("valid_from", &f.valid_from),
                    ("valid_until", &f.valid_until),
                ]);
            } else {
                expected.push(("address", &f.address));
            }
            expected.push(("id_number", &f.id_number));
            unreadable_fields(&expected, settings, &mut warnings)
        }
        (_, Some(b)) => {
            let mut expected = vec![("issuing_authority", &b.issuing_authority)];
            // The foreigner's card prints its validity on the front.
            if document != Some(DocumentKind::ForeignPermanentResidentCard) {
                expected.extend([("valid_from", &b.valid_from), ("valid_until", &b.valid_until)]);
            }
            unreadable_fields(&expected, settings, &mut warnings)
        }
        _ => warnings.push(Warning::NotAnIdCard),
    }
    let portrait_area = (side == Some(Side::Front)).then(|| share_quad(PORTRAIT));
    let checks = match &front {
        Some(f) if foreign => crate::foreign::nationality_check(f, &lexicon.countries).into_iter().collect(),
        _ => Vec::new(),
    };
    Ok(SideReading {
        side,
        document,
        front,
        back,
        rotation: page.rotation.degrees(),
        corners: located.corners,
        portrait_area,
        measures,
        warnings,
        checks,
        lines: page.lines,
        card: page.image,
    })
}

/// Second looks at the front's short fields the detector can miss: a lone character after a
/// faint label (民族 回), a day and month printed apart from the year, or a whole sex row. The
/// row is known from what was read on it (男/女, the year) or, for a sex row read not at all,
/// from the rows around it (half way from the name to the birth date), so the band from there
/// to the portrait is read again as one line.
fn reread_missing(engine: &OcrEngine, card: &RgbImage, lines: &[TextLine], front: &mut Front) -> Result<(), OcrError> {
    let width = card.width() as f32;
    let band_at = |top: f32, bottom: f32, from_x: f32| -> Option<Quad> {
        let pad = 0.25 * (bottom - top);
        let (x0, x1) = (from_x.max(0.0), 0.6 * width);
        (x1 - x0 > 8.0).then(|| Quad::rect(x0, (top - pad).max(0.0), x1 - x0, bottom - top + 2.0 * pad))
    };
    let band = |anchor: &TextLine, from_x: f32| {
        let (_, top, _, bottom) = anchor.quad.bounds();
        band_at(top, bottom, from_x)
    };
    let read_band = |quad: Quad| -> Result<Option<(String, f32)>, OcrError> {
        let Some(crop) = shiren_ocr::geometry::crop_line(card, &quad) else { return Ok(None) };
        Ok(engine.recognize(&[&crop])?.pop())
    };
    let in_fields = |l: &&TextLine| in_field_column(l, width);
    // A name the detector did not find at all (its faint label alone was, and may have been
    // taken for the name: a name has a surname and a given name, two characters at least): the
    // band right of the label, as tall as a name (about half again the label's), read as one line.
    if front.name.as_ref().is_none_or(|n| n.text.chars().count() < 2)
        && let Some(label) = lines
            .iter()
            .filter(|l| l.quad.bounds().0 < 0.2 * width && l.text.trim_end().ends_with('名'))
            .max_by(|a, b| a.quad.bounds().2.total_cmp(&b.quad.bounds().2))
        && let centre = label.quad.center()[1]
        && let half = 0.8 * label.quad.height()
        && let Some(quad) = band_at(centre - half, centre + half, label.quad.bounds().2 + 4.0)
        && let Some((text, confidence)) = read_band(quad)?
        && let name = idcard::name_characters(&text)
        && !name.is_empty()
    {
        front.name = Some(Field { text: name, confidence });
    }
    let year_line = birth_year_line(lines, width);
    if front.sex.is_none()
        && let (Some(name), Some(year)) = (front.name.as_ref(), year_line)
        && let Some(name_line) = lines.iter().filter(in_fields).find(|l| l.text.contains(name.text.as_str()))
        && let middle = (name_line.quad.center()[1] + year.quad.center()[1]) / 2.0
        && let Some(quad) =
            band_at(middle - year.quad.height() / 2.0, middle + year.quad.height() / 2.0, year.quad.bounds().0 - 4.0)
        && let Some((text, confidence)) = read_band(quad)?
    {
        let (sex, ethnicity) = idcard::sex_and_ethnicity(&text);
        front.sex = sex.map(|s| Field { text: s.to_string(), confidence });
        if front.ethnicity.is_none() {
            front.ethnicity = ethnicity.map(|e| Field { text: e.to_string(), confidence });
        }
    }
    // From the sex onwards, and if that reads nothing, from where the value stands on the card
    // (past the label, whose faint print read in the band can swamp a lone character). Still
    // nothing: a rare character misread (彝 as 鲜) or unread (畲); the 56 names are the only
    // values the field can hold, so each is scored against the first band (from the same
    // network run that read it).
    if front.ethnicity.is_none()
        && let Some(sex) = lines.iter().filter(in_fields).find(|l| l.text.contains(['男', '女']))
    {
        let first = match band(sex, sex.quad.bounds().2 + 4.0).and_then(|q| shiren_ocr::geometry::crop_line(card, &q)) {
            Some(crop) => Some(score_ethnicities(engine, &crop)?),
            None => None,
        };
        let found = |text: &str, confidence: f32| {
            crate::ethnicity::find_ethnicity(text).map(|name| Field { text: name.to_string(), confidence })
        };
        front.ethnicity = first.as_ref().and_then(|s| found(&s.reading.0, s.reading.1));
        if front.ethnicity.is_none()
            && let Some(quad) = band(sex, ETHNICITY_VALUE_FROM * width)
            && let Some((text, confidence)) = read_band(quad)?
        {
            front.ethnicity = found(&text, confidence);
        }
        if front.ethnicity.is_none() {
            front.ethnicity = first.as_ref().and_then(likeliest_ethnicity);
        }
    }
    if front.birth_date.is_none()
        && let Some(year) = year_line
        && let Some(quad) = band(year, year.quad.bounds().0 - 4.0)
        && let Some((text, confidence)) = read_band(quad)?
    {
        let date = idcard::birth_date_from_text(&text)
            .or_else(|| front.id_number.as_ref().and_then(|n| idcard::birth_date_matching_number(&text, &n.text)));
        front.birth_date = date.map(|text| Field { text, confidence });
    }
    Ok(())
}

/// Whether a line starts left of the portrait, where the front's fields are printed.
fn in_field_column(line: &TextLine, card_width: f32) -> bool {
    line.quad.bounds().0 < 0.6 * card_width
}

/// The birth row's year: the first line in the field column, past the labels, that opens with
/// four digits.
fn birth_year_line(lines: &[TextLine], card_width: f32) -> Option<&TextLine> {
    lines.iter().find(|l| {
        in_field_column(l, card_width)
            && l.quad.bounds().0 > 0.1 * card_width
            && l.text.chars().take_while(char::is_ascii_digit).count() == 4
    })
}

/// A birth row read without its closing 日 and with a day ending in 8 (`1951年3月18`): 日 is
/// read as 8 now and then, and the row always ends in 日. Both readings are scored with the
/// closing 日 the print must have — the day as read (`…18日`, its 日 then lost) and the day
/// without the 8 (`…1日`) — and the likelier is taken; the ID number plays no part, so a printed
/// date that disagrees with the number still fails that check.
fn rescore_birth_day(
    engine: &OcrEngine,
    card: &RgbImage,
    lines: &[TextLine],
    front: &mut Front,
) -> Result<(), OcrError> {
    let Some(birth) = front.birth_date.as_mut() else { return Ok(()) };
    let width = card.width() as f32;
    // The row's last line (the row may be read as one line or as 1951年 | 3月 | 18): on the
    // year's row, the rightmost.
    let Some(year_line) = birth_year_line(lines, width) else { return Ok(()) };
    let row_y = year_line.quad.center()[1];
    let Some(line) = lines
        .iter()
        .filter(|l| in_field_column(l, width))
        .filter(|l| (l.quad.center()[1] - row_y).abs() < year_line.quad.height() / 2.0)
        .max_by(|a, b| a.quad.bounds().0.total_cmp(&b.quad.bounds().0))
    else {
        return Ok(());
    };
    let last = line.text.trim_end();
    if last.contains('日') || !last.ends_with('8') {
        return Ok(());
    }
    let text = idcard::compact(&line.text);
    let digits_at_end = text.chars().rev().take_while(char::is_ascii_digit).count();
    let day_run = &text[text.len() - digits_at_end..];
    // The field as read, `YYYY-MM-DD`, whose day must be this line's last number.
    let mut parts = birth.text.split('-').map(str::parse::<u16>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(());
    };
    if day_run.len() < 2 || day_run.parse::<u16>().ok() != Some(day) {
        return Ok(());
    }
    let Ok(shorter_day) = day_run[..day_run.len() - 1].parse::<u8>() else { return Ok(()) };
    let Some(shorter) = u8::try_from(month).ok().and_then(|m| shiren_idcard::Date::new(year, m, shorter_day)) else {
        return Ok(());
    };
    let Some(crop) = shiren_ocr::geometry::crop_line(card, &line.quad) else { return Ok(()) };
    let as_read = format!("{text}日");
    let without_eight = format!("{}日", &text[..text.len() - 1]);
    let scored = engine.score_texts(&crop, &[&as_read, &without_eight])?;
    if let [Some(kept), Some(changed)] = scored.scores[..]
        && changed > kept
    {
        birth.text = shorter.to_string();
    }
    Ok(())
}

/// How much likelier the best listed surname must be than the next (natural log: 20 times).
const SURNAME_MARGIN: f32 = 3.0;
/// How far below the name row as read the best listed surname may be.
const SURNAME_GAP: f32 = 6.0;

/// A name whose first character is no listed surname (殷 read as 股): the name row is scored
/// with each one-character surname in its place, and the likeliest is taken when it is clearly
/// ahead of the others and not far below the reading. A rare surname read right stays (the
/// recogniser gives it a clear lead over any listed look-alike).
fn rescore_surname(
    engine: &OcrEngine,
    card: &RgbImage,
    lines: &[TextLine],
    surnames: &crate::surnames::Surnames,
    front: &mut Front,
) -> Result<(), OcrError> {
    let Some(name) = front.name.as_mut() else { return Ok(()) };
    if surnames.starts_name(&name.text) {
        return Ok(());
    }
    let Some((line, text)) =
        lines.iter().map(|l| (l, idcard::compact(&l.text))).find(|(_, text)| text.contains(&name.text))
    else {
        return Ok(());
    };
    let Some(crop) = shiren_ocr::geometry::crop_line(card, &line.quad) else { return Ok(()) };
    let rest: String = name.text.chars().skip(1).collect();
    let candidates: Vec<(char, String)> =
        surnames.single().map(|s| (s, text.replacen(&name.text, &format!("{s}{rest}"), 1))).collect();
    let mut texts: Vec<&str> = vec![&text];
    texts.extend(candidates.iter().map(|(_, t)| t.as_str()));
    let scored = engine.score_texts(&crop, &texts)?;
    let Some(Some(as_read)) = scored.scores.first().copied() else { return Ok(()) };
    let mut ranked: Vec<(f32, char)> =
        candidates.iter().zip(&scored.scores[1..]).filter_map(|((s, _), score)| score.map(|v| (v, *s))).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let Some(&(best, surname)) = ranked.first() else { return Ok(()) };
    let second = ranked.get(1).map_or(f32::NEG_INFINITY, |r| r.0);
    if best - second >= SURNAME_MARGIN && as_read - best <= SURNAME_GAP {
        name.text = format!("{surname}{rest}");
    }
    Ok(())
}

/// How much likelier the best ethnic name must be than the next (natural log: 20 times).
const ETHNICITY_MARGIN: f32 = 3.0;
/// How far below the recogniser's own best reading of the band the best name may be (a rare
/// character read as another costs a few nats a character; a band without any name, tens).
const ETHNICITY_GAP: f32 = 12.0;

/// The band `crop` (the sex row past the sex) read, and scored for each of the 56 ethnic names
/// alone or after the label (`民族X`, `族X`, `X`; in that order, three per name).
fn score_ethnicities(engine: &OcrEngine, crop: &RgbImage) -> Result<TextScores, OcrError> {
    let texts: Vec<String> = crate::ethnicity::ETHNIC_GROUPS
        .iter()
        .flat_map(|g| [g.to_string(), format!("民族{g}"), format!("族{g}")])
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    engine.score_texts(crop, &refs)
}

/// The ethnic name the scored band most likely shows, when it is clearly the likeliest and not
/// far from what the recogniser reads freely. The confidence is its probability relative to
/// the free reading's.
fn likeliest_ethnicity(scored: &TextScores) -> Option<Field> {
    let mut per_group: Vec<(f32, &str)> = crate::ethnicity::ETHNIC_GROUPS
        .iter()
        .zip(scored.scores.chunks(3))
        .map(|(g, scores)| (scores.iter().flatten().copied().fold(f32::NEG_INFINITY, f32::max), *g))
        .filter(|(s, _)| s.is_finite())
        .collect();
    per_group.sort_by(|a, b| b.0.total_cmp(&a.0));
    let &(best, name) = per_group.first()?;
    let second = per_group.get(1).map_or(f32::NEG_INFINITY, |s| s.0);
    let clear = best - second >= ETHNICITY_MARGIN && scored.best_path - best <= ETHNICITY_GAP;
    clear.then(|| Field { text: name.to_string(), confidence: (best - scored.best_path).exp() })
}

/// Reads one or two photos (the front, the back, or both in any order) and cross-checks them.
pub fn read_card(
    engine: &OcrEngine,
    photos: &[RgbImage],
    regions: &RegionTable,
    settings: &ReaderSettings,
    lexicon: &Lexicon,
) -> Result<IdCardReading, OcrError> {
    let sides = photos.iter().map(|p| read_side(engine, p, settings, lexicon)).collect::<Result<Vec<_>, _>>()?;
    Ok(combine(sides, regions))
}

/// Puts sides together: the first front and the first back, the checks between them, and
/// every warning once.
pub fn combine(sides: Vec<SideReading>, regions: &RegionTable) -> IdCardReading {
    let front = sides.iter().find_map(|s| s.front.clone());
    let back = sides.iter().find_map(|s| s.back.clone());
    let mut checks = idcard::cross_checks(front.as_ref(), back.as_ref(), regions);
    checks.extend(sides.iter().flat_map(|s| s.checks.iter().cloned()));
    let mut warnings: Vec<Warning> = Vec::new();
    for w in sides.iter().flat_map(|s| s.warnings.iter()) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let fronts = sides.iter().filter(|s| s.side == Some(Side::Front)).count();
    let backs = sides.iter().filter(|s| s.side == Some(Side::Back)).count();
    let same_side_twice = sides.len() > 1 && (fronts > 1 || backs > 1);
    let one_card = match (&front, &back) {
        (Some(f), Some(b)) => same_card(f, b),
        _ => true,
    };
    let document = front
        .as_ref()
        .and_then(idcard::front_kind)
        .or(back.as_ref().and_then(|b| b.title_kind))
        .or_else(|| sides.iter().find_map(|s| s.document));
    if same_side_twice || !one_card {
        warnings.push(Warning::FrontBackMismatch);
    }
    IdCardReading { document, front, back, checks, warnings, sides }
}

/// Whether a front and a back read apart can be the two sides of one card (the same test
/// `combine` applies; for sides photographed in separate steps).
pub fn same_card(front: &Front, back: &Back) -> bool {
    let kinds_agree = match (idcard::front_kind(front), back.title_kind) {
        (Some(f), Some(b)) => f.same_card(b),
        _ => true,
    };
    kinds_agree && same_place(front, back)
}

/// Whether the back's issuing authority names a place of the front's address: a police bureau
/// issues cards for the people registered in its area, so one of the authority's place names
/// (a two-character run before 公安, administrative suffixes aside) appears in the address.
/// Unreadable fields count as the same place: that is reported on its own.
fn same_place(front: &Front, back: &Back) -> bool {
    let (Some(address), Some(authority)) = (&front.address, &back.issuing_authority) else { return true };
    // Administrative suffixes (市, 区, ...) are shared by every place; only the names count.
    const SUFFIXES: &str = "省市县区州盟旗镇乡";
    let place: Vec<char> = authority.text.split("公安").next().unwrap_or("").chars().collect();
    let names: Vec<String> =
        place.windows(2).filter(|w| w.iter().all(|c| !SUFFIXES.contains(*c))).map(|w| w.iter().collect()).collect();
    names.is_empty() || names.iter().any(|n| address.text.contains(n.as_str()))
}

fn unreadable_fields(fields: &[(&'static str, &Option<Field>)], settings: &ReaderSettings, out: &mut Vec<Warning>) {
    for (name, field) in fields {
        let readable = field.as_ref().is_some_and(|f| f.confidence >= settings.min_field_confidence);
        if !readable {
            out.push(Warning::FieldUnreadable { field: Cow::Borrowed(name) });
        }
    }
}

/// A quad on the straightened card from shares of its width and height.
fn share_quad([l, t, r, b]: [f32; 4]) -> Quad {
    let (w, h) = (CARD_WIDTH as f32, CARD_HEIGHT as f32);
    Quad::rect(l * w, t * h, (r - l) * w, (b - t) * h)
}

/// See `Measures::colour_spread`.
pub fn colour_spread(card: &RgbImage) -> f32 {
    // Every 3rd pixel in each direction: plenty for a percentile, a ninth of the work.
    let chroma: Vec<(f32, f32)> = card
        .enumerate_pixels()
        .filter(|(x, y, _)| x % 3 == 0 && y % 3 == 0)
        .map(|(_, _, p)| {
            let [r, g, b] = p.0.map(f32::from);
            (-0.1687 * r - 0.3313 * g + 0.5 * b, 0.5 * r - 0.4187 * g - 0.0813 * b)
        })
        .collect();
    if chroma.is_empty() {
        return 0.0;
    }
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let cb = median(chroma.iter().map(|c| c.0).collect());
    let cr = median(chroma.iter().map(|c| c.1).collect());
    let mut distance: Vec<f32> = chroma.iter().map(|c| ((c.0 - cb).powi(2) + (c.1 - cr).powi(2)).sqrt()).collect();
    distance.sort_by(f32::total_cmp);
    distance[distance.len() * 98 / 100]
}

/// The default blur limit, between what was measured on generated cards (tests/generated.rs):
/// 24 sides photographed with up to 1.2 px of blur, all read, 34 to 465; the same fronts under
/// a further 2.5 px gaussian, 1.2 to 4.7.
pub const MIN_SHARPNESS: f32 = 12.0;

/// See `Measures::sharpness`: over the left two thirds of the card, where the fields are
/// (the front's portrait and the back's emblem are smooth whatever the focus).
pub fn sharpness(card: &RgbImage) -> f32 {
    let (w, h) = card.dimensions();
    let luma = |x: u32, y: u32| {
        let [r, g, b] = card.get_pixel(x, y).0.map(f32::from);
        0.299 * r + 0.587 * g + 0.114 * b
    };
    let (x1, y1) = ((w * 2 / 3).max(2), h.saturating_sub(1));
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..y1 {
        for x in 1..x1 {
            let lap = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1) - 4.0 * luma(x, y);
            sum += f64::from(lap);
            sum_sq += f64::from(lap) * f64::from(lap);
            n += 1.0;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

/// See `Measures::screen_pattern`: three patches along the card's middle, where the card
/// certainly is, at the photo's resolution.
fn screen_pattern(photo: &RgbImage, corners: &Quad) -> Option<f32> {
    let [tl, tr, br, bl] = corners.0;
    let at = |u: f32, v: f32| {
        let top = [tl[0] + (tr[0] - tl[0]) * u, tl[1] + (tr[1] - tl[1]) * u];
        let bottom = [bl[0] + (br[0] - bl[0]) * u, bl[1] + (br[1] - bl[1]) * u];
        [top[0] + (bottom[0] - top[0]) * v, top[1] + (bottom[1] - top[1]) * v]
    };
    let half = shiren_spectrum::PATCH as f32 / 2.0;
    let mut peaks: Vec<f32> = [(0.3, 0.5), (0.5, 0.5), (0.7, 0.5)]
        .iter()
        .filter_map(|&(u, v)| {
            let c = at(u, v);
            if !(c[0] >= half && c[1] >= half) {
                return None;
            }
            let patch = shiren_spectrum::luma_patch(
                photo.as_raw(),
                photo.width() as usize,
                photo.height() as usize,
                (c[0] - half) as usize,
                (c[1] - half) as usize,
            )?;
            Some(shiren_spectrum::periodic_peak(&patch))
        })
        .collect();
    if peaks.is_empty() {
        return None;
    }
    peaks.sort_by(f32::total_cmp);
    Some(peaks[peaks.len() / 2])
}

/// See `Measures::background_pattern`: patches on a 4×4 grid over the photo whose every sample
/// point lies at least 16 pixels outside the card; the median of their periodic peaks, when at
/// least two fit.
fn background_pattern(photo: &RgbImage, corners: &Quad) -> Option<f32> {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let patch = shiren_spectrum::PATCH;
    if w < patch || h < patch {
        return None;
    }
    let clear = |x: f32, y: f32| !inside_grown(corners, x, y, 16.0);
    let mut peaks: Vec<f32> = Vec::new();
    for gy in 0..4 {
        for gx in 0..4 {
            let x0 = (w - patch) * gx / 3;
            let y0 = (h - patch) * gy / 3;
            let p = patch as f32;
            let (fx, fy) = (x0 as f32, y0 as f32);
            let points = [0.0, 0.5, 1.0];
            let outside = points.iter().all(|&u| points.iter().all(|&v| clear(fx + u * p, fy + v * p)));
            if !outside {
                continue;
            }
            if let Some(luma) = shiren_spectrum::luma_patch(photo.as_raw(), w, h, x0, y0) {
                peaks.push(shiren_spectrum::periodic_peak(&luma));
            }
        }
    }
    if peaks.len() < 2 {
        return None;
    }
    peaks.sort_by(f32::total_cmp);
    Some(peaks[peaks.len() / 2])
}

/// Whether (x, y) lies inside the convex quad grown by `margin` pixels on every side.
fn inside_grown(quad: &Quad, x: f32, y: f32, margin: f32) -> bool {
    let c = &quad.0;
    // Signed distance to each edge (negative outside for a clockwise quad in image axes); the
    // sign convention is taken from the quad's own orientation.
    let area2: f32 = (0..4).map(|i| c[i][0] * c[(i + 1) % 4][1] - c[(i + 1) % 4][0] * c[i][1]).sum();
    let orientation = if area2 >= 0.0 { 1.0 } else { -1.0 };
    (0..4).all(|i| {
        let (a, b) = (c[i], c[(i + 1) % 4]);
        let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
        let len = (ex * ex + ey * ey).sqrt().max(1e-3);
        let cross = orientation * (ex * (y - a[1]) - ey * (x - a[0])) / len;
        cross >= -margin
    })
}

/// The share of near-white, saturated pixels in an area of the card given in shares.
fn glare_share(card: &RgbImage, [l, t, r, b]: [f32; 4]) -> f32 {
    let (w, h) = (card.width() as f32, card.height() as f32);
    let (x0, x1) = ((l * w) as u32, ((r * w) as u32).min(card.width()));
    let (y0, y1) = ((t * h) as u32, ((b * h) as u32).min(card.height()));
    let (mut bright, mut all) = (0u32, 0u32);
    for y in y0..y1 {
        for x in x0..x1 {
            all += 1;
            if card.get_pixel(x, y).0.iter().all(|&c| c >= 250) {
                bright += 1;
            }
        }
    }
    if all == 0 { 0.0 } else { bright as f32 / all as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_grey_card_has_no_colour_spread_and_a_coloured_one_has() {
        let grey = RgbImage::from_fn(CARD_WIDTH, CARD_HEIGHT, |x, _| {
            let v = (x % 200) as u8 + 30;
            Rgb([v, v, v.saturating_add(4)])
        });
        assert!(colour_spread(&grey) < 3.0, "{}", colour_spread(&grey));
        let coloured = RgbImage::from_fn(CARD_WIDTH, CARD_HEIGHT, |x, y| {
            if (x / 40 + y / 40) % 3 == 0 { Rgb([60, 100, 200]) } else { Rgb([225, 225, 230]) }
        });
        assert!(colour_spread(&coloured) > 20.0, "{}", colour_spread(&coloured));
    }

    #[test]
    fn glare_is_found_in_the_field_it_covers() {
        let mut card = RgbImage::from_pixel(CARD_WIDTH, CARD_HEIGHT, Rgb([220, 225, 230]));
        for y in 420..500 {
            for x in 300..800 {
                card.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        assert!(glare_share(&card, FRONT_FIELDS[4].1) > 0.3);
        assert_eq!(glare_share(&card, FRONT_FIELDS[0].1), 0.0);
    }

    #[test]
    fn points_around_a_card_are_told_from_points_on_it() {
        let card = Quad([[100.0, 100.0], [500.0, 120.0], [490.0, 370.0], [90.0, 350.0]]);
        assert!(inside_grown(&card, 300.0, 240.0, 0.0));
        assert!(!inside_grown(&card, 50.0, 50.0, 16.0));
        assert!(inside_grown(&card, 85.0, 240.0, 16.0), "within the margin");
        assert!(!inside_grown(&card, 60.0, 240.0, 16.0));
        // The same card with its corners listed the other way round.
        let reversed = Quad([card.0[0], card.0[3], card.0[2], card.0[1]]);
        assert!(inside_grown(&reversed, 300.0, 240.0, 0.0) && !inside_grown(&reversed, 600.0, 240.0, 16.0));
    }

    #[test]
    fn the_authority_must_name_a_place_of_the_address() {
        let field = |t: &str| Some(Field { text: t.into(), confidence: 1.0 });
        let front = Front { address: field("河南省安阳市文峰区幸福路1号"), ..Front::default() };
        let back = Back { issuing_authority: field("安阳市公安局文峰分局"), ..Back::default() };
        assert!(same_place(&front, &back));
        let other = Back { issuing_authority: field("深圳市公安局南山分局"), ..Back::default() };
        assert!(!same_place(&front, &other));
        assert!(same_place(&Front::default(), &other), "unread fields are reported on their own");
    }
}
