//! Interactive verification sessions (LR_FR, ID_PRO, PV_FV, ID_PLUS): the vendors'
//! InitFaceVerify / DescribeFaceVerify pattern. A signed caller creates a session and gets a
//! capture link; a person opens it, agrees (consent), photographs the ID card first for ID_PLUS
//! (`cards`), receives a random challenge (`start`), performs it in front of the camera and
//! uploads the frames; the server judges them and writes one record under the session's id; the
//! caller reads the outcome and is called back.
//!
//! Every step is a conditional state change in the database (see `shiren_store::sessions`), so
//! any node can serve any step and none can be taken twice. The capture link's token is the
//! page's only credential: it is kept as its SHA-256, and everything the page sends is treated
//! as an attacker's. The verdict is the server's own (GB/T 38671-2020): the page reports only
//! what the camera saw and when.

pub mod callbacks;
pub mod cards;
pub mod challenge;
pub mod judge;
pub mod observe;
pub mod screen;
pub mod settings;

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiren_face::FaceError;
use shiren_store::{Purpose, SessionRow, now_ms};

pub use challenge::{Action, Challenge, Colour, Flash, LivenessModel, Step};
pub use judge::Check;
pub use settings::{ConsentText, InteractiveSettings};

use crate::authority::{AuthorityAnswer, AuthorityQuery, Reference, template_from_bytes, template_to_bytes};
use crate::call::{Call, Verdict, check_order_no, round2};
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode};
use crate::images::{HasImages, ImageSource};
use crate::products::Detail;
use crate::products::identity::checked_identity;
use crate::rules;
use crate::scenes::{self, Product};
use crate::services::Services;

/// The products a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SessionProduct {
    #[serde(rename = "LR_FR")]
    LrFr,
    #[serde(rename = "ID_PRO")]
    IdPro,
    #[serde(rename = "PV_FV")]
    PvFv,
    #[serde(rename = "ID_PLUS")]
    IdPlus,
}

impl SessionProduct {
    pub fn product(self) -> Product {
        match self {
            SessionProduct::LrFr => Product::LrFr,
            SessionProduct::IdPro => Product::IdPro,
            SessionProduct::PvFv => Product::PvFv,
            SessionProduct::IdPlus => Product::IdPlus,
        }
    }
}

/// A session to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub scene_id: String,
    pub product: SessionProduct,
    pub liveness: LivenessModel,
    /// The caller's own reference for this verification.
    #[serde(default, alias = "order_id")]
    pub order_no: Option<String>,
    /// ID_PRO: the claimed name.
    #[serde(default)]
    pub name: Option<String>,
    /// ID_PRO: the claimed 18-character ID number (validated before the session is created).
    #[serde(default)]
    pub id_number: Option<String>,
    /// PV_FV: the photo the live face is compared with.
    #[serde(default)]
    pub reference_image: Option<ImageSource>,
    /// Where the page sends the person when done (`verification_id` is added to its query).
    #[serde(default)]
    pub return_url: Option<String>,
    /// Where the outcome is POSTed when the session ends (see the README: callbacks).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Echoed in the callback, for the caller's own matching.
    #[serde(default)]
    pub callback_token: Option<String>,
}

impl HasImages for SessionRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        match &mut self.reference_image {
            Some(image) => vec![("reference_image", image)],
            None => Vec::new(),
        }
    }
}

/// A created session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionCreated {
    pub verification_id: String,
    /// The capture link's secret: the surface makes the URL from it. Shown once; only its hash
    /// is kept.
    #[serde(skip)]
    pub capture_token: String,
    /// Unix milliseconds after which the capture link no longer works.
    pub expires_at: i64,
}

/// What a session keeps encrypted until it ends.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Sealed {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id_number: Option<String>,
    /// PV_FV: the reference face's template, base64 of little-endian f32.
    #[serde(default)]
    reference: Option<Vec<u8>>,
    #[serde(default)]
    callback_token: Option<String>,
    /// ID_PLUS: the card sides read so far.
    #[serde(default)]
    cards: cards::CardState,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_url(field: &str, url: Option<&str>) -> Result<(), Error> {
    let Some(url) = url else { return Ok(()) };
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::new(ErrorCode::InvalidUrl, format!("{field}: not a valid URL: {e}")))?;
    if url.len() > 2048 || !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::new(ErrorCode::InvalidUrl, format!("{field}: an http(s) URL of at most 2048 characters")));
    }
    Ok(())
}

fn sealed_of(services: &Services, row: &SessionRow) -> Result<Sealed, Error> {
    let plain = services.store.keys().open(Purpose::Sessions, &row.id, &row.sealed)?;
    serde_json::from_slice(&plain).map_err(Error::internal)
}

