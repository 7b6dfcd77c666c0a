//! The verification products. Each handler resolves the scene, loads the images, runs the
//! face work in the bounded inference pool, judges the result by the scene's settings and
//! writes exactly one record (also when the verification fails on bad input), whose id is
//! returned to the caller.
//!
//! SubCodes: `200` pass; `201` name and ID number do not match; `202` no such identity at the
//! authority; `203` the authority has no usable reference photo; `204` face mismatch; `205`
//! liveness risk (attack score, closed eyes); `206` photo quality too low; `207` more than one
//! face. Failures on input (no face, unreadable image, invalid ID number, authority
//! unavailable) are recorded with the error code as SubCode and answered with a 4xx/5xx error.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shiren_face::{Comparison, Detection, FaceError, FaceSummary, Judged, LandmarkReading, Quality};
use shiren_idcard::{Date, mask_id_number, mask_name};
use shiren_store::{ImageRef, RecordRow};

use crate::auth::Caller;
use crate::authority::{AuthorityAnswer, AuthorityError, AuthorityQuery, Reference, id_hash};
use crate::error::ApiError;
use crate::input::{HasImages, ImageSource, ProductInput};
use crate::state::{AppState, Product, Scene};

/// Every successful response: the request id, `OK`, and the data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    pub request_id: String,
    pub code: String,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn ok(request_id: &str, data: T) -> Json<Self> {
        Json(Envelope { request_id: request_id.to_string(), code: "OK".into(), data })
    }
}

/// The outcome of one verification.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// Record id; query it under `/v1/records/{id}`.
    pub verification_id: String,
    pub product: Product,
    pub scene_id: String,
    pub passed: bool,
    pub sub_code: String,
    /// Comparison score 0-100 where the product compares faces.
    pub score: Option<f64>,
    /// The scene's pass threshold on `score`.
    pub threshold: Option<f64>,
    pub quality_score: Option<f64>,
    /// Probability of a presentation attack, when a PAD model is configured.
    pub attack_score: Option<f64>,
    /// Product-specific details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Milliseconds spent waiting for a worker, in inference and in all.
    #[schema(value_type = Object)]
    pub timings_ms: BTreeMap<String, f64>,
}

/// What one handler learned, before it is recorded.
struct Outcome {
    product: Product,
    passed: bool,
    sub_code: String,
    score: Option<f64>,
    threshold: Option<f64>,
    quality: Option<f64>,
    attack: Option<f64>,
    detail: serde_json::Value,
    name: Option<String>,
    id_number: Option<String>,
    images: Vec<Vec<u8>>,
    comparisons: i64,
    timings: BTreeMap<String, f64>,
}

impl Outcome {
    /// The quality score and, with a PAD model, the attack score of an inspected photo.
    fn take_scores(&mut self, inspection: &Inspection) {
        self.quality = Some(round2(inspection.quality.score));
        self.attack = inspection.live_probability.map(|p| f64::from(((1.0 - p) * 1e4).round() / 1e4));
    }

    fn new(product: Product) -> Self {
        Self {
            product,
            passed: false,
            sub_code: String::new(),
            score: None,
            threshold: None,
            quality: None,
            attack: None,
            detail: json!({}),
            name: None,
            id_number: None,
            images: Vec::new(),
            comparisons: 0,
            timings: BTreeMap::new(),
        }
    }
}

fn round2(v: f32) -> f64 {
    (f64::from(v) * 100.0).round() / 100.0
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

/// One verification call: what every step needs to record its outcome.
struct Call<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    scene: Scene,
    order_no: Option<&'a str>,
    started: Instant,
}

