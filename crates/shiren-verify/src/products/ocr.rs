//! ID_OCR and BANKCARD_OCR: card photos read by the OCR engine (`shiren-documents` does the
//! reading). The caller gets every field once, in the answer; the record keeps them masked,
//! like every other personal datum, with the ID number's keyed hash so records can be found by
//! it. The images are kept only when the scene keeps images.
//!
//! Outcome: `200` when every field of each side given was read and every cross-check passed;
//! `208` document risk (a greyscale copy, a screen recapture, a failed cross-check, two sides of
//! different cards); `209` unreadable (not an ID card / no card number, a field unreadable).
//! Glare, an incomplete border and a missing portrait face are warnings without a refusal of
//! their own (a field they hide is reported unreadable).

use std::io::Cursor;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use shiren_documents::Lexicon;
use shiren_documents::bankcard::{self, BankCardReading, BinTable, CardType};
use shiren_documents::idcard::{Back, Check, Field, Front, Side};
use shiren_documents::reader::{self, Measures, ReaderSettings, SideReading, Warning};
use shiren_face::{DecodeLimits, Engine};
use shiren_idcard::{DocumentKind, RegionTable, mask_bank_card, mask_id_number, mask_name};
use shiren_ocr::{OcrEngine, Quad};

use super::{Detail, Verification};
use crate::call::{Call, Verdict};
use crate::caller::Caller;
use crate::error::{EngineError, Error, ErrorCode, SubCode};
use crate::images::{HasImages, ImageSource};
use crate::scenes::Product;
use crate::services::Services;

/// Working memory of one OCR read beyond the decoded photo: the straightened card, the
/// detector's input and map, the line crops.
pub(crate) const OCR_MEMORY: u64 = 48 << 20;

/// ID card photos: the front, the back, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdCardOcrRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    /// The side with the photo (or either side: the side is recognised).
    #[serde(default)]
    pub front_image: ImageSource,
    /// The other side.
    #[serde(default)]
    pub back_image: ImageSource,
    /// Answer the front's portrait as a JPEG (base64).
    #[serde(default)]
    pub return_portrait: bool,
}

impl HasImages for IdCardOcrRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("front_image", &mut self.front_image), ("back_image", &mut self.back_image)]
    }
}

/// A bank card photo.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankCardOcrRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    #[serde(default)]
    pub image: ImageSource,
}

impl HasImages for BankCardOcrRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

/// How one photo was read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PhotoReading {
    /// `front_image` or `back_image`.
    pub field: &'static str,
    /// `front`, `back`, or null when the photo shows neither.
    #[schema(value_type = Option<String>)]
    pub side: Option<Side>,
    /// The card's corners in the photo (top-left first), when its outline was found.
    #[schema(value_type = Option<Vec<Vec<f32>>>)]
    pub corners: Option<Quad>,
    /// Clockwise turn, in degrees, that made the straightened card upright.
    pub rotation: u32,
    /// The colour spread and screen-pattern measures behind the copy and recapture warnings.
    #[schema(value_type = Object)]
    pub measures: Measures,
    pub lines: usize,
}

/// The front's portrait.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortraitView {
    /// A face was found in the portrait area.
    pub face_found: bool,
    /// The portrait area as a JPEG, base64, when `return_portrait` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jpeg_base64: Option<String>,
}