/// Creates a session: checks the scene, the product's own inputs (the ID number before
/// anything else; the reference photo's face, embedded now so that only its template is kept)
/// and the URLs, then stores it with a fresh capture token.
pub async fn create(
    services: &Services,
    caller: &Caller,
    mut request: SessionRequest,
) -> Result<SessionCreated, Error> {
    let product = request.product.product();
    check_order_no(request.order_no.as_deref())?;
    let scene = scenes::for_product(&services.store, &request.scene_id, product).await?;
    let mut sealed = Sealed::default();
    let not_for = |field: &str| {
        Error::new(ErrorCode::UnexpectedParameter, format!("{field} is not taken by product {}", product.code()))
    };
    match request.product {
        SessionProduct::IdPro => {
            let (Some(name), Some(number)) = (&request.name, &request.id_number) else {
                return Err(Error::new(ErrorCode::MissingIdentity, "ID_PRO needs name and id_number"));
            };
            let (name, number) = checked_identity(services, name, number)?;
            sealed.name = Some(name);
            sealed.id_number = Some(number);
            if request.reference_image.is_some() {
                return Err(not_for("reference_image"));
            }
        }
        SessionProduct::PvFv => {
            if request.name.is_some() || request.id_number.is_some() {
                return Err(not_for("name and id_number"));
            }
            let source = request.reference_image.take().unwrap_or_default();
            let bytes = source.load("reference_image", &services.config.images, &scene).await?;
            let memory =
                services.engine.plan(&bytes).map_err(|e| Error::from(e).about("reference_image"))?.memory_bytes;
            let engine = services.engine.clone();
            let (template, _) = services
                .pool
                .run(memory, move || engine.subject_embedding(&bytes))
                .await?
                .map_err(|e| Error::from(e).about("reference_image"))?;
            sealed.reference = Some(template_to_bytes(&template));
        }
        SessionProduct::LrFr | SessionProduct::IdPlus => {
            if request.name.is_some() || request.id_number.is_some() {
                return Err(not_for("name and id_number"));
            }
            if request.reference_image.is_some() {
                return Err(not_for("reference_image"));
            }
        }
    }
    check_url("return_url", request.return_url.as_deref())?;
    check_url("callback_url", request.callback_url.as_deref())?;
    if let Some(token) = &request.callback_token {
        if token.chars().count() > 128 || token.chars().any(char::is_control) {
            return Err(Error::of(ErrorCode::InvalidCallbackToken));
        }
        sealed.callback_token = Some(token.clone());
    }
    let id = shiren_store::new_id("v");
    let token = shiren_store::random_token(43)?;
    let now = now_ms();
    let expires_at = now + services.config.sessions.lifetime_secs * 1000;
    let plain = serde_json::to_vec(&sealed).map_err(Error::internal)?;
    let row = SessionRow {
        id: id.clone(),
        scene_id: scene.id.clone(),
        product: product.code().into(),
        liveness: request.liveness.code().into(),
        state: "created".into(),
        token_hash: token_hash(&token),
        access_key_id: caller.actor.clone(),
        order_no: request.order_no.clone(),
        return_url: request.return_url.clone(),
        callback_url: request.callback_url.clone(),
        sealed: services.store.keys().seal(Purpose::Sessions, &id, &plain)?,
        consent: None,
        challenge: None,
        nonce_hash: None,
        started_at: None,
        outcome: None,
        record_id: None,
        created_at: now,
        expires_at,
        finished_at: None,
    };
    services.store.insert_session(&row).await?;
    let detail =
        serde_json::json!({ "product": product.code(), "liveness": request.liveness.code(), "scene": scene.id });
    caller.audit(&services.store, "verification.create", &id, detail).await?;
    Ok(SessionCreated { verification_id: id, capture_token: token, expires_at })
}

/// A session's state as the API and the page name it.
fn state_of(row: &SessionRow, now: i64) -> &str {
    match row.state.as_str() {
        "finished" | "declined" => &row.state,
        _ if row.expires_at <= now => "expired",
        other => other,
    }
}

/// The outcome of a finished session, as stored with it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub passed: bool,
    pub sub_code: String,
    /// Comparison score 0-100 (ID_PRO, PV_FV).
    pub score: Option<f64>,
    /// The failed check, when liveness failed.
    pub failed_check: Option<String>,
    /// What the person is told (no numbers an attacker could climb).
    pub reason: String,
}

/// A session as the API shows it to the caller that created it (and to read-only keys).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub verification_id: String,
    pub scene_id: String,
    pub product: String,
    pub liveness: String,
    /// `created`, `consented`, `declined`, `capturing`, `judging`, `finished` or `expired`.
    pub state: String,
    pub order_no: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
    /// The consent as given: text version, time, user agent.
    #[schema(value_type = Object)]
    pub consent: Option<serde_json::Value>,
    pub passed: Option<bool>,
    pub sub_code: Option<String>,
    pub score: Option<f64>,
    /// Every liveness check with its measured numbers and threshold (the record's detail).
    #[schema(value_type = Object)]
    pub material: Option<serde_json::Value>,
    /// Expiring links to the best frame, when the scene keeps images.
    pub images: Vec<String>,
    /// How the callback stands: attempts, delivered, last error.
    #[schema(value_type = Object)]
    pub callback: Option<serde_json::Value>,
    /// ID_PLUS, once finished, to full-access keys: the card's fields in full, with the
    /// cross-checks and warnings, while both the record and the session are kept (a week past
    /// its expiry; erasing the record erases them); the record (`material.document`) keeps them
    /// masked.
    pub document: Option<cards::CardDocument>,
}

/// The scene a session belongs to (read nothing else, audit nothing): for surfaces that must
/// check a caller's scene before the session is read.
pub async fn scene_of(services: &Services, id: &str) -> Result<String, Error> {
    Ok(services.store.session(id).await?.ok_or_else(|| Error::not_found("verification"))?.scene_id)
}