impl<'a> Call<'a> {
    /// What every product does first: check the caller's order number and find the scene,
    /// which must enable the product.
    async fn begin(
        state: &'a AppState,
        caller: &'a Caller,
        scene_id: &str,
        order_no: &'a Option<String>,
        product: Product,
    ) -> Result<Call<'a>, ApiError> {
        let started = Instant::now();
        let scene = match order_no {
            Some(o) if o.len() > 64 || o.chars().any(|c| c.is_control()) => Err(ApiError::bad_request(
                "InvalidParameter.OrderNo",
                "order_no must be at most 64 printable characters",
            )),
            _ => state.scene_for(scene_id, product).await,
        }
        .map_err(|e| e.with_request_id(&caller.request_id))?;
        Ok(Call { state, caller, scene, order_no: order_no.as_deref(), started })
    }

    /// Writes the record (and the images when the scene keeps them) and counts the outcome.
    async fn record(&self, mut outcome: Outcome) -> Result<Verification, ApiError> {
        let id = shiren_store::new_id("v");
        let now = shiren_store::now_ms();
        let mut images: Vec<ImageRef> = Vec::new();
        if self.scene.settings.store_images {
            for (idx, bytes) in outcome.images.iter().enumerate() {
                // Location, device and the rest of a photo's metadata are not kept with it; an
                // image whose container cannot be rewritten is not kept at all.
                let bytes = match shiren_face::metadata::strip(bytes) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(record = %id, idx, error = %e, "image not stored: its metadata cannot be removed");
                        continue;
                    }
                };
                let key = match self.state.images.put(&id, idx as i64, &bytes).await {
                    Ok(key) => key,
                    Err(e) => {
                        for image in &images {
                            let _ = self.state.images.delete(&image.object_key).await;
                        }
                        return Err(e.into());
                    }
                };
                images.push(ImageRef {
                    record_id: id.clone(),
                    idx: idx as i64,
                    object_key: key,
                    content_type: sniff_content_type(&bytes).into(),
                    bytes: bytes.len() as i64,
                });
            }
        }
        outcome.timings.insert("total".into(), ms(self.started));
        let keys = self.state.store.keys();
        let row = RecordRow {
            id: id.clone(),
            scene_id: self.scene.id.clone(),
            product: outcome.product.code().into(),
            passed: outcome.passed,
            sub_code: outcome.sub_code.clone(),
            score: outcome.score,
            quality_score: outcome.quality,
            attack_score: outcome.attack,
            order_no: self.order_no.map(str::to_string),
            name_masked: outcome.name.as_deref().map(mask_name),
            id_number_masked: outcome.id_number.as_deref().map(mask_id_number),
            id_number_hash: outcome.id_number.as_deref().map(|n| id_hash(keys, n)),
            access_key_id: self.caller.key_id.clone(),
            timings: serde_json::to_string(&outcome.timings).map_err(ApiError::internal)?,
            detail: serde_json::to_string(&outcome.detail).map_err(ApiError::internal)?,
            image_count: images.len() as i64,
            created_at: now,
            expires_at: (self.scene.settings.retention_days > 0)
                .then(|| now + i64::from(self.scene.settings.retention_days) * 86_400_000),
        };
        if let Err(e) = self.state.store.insert_record(&row, &images, outcome.comparisons).await {
            for image in &images {
                let _ = self.state.images.delete(&image.object_key).await;
            }
            return Err(e.into());
        }
        self.state.metrics.observe(
            outcome.product.code(),
            if outcome.passed { "pass" } else { "fail" },
            self.started.elapsed().as_secs_f64(),
        );
        Ok(Verification {
            verification_id: id,
            product: outcome.product,
            scene_id: self.scene.id.clone(),
            passed: outcome.passed,
            sub_code: outcome.sub_code,
            score: outcome.score,
            threshold: outcome.threshold,
            quality_score: outcome.quality,
            attack_score: outcome.attack,
            detail: outcome.detail,
            timings_ms: outcome.timings,
        })
    }

    /// Records the outcome and answers with it.
    async fn finish(&self, outcome: Outcome) -> Result<Json<Envelope<Verification>>, ApiError> {
        let v = self.record(outcome).await.map_err(|e| e.with_request_id(&self.caller.request_id))?;
        Ok(Envelope::ok(&self.caller.request_id, v))
    }

    /// Records a verification that ended in an error, then returns the error.
    async fn fail(&self, mut outcome: Outcome, error: ApiError) -> ApiError {
        outcome.passed = false;
        outcome.sub_code = error.code.clone();
        // Only the code is stored: messages quote what the caller sent (ID number digits, URL
        // tokens), and records are readable by read-only keys.
        outcome.detail = json!({ "error": error.code });
        outcome.score = None;
        self.state.metrics.error(&error.code);
        match self.record(outcome).await {
            Ok(v) => {
                let mut e = error;
                e.message = format!("{} (verification {})", e.message, v.verification_id);
                e.with_request_id(&self.caller.request_id)
            }
            Err(record_error) => record_error.with_request_id(&self.caller.request_id),
        }
    }

    /// Loads the request's `image`; a failure is recorded.
    async fn image(&self, outcome: Outcome, source: &ImageSource) -> Result<(Vec<u8>, Outcome), ApiError> {
        match source.load("image", self.state, &self.scene).await {
            Ok(bytes) => Ok((bytes, outcome)),
            Err(e) => Err(self.fail(outcome, e).await),
        }
    }

    /// Runs face work on one photo in the inference pool; the photo is kept in the outcome
    /// (for storage) and the inference time in its timings. A failure is recorded.
    async fn photo_work<T: Send + 'static>(
        &self,
        mut outcome: Outcome,
        bytes: Vec<u8>,
        extra_memory: u64,
        work: impl FnOnce(&AppState, &[u8]) -> Result<T, FaceError> + Send + 'static,
    ) -> Result<(T, Outcome), ApiError> {
        let memory = match self.state.engine.plan(&bytes) {
            Ok(plan) => plan.memory_bytes + extra_memory,
            Err(e) => {
                outcome.images = vec![bytes];
                return Err(self.fail(outcome, e.into()).await);
            }
        };
        let worker_state = self.state.clone();
        let (result, bytes, inference) = self
            .state
            .pool
            .run(memory, move || {
                let begun = Instant::now();
                let out = work(&worker_state, &bytes);
                (out, bytes, begun.elapsed().as_secs_f64() * 1000.0)
            })
            .await
            .map_err(|e| e.with_request_id(&self.caller.request_id))?;
        outcome.images = vec![bytes];
        outcome.timings.insert("inference".into(), inference);
        match result {
            Ok(v) => Ok((v, outcome)),
            Err(e) => Err(self.fail(outcome, e.into()).await),
        }
    }
}