/// ID_OCR's findings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdCardOcrDetail {
    /// `resident_id_card`, `hong_kong_residence_permit`, `macao_residence_permit`,
    /// `taiwan_residence_permit` or `foreign_permanent_resident_card`, from the number or the
    /// back's title; null when neither was read.
    #[schema(value_type = Option<String>)]
    pub document: Option<DocumentKind>,
    /// 姓名, 性别, 民族, 出生 (YYYY-MM-DD), 住址, 公民身份号码: each `{text, confidence}`. A
    /// foreigner's permanent residence card has no ethnicity or address but `english_name`
    /// (`SMITH, JOHN`), `nationality` (美国), `nationality_code` (USA), `valid_from` and
    /// `valid_until` on its front; `name` is its Chinese name.
    #[schema(value_type = Object)]
    pub front: Option<Front>,
    /// 签发机关, 有效期限 (`valid_from`, `valid_until`: a date or 长期); on residence permits also
    /// 签发次数 (`issue_count`) and 通行证号码 (`pass_number`, masked in the record).
    #[schema(value_type = Object)]
    pub back: Option<Back>,
    /// Cross-checks: `check_character`, `region`, `birth_date`, `sex`, `ethnicity`,
    /// `nationality` (a 2017 foreigner's card: the code against the number's letters),
    /// `validity_period`, `not_expired`, each `{name, passed, detail}`.
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<Check>,
    /// `incomplete_border`, `greyscale_copy`, `screen_recapture`, `glare` (with `field`),
    /// `field_unreadable` (with `field`), `portrait_missing`, `front_back_mismatch`,
    /// `not_an_id_card`: each `{code, field?}`.
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Warning>,
    pub photos: Vec<PhotoReading>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portrait: Option<PortraitView>,
}

/// BANKCARD_OCR's findings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankCardOcrDetail {
    /// Digits only (masked in the record).
    pub card_number: Option<String>,
    pub number_confidence: Option<f32>,
    /// `MM/YY`.
    pub expiry: Option<String>,
    pub bank: Option<String>,
    /// The card product's name in the BIN table.
    pub card_name: Option<String>,
    /// `debit`, `credit`, `semi_credit` or `prepaid`.
    #[schema(value_type = Option<String>)]
    pub card_type: Option<CardType>,
    /// Clockwise turn, in degrees, that made the straightened card upright.
    pub rotation: u32,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Warning>,
}

/// One ID card photo read, with the front's portrait looked at.
pub struct SideWork {
    pub reading: SideReading,
    /// On a front: what the portrait area holds.
    pub portrait: Option<PortraitFound>,
}

/// A front's portrait area, looked at once by the face engine.
pub struct PortraitFound {
    pub face_found: bool,
    /// The area as a JPEG, when asked.
    pub jpeg: Option<Vec<u8>>,
    /// The largest face's template, when asked (ID_PLUS compares the live face with it).
    pub template: Option<Vec<f32>>,
}

/// What to make of a front's portrait beyond whether it shows a face.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortraitWanted {
    pub jpeg: bool,
    pub template: bool,
}

pub async fn id_card_ocr(
    services: &Services,
    caller: &Caller,
    request: IdCardOcrRequest,
) -> Result<Verification, Error> {
    let IdCardOcrRequest { scene_id, order_no, front_image, back_image, return_portrait } = request;
    let mut call = Call::begin(services, caller, Product::IdOcr, &scene_id, order_no).await?;
    let outcome = judge_id_card(&mut call, &front_image, &back_image, return_portrait).await;
    call.conclude(outcome).await
}

async fn judge_id_card(
    call: &mut Call<'_>,
    front_image: &ImageSource,
    back_image: &ImageSource,
    return_portrait: bool,
) -> Result<Verdict, Error> {
    let mut photos = Vec::new();
    for (field, source) in [("front_image", front_image), ("back_image", back_image)] {
        if source.is_given() {
            photos.push((field, call.image(field, source).await?));
        }
    }
    if photos.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingImage,
            "front_image, back_image: give at least one side of the card as base64, url or a file upload",
        ));
    }
    let fields: Vec<&'static str> = photos.iter().map(|(f, _)| *f).collect();
    let settings = ReaderSettings::default();
    let works = call
        .photo_work(photos, OCR_MEMORY * fields.len() as u64, move |services, bytes| {
            let wanted = PortraitWanted { jpeg: return_portrait, template: false };
            read_id_photo(&services.engine, &services.ocr, bytes, &settings, &services.lexicon, wanted)
        })
        .await?;
    let (sub_code, detail) = id_card_detail(&fields, works, &call.services.regions);
    if let Some(number) = detail.front.as_ref().and_then(|f| f.id_number.as_ref()) {
        let name = detail.front.as_ref().and_then(|f| f.name.as_ref()).map(|n| n.text.clone()).unwrap_or_default();
        call.claim_identity(name, number.text.clone());
    }
    let masked = IdCardOcrDetail {
        front: detail.front.as_ref().map(mask_front),
        back: detail.back.as_ref().map(mask_back),
        portrait: detail.portrait.as_ref().map(|p| PortraitView { face_found: p.face_found, jpeg_base64: None }),
        ..detail.clone()
    };
    Ok(Verdict { record_detail: Some(Detail::IdCardOcr(masked)), ..Verdict::new(sub_code, Detail::IdCardOcr(detail)) })
}