pub async fn describe(services: &Services, caller: &Caller, id: &str) -> Result<SessionView, Error> {
    let row = services.store.session(id).await?.ok_or_else(|| Error::not_found("verification"))?;
    let now = now_ms();
    let outcome: Option<Outcome> =
        row.outcome.as_deref().map(serde_json::from_str).transpose().map_err(Error::internal)?;
    let (material, images) = match &row.record_id {
        Some(record) => match crate::records::get(services, caller, record).await {
            Ok(detail) => (Some(detail.detail), detail.images),
            // The record was deleted (an erasure request): the session says how it ended.
            Err(e) if e.code == ErrorCode::NotFound => (None, Vec::new()),
            Err(e) => return Err(e),
        },
        None => {
            caller.audit(&services.store, "verification.read", id, serde_json::json!({})).await?;
            (None, Vec::new())
        }
    };
    let callback = services.store.callback_status(id).await?.map(|(attempts, delivered, error)| {
        serde_json::json!({ "attempts": attempts, "delivered_at": delivered, "last_error": error })
    });
    let consent = row.consent.as_deref().map(serde_json::from_str).transpose().map_err(Error::internal)?;
    // In full to full-access keys only: read-only keys see what records show, masked.
    let full_access = caller.policy == shiren_store::Policy::Full;
    let document =
        if row.product == Product::IdPlus.code() && row.state == "finished" && full_access && material.is_some() {
            cards::document_of(&sealed_of(services, &row)?.cards, &services.regions).0
        } else {
            None
        };
    Ok(SessionView {
        document,
        state: state_of(&row, now).to_string(),
        verification_id: row.id,
        scene_id: row.scene_id,
        product: row.product,
        liveness: row.liveness,
        order_no: row.order_no,
        created_at: row.created_at,
        expires_at: row.expires_at,
        finished_at: row.finished_at,
        consent,
        passed: outcome.as_ref().map(|o| o.passed),
        sub_code: outcome.as_ref().map(|o| o.sub_code.clone()),
        score: outcome.as_ref().and_then(|o| o.score),
        material,
        images,
        callback,
    })
}

// ---------------------------------------------------------------- the capture page's steps

/// The session behind a capture token, whatever its state.
async fn by_token(services: &Services, token: &str) -> Result<SessionRow, Error> {
    if token.is_empty() || token.len() > 128 {
        return Err(Error::of(ErrorCode::CaptureLinkInvalid));
    }
    services
        .store
        .session_by_token_hash(&token_hash(token))
        .await?
        .ok_or_else(|| Error::of(ErrorCode::CaptureLinkInvalid))
}

/// The error for a step the session is past (or never reached).
fn refusal(row: &SessionRow, now: i64) -> Error {
    match state_of(row, now) {
        "expired" => Error::new(ErrorCode::SessionExpired, "this verification link has expired; ask for a new one"),
        "finished" | "declined" => {
            Error::new(ErrorCode::SessionAlreadyUsed, "this verification link has already been used")
        }
        "judging" => Error::of(ErrorCode::SessionBusy),
        "created" => Error::of(ErrorCode::ConsentRequired),
        _ => Error::new(ErrorCode::InvalidOperation, "the session is not at this step"),
    }
}

/// What the page needs to show a session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageSession {
    pub state: String,
    pub product: String,
    pub liveness: String,
    pub consent: ConsentText,
    pub expires_at: i64,
    /// Where to go when done, with `verification_id` added.
    pub return_url: Option<String>,
    /// The challenge, once issued (a reload continues the same one).
    pub challenge: Option<Challenge>,
    /// The verdict screen's data, once finished.
    pub result: Option<PageResult>,
    /// ID_PLUS: the card sides accepted so far.
    pub cards: Option<cards::CardProgress>,
}

/// The verdict screen's data: no scores.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageResult {
    pub passed: bool,
    /// `passed`, `liveness`, `face_mismatch`, `identity`, `quality` or `error`.
    pub reason: String,
    pub return_url: Option<String>,
}

fn return_url(row: &SessionRow) -> Option<String> {
    let mut url = reqwest::Url::parse(row.return_url.as_deref()?).ok()?;
    url.query_pairs_mut().append_pair("verification_id", &row.id);
    Some(url.to_string())
}

fn page_result(row: &SessionRow) -> Option<PageResult> {
    let outcome: Outcome = serde_json::from_str(row.outcome.as_deref()?).ok()?;
    Some(PageResult { passed: outcome.passed, reason: outcome.reason, return_url: return_url(row) })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Issued {
    challenge: Challenge,
    nonce: String,
}

pub async fn page_session(services: &Services, token: &str) -> Result<PageSession, Error> {
    let row = by_token(services, token).await?;
    let scene = scenes::get(&services.store, &row.scene_id).await?;
    let issued: Option<Issued> = match (&row.challenge, row.state.as_str()) {
        (Some(text), "capturing") => Some(serde_json::from_str(text).map_err(Error::internal)?),
        _ => None,
    };
    let cards = if row.product == Product::IdPlus.code() {
        Some(cards::progress(&sealed_of(services, &row)?.cards, scene.settings.id_plus.max_card_photos))
    } else {
        None
    };
    Ok(PageSession {
        cards,
        state: state_of(&row, now_ms()).to_string(),
        product: row.product.clone(),
        liveness: row.liveness.clone(),
        consent: scene.settings.consent,
        expires_at: row.expires_at,
        return_url: return_url(&row),
        challenge: issued.map(|i| i.challenge),
        result: page_result(&row),
    })
}

/// The person's answer to the consent screen. Agreeing twice is harmless; declining ends the
/// session.
pub async fn consent(
    services: &Services,
    token: &str,
    agree: bool,
    user_agent: &str,
    page: &Caller,
) -> Result<PageSession, Error> {
    let row = by_token(services, token).await?;
    let scene = scenes::get(&services.store, &row.scene_id).await?;
    let now = now_ms();
    let evidence = serde_json::json!({
        "agreed": agree,
        "text_version": scene.settings.consent.version,
        "at": now,
        "user_agent": user_agent.chars().take(256).collect::<String>(),
    });
    if !services.store.answer_consent(&row.id, agree, &evidence.to_string(), now).await? {
        let again = by_token(services, token).await?;
        if !(agree && state_of(&again, now_ms()) == "consented") {
            return Err(refusal(&again, now_ms()));
        }
    } else {
        let action = if agree { "verification.consent" } else { "verification.decline" };
        page.audit(
            &services.store,
            action,
            &row.id,
            serde_json::json!({ "text_version": scene.settings.consent.version }),
        )
        .await?;
    }
    page_session(services, token).await
}

/// The challenge and its one-time nonce. Issued once: a second call gets the same challenge.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub challenge: Challenge,
    /// Sent back with the frames; binds the upload to this challenge.
    pub nonce: String,
}

