//! ID_PLUS's card steps, between the consent and the liveness challenge: the person photographs
//! the front and the back of their ID card inside the page's card frame; the server reads each
//! photo and either accepts the side or answers what to fix (the hints). Accepted sides are
//! sealed with the session (fields, warnings, the portrait's face template, and the photo only
//! when the scene keeps images), so any node can serve the next step; the verdict at the end of
//! the session uses them.
//!
//! What the page is told is only what a person can fix (no card, the wrong side, cut off, too
//! far, blurry, glare, unreadable, portrait unclear). What points to fraud (a greyscale copy,
//! a screen, two different cards, failed cross-checks) is not revealed: the side is accepted and
//! the session's verdict is a document risk (208), so an attacker learns nothing to adjust.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
pub use shiren_documents::idcard::Side;
use shiren_documents::idcard::{self, Back, Check, Front};
use shiren_documents::reader::{self, ReaderSettings, SideReading, Warning};
use shiren_store::now_ms;

use super::{PageResult, Sealed, SessionDetail, by_token, finish, refusal, seal_state, sealed_of, state_of};
use crate::authority::template_to_bytes;
use crate::call::{Call, Verdict};
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode};
use crate::products::Detail;
use crate::products::ocr::{OCR_MEMORY, PortraitWanted, mask_back, mask_front, read_id_photo};
use crate::scenes::{self, Product};
use crate::services::Services;

/// The largest card photo the page may send (a 1920×1080 camera frame as JPEG is well under).
pub const MAX_CARD_BYTES: usize = 4 << 20;

/// A card smaller than this share of the photo's longer side is too far to read reliably (its
/// characters would be under about 12 pixels tall in a 1280-pixel photo).
const MIN_CARD_SHARE: f32 = 0.4;

/// The sides accepted so far and how many photos were taken.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct CardState {
    #[serde(default)]
    pub front: Option<AcceptedSide>,
    #[serde(default)]
    pub back: Option<AcceptedSide>,
    /// Card photos taken, accepted or not.
    #[serde(default)]
    pub photos: u32,
}

/// One accepted side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AcceptedSide {
    #[serde(default)]
    pub front: Option<Front>,
    #[serde(default)]
    pub back: Option<Back>,
    pub warnings: Vec<Warning>,
    /// The front's portrait: the face template, little-endian f32.
    #[serde(default)]
    pub portrait: Option<Vec<u8>>,
    /// The photo, base64, only when the scene keeps images (until the session ends).
    #[serde(default)]
    pub photo: Option<String>,
    /// The same photo was accepted in another session.
    #[serde(default)]
    pub replayed: bool,
}

impl CardState {
    fn side(&self, side: Side) -> &Option<AcceptedSide> {
        match side {
            Side::Front => &self.front,
            Side::Back => &self.back,
        }
    }

    pub fn complete(&self) -> bool {
        self.front.is_some() && self.back.is_some()
    }

    /// The side the page should ask for next, or `None` when both are in.
    fn next(&self) -> Option<Side> {
        match (&self.front, &self.back) {
            (None, _) => Some(Side::Front),
            (_, None) => Some(Side::Back),
            _ => None,
        }
    }
}

/// Where the card steps stand, for the page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardProgress {
    pub front: bool,
    pub back: bool,
    /// Photos the session may still take.
    pub photos_left: u32,
}

pub(super) fn progress(state: &CardState, max_photos: u32) -> CardProgress {
    CardProgress {
        front: state.front.is_some(),
        back: state.back.is_some(),
        photos_left: max_photos.saturating_sub(state.photos),
    }
}

/// The answer to a card photo.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardAnswer {
    /// `front` or `back`: the side the photo was taken for.
    #[schema(value_type = String)]
    pub side: Side,
    pub accepted: bool,
    /// What to fix when not accepted: `no_card`, `not_an_id_card`, `wrong_side`,
    /// `unsupported_document` (a foreigner's permanent residence card), `card_cut_off`,
    /// `too_far`, `blurry`, `glare`, `unreadable`, `portrait_unclear`.
    pub hints: Vec<String>,
    /// `front`, `back`, `liveness` (both sides are in) or `finished` (out of photos).
    pub next: String,
    pub photos_left: u32,
    /// The result screen's data, when the session ended here.
    pub result: Option<PageResult>,
}

