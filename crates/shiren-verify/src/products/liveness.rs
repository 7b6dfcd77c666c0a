//! LR_FR_MIN: single-photo (passive) liveness with quality checks, and the photo examination
//! ID_MIN shares. Without a licensed PAD model this judges quality, face count and open eyes
//! only: it cannot tell a printed photo or a screen from a live face (see the README).

use serde::{Deserialize, Serialize};
use shiren_face::{FaceError, FaceSummary, LandmarkReading, Quality};

use super::{Detail, Verification};
use crate::call::{Call, Verdict, round2};
use crate::caller::Caller;
use crate::error::{Error, SubCode};
use crate::images::{HasImages, ImageSource};
use crate::rules::{self, PhotoFindings};
use crate::scenes::{LivenessSettings, Product};
use crate::services::Services;

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

/// What the examination of a photo's subject found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PhotoDetail {
    pub face_count: usize,
    pub rotation: u32,
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Blur, lighting, size, pose, border cut and the overall 0-100 score, with issues named.
    #[schema(value_type = Object)]
    pub quality: Quality,
    pub eye_openness: [f32; 2],
    pub mouth_openness: f32,
    /// Probability of a presentation attack, when a PAD model is configured.
    pub attack_score: Option<f32>,
    /// `configured` or `none`.
    pub pad_model: &'static str,
    /// Width and height of the photo as examined.
    pub image_size: [usize; 2],
    /// ID_MIN: the authority provider that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<&'static str>,
    /// ID_MIN: cosine similarity to the reference face.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// ID_MIN: the scene's FAR level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub far_level: Option<String>,
}

/// The engine's look at one photo's subject (the decoded image itself stays in the worker).
pub(crate) struct Inspection {
    pub face: FaceSummary,
    pub image_size: [usize; 2],
    pub landmarks: LandmarkReading,
    pub quality: Quality,
    pub live_probability: Option<f32>,
    pub embedding: Option<Vec<f32>>,
}

impl Inspection {
    fn attack(&self) -> Option<f32> {
        self.live_probability.map(|p| 1.0 - p)
    }

    /// The single-photo rules' verdict (`None`: passes) and what they looked at.
    pub fn judge(&self, rules: &LivenessSettings, pad_configured: bool) -> (Option<SubCode>, PhotoDetail) {
        let findings = PhotoFindings {
            face_count: self.face.face_count,
            quality: self.quality.score,
            eye_openness: self.landmarks.eye_openness,
            attack: self.attack(),
        };
        let detail = PhotoDetail {
            face_count: self.face.face_count,
            rotation: self.face.rotation,
            bbox: self.face.bbox,
            quality: self.quality.clone(),
            eye_openness: self.landmarks.eye_openness,
            mouth_openness: self.landmarks.mouth_openness,
            attack_score: self.attack(),
            pad_model: if pad_configured { "configured" } else { "none" },
            image_size: self.image_size,
            authority: None,
            similarity: None,
            far_level: None,
        };
        (rules::photo(rules, &findings), detail)
    }

    /// The verdict's quality score and, with a PAD model, attack score.
    pub fn scores(&self) -> (Option<f64>, Option<f64>) {
        (Some(round2(self.quality.score)), self.attack().map(|a| f64::from((a * 1e4).round() / 1e4)))
    }
}

/// Examines a photo's subject: landmarks, quality, the PAD model's judgement when one is
/// configured, and the embedding when asked.
pub(crate) fn inspect(services: &Services, bytes: &[u8], embed: bool) -> Result<Inspection, FaceError> {
    let subject = services.engine.inspect_subject(bytes)?;
    let live_probability = match &services.pad {
        Some(pad) => Some(pad.live_probability(subject.image(), subject.face())?),
        None => None,
    };
    let embedding = if embed { Some(services.engine.embed(subject.image(), subject.face())?) } else { None };
    Ok(Inspection {
        face: subject.summary(),
        image_size: [subject.image().width(), subject.image().height()],
        landmarks: subject.landmarks,
        quality: subject.quality,
        live_probability,
        embedding,
    })
}

pub async fn liveness(services: &Services, caller: &Caller, request: PhotoRequest) -> Result<Verification, Error> {
    let PhotoRequest { scene_id, order_no, image } = request;
    let mut call = Call::begin(services, caller, Product::LrFrMin, &scene_id, order_no).await?;
    let outcome = judge(&mut call, &image).await;
    call.conclude(outcome).await
}

async fn judge(call: &mut Call<'_>, image: &ImageSource) -> Result<Verdict, Error> {
    let bytes = call.image("image", image).await?;
    let inspection = call
        .photo_work(vec![("image", bytes)], 0, |s, b| inspect(s, b, false))
        .await?
        .pop()
        .ok_or_else(|| Error::internal("the photo went missing"))?;
    let (refusal, detail) = inspection.judge(&call.scene.settings.liveness, call.services.pad.is_some());
    let (quality, attack) = inspection.scores();
    Ok(Verdict { quality, attack, ..Verdict::new(refusal.unwrap_or(SubCode::Pass), Detail::Photo(detail)) })
}