pub async fn start(services: &Services, token: &str, page: &Caller) -> Result<Started, Error> {
    let row = by_token(services, token).await?;
    let now = now_ms();
    if row.state == "consented"
        && row.expires_at > now
        && row.product == Product::IdPlus.code()
        && !sealed_of(services, &row)?.cards.complete()
    {
        return Err(Error::of(ErrorCode::CardsRequired));
    }
    if row.state == "consented" && row.expires_at > now {
        let model = LivenessModel::parse(&row.liveness).ok_or_else(|| Error::internal("unknown liveness model"))?;
        let issued = Issued { challenge: challenge::issue(model)?, nonce: shiren_store::random_token(32)? };
        let text = serde_json::to_string(&issued).map_err(Error::internal)?;
        if services.store.issue_challenge(&row.id, &text, &token_hash(&issued.nonce), now).await? {
            page.audit(&services.store, "verification.start", &row.id, serde_json::json!({})).await?;
            return Ok(Started { challenge: issued.challenge, nonce: issued.nonce });
        }
    }
    // Issued already (by this or another node): the same challenge, never a new one.
    let row = by_token(services, token).await?;
    match (&row.challenge, state_of(&row, now_ms())) {
        (Some(text), "capturing") => {
            let issued: Issued = serde_json::from_str(text).map_err(Error::internal)?;
            Ok(Started { challenge: issued.challenge, nonce: issued.nonce })
        }
        _ => Err(refusal(&row, now_ms())),
    }
}

/// Live hints for the preview (advisory, never recorded).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Hints {
    /// `ok`, or the problems: `no_face`, `several_faces`, `too_far`, `too_close`, `too_dark`,
    /// `too_bright`, `off_centre`, `face_the_camera`.
    pub hints: Vec<String>,
}

pub const MAX_HINT_BYTES: usize = 512 << 10;

pub async fn hint(services: &Services, token: &str, frame: Vec<u8>) -> Result<Hints, Error> {
    let row = by_token(services, token).await?;
    let state = state_of(&row, now_ms());
    if state != "consented" && state != "capturing" {
        return Err(refusal(&row, now_ms()));
    }
    if frame.len() > MAX_HINT_BYTES {
        return Err(Error::new(
            ErrorCode::ImageBytesTooLarge,
            format!("a preview frame is at most {MAX_HINT_BYTES} bytes"),
        ));
    }
    let memory = services.engine.plan(&frame)?.memory_bytes;
    let engine = services.engine.clone();
    let hints = services
        .pool
        .run(memory, move || -> Result<Vec<String>, FaceError> {
            let image = engine.decode(&frame)?;
            let faces = engine.detect_upright(&image)?;
            let mut hints = Vec::new();
            let Some(face) = faces.iter().max_by(|a, b| a.area().total_cmp(&b.area())) else {
                return Ok(vec!["no_face".into()]);
            };
            if faces.len() > 1 {
                hints.push("several_faces".into());
            }
            let width = face.width() / image.width() as f32;
            if width < 0.25 {
                hints.push("too_far".into());
            } else if width > 0.75 {
                hints.push("too_close".into());
            }
            let lm = engine.landmarks(&image, face)?;
            let quality = engine.quality(&image, face, &lm)?;
            if quality.brightness < 60.0 {
                hints.push("too_dark".into());
            } else if quality.brightness > 220.0 {
                hints.push("too_bright".into());
            }
            let cx = (face.bbox[0] + face.bbox[2]) / 2.0 / image.width() as f32;
            let cy = (face.bbox[1] + face.bbox[3]) / 2.0 / image.height() as f32;
            if (cx - 0.5).abs() > 0.2 || (cy - 0.5).abs() > 0.25 {
                hints.push("off_centre".into());
            }
            if lm.pose.yaw.abs() > 12.0 || lm.pose.pitch.abs() > 20.0 {
                hints.push("face_the_camera".into());
            }
            if hints.is_empty() {
                hints.push("ok".into());
            }
            Ok(hints)
        })
        .await??;
    Ok(Hints { hints })
}

/// What the page uploads: the nonce, each frame's timestamp, and the JPEG frames in order.
#[derive(Debug, Default)]
pub struct CaptureUpload {
    pub nonce: String,
    pub times_ms: Vec<f64>,
    pub frames: Vec<Vec<u8>>,
}