/// An engine error about one of several images, naming the field.
fn field_error(field: &str, e: FaceError) -> ApiError {
    let mut err = ApiError::from(e);
    err.message = format!("{field}: {}", err.message);
    err
}

/// Whether a score reaches its threshold. Every verdict goes through here or `stays_below`, so
/// that a NaN or infinite number (a broken model, a degenerate image) fails instead of passing.
fn reaches(value: f32, threshold: f32) -> bool {
    value.is_finite() && value >= threshold
}

/// Whether a risk score stays under its limit (false for NaN and infinities).
fn stays_below(value: f32, limit: f32) -> bool {
    value.is_finite() && value < limit
}

fn sniff_content_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    }
}

fn summary(face: &FaceSummary) -> serde_json::Value {
    json!({ "box": face.bbox, "detector_score": face.score, "face_count": face.face_count, "rotation": face.rotation })
}

fn comparison_detail(c: &Comparison) -> serde_json::Value {
    json!({
        "similarity": c.similarity,
        "thresholds": c.thresholds.iter().map(|t| (t.far.label().to_string(), json!(t.score))).collect::<serde_json::Map<_, _>>(),
        "faces": c.faces.iter().map(summary).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------- PV_FC

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub scene_id: String,
    /// The caller's own reference for this verification.
    #[serde(default)]
    pub order_no: Option<String>,
    #[serde(default)]
    pub image_a: ImageSource,
    #[serde(default)]
    pub image_b: ImageSource,
}

impl HasImages for CompareRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image_a", &mut self.image_a), ("image_b", &mut self.image_b)]
    }
}

/// PV_FC: compare the subjects of two photos.
#[utoipa::path(post, path = "/v1/compare", tag = "products", request_body = CompareRequest,
    responses((status = 200, description = "Verification done (see `passed`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = crate::error::ErrorBody),
              (status = 503, description = "Inference queue full; retry after the Retry-After seconds", body = crate::error::ErrorBody)))]