/// Puts the photos' readings together (`fields` names each photo): the outcome and the
/// answer's detail.
pub fn id_card_detail(
    fields: &[&'static str],
    works: Vec<SideWork>,
    regions: &RegionTable,
) -> (SubCode, IdCardOcrDetail) {
    let mut portrait = None;
    let mut readings = Vec::new();
    let mut photo_views = Vec::new();
    for (field, work) in fields.iter().zip(works) {
        photo_views.push(PhotoReading {
            field,
            side: work.reading.side,
            corners: work.reading.corners,
            rotation: work.reading.rotation,
            measures: work.reading.measures,
            lines: work.reading.lines.len(),
        });
        portrait = portrait.or(work.portrait);
        readings.push(work.reading);
    }
    let mut combined = reader::combine(readings, regions);
    if portrait.as_ref().is_some_and(|p| !p.face_found) {
        combined.warnings.push(Warning::PortraitMissing);
    }
    let sub_code = id_card_outcome(&combined.warnings, &combined.checks);
    let detail = IdCardOcrDetail {
        document: combined.document,
        front: combined.front,
        back: combined.back,
        checks: combined.checks,
        warnings: combined.warnings,
        photos: photo_views,
        portrait: portrait
            .map(|p| PortraitView { face_found: p.face_found, jpeg_base64: p.jpeg.as_deref().map(base64_encode) }),
    };
    (sub_code, detail)
}

fn id_card_outcome(warnings: &[Warning], checks: &[Check]) -> SubCode {
    let unreadable = warnings.iter().any(|w| matches!(w, Warning::NotAnIdCard | Warning::FieldUnreadable { .. }));
    let risk = warnings
        .iter()
        .any(|w| matches!(w, Warning::GreyscaleCopy | Warning::ScreenRecapture | Warning::FrontBackMismatch))
        || checks.iter().any(|c| !c.passed);
    if unreadable {
        SubCode::DocumentUnreadable
    } else if risk {
        SubCode::DocumentRisk
    } else {
        SubCode::Pass
    }
}

/// The fields as the record keeps them: the names (Chinese and Latin) and number masked as
/// everywhere, the address to its first six characters (the province and city), the birth date
/// to its year.
pub(crate) fn mask_front(front: &Front) -> Front {
    let masked = |f: &Option<Field>, mask: &dyn Fn(&str) -> String| {
        f.as_ref().map(|f| Field { text: mask(&f.text), confidence: f.confidence })
    };
    Front {
        name: masked(&front.name, &|t| mask_name(t)),
        id_number: masked(&front.id_number, &|t| mask_id_number(t)),
        address: masked(&front.address, &|t| {
            let kept: String = t.chars().take(6).collect();
            format!("{kept}{}", "*".repeat(t.chars().count().saturating_sub(6).min(8)))
        }),
        birth_date: masked(&front.birth_date, &|t| format!("{}-**-**", t.get(..4).unwrap_or("****"))),
        english_name: masked(&front.english_name, &|t| mask_name(t)),
        // Every field is named (no `..front`): a field added to `Front` must be decided here.
        sex: front.sex.clone(),
        ethnicity: front.ethnicity.clone(),
        nationality: front.nationality.clone(),
        nationality_code: front.nationality_code.clone(),
        valid_from: front.valid_from.clone(),
        valid_until: front.valid_until.clone(),
    }
}

/// The back as the record keeps it: a permit's travel-permit number to its letter and last two
/// digits.
pub(crate) fn mask_back(back: &Back) -> Back {
    let pass_number = back.pass_number.as_ref().map(|f| {
        let chars: Vec<char> = f.text.chars().collect();
        let keep_head = usize::from(chars.first().is_some_and(char::is_ascii_alphabetic));
        let tail: String = chars.iter().skip(chars.len().saturating_sub(2)).collect();
        let head: String = chars.iter().take(keep_head).collect();
        Field { text: format!("{head}{}{tail}", "*".repeat(chars.len().saturating_sub(keep_head + 2))), ..f.clone() }
    });
    Back { pass_number, ..back.clone() }
}

/// Decodes with the face engine's bounded decoder, reads the side, and on a front looks for a
/// face in the portrait area (once: the template, when wanted, is of the face found there, in
/// the straightened card's pixels). The one path for the service, the capture page's card steps
/// and the command line.
pub fn read_id_photo(
    engine: &Engine,
    ocr: &OcrEngine,
    bytes: &[u8],
    settings: &ReaderSettings,
    lexicon: &Lexicon,
    wanted: PortraitWanted,
) -> Result<SideWork, EngineError> {
    let photo = decode(&engine.config().limits, bytes)?;
    let reading = reader::read_side(ocr, &photo, settings, lexicon)?;
    let portrait = match &reading.portrait_area {
        Some(area) if reading.side == Some(Side::Front) => {
            let (l, t, r, b) = area.bounds();
            let crop =
                image::imageops::crop_imm(&reading.card, l as u32, t as u32, (r - l) as u32, (b - t) as u32).to_image();
            let face_image = to_face_image(&crop)?;
            let faces = engine.detect_upright(&face_image)?;
            let largest = faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()));
            let template = match largest {
                Some(face) if wanted.template => Some(engine.embed(&face_image, face)?),
                _ => None,
            };
            let jpeg = if wanted.jpeg { Some(encode_jpeg(&crop)?) } else { None };
            Some(PortraitFound { face_found: largest.is_some(), jpeg, template })
        }
        _ => None,
    };
    Ok(SideWork { reading, portrait })
}