/// What a person can fix about a photo of `wanted`, most important first; empty when the side
/// can be accepted. `portrait_found` is for a front: a face in its portrait area.
pub fn hints_for(
    wanted: Side,
    reading: &SideReading,
    photo_size: (u32, u32),
    portrait_found: bool,
) -> Vec<&'static str> {
    let mut hints = Vec::new();
    let has = |w: &Warning| reading.warnings.contains(w);
    let Some(side) = reading.side else {
        hints.push(if reading.corners.is_none() {
            "no_card"
        } else if has(&Warning::Blurry) {
            "blurry"
        } else {
            "not_an_id_card"
        });
        return hints;
    };
    if side != wanted {
        return vec!["wrong_side"];
    }
    // ID_PLUS reads the resident card and the residence permits; the foreigner's card's own
    // layout is not read, so it could never pass: say so at once.
    if reading.document == Some(shiren_idcard::DocumentKind::ForeignPermanentResidentCard) {
        return vec!["unsupported_document"];
    }
    if has(&Warning::IncompleteBorder) {
        hints.push("card_cut_off");
    }
    if let Some(corners) = &reading.corners {
        let (l, t, r, b) = corners.bounds();
        let longest = (r - l).max(b - t);
        if longest < MIN_CARD_SHARE * photo_size.0.max(photo_size.1) as f32 {
            hints.push("too_far");
        }
    }
    if has(&Warning::Blurry) {
        hints.push("blurry");
    }
    if reading.warnings.iter().any(|w| matches!(w, Warning::Glare { .. })) {
        hints.push("glare");
    }
    let readable = |f: &Option<idcard::Field>| f.is_some();
    let essentials = match (&reading.front, &reading.back) {
        // The number must be whole and carry its own check character.
        (Some(f), _) => readable(&f.name) && f.id_number.as_ref().is_some_and(|n| number_is_whole(&n.text)),
        (_, Some(b)) => readable(&b.issuing_authority) && readable(&b.valid_until),
        _ => false,
    };
    if !essentials {
        hints.push("unreadable");
    }
    if side == Side::Front && !portrait_found {
        hints.push("portrait_unclear");
    }
    hints
}

/// Eighteen characters whose last is the check character of the first seventeen.
fn number_is_whole(number: &str) -> bool {
    number.len() == 18
        && number.get(..17).and_then(shiren_idcard::check_character)
            == number.chars().last().map(|c| c.to_ascii_uppercase())
}

