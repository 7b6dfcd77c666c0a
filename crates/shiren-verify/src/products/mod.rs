//! The verification products as plain async functions: each takes the services, the caller and
//! a typed request, and returns a typed `Verification` (recorded, with its id) or an error
//! (recorded too, once a scene is known). The requests and results are what every surface maps
//! its own wire format onto.
//!
//! SubCodes: `200` pass; `201` name and ID number do not match; `202` no such identity at the
//! authority; `203` the authority has no usable reference photo; `204` face mismatch; `205`
//! liveness risk (attack score, closed eyes); `206` photo quality too low; `207` more than one
//! face; `208` document risk; `209` document unreadable; `210` the face is enrolled under
//! another identity. Failures on input (no face,
//! unreadable image, invalid ID number, authority unavailable) are recorded with the error code
//! as SubCode.

mod attributes;
mod compare;
mod elements;
pub(crate) mod identity;
mod liveness;
pub mod ocr;

use std::collections::BTreeMap;

pub use attributes::{AttributesDetail, FaceAttributes, attributes};
pub use compare::{CompareRequest, ComparisonDetail, compare};
pub use elements::{ElementMatches, ElementsDetail, ElementsRequest, elements};
pub use identity::{AuthorityDetail, IdentityRequest, identity};
pub use liveness::{PhotoDetail, PhotoRequest, liveness};
pub use ocr::{
    BankCardOcrDetail, BankCardOcrRequest, IdCardOcrDetail, IdCardOcrRequest, PhotoReading, PortraitView,
    bank_card_ocr, id_card_ocr,
};
use serde::Serialize;
use shiren_face::FaceSummary;

use crate::error::{ErrorCode, SubCode};
use crate::scenes::Product;

/// The outcome of one verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Record id; query it under `/v1/records/{id}`.
    pub verification_id: String,
    pub product: Product,
    pub scene_id: String,
    pub passed: bool,
    /// `200`-`207`, or the error code of a verification that failed on its input.
    #[schema(value_type = String, example = "200")]
    pub sub_code: SubCode,
    /// Comparison score 0-100 where the product compares faces.
    pub score: Option<f64>,
    /// The scene's pass threshold on `score`.
    pub threshold: Option<f64>,
    pub quality_score: Option<f64>,
    /// Probability of a presentation attack, when a PAD model is configured.
    pub attack_score: Option<f64>,
    /// What the product found; its shape depends on the product.
    pub detail: Detail,
    /// Milliseconds spent waiting for a worker, in inference, at the authority and in all.
    pub timings_ms: BTreeMap<String, f64>,
}

/// A verification's findings, by product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// PV_FC.
    Comparison(ComparisonDetail),
    /// LR_FR_MIN, and ID_MIN once the photo was examined.
    Photo(PhotoDetail),
    /// ID_MIN stopped at the authority (201, 202, 203).
    Authority(AuthorityDetail),
    /// Face attributes.
    Attributes(AttributesDetail),
    /// Element checks.
    Elements(ElementsDetail),
    /// LR_FR, ID_PRO, PV_FV: the interactive liveness checks and the comparison.
    Session(crate::sessions::SessionDetail),
    /// ID_OCR: the card's fields, cross-checks and warnings.
    IdCardOcr(IdCardOcrDetail),
    /// BANKCARD_OCR: number, expiry, issuer.
    BankCardOcr(BankCardOcrDetail),
    /// FACE_SEARCH: the top persons and the threshold.
    Search(crate::galleries::SearchDetail),
    /// FACE_DUPLICATION: persons enrolled under another identity.
    Duplicates(crate::galleries::DuplicateDetail),
    /// A verification that failed on its input: the error code alone.
    Failure(FailureDetail),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailureDetail {
    #[schema(value_type = String)]
    pub error: ErrorCode,
}

/// Where a face was found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FaceView {
    /// `[x1, y1, x2, y2]` in the photo after EXIF orientation and `rotation`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub detector_score: f32,
    /// Faces in the photo.
    pub face_count: usize,
    /// Clockwise turn applied to find the face upright: 0, 90, 180 or 270.
    pub rotation: u32,
}

impl From<&FaceSummary> for FaceView {
    fn from(f: &FaceSummary) -> Self {
        Self { bbox: f.bbox, detector_score: f.score, face_count: f.face_count, rotation: f.rotation }
    }
}
