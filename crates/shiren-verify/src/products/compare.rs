//! PV_FC: the subjects of two photos compared, scored 0-100 and judged at the scene's FAR level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Detail, FaceView, Verification};
use crate::call::{Call, Verdict, round2};
use crate::caller::Caller;
use crate::error::Error;
use crate::images::{HasImages, ImageSource};
use crate::rules;
use crate::scenes::Product;
use crate::services::Services;

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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComparisonDetail {
    /// Cosine similarity of the two faces' embeddings, -1 to 1.
    pub similarity: f32,
    /// Score thresholds per FAR level (`1e-3`, `1e-4`, `1e-5`).
    pub thresholds: BTreeMap<String, f32>,
    /// The subject of each photo.
    pub faces: [FaceView; 2],
    /// The scene's FAR level, which set `threshold`.
    pub far_level: String,
}

pub async fn compare(services: &Services, caller: &Caller, request: CompareRequest) -> Result<Verification, Error> {
    let CompareRequest { scene_id, order_no, image_a, image_b } = request;
    let mut call = Call::begin(services, caller, Product::PvFc, &scene_id, order_no).await?;
    let outcome = judge(&mut call, &image_a, &image_b).await;
    call.conclude(outcome).await
}

async fn judge(call: &mut Call<'_>, image_a: &ImageSource, image_b: &ImageSource) -> Result<Verdict, Error> {
    let a = call.image("image_a", image_a).await?;
    let b = call.image("image_b", image_b).await?;
    let mut faces = call
        .photo_work(vec![("image_a", a), ("image_b", b)], 0, |s, bytes| s.engine.subject_embedding(bytes))
        .await?
        .into_iter();
    let (Some((ea, sa)), Some((eb, sb))) = (faces.next(), faces.next()) else {
        return Err(Error::internal("a compared photo went missing"));
    };
    let comparison = call.services.engine.comparison(&ea, &eb, [sa, sb]);
    let far = call.scene.settings.far_level;
    let threshold = far.score_threshold();
    let detail = ComparisonDetail {
        similarity: comparison.similarity,
        thresholds: comparison.thresholds.iter().map(|t| (t.far.label().to_string(), t.score)).collect(),
        faces: [FaceView::from(&comparison.faces[0]), FaceView::from(&comparison.faces[1])],
        far_level: far.label().to_string(),
    };
    Ok(Verdict {
        score: Some(round2(comparison.score)),
        threshold: Some(f64::from(threshold)),
        comparisons: 1,
        ..Verdict::new(rules::comparison(comparison.score, threshold), Detail::Comparison(detail))
    })
}