/// The description of an upload (the multipart `meta` part).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadMeta {
    pub nonce: String,
    pub frames: Vec<FrameMeta>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameMeta {
    /// The page's high-resolution timestamp, milliseconds from the start of the capture.
    pub t_ms: f64,
}

pub const MAX_FRAMES: usize = 900;
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// The largest frame judged (a camera frame, not a photo: 1920×1080 at most).
const MAX_FRAME_PIXELS: u64 = 1920 * 1080;

fn check_upload(upload: &CaptureUpload) -> Result<(), Error> {
    let bad = |m: String| Error::new(ErrorCode::InvalidFrames, m);
    if upload.frames.is_empty() || upload.frames.len() > MAX_FRAMES {
        return Err(bad(format!("send 1 to {MAX_FRAMES} frames")));
    }
    if upload.frames.len() != upload.times_ms.len() {
        return Err(bad(format!(
            "meta describes {} frames but {} were sent",
            upload.times_ms.len(),
            upload.frames.len()
        )));
    }
    if let Some(i) = upload.frames.iter().position(|f| f.len() > MAX_FRAME_BYTES) {
        return Err(bad(format!("frame {i} is larger than {MAX_FRAME_BYTES} bytes")));
    }
    if upload.times_ms.iter().any(|t| !t.is_finite()) {
        return Err(bad("every t_ms must be a finite number".into()));
    }
    Ok(())
}

/// Judges an upload and ends the session. The session is claimed first (one upload per
/// challenge, on any node); whatever happens next, it ends with a record: a verdict, or the
/// error it failed with. A retry of an upload that already got its answer (the page lost the
/// network) gets the same answer.
pub async fn frames(
    services: &Services,
    token: &str,
    upload: CaptureUpload,
    page: &Caller,
) -> Result<PageResult, Error> {
    let row = by_token(services, token).await?;
    let now = now_ms();
    let nonce_ok = row.nonce_hash.as_deref() == Some(token_hash(&upload.nonce).as_str());
    if row.state == "finished" && nonce_ok {
        return page_result(&row).ok_or_else(|| Error::internal("a finished session without an outcome"));
    }
    if row.state != "capturing" || row.expires_at <= now {
        return Err(refusal(&row, now));
    }
    if !nonce_ok {
        return Err(Error::of(ErrorCode::InvalidNonce));
    }
    check_upload(&upload)?;
    if !services.store.claim_upload(&row.id, &token_hash(&upload.nonce), now).await? {
        return Err(refusal(&by_token(services, token).await?, now_ms()));
    }
    let issued: Issued = serde_json::from_str(row.challenge.as_deref().unwrap_or_default()).map_err(Error::internal)?;
    let elapsed = (now - row.started_at.unwrap_or(now)) as f64;
    let late =
        elapsed > f64::from(issued.challenge.duration_ms) + services.config.sessions.upload_grace_secs as f64 * 1000.0;
    let sealed = sealed_of(services, &row)?;
    let caller = Caller { actor: row.access_key_id.clone(), ..page.clone() };
    let product = Product::parse(&row.product).ok_or_else(|| Error::internal("unknown product"))?;
    let mut call = Call::begin(services, &caller, product, &row.scene_id, row.order_no.clone()).await?;
    call.record_as(&row.id);
    if let (Some(name), Some(number)) = (&sealed.name, &sealed.id_number) {
        call.claim_identity(name.clone(), number.clone());
    }
    let outcome = if late {
        Err(Error::new(ErrorCode::SessionExpired, "the frames arrived too long after the challenge was issued"))
    } else {
        judge_upload(&mut call, &row, &issued.challenge, &sealed, upload, elapsed).await
    };
    let finished = finish(services, &row, call, outcome, sealed.callback_token.as_deref()).await;
    drop_card_photos(services, &row.id, &sealed).await;
    finished
}

/// Ends a claimed (`judging`) session: records the outcome under the session's id, stores it
/// with the session, queues the callback, and returns the result screen's data (or the error
/// the verification failed with).
async fn finish(
    services: &Services,
    row: &SessionRow,
    call: Call<'_>,
    outcome: Result<Verdict, Error>,
    callback_token: Option<&str>,
) -> Result<PageResult, Error> {
    let concluded = call.conclude(outcome).await;
    let (verification, failed_check) = match concluded {
        Ok(v) => {
            let failed = match &v.detail {
                Detail::Session(d) => d.checks.iter().find(|c| !c.passed).map(|c| c.name.clone()),
                _ => None,
            };
            (Ok(v), failed)
        }
        Err(e) => (Err(e), None),
    };
    let stored = match &verification {
        Ok(v) => Outcome {
            passed: v.passed,
            sub_code: v.sub_code.as_str().into(),
            score: v.score,
            failed_check,
            reason: reason_of(v.sub_code).into(),
        },
        Err(e) => Outcome {
            passed: false,
            sub_code: e.code.as_str().into(),
            score: None,
            failed_check: None,
            reason: "error".into(),
        },
    };
    let text = serde_json::to_string(&stored).map_err(Error::internal)?;
    services.store.finish_session(&row.id, &text, &row.id, now_ms()).await?;
    callbacks::enqueue(services, row, &stored, callback_token).await;
    let finished = services.store.session(&row.id).await?.ok_or_else(|| Error::internal("session vanished"))?;
    match verification {
        Ok(_) => page_result(&finished).ok_or_else(|| Error::internal("a finished session without an outcome")),
        Err(e) => Err(e),
    }
}