pub async fn bank_card_ocr(
    services: &Services,
    caller: &Caller,
    request: BankCardOcrRequest,
) -> Result<Verification, Error> {
    let BankCardOcrRequest { scene_id, order_no, image } = request;
    let mut call = Call::begin(services, caller, Product::BankCardOcr, &scene_id, order_no).await?;
    let outcome = judge_bank_card(&mut call, &image).await;
    call.conclude(outcome).await
}

async fn judge_bank_card(call: &mut Call<'_>, image: &ImageSource) -> Result<Verdict, Error> {
    let bytes = call.image("image", image).await?;
    let reading = call
        .photo_work(vec![("image", bytes)], OCR_MEMORY, |services, bytes| {
            read_bank_card_photo(&services.engine.config().limits, &services.ocr, &services.bins, bytes)
        })
        .await?
        .pop()
        .ok_or_else(|| Error::internal("the photo went missing"))?;
    let (sub_code, detail) = bank_card_detail(reading);
    let masked = BankCardOcrDetail { card_number: detail.card_number.as_deref().map(mask_bank_card), ..detail.clone() };
    Ok(Verdict {
        record_detail: Some(Detail::BankCardOcr(masked)),
        ..Verdict::new(sub_code, Detail::BankCardOcr(detail))
    })
}

/// A bank card reading as the outcome and the answer's detail.
pub fn bank_card_detail(reading: BankCardReading) -> (SubCode, BankCardOcrDetail) {
    let sub_code = if reading.number.is_some() { SubCode::Pass } else { SubCode::DocumentUnreadable };
    let detail = BankCardOcrDetail {
        card_number: reading.number.as_ref().map(|n| n.text.clone()),
        number_confidence: reading.number.as_ref().map(|n| n.confidence),
        expiry: reading.expiry.as_ref().map(|e| e.text.clone()),
        bank: reading.issuer.as_ref().map(|i| i.bank.clone()),
        card_name: reading.issuer.as_ref().map(|i| i.card_name.clone()).filter(|n| !n.is_empty()),
        card_type: reading.issuer.as_ref().map(|i| i.card_type),
        rotation: reading.rotation,
        warnings: reading.warnings,
    };
    (sub_code, detail)
}

