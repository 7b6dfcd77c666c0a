//! FACE_SEARCH (one photo against one or more galleries: the top persons) and
//! FACE_DUPLICATION (is this face already enrolled under another identity?), and the pass
//! threshold a gallery's size calls for.
//!
//! In 1:N a probe is compared with every face of the gallery, so the chance that some stranger
//! scores above a threshold grows with the gallery: the false-positive identification rate
//! (FPIR) of a search of someone not enrolled is 1 − (1 − FAR)^N ≈ N × FAR while that is small.
//! Holding FPIR at a target therefore needs a per-pair FAR of FPIR / N, and the threshold for
//! that FAR comes from the calibration. The arithmetic assumes impostor scores independent of
//! each other, which real galleries (relatives, look-alikes, several photos per person) are not
//! quite; a gallery past the calibration's lowest measured FAR gets its strictest threshold and
//! says so (`calibrated: false`).

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shiren_face::Calibration;

use super::{find, score};
use crate::call::{Call, Verdict, round2};
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode, echo};
use crate::images::{HasImages, ImageSource};
use crate::products::{Detail, FaceView, Verification};
use crate::scenes::Product;
use crate::services::Services;

/// The false-positive identification rates a search can be held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Fpir {
    #[serde(rename = "1e-1")]
    E1,
    #[serde(rename = "1e-2")]
    E2,
    #[serde(rename = "1e-3")]
    E3,
}

impl Fpir {
    pub const ALL: [Fpir; 3] = [Fpir::E1, Fpir::E2, Fpir::E3];

    pub fn rate(self) -> f64 {
        match self {
            Fpir::E1 => 1e-1,
            Fpir::E2 => 1e-2,
            Fpir::E3 => 1e-3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fpir::E1 => "1e-1",
            Fpir::E2 => "1e-2",
            Fpir::E3 => "1e-3",
        }
    }
}

fn default_fpir() -> Fpir {
    Fpir::E3
}

/// The threshold that holds a search of `gallery_faces` faces to an FPIR.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FpirThreshold {
    #[schema(value_type = String, example = "1e-3")]
    pub fpir: Fpir,
    /// Faces searched.
    pub gallery_faces: usize,
    /// The per-pair FAR this needs: FPIR / faces.
    pub per_pair_far: f64,
    /// Cosine similarity a candidate must reach.
    pub similarity: f32,
    /// The same on the 0-100 score.
    pub score: f32,
    /// False when the FAR needed is below the calibration's lowest measured point: the
    /// strictest measured threshold is used and the FPIR is not guaranteed.
    pub calibrated: bool,
}

/// The threshold for one FPIR at a gallery size.
pub fn threshold(calibration: &Calibration, gallery_faces: usize, fpir: Fpir) -> FpirThreshold {
    let faces = gallery_faces.max(1);
    let needed = shiren_face::identification_threshold(calibration, faces, fpir.rate());
    let similarity = needed.unwrap_or_else(|| calibration.cosine_threshold(shiren_face::FarLevel::E5));
    FpirThreshold {
        fpir,
        gallery_faces: faces,
        per_pair_far: fpir.rate() / faces as f64,
        similarity,
        score: score(calibration, similarity),
        calibrated: needed.is_some(),
    }
}

/// The thresholds for every FPIR level at a gallery size.
pub fn thresholds(calibration: &Calibration, gallery_faces: usize) -> Vec<FpirThreshold> {
    Fpir::ALL.iter().map(|&f| threshold(calibration, gallery_faces, f)).collect()
}

fn default_top_k() -> usize {
    5
}

/// FACE_SEARCH.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    /// Galleries to search (ids or names), 1-10.
    pub gallery_ids: Vec<String>,
    #[serde(default)]
    pub image: ImageSource,
    /// Persons to return, 1-100 (default 5).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// The FPIR the match threshold holds to: `1e-1`, `1e-2` or `1e-3` (default).
    #[serde(default = "default_fpir")]
    #[schema(value_type = String, example = "1e-3")]
    pub fpir: Fpir,
}

impl HasImages for SearchRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

/// FACE_DUPLICATION: is the face enrolled under another identity?
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    /// The gallery to check (id or name).
    pub gallery_id: String,
    #[serde(default)]
    pub image: ImageSource,
    /// The identity the applicant claims, as the gallery's external id; give this or
    /// `person_id`. Matches of this identity are not duplicates.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub person_id: Option<String>,
    /// Candidates examined, 1-100 (default 10).
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default = "default_fpir")]
    #[schema(value_type = String, example = "1e-3")]
    pub fpir: Fpir,
}