pub async fn compare(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ProductInput(req): ProductInput<CompareRequest>,
) -> Result<Json<Envelope<Verification>>, ApiError> {
    let call = Call::begin(&state, &caller, &req.scene_id, &req.order_no, Product::PvFc).await?;
    let mut outcome = Outcome::new(Product::PvFc);
    let loaded = async {
        Ok::<_, ApiError>((
            req.image_a.load("image_a", &state, &call.scene).await?,
            req.image_b.load("image_b", &state, &call.scene).await?,
        ))
    }
    .await;
    let (a, b) = match loaded {
        Ok(v) => v,
        Err(e) => return Err(call.fail(outcome, e).await),
    };
    let planned = [("image_a", &a), ("image_b", &b)]
        .map(|(field, bytes)| state.engine.plan(bytes).map(|p| p.memory_bytes).map_err(|e| field_error(field, e)));
    let memory = match planned {
        [Ok(ma), Ok(mb)] => ma + mb,
        [Err(e), _] | [_, Err(e)] => {
            outcome.images = vec![a, b];
            return Err(call.fail(outcome, e).await);
        }
    };
    let engine = state.engine.clone();
    let queued = Instant::now();
    let work = state
        .pool
        .run(memory, move || {
            let begun = Instant::now();
            let wait = queued.elapsed();
            let result = match engine.subject_embedding_pair(&a, &b) {
                (Ok(ea), Ok(eb)) => Ok((ea, eb)),
                (Err(e), _) => Err(("image_a", e)),
                (_, Err(e)) => Err(("image_b", e)),
            };
            (result, a, b, wait, begun.elapsed())
        })
        .await
        .map_err(|e| e.with_request_id(&caller.request_id))?;
    let (result, a, b, wait, inference) = work;
    outcome.images = vec![a, b];
    outcome.timings.insert("queue".into(), wait.as_secs_f64() * 1000.0);
    outcome.timings.insert("inference".into(), inference.as_secs_f64() * 1000.0);
    let ((ea, sa), (eb, sb)) = match result {
        Ok(v) => v,
        Err((field, e)) => return Err(call.fail(outcome, field_error(field, e)).await),
    };
    let comparison = state.engine.comparison(&ea, &eb, [sa, sb]);
    let threshold = call.scene.settings.far_level.score_threshold();
    outcome.comparisons = 1;
    outcome.score = Some(round2(comparison.score));
    outcome.threshold = Some(f64::from(threshold));
    outcome.passed = reaches(comparison.score, threshold);
    outcome.sub_code = if outcome.passed { "200" } else { "204" }.into();
    outcome.detail = comparison_detail(&comparison);
    outcome.detail["far_level"] = json!(call.scene.settings.far_level.label());
    call.finish(outcome).await
}

// ---------------------------------------------------------------- LR_FR_MIN

/// A request about one photo (LR_FR_MIN, attributes).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    #[serde(default)]
    pub image: ImageSource,
}

impl HasImages for PhotoRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

/// The engine's look at one photo's subject (the decoded image itself stays in the worker).
struct Inspection {
    image_size: [usize; 2],
    face: Detection,
    face_count: usize,
    rotation: u32,
    landmarks: LandmarkReading,
    quality: Quality,
    live_probability: Option<f32>,
    embedding: Option<Vec<f32>>,
}

fn inspect(state: &AppState, bytes: &[u8], embed: bool) -> Result<Inspection, FaceError> {
    let engine = &state.engine;
    let located = engine.locate_subject(engine.decode(bytes)?)?;
    let face = *located.subject();
    let landmarks = engine.landmarks(&located.image, &face)?;
    let quality = engine.quality(&located.image, &face, &landmarks)?;
    let live_probability = match &state.pad {
        Some(pad) => Some(pad.live_probability(&located.image, &face)?),
        None => None,
    };
    let embedding = if embed { Some(engine.embed(&located.image, &face)?) } else { None };
    Ok(Inspection {
        face_count: located.faces.len(),
        rotation: located.rotation,
        image_size: [located.image.width(), located.image.height()],
        face,
        landmarks,
        quality,
        live_probability,
        embedding,
    })
}

/// Eyelid opening below which an eye counts as closed.
const CLOSED_EYE: f32 = 0.12;

/// Applies the scene's single-photo liveness rules; `None` when the photo passes.
fn liveness_verdict(scene: &Scene, i: &Inspection) -> (Option<&'static str>, serde_json::Value) {
    let rules = &scene.settings.liveness;
    let attack = i.live_probability.map(|p| 1.0 - p);
    let eyes_closed = i.landmarks.eye_openness.iter().any(|&e| !reaches(e, CLOSED_EYE));
    let sub_code = if rules.reject_multiple_faces && i.face_count > 1 {
        Some("207")
    } else if !reaches(i.quality.score, rules.min_quality) {
        Some("206")
    } else if attack.is_some_and(|a| !stays_below(a, rules.max_attack_score))
        || (rules.require_open_eyes && eyes_closed)
    {
        Some("205")
    } else {
        None
    };
    let detail = json!({
        "face_count": i.face_count,
        "rotation": i.rotation,
        "box": i.face.bbox,
        "quality": i.quality,
        "eye_openness": i.landmarks.eye_openness,
        "mouth_openness": i.landmarks.mouth_openness,
        "attack_score": attack,
        "pad_model": if i.live_probability.is_some() { "configured" } else { "none" },
        "image_size": i.image_size,
    });
    (sub_code, detail)
}