fn reason_of(code: SubCode) -> &'static str {
    match code {
        SubCode::Pass => "passed",
        SubCode::LivenessRisk | SubCode::MultipleFaces => "liveness",
        SubCode::FaceMismatch => "face_mismatch",
        SubCode::NameMismatch | SubCode::IdentityNotFound | SubCode::NoReference | SubCode::DuplicateIdentity => {
            "identity"
        }
        SubCode::LowQuality => "quality",
        // ID_PLUS's card steps (the page shows the card's own hints before this).
        SubCode::DocumentRisk | SubCode::DocumentUnreadable => "document",
        SubCode::Failed(_) => "error",
    }
}

/// What a session's record keeps: the liveness model, the challenge's actions and colours, and
/// every check with its numbers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionDetail {
    pub liveness: LivenessModel,
    pub actions: Vec<Action>,
    pub colours: Vec<Colour>,
    pub checks: Vec<Check>,
    pub frames: usize,
    /// Quality (0-100) of the best frame.
    pub best_frame_quality: Option<f64>,
    /// Cosine similarity of the best frame to the reference (ID_PRO, PV_FV).
    pub similarity: Option<f32>,
    pub far_level: Option<String>,
    /// ID_PRO, and ID_PLUS when the scene compares with the authority: the provider that
    /// answered.
    pub authority: Option<&'static str>,
    /// ID_PLUS: the card as read (the fields masked in the record).
    pub document: Option<cards::CardDocument>,
    /// ID_PLUS with the authority: cosine similarity of the best frame to the authority's
    /// reference, and its score (`similarity` and the record's score are the card portrait's).
    pub authority_similarity: Option<f32>,
    pub authority_score: Option<f64>,
}

impl SessionDetail {
    /// A session's detail before anything was measured.
    fn empty(liveness: LivenessModel) -> Self {
        Self {
            liveness,
            actions: Vec::new(),
            colours: Vec::new(),
            checks: Vec::new(),
            frames: 0,
            best_frame_quality: None,
            similarity: None,
            far_level: None,
            authority: None,
            document: None,
            authority_similarity: None,
            authority_score: None,
        }
    }
}