/// Reads one card photo for a session and accepts the side or says what to fix. The photo
/// takes its place in the scene's allowance before it is read (so that concurrent requests
/// cannot read more photos than allowed); after the last allowed photo without both sides, the
/// session ends unread (209) with a record.
pub async fn card(
    services: &Services,
    token: &str,
    wanted: Side,
    photo: Vec<u8>,
    page: &Caller,
) -> Result<CardAnswer, Error> {
    let row = by_token(services, token).await?;
    if row.product != Product::IdPlus.code() {
        return Err(Error::of(ErrorCode::NotACardStep));
    }
    if state_of(&row, now_ms()) != "consented" {
        return Err(refusal(&row, now_ms()));
    }
    if photo.len() > MAX_CARD_BYTES {
        return Err(Error::new(
            ErrorCode::ImageBytesTooLarge,
            format!("a card photo is at most {MAX_CARD_BYTES} bytes"),
        ));
    }
    let plan = services.engine.plan(&photo).map_err(|e| Error::from(e).about("card photo"))?;
    if u64::from(plan.width) * u64::from(plan.height) > MAX_CARD_PIXELS {
        return Err(Error::new(ErrorCode::ImageTooLarge, "a card photo is at most 4096×3072 pixels"));
    }
    let scene = scenes::get(&services.store, &row.scene_id).await?;
    let max_photos = scene.settings.id_plus.max_card_photos;
    let answer = |accepted: bool, hints: Vec<String>, next: &str, photos_left: u32, result| CardAnswer {
        side: wanted,
        accepted,
        hints,
        next: next.to_string(),
        photos_left,
        result,
    };

    let id = row.id.clone();
    let (mut current, mut state) = match reserve(services, token, row, wanted, max_photos).await? {
        Reserved::Photo(sealed, state) => (sealed, *state),
        Reserved::AlreadyTaken(state) => {
            // Taken already (a retried request): the same answer, no second reading.
            let next = state.cards.next().map_or("liveness", Side::as_str);
            return Ok(answer(true, Vec::new(), next, max_photos.saturating_sub(state.cards.photos), None));
        }
        Reserved::OutOfPhotos(state) => {
            let result = end_unread(services, &id, page, &state).await?;
            return Ok(answer(false, Vec::new(), "finished", 0, result));
        }
    };

    // What the photo's acceptance would keep, taken before the photo moves to the reader.
    let digest = hex::encode(Sha256::digest(&photo));
    let kept_photo = scene.settings.store_images.then(|| base64_encode(&photo));
    let engine = services.engine.clone();
    let ocr = services.ocr.clone();
    let lexicon = services.lexicon.clone();
    let wanted_portrait = PortraitWanted { jpeg: false, template: true };
    let work = services
        .pool
        .run(plan.memory_bytes + OCR_MEMORY, move || {
            read_id_photo(&engine, &ocr, &photo, &ReaderSettings::default(), &lexicon, wanted_portrait)
        })
        .await??;
    // The portrait's face, embedded by the reader: only its template is kept.
    let portrait = work.portrait.as_ref().and_then(|p| p.template.as_deref());
    let hints = hints_for(wanted, &work.reading, (plan.width, plan.height), portrait.is_some());
    let accepted = hints.is_empty();

    if accepted {
        // The same photo accepted in another session is a replay (a real camera never gives the
        // same bytes twice): the side is taken, and the verdict is a document risk.
        let keep_until = now_ms() + i64::from(scene.settings.interactive.frame_digest_days) * 86_400_000;
        let replayed = !services.store.remember_frame_digests(&id, &[digest], keep_until).await?.is_empty();
        // Sealed with the side. Another node may have sealed meanwhile (the other side, or a
        // photo reserved): read again and put the side on the new state.
        let side = AcceptedSide {
            front: work.reading.front.clone(),
            back: work.reading.back.clone(),
            warnings: work.reading.warnings.clone(),
            portrait: portrait.map(template_to_bytes),
            photo: kept_photo,
            replayed,
        };
        let mut attempts = 0;
        loop {
            match wanted {
                Side::Front => state.cards.front = Some(side.clone()),
                Side::Back => state.cards.back = Some(side.clone()),
            }
            let new = seal_state(services, &id, &state)?;
            if services.store.reseal_session(&id, &current, &new, now_ms()).await? {
                break;
            }
            attempts += 1;
            let again = by_token(services, token).await?;
            if state_of(&again, now_ms()) != "consented" {
                return Err(refusal(&again, now_ms()));
            }
            if attempts >= CAS_ATTEMPTS {
                return Err(Error::of(ErrorCode::SessionBusy));
            }
            state = sealed_of(services, &again)?;
            current = again.sealed;
        }
    }
    page.audit(
        &services.store,
        "verification.card",
        &id,
        serde_json::json!({ "side": wanted.as_str(), "accepted": accepted, "hints": hints }),
    )
    .await?;

    let photos_left = max_photos.saturating_sub(state.cards.photos);
    let hints: Vec<String> = hints.into_iter().map(String::from).collect();
    if photos_left == 0 && !state.cards.complete() {
        let result = end_unread(services, &id, page, &state).await?;
        return Ok(answer(accepted, hints, "finished", 0, result));
    }
    let next = state.cards.next().map_or("liveness", Side::as_str);
    Ok(answer(accepted, hints, next, photos_left, None))
}

/// Concurrent writers of one session's sealed part give up after this many lost races.
const CAS_ATTEMPTS: u32 = 5;

/// The largest card photo decoded: 12.6 megapixels (a phone's main camera; the page sends
/// 1920×1080 at most).
const MAX_CARD_PIXELS: u64 = 4096 * 3072;

/// What reserving a photo of the allowance found.
enum Reserved {
    /// Counted: the sealed bytes as stored now, and what they hold.
    Photo(Vec<u8>, Box<Sealed>),
    /// The side is in already.
    AlreadyTaken(Box<Sealed>),
    /// No photo left without both sides: the session is to end unread.
    OutOfPhotos(Box<Sealed>),
}