/// LR_FR_MIN: single-photo (passive) liveness with quality checks. Without a licensed PAD
/// model this judges quality, face count and open eyes only: it cannot tell a printed photo
/// or a screen from a live face (see the README).
#[utoipa::path(post, path = "/v1/liveness", tag = "products", request_body = PhotoRequest,
    responses((status = 200, description = "Verification done (see `passed`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = crate::error::ErrorBody)))]
pub async fn liveness(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ProductInput(req): ProductInput<PhotoRequest>,
) -> Result<Json<Envelope<Verification>>, ApiError> {
    let call = Call::begin(&state, &caller, &req.scene_id, &req.order_no, Product::LrFrMin).await?;
    let (bytes, outcome) = call.image(Outcome::new(Product::LrFrMin), &req.image).await?;
    let (inspection, mut outcome) = call.photo_work(outcome, bytes, 0, |s, b| inspect(s, b, false)).await?;
    let (verdict, detail) = liveness_verdict(&call.scene, &inspection);
    outcome.passed = verdict.is_none();
    outcome.sub_code = verdict.unwrap_or("200").into();
    outcome.take_scores(&inspection);
    outcome.detail = detail;
    call.finish(outcome).await
}

// ---------------------------------------------------------------- ID_MIN

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    pub name: String,
    /// 18-character resident ID number (GB 11643).
    pub id_number: String,
    #[serde(default)]
    pub image: ImageSource,
}

impl HasImages for IdentityRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

/// Validates name and ID number before anything else runs.
fn check_identity(state: &AppState, name: &str, id_number: &str) -> Result<(String, String), ApiError> {
    let name = shiren_idcard::validate_name(name).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let number = shiren_idcard::validate(id_number, &state.regions, Date::today_in_china())
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    Ok((name.to_string(), number.number().to_string()))
}

fn authority_unavailable(e: AuthorityError) -> ApiError {
    match e {
        AuthorityError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "AUTHORITY_UNAVAILABLE", m),
        AuthorityError::Internal(m) => ApiError::internal(m),
    }
}

/// ID_MIN: ID number check, name/number match, and face against the authority's reference.
#[utoipa::path(post, path = "/v1/identity", tag = "products", request_body = IdentityRequest,
    responses((status = 200, description = "Verification done (see `passed` and `sub_code`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input (e.g. invalid ID number), signature or permission", body = crate::error::ErrorBody),
              (status = 503, description = "Authority unavailable or inference queue full", body = crate::error::ErrorBody)))]
