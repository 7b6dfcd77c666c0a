//! Face attributes and quality of every face in a photo, largest first.

use serde::Serialize;
use shiren_face::attributes::Gender;
use shiren_face::{FaceError, Judged, Pose, Quality};

use super::{Detail, PhotoRequest, Verification};
use crate::call::{Call, Verdict, round2};
use crate::caller::Caller;
use crate::error::{Error, SubCode};
use crate::scenes::Product;
use crate::services::Services;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttributesDetail {
    pub face_count: usize,
    /// Clockwise turn applied to find the faces upright: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Every face, largest first.
    pub faces: Vec<FaceAttributes>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FaceAttributes {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub detector_score: f32,
    /// Eyes, nose tip, mouth corners.
    pub landmarks: [[f32; 2]; 5],
    /// Yaw, pitch and roll in degrees (approximate).
    #[schema(value_type = Object)]
    pub pose: Pose,
    pub eye_openness: [f32; 2],
    pub mouth_openness: f32,
    pub blur: f32,
    pub brightness: f32,
    #[schema(value_type = Object)]
    pub quality: Quality,
    #[schema(value_type = Object)]
    pub gender: Judged<Gender>,
    #[schema(value_type = Object)]
    pub age: Judged<f32>,
    /// `{"available": false, ...}`: no model shipped with Shiren can judge it.
    #[schema(value_type = Object)]
    pub glasses: Judged<bool>,
    #[schema(value_type = Object)]
    pub mask: Judged<bool>,
    #[schema(value_type = Object)]
    pub smile: Judged<bool>,
    #[schema(value_type = Object)]
    pub occlusion: Judged<bool>,
}

fn describe_faces(services: &Services, bytes: &[u8]) -> Result<AttributesDetail, FaceError> {
    let engine = &services.engine;
    let mut located = engine.locate_all(engine.decode(bytes)?)?;
    located.faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
    let faces = located
        .faces
        .iter()
        .map(|face| {
            let lm = engine.landmarks(&located.image, face)?;
            let quality = engine.quality(&located.image, face, &lm)?;
            let attributes = engine.attributes(&located.image, &lm)?;
            Ok(FaceAttributes {
                bbox: face.bbox,
                detector_score: face.score,
                landmarks: face.keypoints,
                pose: lm.pose,
                eye_openness: lm.eye_openness,
                mouth_openness: lm.mouth_openness,
                blur: quality.blur,
                brightness: quality.brightness,
                quality,
                gender: attributes.gender,
                age: attributes.age,
                glasses: attributes.glasses,
                mask: attributes.mask,
                smile: attributes.smile,
                occlusion: Judged::no_model(),
            })
        })
        .collect::<Result<Vec<_>, FaceError>>()?;
    Ok(AttributesDetail { face_count: faces.len(), rotation: located.rotation, faces })
}

pub async fn attributes(services: &Services, caller: &Caller, request: PhotoRequest) -> Result<Verification, Error> {
    let PhotoRequest { scene_id, order_no, image } = request;
    let mut call = Call::begin(services, caller, Product::FaceAttributes, &scene_id, order_no).await?;
    let outcome = judge(&mut call, &image).await;
    call.conclude(outcome).await
}

async fn judge(call: &mut Call<'_>, image: &crate::images::ImageSource) -> Result<Verdict, Error> {
    let bytes = call.image("image", image).await?;
    let detail = call
        .photo_work(vec![("image", bytes)], 0, describe_faces)
        .await?
        .pop()
        .ok_or_else(|| Error::internal("the photo went missing"))?;
    let quality = detail.faces.first().map(|f| round2(f.quality.score));
    Ok(Verdict { quality, ..Verdict::new(SubCode::Pass, Detail::Attributes(detail)) })
}