/// The judgement proper: measure the frames in the pool, apply every check, then the replay
/// check against earlier sessions, then compare the best frame where the product does.
async fn judge_upload(
    call: &mut Call<'_>,
    row: &SessionRow,
    challenge: &Challenge,
    sealed: &Sealed,
    upload: CaptureUpload,
    elapsed_ms: f64,
) -> Result<Verdict, Error> {
    let services = call.services;
    let settings = call.scene.settings.interactive.clone();
    // The largest frame's decode, priced from the headers (frames are decoded one at a time per
    // thread); anything that is not a camera-sized image is refused before any decoding.
    let mut memory = 0;
    for (i, frame) in upload.frames.iter().enumerate() {
        let plan = services.engine.plan(frame).map_err(|e| Error::from(e).about(&format!("frame {i}")))?;
        if u64::from(plan.width) * u64::from(plan.height) > MAX_FRAME_PIXELS {
            return Err(Error::new(ErrorCode::InvalidFrames, format!("frame {i} is larger than 1920x1080")));
        }
        memory = memory.max(plan.memory_bytes);
    }
    let threads = services.pool.workers().min(2);
    let engine = services.engine.clone();
    let measured = Instant::now();
    let CaptureUpload { times_ms, frames, .. } = upload;
    let (observed, frames) = services
        .pool
        .run(memory * threads as u64, move || {
            let observed = observe::observe(&engine, &frames, &times_ms, threads);
            (observed, frames)
        })
        .await?;
    let observed = observed.map_err(|e| Error::from(e.error).about(&format!("frame {}", e.index)))?;
    call.time("frames", measured);
    let readings = &observed.readings;
    let mut checks = vec![
        judge::timing(readings, challenge, elapsed_ms, &settings),
        judge::one_face(readings, &settings),
        judge::face_size(readings, &settings),
    ];
    let base = judge::baseline(readings, challenge);
    checks.extend(judge::actions(readings, challenge, &base, &settings));
    checks.extend(judge::colour_response(readings, challenge, &settings));
    // The best frame: the sharpest, best-lit presentable face among the detector's frames.
    let best = observed
        .samples
        .iter()
        .filter(|s| s.presentable)
        .max_by(|a, b| a.quality.total_cmp(&b.quality))
        .or_else(|| observed.samples.iter().max_by(|a, b| a.quality.total_cmp(&b.quality)));
    let similarity = best.map(|b| {
        observed.samples.iter().map(|s| shiren_face::cosine(&s.embedding, &b.embedding)).fold(f32::INFINITY, f32::min)
    });
    let same = similarity.unwrap_or(f32::NAN);
    checks.push(
        Check::new(
            "same_person",
            observed.samples.len() >= 2 && same >= settings.min_identity_similarity,
            f64::from(same),
            f64::from(settings.min_identity_similarity),
        )
        .with("samples", observed.samples.len()),
    );
    // Screen and print traces, off when the limit is 0. A capture with no frame measurable
    // (faces too small or cut by the frame's edge) fails while the check is on.
    if settings.max_screen_pattern > 0.0 {
        let measured: Vec<f32> = observed.samples.iter().filter_map(|s| s.screen_pattern).collect();
        let count = measured.len();
        let value = judge::median(measured);
        checks.push(
            Check::new(
                "screen_pattern",
                rules::stays_below(value, settings.max_screen_pattern),
                f64::from(value),
                f64::from(settings.max_screen_pattern),
            )
            .with("frames_measured", count),
        );
    }
    // Replay: a frame accepted in any earlier session fails this one.
    let digests: Vec<String> = frames.iter().map(|f| hex::encode(Sha256::digest(f))).collect();
    let keep_until = now_ms() + i64::from(settings.frame_digest_days) * 86_400_000;
    let replayed = services.store.remember_frame_digests(&row.id, &digests, keep_until).await?;
    checks.push(Check::new("replay", replayed.is_empty(), replayed.len() as f64, 0.0));
    let best_quality = best.map(|b| b.quality);
    let quality_ok = best_quality.is_some_and(|q| q >= settings.min_best_frame_quality);
    if let Some(b) = best {
        call.keep_image(frames[b.index].clone());
    }
    // The optional PAD model on the best frame.
    if let (Some(pad), Some(b)) = (services.pad.clone(), best) {
        let engine = services.engine.clone();
        let bytes = frames[b.index].clone();
        let live = services
            .pool
            .run(memory, move || -> Result<f32, FaceError> {
                let image = engine.decode(&bytes)?;
                let faces = engine.detect_upright(&image)?;
                let face = faces.first().ok_or(FaceError::NoFace)?;
                pad.live_probability(&image, face)
            })
            .await??;
        let attack = 1.0 - live;
        let max = call.scene.settings.liveness.max_attack_score;
        checks.push(Check::new("pad", rules::stays_below(attack, max), f64::from(attack), f64::from(max)));
    }
    let liveness_ok = checks.iter().all(|c| c.passed);
    let mut detail = SessionDetail {
        actions: challenge.steps.iter().map(|s| s.action).collect(),
        colours: challenge.flashes.iter().map(|f| f.colour).collect(),
        checks,
        frames: readings.len(),
        best_frame_quality: best_quality.map(round2),
        ..SessionDetail::empty(challenge.liveness)
    };
    if call.product() == Product::IdPlus {
        return judge_id_plus(call, sealed, detail, best.map(|b| b.embedding.clone()), liveness_ok, best_quality).await;
    }
    let verdict = |code, detail: SessionDetail| Verdict {
        quality: best_quality.map(round2),
        ..Verdict::new(code, Detail::Session(detail))
    };
    if !liveness_ok {
        return Ok(verdict(SubCode::LivenessRisk, detail));
    }
    if !quality_ok {
        return Ok(verdict(SubCode::LowQuality, detail));
    }
    let Some(best) = best else { return Ok(verdict(SubCode::LivenessRisk, detail)) };
    let reference = match call.product() {
        Product::PvFv => sealed.reference.as_deref().and_then(template_from_bytes),
        Product::IdPro => {
            let (Some(name), Some(number)) = (sealed.name.clone(), sealed.id_number.clone()) else {
                return Err(Error::internal("an ID_PRO session without its identity"));
            };
            detail.authority = Some(services.authority.name());
            match authority_reference(call, name, number).await? {
                Ok(template) => Some(template),
                Err(code) => return Ok(verdict(code, detail)),
            }
        }
        _ => return Ok(verdict(SubCode::Pass, detail)),
    };
    let Some(reference) = reference else { return Err(Error::internal("the session's reference is unreadable")) };
    let far = call.scene.settings.far_level;
    let threshold = far.score_threshold();
    let similarity = shiren_face::cosine(&best.embedding, &reference);
    let score = services.engine.config().calibration.score(similarity);
    detail.similarity = Some((similarity * 1000.0).round() / 1000.0);
    detail.far_level = Some(far.label().to_string());
    Ok(Verdict {
        score: Some(round2(score)),
        threshold: Some(f64::from(threshold)),
        comparisons: 1,
        ..verdict(rules::comparison(score, threshold), detail)
    })
}

/// The authority's reference template for a claimed identity, or the SubCode that ends the
/// verification without one (201 name mismatch, 202 not found, 203 no usable reference).
async fn authority_reference(
    call: &mut Call<'_>,
    name: String,
    id_number: String,
) -> Result<Result<Vec<f32>, SubCode>, Error> {
    let services = call.services;
    let asked = Instant::now();
    let query = AuthorityQuery { name, id_number, phone: None, bank_card: None, want_reference: true };
    let answer = services.authority.lookup(&query).await;
    call.time("authority", asked);
    Ok(match answer? {
        AuthorityAnswer::NotFound => Err(SubCode::IdentityNotFound),
        AuthorityAnswer::Found { name_matches: false, .. } => Err(SubCode::NameMismatch),
        AuthorityAnswer::Found { reference: None, .. } => Err(SubCode::NoReference),
        AuthorityAnswer::Found { reference: Some(Reference::Template(t)), .. } => Ok(t),
        AuthorityAnswer::Found { reference: Some(Reference::Photo(photo)), .. } => {
            let memory = services.engine.plan(&photo).map(|p| p.memory_bytes).unwrap_or(0);
            let engine = services.engine.clone();
            match services.pool.run(memory, move || engine.subject_embedding(&photo)).await? {
                Ok((e, _)) => Ok(e),
                Err(e) if e.is_bad_input() || matches!(e, FaceError::NoFace) => Err(SubCode::NoReference),
                Err(e) => return Err(e.into()),
            }
        }
    })
}