/// Counts one photo against the scene's allowance, by compare-and-swap on the sealed part.
async fn reserve(
    services: &Services,
    token: &str,
    mut row: shiren_store::SessionRow,
    wanted: Side,
    max_photos: u32,
) -> Result<Reserved, Error> {
    for _ in 0..CAS_ATTEMPTS {
        let mut state = sealed_of(services, &row)?;
        if state.cards.side(wanted).is_some() {
            return Ok(Reserved::AlreadyTaken(Box::new(state)));
        }
        if state.cards.photos >= max_photos {
            return Ok(Reserved::OutOfPhotos(Box::new(state)));
        }
        state.cards.photos += 1;
        let new = seal_state(services, &row.id, &state)?;
        if services.store.reseal_session(&row.id, &row.sealed, &new, now_ms()).await? {
            return Ok(Reserved::Photo(new, Box::new(state)));
        }
        row = by_token(services, token).await?;
        if state_of(&row, now_ms()) != "consented" {
            return Err(refusal(&row, now_ms()));
        }
    }
    Err(Error::of(ErrorCode::SessionBusy))
}

/// Ends a session whose card photos ran out before both sides were read: a record with 209,
/// with the side that was read (its identity, so the record is found by the ID number, and its
/// photo when the scene keeps images). `None` when another request ended it first.
async fn end_unread(services: &Services, id: &str, page: &Caller, state: &Sealed) -> Result<Option<PageResult>, Error> {
    let row = services.store.session(id).await?.ok_or_else(|| Error::internal("session vanished"))?;
    let caller = Caller { actor: row.access_key_id.clone(), ..page.clone() };
    // The call first: a scene that is gone fails here, before the session is claimed, so that
    // no session is left claimed without a record.
    let mut call = Call::begin(services, &caller, Product::IdPlus, &row.scene_id, row.order_no.clone()).await?;
    if !services.store.claim_without_capture(id, now_ms()).await? {
        return Ok(None);
    }
    call.record_as(&row.id);
    for photo in photos(&state.cards) {
        call.keep_image(photo);
    }
    let model = super::LivenessModel::parse(&row.liveness).ok_or_else(|| Error::internal("unknown liveness model"))?;
    let (document, masked) = document_of(&state.cards, &services.regions);
    if let Some(front) = document.as_ref().and_then(|d| d.front.as_ref())
        && let Some(number) = &front.id_number
    {
        let name = front.name.as_ref().map(|n| n.text.clone()).unwrap_or_default();
        call.claim_identity(name, number.text.clone());
    }
    let detail = |document| SessionDetail { document, ..SessionDetail::empty(model) };
    let verdict = Verdict {
        record_detail: Some(Detail::Session(detail(masked))),
        ..Verdict::new(SubCode::DocumentUnreadable, Detail::Session(detail(document)))
    };
    let result = finish(services, &row, call, Ok(verdict), state.callback_token.as_deref()).await.map(Some);
    super::drop_card_photos(services, id, state).await;
    result
}

/// The card as the verdict sees it: both sides' fields, the cross-checks and every warning.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardDocument {
    /// `resident_id_card` or one of the residence permits (as ID_OCR's `document`).
    #[schema(value_type = Option<String>)]
    pub document: Option<shiren_idcard::DocumentKind>,
    /// 姓名, 性别, 民族, 出生, 住址, 公民身份号码 (masked in the record).
    #[schema(value_type = Object)]
    pub front: Option<Front>,
    /// 签发机关, 有效期限.
    #[schema(value_type = Object)]
    pub back: Option<Back>,
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<Check>,
    /// As ID_OCR's warnings (`greyscale_copy`, `screen_recapture`, `front_back_mismatch`, ...).
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Warning>,
    /// Card photos byte-identical to one accepted in another session (a replay).
    pub replayed_photos: usize,
}

impl CardDocument {
    /// A copy, a screen, two cards, a failed cross-check (an expired card among them) or a
    /// replayed photo.
    pub fn at_risk(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| matches!(w, Warning::GreyscaleCopy | Warning::ScreenRecapture | Warning::FrontBackMismatch))
            || self.checks.iter().any(|c| !c.passed)
            || self.replayed_photos > 0
    }
}