pub async fn identity(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ProductInput(req): ProductInput<IdentityRequest>,
) -> Result<Json<Envelope<Verification>>, ApiError> {
    let call = Call::begin(&state, &caller, &req.scene_id, &req.order_no, Product::IdMin).await?;
    let mut outcome = Outcome::new(Product::IdMin);
    let (name, number) = match check_identity(&state, &req.name, &req.id_number) {
        Ok(v) => v,
        Err(e) => return Err(call.fail(outcome, e).await),
    };
    outcome.name = Some(name.clone());
    outcome.id_number = Some(number.clone());
    let (bytes, mut outcome) = call.image(outcome, &req.image).await?;
    let asked = Instant::now();
    let query = AuthorityQuery { name, id_number: number, phone: None, bank_card: None, want_reference: true };
    let answer = state.authority.lookup(&query).await;
    outcome.timings.insert("authority".into(), ms(asked));
    let reference = match answer {
        Err(e) => return Err(call.fail(outcome, authority_unavailable(e)).await),
        Ok(AuthorityAnswer::NotFound) => None,
        Ok(AuthorityAnswer::Found { name_matches: false, .. }) => {
            outcome.sub_code = "201".into();
            None
        }
        Ok(AuthorityAnswer::Found { reference: None, .. }) => {
            outcome.sub_code = "203".into();
            None
        }
        Ok(AuthorityAnswer::Found { reference: Some(r), .. }) => Some(r),
    };
    let Some(reference) = reference else {
        if outcome.sub_code.is_empty() {
            outcome.sub_code = "202".into();
        }
        outcome.detail = json!({ "authority": state.authority.name() });
        return call.finish(outcome).await;
    };
    // A reference photo that cannot even be priced is unusable (203), decided in the worker.
    let reference_memory = match &reference {
        Reference::Photo(photo) => state.engine.plan(photo).map(|p| p.memory_bytes).unwrap_or(0),
        Reference::Template(_) => 0,
    };
    let ((probe, reference), mut outcome) = call
        .photo_work(outcome, bytes, reference_memory, move |s, b| {
            let probe = inspect(s, b, true);
            let reference = match reference {
                Reference::Template(t) => Ok(Some(t)),
                // A reference photo without a usable face is the authority's problem (203).
                Reference::Photo(photo) => match s.engine.subject_embedding(&photo) {
                    Ok((e, _)) => Ok(Some(e)),
                    Err(e) if e.is_bad_input() || matches!(e, FaceError::NoFace) => Ok(None),
                    Err(e) => Err(e),
                },
            };
            probe.and_then(|p| reference.map(|r| (p, r)))
        })
        .await?;
    let (verdict, mut detail) = liveness_verdict(&call.scene, &probe);
    outcome.take_scores(&probe);
    detail["authority"] = json!(state.authority.name());
    let threshold = call.scene.settings.far_level.score_threshold();
    outcome.threshold = Some(f64::from(threshold));
    match (reference, probe.embedding.as_ref(), verdict) {
        (None, _, _) => outcome.sub_code = "203".into(),
        (_, _, Some(code)) => outcome.sub_code = code.into(),
        (Some(reference), Some(embedding), None) => {
            let summary = FaceSummary {
                bbox: probe.face.bbox,
                score: probe.face.score,
                face_count: probe.face_count,
                rotation: probe.rotation,
            };
            let comparison = state.engine.comparison(embedding, &reference, [summary.clone(), summary]);
            outcome.comparisons = 1;
            outcome.score = Some(round2(comparison.score));
            outcome.passed = reaches(comparison.score, threshold);
            outcome.sub_code = if outcome.passed { "200" } else { "204" }.into();
            detail["similarity"] = json!(comparison.similarity);
            detail["far_level"] = json!(call.scene.settings.far_level.label());
        }
        (Some(_), None, None) => {
            return Err(ApiError::internal("embedding missing").with_request_id(&caller.request_id));
        }
    }
    outcome.detail = detail;
    call.finish(outcome).await
}

// ---------------------------------------------------------------- attributes

fn describe_faces(state: &AppState, bytes: &[u8]) -> Result<serde_json::Value, FaceError> {
    let engine = &state.engine;
    let mut located = engine.locate_all(engine.decode(bytes)?)?;
    located.faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
    let mut faces = Vec::new();
    for face in &located.faces {
        let lm = engine.landmarks(&located.image, face)?;
        let quality = engine.quality(&located.image, face, &lm)?;
        let attributes = engine.attributes(&located.image, &lm)?;
        faces.push(json!({
            "box": face.bbox,
            "detector_score": face.score,
            "landmarks": face.keypoints,
            "pose": lm.pose,
            "eye_openness": lm.eye_openness,
            "mouth_openness": lm.mouth_openness,
            "blur": quality.blur,
            "brightness": quality.brightness,
            "quality": quality,
            "gender": attributes.gender,
            "age": attributes.age,
            "glasses": attributes.glasses,
            "mask": attributes.mask,
            "smile": attributes.smile,
            "occlusion": Judged::<bool>::NotAvailable(shiren_face::attributes::NotAvailable {
                available: false,
                reason: "no model shipped with Shiren can judge this attribute".into(),
            }),
        }));
    }
    Ok(json!({ "face_count": faces.len(), "rotation": located.rotation, "faces": faces }))
}

/// Face attributes and quality of every face in a photo.
#[utoipa::path(post, path = "/v1/attributes", tag = "products", request_body = PhotoRequest,
    responses((status = 200, description = "Attributes per face, largest first, in `detail.faces`", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = crate::error::ErrorBody)))]