/// Decodes with the bounded decoder the face engine uses and reads the bank card.
pub fn read_bank_card_photo(
    limits: &DecodeLimits,
    ocr: &OcrEngine,
    bins: &BinTable,
    bytes: &[u8],
) -> Result<BankCardReading, EngineError> {
    let photo = decode(limits, bytes)?;
    Ok(bankcard::read(ocr, &photo, bins)?)
}

fn decode(limits: &DecodeLimits, bytes: &[u8]) -> Result<RgbImage, EngineError> {
    let decoded = shiren_face::decode::decode(bytes, limits)?;
    let (w, h) = (decoded.width() as u32, decoded.height() as u32);
    // The decoder's buffer is packed RGB of exactly w × h pixels.
    RgbImage::from_raw(w, h, decoded.into_raw())
        .ok_or_else(|| EngineError::Face(shiren_face::FaceError::CorruptImage("decoded size mismatch".into())))
}

fn to_face_image(image: &RgbImage) -> Result<shiren_face::RgbImage, EngineError> {
    let (w, h) = image.dimensions();
    shiren_face::RgbImage::from_raw(w as usize, h as usize, image.as_raw().clone())
        .ok_or_else(|| EngineError::Face(shiren_face::FaceError::CorruptImage("portrait size mismatch".into())))
}

fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, EngineError> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(image)
        .map_err(|e| EngineError::Face(shiren_face::FaceError::Runtime(format!("encoding the portrait: {e}"))))?;
    Ok(out.into_inner())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_warnings_and_checks() {
        let check = |passed| Check { name: "sex", passed, detail: String::new() };
        assert_eq!(id_card_outcome(&[Warning::IncompleteBorder], &[check(true)]), SubCode::Pass);
        assert_eq!(id_card_outcome(&[], &[check(false)]), SubCode::DocumentRisk);
        assert_eq!(id_card_outcome(&[Warning::GreyscaleCopy], &[]), SubCode::DocumentRisk);
        assert_eq!(
            id_card_outcome(&[Warning::GreyscaleCopy, Warning::FieldUnreadable { field: "name".into() }], &[]),
            SubCode::DocumentUnreadable
        );
        assert_eq!(id_card_outcome(&[Warning::NotAnIdCard], &[]), SubCode::DocumentUnreadable);
    }

    #[test]
    fn the_record_keeps_the_fields_masked() {
        let field = |t: &str| Some(Field { text: t.into(), confidence: 0.99 });
        let front = Front {
            name: field("张三丰"),
            sex: field("男"),
            ethnicity: field("汉"),
            birth_date: field("1990-01-02"),
            address: field("河南省安阳市文峰区幸福路1号"),
            id_number: field("410502199001021234"),
            ..Front::default()
        };
        let masked = mask_front(&front);
        let text = serde_json::to_string(&masked).unwrap_or_default();
        for secret in ["三丰", "199001021234", "幸福路", "01-02"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("河南省安阳市"), "{text}");
        // A foreigner's card: both names and the number masked, the nationality kept.
        let foreign = Front {
            name: field("约翰·史密斯"),
            english_name: field("SMITH, JOHN"),
            nationality: field("美国"),
            nationality_code: field("USA"),
            birth_date: field("1980-06-15"),
            id_number: field("USA110800615001"),
            ..Front::default()
        };
        let text = serde_json::to_string(&mask_front(&foreign)).unwrap_or_default();
        for secret in ["SMITH", "JOHN", "史密斯", "110800615001", "06-15"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("美国") && text.contains("\"USA\""), "{text}");
    }
}