/// The document in full (the answer) and masked (the record).
pub(super) fn document_of(
    cards: &CardState,
    regions: &shiren_idcard::RegionTable,
) -> (Option<CardDocument>, Option<CardDocument>) {
    if cards.front.is_none() && cards.back.is_none() {
        return (None, None);
    }
    let front = cards.front.as_ref().and_then(|s| s.front.clone());
    let back = cards.back.as_ref().and_then(|s| s.back.clone());
    let mut warnings: Vec<Warning> = Vec::new();
    for w in cards.front.iter().chain(&cards.back).flat_map(|s| s.warnings.iter()) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    if let (Some(f), Some(b)) = (&front, &back)
        && !reader::same_card(f, b)
    {
        warnings.push(Warning::FrontBackMismatch);
    }
    let checks = idcard::cross_checks(front.as_ref(), back.as_ref(), regions);
    let document = front.as_ref().and_then(idcard::front_kind).or(back.as_ref().and_then(|b| b.title_kind));
    let replayed_photos = cards.front.iter().chain(&cards.back).filter(|s| s.replayed).count();
    let full = CardDocument { document, front, back, checks, warnings, replayed_photos };
    let masked = CardDocument {
        front: full.front.as_ref().map(mask_front),
        back: full.back.as_ref().map(mask_back),
        ..full.clone()
    };
    (Some(full), Some(masked))
}

/// The accepted sides' photos, for the record's images.
pub(super) fn photos(cards: &CardState) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    cards
        .front
        .iter()
        .chain(&cards.back)
        .filter_map(|s| s.photo.as_deref())
        .filter_map(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use shiren_documents::idcard::Field;
    use shiren_documents::reader::Measures;
    use shiren_idcard::DocumentKind;
    use shiren_ocr::Quad;

    use super::*;

    fn field(text: &str) -> Option<Field> {
        Some(Field { text: text.into(), confidence: 0.99 })
    }

    /// A front read whole, 1000 pixels wide in a 1280×960 photo, with no warnings.
    fn front() -> SideReading {
        let first17 = "11010119900101001";
        let number = format!("{first17}{}", shiren_idcard::check_character(first17).unwrap_or('0'));
        SideReading {
            side: Some(Side::Front),
            document: Some(DocumentKind::ResidentIdCard),
            front: Some(Front { name: field("张三"), id_number: field(&number), ..Front::default() }),
            back: None,
            rotation: 0,
            corners: Some(Quad::rect(140.0, 165.0, 1000.0, 630.0)),
            portrait_area: None,
            measures: Measures {
                colour_spread: 40.0,
                screen_pattern: None,
                background_pattern: None,
                sharpness: 100.0,
            },
            warnings: Vec::new(),
            checks: Vec::new(),
            lines: Vec::new(),
            card: image::RgbImage::new(1, 1),
        }
    }

    #[test]
    fn hints_say_what_a_person_can_fix_and_nothing_else() {
        let photo = (1280, 960);
        assert!(hints_for(Side::Front, &front(), photo, true).is_empty());
        assert_eq!(hints_for(Side::Back, &front(), photo, true), ["wrong_side"]);
        assert_eq!(hints_for(Side::Front, &front(), photo, false), ["portrait_unclear"]);
        // The card small in the photo, blurred, under glare: each said, in that order.
        let mut far = front();
        far.corners = Some(Quad::rect(500.0, 400.0, 400.0, 252.0));
        far.warnings = vec![Warning::Blurry, Warning::Glare { field: "name".into() }];
        assert_eq!(hints_for(Side::Front, &far, photo, true), ["too_far", "blurry", "glare"]);
        // A number without its own check character is unreadable, not a risk to report.
        let mut wrong = front();
        if let Some(f) = wrong.front.as_mut().and_then(|f| f.id_number.as_mut()) {
            let last = if f.text.ends_with('1') { "2" } else { "1" };
            f.text.replace_range(17.., last);
        }
        assert_eq!(hints_for(Side::Front, &wrong, photo, true), ["unreadable"]);
        // Fraud signals are not hints: a greyscale copy is accepted here (the verdict says 208).
        let mut copy = front();
        copy.warnings = vec![Warning::GreyscaleCopy, Warning::ScreenRecapture];
        assert!(hints_for(Side::Front, &copy, photo, true).is_empty());
        // Nothing found, something unread, a foreigner's card.
        let nothing = SideReading { side: None, corners: None, ..front() };
        assert_eq!(hints_for(Side::Front, &nothing, photo, true), ["no_card"]);
        let unread = SideReading { side: None, ..front() };
        assert_eq!(hints_for(Side::Front, &unread, photo, true), ["not_an_id_card"]);
        let foreign = SideReading { document: Some(DocumentKind::ForeignPermanentResidentCard), ..front() };
        assert_eq!(hints_for(Side::Front, &foreign, photo, true), ["unsupported_document"]);
        let cut = SideReading { warnings: vec![Warning::IncompleteBorder], ..front() };
        assert_eq!(hints_for(Side::Front, &cut, photo, true), ["card_cut_off"]);
    }
}