pub async fn attributes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ProductInput(req): ProductInput<PhotoRequest>,
) -> Result<Json<Envelope<Verification>>, ApiError> {
    let call = Call::begin(&state, &caller, &req.scene_id, &req.order_no, Product::FaceAttributes).await?;
    let (bytes, outcome) = call.image(Outcome::new(Product::FaceAttributes), &req.image).await?;
    let (detail, mut outcome) = call.photo_work(outcome, bytes, 0, describe_faces).await?;
    outcome.passed = true;
    outcome.sub_code = "200".into();
    outcome.quality = detail["faces"][0]["quality"]["score"].as_f64();
    outcome.detail = detail;
    call.finish(outcome).await
}

// ---------------------------------------------------------------- element checks

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ElementsRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    pub name: String,
    pub id_number: String,
    /// Adds the mobile phone: a 3-element check.
    #[serde(default)]
    pub phone: Option<String>,
    /// Adds the bank card: a 4-element check.
    #[serde(default)]
    pub bank_card: Option<String>,
}

impl HasImages for ElementsRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        Vec::new()
    }
}

/// 2-, 3- and 4-element checks (name + ID number, + phone, + bank card) against the authority.
#[utoipa::path(post, path = "/v1/elements", tag = "products", request_body = ElementsRequest,
    responses((status = 200, description = "`200` all match, `201` mismatch, `202` no record", body = Envelope<Verification>),
              (status = 501, description = "The configured authority cannot check phone numbers or bank cards", body = crate::error::ErrorBody),
              (status = 503, description = "Authority unavailable", body = crate::error::ErrorBody)))]
pub async fn elements(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ProductInput(req): ProductInput<ElementsRequest>,
) -> Result<Json<Envelope<Verification>>, ApiError> {
    let product = match (&req.phone, &req.bank_card) {
        (_, Some(_)) => Product::Id4MetaBank,
        (Some(_), None) => Product::Id3MetaPhone,
        (None, None) => Product::Id2Meta,
    };
    let call = Call::begin(&state, &caller, &req.scene_id, &req.order_no, product).await?;
    let mut outcome = Outcome::new(product);
    let checked = (|| {
        let (name, number) = check_identity(&state, &req.name, &req.id_number)?;
        let phone = req
            .phone
            .as_deref()
            .map(|p| {
                shiren_idcard::validate_phone(p)
                    .map(str::to_string)
                    .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))
            })
            .transpose()?;
        let card = req
            .bank_card
            .as_deref()
            .map(|c| {
                shiren_idcard::validate_bank_card(c)
                    .map(str::to_string)
                    .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))
            })
            .transpose()?;
        if (phone.is_some() || card.is_some()) && !state.authority.answers_phone_and_card() {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "ElementNotSupported",
                format!(
                    "the {} authority provider holds names and ID numbers only; configure an http gateway for phone and bank card checks",
                    state.authority.name()
                ),
            ));
        }
        Ok((name, number, phone, card))
    })();
    let (name, number, phone, card) = match checked {
        Ok(v) => v,
        Err(e) => return Err(call.fail(outcome, e).await),
    };
    outcome.name = Some(name.clone());
    outcome.id_number = Some(number.clone());
    let query = AuthorityQuery { name, id_number: number, phone, bank_card: card, want_reference: false };
    let asked = Instant::now();
    let answer = state.authority.lookup(&query).await;
    outcome.timings.insert("authority".into(), ms(asked));
    match answer {
        Err(e) => {
            return Err(call.fail(outcome, authority_unavailable(e)).await);
        }
        Ok(AuthorityAnswer::NotFound) => {
            outcome.sub_code = "202".into();
            outcome.detail = json!({ "found": false });
        }
        Ok(AuthorityAnswer::Found { name_matches, phone_matches, bank_card_matches, .. }) => {
            let phone_ok = query.phone.is_none() || phone_matches == Some(true);
            let card_ok = query.bank_card.is_none() || bank_card_matches == Some(true);
            outcome.passed = name_matches && phone_ok && card_ok;
            outcome.sub_code = if outcome.passed { "200" } else { "201" }.into();
            outcome.detail = json!({
                "found": true,
                "name_match": name_matches,
                "phone_match": query.phone.as_ref().map(|_| phone_matches),
                "bank_card_match": query.bank_card.as_ref().map(|_| bank_card_matches),
            });
        }
    }
    call.finish(outcome).await
}
