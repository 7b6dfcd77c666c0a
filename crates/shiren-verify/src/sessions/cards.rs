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
pub use shiren_documents::idcard::Side;
use shiren_documents::idcard::{self, Back, Check, Front};
use shiren_documents::reader::{self, ReaderSettings, SideReading, Warning};
use shiren_store::now_ms;

use super::{PageResult, Sealed, SessionDetail, by_token, finish, refusal, sealed_of, state_of};
use crate::authority::template_to_bytes;
use crate::call::{Call, Verdict};
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode};
use crate::products::Detail;
use crate::products::ocr::{OCR_MEMORY, SideWork, mask_back, mask_front, read_id_photo};
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
    /// The photo, base64, only when the scene keeps images.
    #[serde(default)]
    pub photo: Option<String>,
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
    /// `card_cut_off`, `too_far`, `blurry`, `glare`, `unreadable`, `portrait_unclear`.
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

fn side_name(side: Side) -> &'static str {
    side.as_str()
}

/// Reads one card photo for a session and accepts the side or says what to fix. After the
/// scene's last allowed photo without both sides, the session ends unread (209) with a record.
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
    let scene = scenes::get(&services.store, &row.scene_id).await?;
    let max_photos = scene.settings.id_plus.max_card_photos;
    let sealed = sealed_of(services, &row)?;
    if sealed.cards.side(wanted).is_some() {
        // Taken already (a retried request): the same answer, no second reading.
        let next = sealed.cards.next().map_or("liveness", side_name).to_string();
        return Ok(CardAnswer {
            side: wanted,
            accepted: true,
            hints: Vec::new(),
            next,
            photos_left: max_photos.saturating_sub(sealed.cards.photos),
            result: None,
        });
    }
    if sealed.cards.photos >= max_photos {
        // Out of photos without both sides (the last one could not be read): the session ends
        // here, unread.
        let result = end_unread(services, &row.id, page, &sealed).await?;
        return Ok(CardAnswer {
            side: wanted,
            accepted: false,
            hints: Vec::new(),
            next: "finished".into(),
            photos_left: 0,
            result,
        });
    }

    let memory = services.engine.plan(&photo).map_err(|e| Error::from(e).about("card photo"))?;
    let size = (memory.width, memory.height);
    let engine = services.engine.clone();
    let ocr = services.ocr.clone();
    let bytes = photo.clone();
    let read = services
        .pool
        .run(memory.memory_bytes + OCR_MEMORY, move || -> Result<(SideWork, Option<Vec<f32>>), Error> {
            let work = read_id_photo(&engine, &ocr, &bytes, &ReaderSettings::default(), true)?;
            // The portrait's face, embedded now: only its template is kept.
            let template = match &work.portrait {
                Some((true, Some(jpeg))) => engine.subject_embedding(jpeg).ok().map(|(t, _)| t),
                _ => None,
            };
            Ok((work, template))
        })
        .await?;
    let (work, portrait) = match read {
        Ok(read) => read,
        Err(e) => {
            // A photo that could not be read (a broken image) still counts against the scene's
            // allowance: decoding it cost the service as much as reading a card. One attempt
            // only: if another photo sealed first, this one goes uncounted.
            let mut counted = sealed.clone();
            counted.cards.photos += 1;
            if let Ok(plain) = serde_json::to_vec(&counted)
                && let Ok(new) = services.store.keys().seal(shiren_store::Purpose::Sessions, &row.id, &plain)
            {
                let _ = services.store.reseal_session(&row.id, &row.sealed, &new, now_ms()).await;
            }
            return Err(e);
        }
    };
    let hints = hints_for(wanted, &work.reading, size, portrait.is_some());
    let accepted = hints.is_empty();
    let keep_photo = scene.settings.store_images.then(|| base64_encode(&photo));

    // Sealed again with this photo counted (and the side, when accepted). Another node may
    // have sealed the other side meanwhile: read again and retry on the new state.
    let mut current = row.sealed.clone();
    let mut state = sealed;
    let mut attempts = 0;
    loop {
        state.cards.photos += 1;
        if accepted {
            let side = AcceptedSide {
                front: work.reading.front.clone(),
                back: work.reading.back.clone(),
                warnings: work.reading.warnings.clone(),
                portrait: portrait.as_deref().map(template_to_bytes),
                photo: keep_photo.clone(),
            };
            match wanted {
                Side::Front => state.cards.front = Some(side),
                Side::Back => state.cards.back = Some(side),
            }
        }
        let plain = serde_json::to_vec(&state).map_err(Error::internal)?;
        let new = services.store.keys().seal(shiren_store::Purpose::Sessions, &row.id, &plain)?;
        if services.store.reseal_session(&row.id, &current, &new, now_ms()).await? {
            break;
        }
        attempts += 1;
        let again = by_token(services, token).await?;
        if attempts >= 3 || state_of(&again, now_ms()) != "consented" {
            return Err(refusal(&again, now_ms()));
        }
        current = again.sealed.clone();
        state = sealed_of(services, &again)?;
        if state.cards.photos >= max_photos {
            return Err(refusal(&again, now_ms()));
        }
    }
    page.audit(
        &services.store,
        "verification.card",
        &row.id,
        serde_json::json!({ "side": side_name(wanted), "accepted": accepted, "hints": hints }),
    )
    .await?;

    let photos_left = max_photos.saturating_sub(state.cards.photos);
    let out_of_photos = photos_left == 0 && !state.cards.complete();
    let result = if out_of_photos { end_unread(services, &row.id, page, &state).await? } else { None };
    let next = match (out_of_photos, state.cards.next()) {
        (true, _) => "finished",
        (false, Some(side)) => side_name(side),
        (false, None) => "liveness",
    };
    Ok(CardAnswer {
        side: wanted,
        accepted,
        hints: hints.into_iter().map(String::from).collect(),
        next: next.to_string(),
        photos_left,
        result,
    })
}

/// Ends a session whose card photos ran out before both sides were read: a record with 209.
async fn end_unread(services: &Services, id: &str, page: &Caller, state: &Sealed) -> Result<Option<PageResult>, Error> {
    if !services.store.claim_without_capture(id, now_ms()).await? {
        // Another request ended it first.
        return Ok(None);
    }
    let row = services.store.session(id).await?.ok_or_else(|| Error::internal("session vanished"))?;
    let caller = Caller { actor: row.access_key_id.clone(), ..page.clone() };
    let mut call = Call::begin(services, &caller, Product::IdPlus, &row.scene_id, row.order_no.clone()).await?;
    call.record_as(&row.id);
    let model = super::LivenessModel::parse(&row.liveness).ok_or_else(|| Error::internal("unknown liveness model"))?;
    let (document, masked) = document_of(&state.cards, &services.regions);
    let detail = |document| SessionDetail { document, ..SessionDetail::empty(model) };
    let verdict = Verdict {
        record_detail: Some(Detail::Session(detail(masked))),
        ..Verdict::new(SubCode::DocumentUnreadable, Detail::Session(detail(document)))
    };
    finish(services, &row, call, Ok(verdict), state.callback_token.as_deref()).await.map(Some)
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
}

impl CardDocument {
    /// A copy, a screen, two cards or a failed cross-check.
    pub fn at_risk(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| matches!(w, Warning::GreyscaleCopy | Warning::ScreenRecapture | Warning::FrontBackMismatch))
            || self.checks.iter().any(|c| !c.passed)
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
    let full = CardDocument { document, front, back, checks, warnings };
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