/// ID_PLUS's verdict once the liveness checks are measured: liveness, then quality, then the
/// card (a copy, a screen, two cards, failed cross-checks: 208), then the best frame against
/// the card's portrait, then, when the scene asks, against the authority's reference of the
/// identity read from the card. Every failure keeps what was measured before it.
async fn judge_id_plus(
    call: &mut Call<'_>,
    sealed: &Sealed,
    mut detail: SessionDetail,
    best: Option<Vec<f32>>,
    liveness_ok: bool,
    best_quality: Option<f32>,
) -> Result<Verdict, Error> {
    let services = call.services;
    for photo in cards::photos(&sealed.cards) {
        call.keep_image(photo);
    }
    let (document, masked) = cards::document_of(&sealed.cards, &services.regions);
    let at_risk = document.as_ref().is_none_or(|d| d.at_risk());
    if let Some(front) = document.as_ref().and_then(|d| d.front.as_ref())
        && let Some(number) = &front.id_number
    {
        let name = front.name.as_ref().map(|n| n.text.clone()).unwrap_or_default();
        call.claim_identity(name, number.text.clone());
    }
    let portrait = sealed.cards.front.as_ref().and_then(|f| f.portrait.as_deref()).and_then(template_from_bytes);
    let far = call.scene.settings.far_level;
    let threshold = far.score_threshold();
    let score_of = |template: &[f32], best: &[f32]| {
        let similarity = shiren_face::cosine(best, template);
        (similarity, services.engine.config().calibration.score(similarity))
    };
    let mut sub_code = if !liveness_ok {
        SubCode::LivenessRisk
    } else if !best_quality.is_some_and(|q| q >= call.scene.settings.interactive.min_best_frame_quality) {
        SubCode::LowQuality
    } else if at_risk {
        SubCode::DocumentRisk
    } else {
        SubCode::Pass
    };
    let mut score = None;
    let mut comparisons = 0;
    if sub_code == SubCode::Pass {
        let (Some(best), Some(portrait)) = (best.as_deref(), portrait.as_deref()) else {
            return Err(Error::internal("an ID_PLUS session without its best frame or card portrait"));
        };
        let (similarity, card_score) = score_of(portrait, best);
        detail.similarity = Some((similarity * 1000.0).round() / 1000.0);
        detail.far_level = Some(far.label().to_string());
        score = Some(round2(card_score));
        comparisons += 1;
        sub_code = rules::comparison(card_score, threshold);
        if sub_code == SubCode::Pass && call.scene.settings.id_plus.compare_with_authority {
            let front = document.as_ref().and_then(|d| d.front.as_ref());
            let name = front.and_then(|f| f.name.as_ref()).map(|n| n.text.clone()).unwrap_or_default();
            let number = front.and_then(|f| f.id_number.as_ref()).map(|n| n.text.clone()).unwrap_or_default();
            detail.authority = Some(services.authority.name());
            match authority_reference(call, name, number).await? {
                Ok(reference) => {
                    let (similarity, authority_score) = score_of(&reference, best);
                    detail.authority_similarity = Some((similarity * 1000.0).round() / 1000.0);
                    detail.authority_score = Some(round2(authority_score));
                    comparisons += 1;
                    sub_code = rules::comparison(authority_score, threshold);
                }
                Err(code) => sub_code = code,
            }
        }
    }
    let record = SessionDetail { document: masked, ..detail.clone() };
    Ok(Verdict {
        score,
        threshold: score.map(|_| f64::from(threshold)),
        quality: best_quality.map(round2),
        comparisons,
        record_detail: Some(Detail::Session(record)),
        ..Verdict::new(sub_code, Detail::Session(SessionDetail { document, ..detail }))
    })
}

/// The sealed form of what a session keeps (encrypted, bound to the session's id).
fn seal_state(services: &Services, id: &str, state: &Sealed) -> Result<Vec<u8>, Error> {
    let plain = serde_json::to_vec(state).map_err(Error::internal)?;
    Ok(services.store.keys().seal(Purpose::Sessions, id, &plain)?)
}

/// Replaces what a finished session holds sealed, best effort: a failure is logged (`what`
/// says which change), and the session's row is deleted a week past its expiry anyway.
async fn reseal_finished(services: &Services, id: &str, state: &Sealed, what: &str) {
    let done = match seal_state(services, id, state) {
        Ok(sealed) => services.store.reseal_finished_session(id, &sealed).await.map_err(Error::from),
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, change = what, "resealing a finished session failed");
    }
}

/// Empties what a finished session holds sealed (its record was erased).
pub(crate) async fn forget_sealed(services: &Services, id: &str) {
    reseal_finished(services, id, &Sealed::default(), "emptying an erased session").await;
}

/// Keeps a finished ID_PLUS session's sealed card fields but drops its card photos: they went to
/// the record when the scene keeps images, and nowhere otherwise.
async fn drop_card_photos(services: &Services, id: &str, sealed: &Sealed) {
    if !sealed.cards.front.iter().chain(&sealed.cards.back).any(|s| s.photo.is_some()) {
        return;
    }
    let mut kept = sealed.clone();
    for side in kept.cards.front.iter_mut().chain(kept.cards.back.iter_mut()) {
        side.photo = None;
    }
    reseal_finished(services, id, &kept, "dropping the card photos").await;
}

/// Deletes sessions a week past their expiry (their records stay, under the same id) and frame
/// digests past their retention.
pub async fn sweep(services: &Services) {
    let now = now_ms();
    if let Err(e) = services.store.delete_old_sessions(now - 7 * 86_400_000).await {
        tracing::warn!(error = %e, "deleting old sessions failed");
    }
    if let Err(e) = services.store.forget_frame_digests(now).await {
        tracing::warn!(error = %e, "forgetting old frame digests failed");
    }
}