impl HasImages for DuplicateRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

/// A person found, with their best face.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub gallery_id: String,
    pub person_id: String,
    /// Left out of the record (which keeps person ids only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub face_id: i64,
    /// Cosine similarity, computed exactly as a 1:1 comparison would.
    pub similarity: f32,
    pub score: f32,
    /// At or above the threshold.
    pub matched: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchDetail {
    /// Best first.
    pub candidates: Vec<Candidate>,
    pub threshold: FpirThreshold,
    pub face: FaceView,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DuplicateDetail {
    /// Matches above the threshold under another identity: the reason the check fails.
    pub duplicates: Vec<Candidate>,
    /// Matches of the claimed identity itself.
    pub same_identity: Vec<Candidate>,
    pub threshold: FpirThreshold,
    pub face: FaceView,
}

fn check_top_k(top_k: usize) -> Result<(), Error> {
    if !(1..=100).contains(&top_k) {
        return Err(Error::new(ErrorCode::InvalidTopK, format!("top_k must be 1-100, not {top_k}")));
    }
    Ok(())
}

/// The galleries named, which must exist and hold faces.
async fn galleries_of(services: &Services, names: &[String]) -> Result<Vec<(String, usize)>, Error> {
    if names.is_empty() || names.len() > 10 {
        return Err(Error::new(ErrorCode::InvalidParameter, "gallery_ids must name 1-10 galleries"));
    }
    let mut galleries: Vec<(String, usize)> = Vec::new();
    for name in names {
        let stats =
            services.store.gallery_stats(name).await?.ok_or_else(|| {
                Error::new(ErrorCode::GalleryNotFound, format!("gallery {} does not exist", echo(name)))
            })?;
        if stats.faces == 0 {
            return Err(Error::new(
                ErrorCode::GalleryEmpty,
                format!("gallery {} has no faces to search", stats.gallery.id),
            ));
        }
        if !galleries.iter().any(|(id, _)| *id == stats.gallery.id) {
            galleries.push((stats.gallery.id, stats.faces as usize));
        }
    }
    Ok(galleries)
}

/// The probe's template, the top persons in `galleries` and their owners.
async fn find_persons(
    call: &mut Call<'_>,
    image: &ImageSource,
    galleries: &[(String, usize)],
    top_k: usize,
    fpir: Fpir,
) -> Result<(Vec<Candidate>, FpirThreshold, FaceView), Error> {
    let photo = call.image("image", image).await?;
    let mut faces = call.photo_work(vec![("image", photo)], 0, |s, bytes| s.engine.subject_embedding(bytes)).await?;
    let Some((probe, summary)) = faces.pop() else {
        return Err(Error::internal("the searched photo went missing"));
    };
    let services = call.services;
    let calibration = services.engine.config().calibration;
    let total: usize = galleries.iter().map(|(_, n)| n).sum();
    let threshold = threshold(&calibration, total, fpir);

    let begun = Instant::now();
    services.galleries.catch_up().await?;
    // Several faces per person: ask for more faces than persons wanted.
    let faces_wanted = (top_k * 4).max(20);
    let indexes = services.galleries.clone();
    let gallery_ids: Vec<String> = galleries.iter().map(|(id, _)| id.clone()).collect();
    let hits = tokio::task::spawn_blocking(move || {
        let mut hits = Vec::new();
        for id in &gallery_ids {
            hits.extend(indexes.search(id, &probe, faces_wanted)?);
        }
        Ok::<_, Error>(hits)
    })
    .await
    .map_err(Error::internal)??;
    call.time("search", begun);

    let begun = Instant::now();
    let keys: Vec<i64> = hits.iter().map(|h| h.key as i64).collect();
    let owners: HashMap<i64, shiren_store::FaceOwner> =
        services.store.face_owners(&keys).await?.into_iter().map(|o| (o.face_key, o)).collect();
    let mut best: HashMap<String, Candidate> = HashMap::new();
    for hit in hits {
        // Faces removed since this node's index last caught up have no owner: left out.
        let Some(owner) = owners.get(&(hit.key as i64)) else { continue };
        let candidate = Candidate {
            gallery_id: owner.gallery_id.clone(),
            person_id: owner.person_id.clone(),
            external_id: Some(owner.external_id.clone()),
            face_id: owner.face_key,
            similarity: hit.similarity,
            score: score(&calibration, hit.similarity),
            matched: hit.similarity >= threshold.similarity,
        };
        match best.get(&owner.person_id) {
            Some(held) if held.similarity >= candidate.similarity => {}
            _ => {
                best.insert(owner.person_id.clone(), candidate);
            }
        }
    }
    let mut candidates: Vec<Candidate> = best.into_values().collect();
    candidates.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then_with(|| a.person_id.cmp(&b.person_id)));
    candidates.truncate(top_k);
    call.time("lookup", begun);
    Ok((candidates, threshold, FaceView::from(&summary)))
}

