//! ID_MIN: the ID number's validity, name against number at the authority, and the photo's face
//! against the authority's reference (a template from the local registry, or a photo from the
//! gateway), after the single-photo liveness rules.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use shiren_face::FaceError;

use super::liveness::inspect;
use super::{Detail, PhotoDetail, Verification};
use crate::authority::{AuthorityAnswer, AuthorityQuery, Reference};
use crate::call::{Call, Verdict, round2};
use crate::caller::Caller;
use crate::error::{Error, SubCode};
use crate::images::{HasImages, ImageSource};
use crate::rules;
use crate::scenes::Product;
use crate::services::Services;

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

/// ID_MIN when the authority already decided (201, 202, 203).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthorityDetail {
    /// The authority provider that answered: `local` or `http`.
    pub authority: &'static str,
}

/// A name and an ID number, validated (the number against GB 11643 and the region table)
/// before anything else runs.
pub(crate) fn checked_identity(services: &Services, name: &str, id_number: &str) -> Result<(String, String), Error> {
    let name = shiren_idcard::validate_name(name)?;
    let number = shiren_idcard::validate(id_number, &services.regions, shiren_idcard::Date::today_in_china())?;
    Ok((name.to_string(), number.number().to_string()))
}

pub async fn identity(services: &Services, caller: &Caller, request: IdentityRequest) -> Result<Verification, Error> {
    let mut call = Call::begin(services, caller, Product::IdMin, &request.scene_id, request.order_no.clone()).await?;
    let outcome = judge(&mut call, &request).await;
    call.conclude(outcome).await
}

async fn judge(call: &mut Call<'_>, request: &IdentityRequest) -> Result<Verdict, Error> {
    let (name, number) = checked_identity(call.services, &request.name, &request.id_number)?;
    call.claim_identity(name.clone(), number.clone());
    let bytes = call.image("image", &request.image).await?;
    let asked = Instant::now();
    let query = AuthorityQuery { name, id_number: number, phone: None, bank_card: None, want_reference: true };
    let answer = call.services.authority.lookup(&query).await;
    call.time("authority", asked);
    let authority = call.services.authority.name();
    let stop = |code| Ok(Verdict::new(code, Detail::Authority(AuthorityDetail { authority })));
    let reference = match answer? {
        AuthorityAnswer::NotFound => return stop(SubCode::IdentityNotFound),
        AuthorityAnswer::Found { name_matches: false, .. } => return stop(SubCode::NameMismatch),
        AuthorityAnswer::Found { reference: None, .. } => return stop(SubCode::NoReference),
        AuthorityAnswer::Found { reference: Some(r), .. } => r,
    };
    // A reference photo that cannot even be priced is unusable (203), decided in the worker.
    let reference_memory = match &reference {
        Reference::Photo(photo) => call.services.engine.plan(photo).map(|p| p.memory_bytes).unwrap_or(0),
        Reference::Template(_) => 0,
    };
    let (probe, reference) = call
        .photo_work(vec![("image", bytes)], reference_memory, move |s, b| {
            let probe = inspect(s, b, true)?;
            let reference = match &reference {
                Reference::Template(t) => Some(t.clone()),
                // A reference photo without a usable face is the authority's problem (203).
                Reference::Photo(photo) => match s.engine.subject_embedding(photo) {
                    Ok((e, _)) => Some(e),
                    Err(e) if e.is_bad_input() || matches!(e, FaceError::NoFace) => None,
                    Err(e) => return Err(e),
                },
            };
            Ok((probe, reference))
        })
        .await?
        .pop()
        .ok_or_else(|| Error::internal("the photo went missing"))?;
    let (refusal, mut detail) = probe.judge(&call.scene.settings.liveness, call.services.pad.is_some());
    detail.authority = Some(authority);
    let (quality, attack) = probe.scores();
    let far = call.scene.settings.far_level;
    let threshold = far.score_threshold();
    let photo = |code, detail: PhotoDetail| Verdict {
        quality,
        attack,
        threshold: Some(f64::from(threshold)),
        ..Verdict::new(code, Detail::Photo(detail))
    };
    let Some(reference) = reference else { return Ok(photo(SubCode::NoReference, detail)) };
    if let Some(code) = refusal {
        return Ok(photo(code, detail));
    }
    let embedding = probe.embedding.as_ref().ok_or_else(|| Error::internal("embedding missing"))?;
    let comparison = call.services.engine.comparison(embedding, &reference, [probe.face.clone(), probe.face.clone()]);
    detail.similarity = Some(comparison.similarity);
    detail.far_level = Some(far.label().to_string());
    Ok(Verdict {
        score: Some(round2(comparison.score)),
        comparisons: 1,
        ..photo(rules::comparison(comparison.score, threshold), detail)
    })
}