/// A search's verdict: the top candidate's score against the FPIR threshold's; the answer carries
/// external ids, the record (`recorded`) person ids only.
fn verdict(sub_code: SubCode, top: Option<f32>, threshold: f32, detail: Detail, recorded: Detail) -> Verdict {
    Verdict {
        score: top.map(round2),
        threshold: Some(round2(threshold)),
        comparisons: 1,
        record_detail: Some(recorded),
        ..Verdict::new(sub_code, detail)
    }
}

fn without_external_ids(candidates: &[Candidate]) -> Vec<Candidate> {
    candidates.iter().map(|c| Candidate { external_id: None, ..c.clone() }).collect()
}

pub async fn search(services: &Services, caller: &Caller, request: SearchRequest) -> Result<Verification, Error> {
    let SearchRequest { scene_id, order_no, gallery_ids, image, top_k, fpir } = request;
    let mut call = Call::begin(services, caller, Product::FaceSearch, &scene_id, order_no).await?;
    let outcome = async {
        check_top_k(top_k)?;
        let galleries = galleries_of(services, &gallery_ids).await?;
        let (candidates, threshold, face) = find_persons(&mut call, &image, &galleries, top_k, fpir).await?;
        let matched = candidates.first().is_some_and(|c| c.matched);
        let recorded = SearchDetail {
            candidates: without_external_ids(&candidates),
            threshold: threshold.clone(),
            face: face.clone(),
        };
        let top = candidates.first().map(|c| c.score);
        let sub_code = if matched { SubCode::Pass } else { SubCode::FaceMismatch };
        Ok(verdict(
            sub_code,
            top,
            threshold.score,
            Detail::Search(SearchDetail { candidates, threshold, face }),
            Detail::Search(recorded),
        ))
    }
    .await;
    call.conclude(outcome).await
}

pub async fn duplicates(
    services: &Services,
    caller: &Caller,
    request: DuplicateRequest,
) -> Result<Verification, Error> {
    let DuplicateRequest { scene_id, order_no, gallery_id, image, external_id, person_id, top_k, fpir } = request;
    let mut call = Call::begin(services, caller, Product::FaceDuplication, &scene_id, order_no).await?;
    let outcome = async {
        let top_k = top_k.unwrap_or(10);
        check_top_k(top_k)?;
        let gallery = find(&services.store, &gallery_id).await?;
        // The claimed identity as a person id (none yet when the applicant is new).
        let claimed: Option<String> = match (&external_id, &person_id) {
            (Some(external), None) => services.store.person_by_external_id(&gallery.id, external).await?.map(|p| p.id),
            (None, Some(person)) => Some(
                services
                    .store
                    .person(&gallery.id, person)
                    .await?
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::PersonNotFound,
                            format!("gallery {} has no person {}", gallery.id, echo(person)),
                        )
                    })?
                    .id,
            ),
            _ => {
                return Err(Error::new(
                    ErrorCode::MissingIdentity,
                    "give the claimed identity as exactly one of external_id and person_id",
                ));
            }
        };
        let galleries = galleries_of(services, std::slice::from_ref(&gallery.id)).await?;
        let (candidates, threshold, face) = find_persons(&mut call, &image, &galleries, top_k, fpir).await?;
        let (same_identity, others): (Vec<Candidate>, Vec<Candidate>) = candidates
            .into_iter()
            .filter(|c| c.matched)
            .partition(|c| claimed.as_deref() == Some(c.person_id.as_str()));
        let sub_code = if others.is_empty() { SubCode::Pass } else { SubCode::DuplicateIdentity };
        let recorded = DuplicateDetail {
            duplicates: without_external_ids(&others),
            same_identity: without_external_ids(&same_identity),
            threshold: threshold.clone(),
            face: face.clone(),
        };
        let top = others.first().map(|c| c.score);
        Ok(verdict(
            sub_code,
            top,
            threshold.score,
            Detail::Duplicates(DuplicateDetail { duplicates: others, same_identity, threshold, face }),
            Detail::Duplicates(recorded),
        ))
    }
    .await;
    call.conclude(outcome).await
}
