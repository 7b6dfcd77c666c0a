//! 1:N face galleries (人脸库): galleries, the persons in them and their faces (this file), the
//! search and duplicate-identity products (`search`), and this node's index of every gallery
//! (`index`).
//!
//! A face is enrolled from a photo: its subject is located, quality-checked and embedded; the
//! template is stored encrypted, the photo only when the named scene keeps images. Changing a
//! gallery is an administrative act (full-access keys, audited); searching is a verification
//! (recorded under a scene) that read-only keys may make too.

pub mod index;
mod search;

use serde::{Deserialize, Serialize};
use shiren_face::{Calibration, Engine};
use shiren_store::images::ImageStore;
use shiren_store::{FaceAdded, NewFace, Purpose, Store};

pub use index::{IndexInfo, SearchIndexes};
pub use search::{
    Candidate, DuplicateDetail, DuplicateRequest, Fpir, FpirThreshold, SearchDetail, SearchRequest, duplicates, search,
    thresholds,
};

use crate::authority::template_to_bytes;
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, echo};
use crate::images::ImageSource;
use crate::scenes::{self, Scene, SceneSettings};
use crate::services::Services;

/// Faces below this quality (0-100) are refused unless the scene sets its own `min_quality`:
/// a blurred or tiny enrolment photo makes every later search of that person weaker.
pub const DEFAULT_MIN_ENROL_QUALITY: f32 = 40.0;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GalleryInput {
    /// 1-64 characters, unique.
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A gallery with its size; described singly, also this node's index and the search
/// thresholds its size calls for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Gallery {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub persons: i64,
    pub faces: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<FpirThreshold>,
}

impl Gallery {
    fn of(stats: shiren_store::GalleryStats) -> Self {
        let g = stats.gallery;
        Self {
            id: g.id,
            name: g.name,
            description: g.description,
            created_at: g.created_at,
            persons: stats.persons,
            faces: stats.faces,
            index: None,
            thresholds: Vec::new(),
        }
    }
}

/// A face to enrol.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFaceRequest {
    /// The caller's identifier of the person (1-128 printable characters). A new one creates
    /// the person. It is stored as given and shown in search results: use a customer number,
    /// not an ID number or a name (put those in `attributes`, which are encrypted).
    pub external_id: String,
    /// Anything about the person (a JSON object of at most 4 KB), stored encrypted; replaces
    /// the person's attributes when given.
    #[serde(default)]
    pub attributes: Option<serde_json::Value>,
    #[serde(default)]
    pub image: ImageSource,
    /// A scene whose settings apply: its `min_quality`, URL policy and whether the photo itself
    /// is kept (`store_images`). Without one the photo is never kept.
    #[serde(default)]
    pub scene_id: Option<String>,
}

impl crate::images::HasImages for AddFaceRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        vec![("image", &mut self.image)]
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddedFace {
    pub face_id: i64,
    pub person_id: String,
    pub person_created: bool,
    /// The face's quality, 0-100.
    pub quality: f32,
    /// Whether the photo itself was kept (the scene's `store_images`).
    pub image_kept: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub id: String,
    pub gallery_id: String,
    pub external_id: String,
    pub created_at: i64,
    /// The person's attributes (described singly only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
    /// The person's faces (described singly only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<Face>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Face {
    pub face_id: i64,
    pub quality: Option<f64>,
    pub image_kept: bool,
    pub created_at: i64,
}

/// A page of persons; pass `next` as `after` for the next one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonPage {
    pub items: Vec<Person>,
    pub next: Option<String>,
}

fn gallery_not_found(id: &str) -> Error {
    Error::new(ErrorCode::GalleryNotFound, format!("gallery {} does not exist", echo(id)))
}

/// A gallery by id or name.
pub async fn find(store: &Store, id_or_name: &str) -> Result<shiren_store::GalleryRow, Error> {
    store.gallery(id_or_name).await?.ok_or_else(|| gallery_not_found(id_or_name))
}

pub async fn create(store: &Store, caller: &Caller, input: &GalleryInput) -> Result<Gallery, Error> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::new(ErrorCode::InvalidName, "name must be 1-64 printable characters"));
    }
    if input.description.chars().count() > 256 {
        return Err(Error::new(ErrorCode::InvalidDescription, "description must be at most 256 characters"));
    }
    let row = store.create_gallery(name, &input.description).await?.ok_or_else(|| {
        Error::new(ErrorCode::GalleryAlreadyExists, format!("a gallery named {} already exists", echo(name)))
    })?;
    caller.audit(store, "gallery.create", &row.id, serde_json::json!({ "name": row.name })).await?;
    Ok(Gallery::of(shiren_store::GalleryStats { gallery: row, persons: 0, faces: 0 }))
}

pub async fn list(store: &Store) -> Result<Vec<Gallery>, Error> {
    Ok(store.list_galleries().await?.into_iter().map(Gallery::of).collect())
}

/// A gallery with this node's index of it and the thresholds its size calls for.
pub async fn describe(services: &Services, id: &str) -> Result<Gallery, Error> {
    let stats = services.store.gallery_stats(id).await?.ok_or_else(|| gallery_not_found(id))?;
    services.galleries.catch_up().await?;
    let mut gallery = Gallery::of(stats);
    gallery.index = Some(services.galleries.info(&gallery.id));
    gallery.thresholds = thresholds(&services.engine.config().calibration, gallery.faces.max(1) as usize);
    Ok(gallery)
}

pub async fn delete(services: &Services, caller: &Caller, id: &str) -> Result<(), Error> {
    let images = services.store.delete_gallery(id).await?.ok_or_else(|| gallery_not_found(id))?;
    delete_objects(services, &images).await;
    caller.audit(&services.store, "gallery.delete", id, serde_json::json!({ "photos": images.len() })).await?;
    services.galleries.catch_up().await
}

/// Deletes kept photos already queued for deletion; the sweeper retries what fails here.
async fn delete_objects(services: &Services, keys: &[String]) {
    for key in keys {
        if services.images.delete(key).await.is_ok() {
            let _ = services.store.object_deleted(key).await;
        }
    }
}

fn check_external_id(external_id: &str) -> Result<(), Error> {
    let n = external_id.chars().count();
    if n == 0 || n > 128 || external_id.chars().any(char::is_control) || external_id.trim() != external_id {
        return Err(Error::new(
            ErrorCode::InvalidExternalId,
            "external_id must be 1-128 printable characters without leading or trailing spaces",
        ));
    }
    Ok(())
}

fn seal_attributes(store: &Store, attributes: &Option<serde_json::Value>) -> Result<Option<Vec<u8>>, Error> {
    let Some(value) = attributes else { return Ok(None) };
    if !value.is_object() {
        return Err(Error::new(ErrorCode::InvalidAttributes, "attributes must be a JSON object"));
    }
    let text = serde_json::to_vec(value).map_err(Error::internal)?;
    if text.len() > 4096 {
        return Err(Error::new(ErrorCode::InvalidAttributes, "attributes must be at most 4096 bytes of JSON"));
    }
    Ok(Some(store.keys().seal(Purpose::Templates, "gallery-person", &text)?))
}

/// A keyed hash of a photo: the same photo enrolled twice in a gallery is recognised without
/// keeping anything that reveals the photo.
pub fn photo_hash(store: &Store, photo: &[u8]) -> String {
    use sha2::Digest;
    store.keys().keyed_hash(Purpose::PersonalDataHash, &hex::encode(sha2::Sha256::digest(photo)))
}

/// The template and quality of a photo's subject, refusing faces below `min_quality`.
pub fn enrolment_template(engine: &Engine, photo: &[u8], min_quality: f32) -> Result<(Vec<f32>, f32), Error> {
    let subject = engine.inspect_subject(photo)?;
    let quality = subject.quality.score;
    // A quality that is not a number fails too.
    if quality.partial_cmp(&min_quality).is_none_or(|o| o.is_lt()) {
        return Err(Error::new(
            ErrorCode::EnrolmentQualityTooLow,
            format!(
                "the face's quality is {quality:.0}, below the {min_quality:.0} an enrolment needs ({})",
                subject.quality.issues.join(", ")
            ),
        ));
    }
    let template = engine.embed(subject.image(), subject.face()).map_err(Error::from)?;
    Ok((template, quality))
}

/// What an enrolment stores, once the photo has been turned into a template.
pub struct Enrolment<'a> {
    pub gallery_id: &'a str,
    pub external_id: &'a str,
    pub attributes_enc: Option<Vec<u8>>,
    pub template: &'a [f32],
    pub quality: f32,
    pub source_hash: String,
    /// The photo, when it is to be kept.
    pub keep_photo: Option<&'a [u8]>,
}

/// Stores one enrolled face (and its photo when kept).
pub async fn store_face(store: &Store, images: &ImageStore, enrolment: Enrolment<'_>) -> Result<FaceAdded, Error> {
    let image = match enrolment.keep_photo {
        Some(photo) => {
            let owner = shiren_store::new_id("gf");
            let key = ImageStore::object_key(&owner, 0);
            store.queue_object_writes(&owner, std::slice::from_ref(&key)).await?;
            images.put(&owner, 0, photo).await?;
            Some((key, owner))
        }
        None => None,
    };
    let template = template_to_bytes(enrolment.template);
    Ok(store
        .add_face(&NewFace {
            gallery_id: enrolment.gallery_id,
            external_id: enrolment.external_id,
            attributes_enc: enrolment.attributes_enc,
            template: &template,
            source_hash: Some(enrolment.source_hash),
            quality: Some(f64::from(enrolment.quality)),
            image,
        })
        .await?)
}

pub async fn add_face(
    services: &Services,
    caller: &Caller,
    gallery_id: &str,
    request: AddFaceRequest,
) -> Result<AddedFace, Error> {
    let gallery = find(&services.store, gallery_id).await?;
    check_external_id(&request.external_id)?;
    let attributes_enc = seal_attributes(&services.store, &request.attributes)?;
    let scene = match &request.scene_id {
        Some(id) => scenes::get(&services.store, id)
            .await
            .map_err(|_| Error::new(ErrorCode::SceneNotFound, format!("scene {} does not exist", echo(id))))?,
        None => Scene {
            id: String::new(),
            name: String::new(),
            settings: SceneSettings { store_images: false, ..SceneSettings::default() },
            created_at: 0,
            updated_at: 0,
            alias: None,
        },
    };
    let photo = request.image.load("image", &services.config.images, &scene).await?;
    let min_quality =
        if request.scene_id.is_some() { scene.settings.liveness.min_quality } else { DEFAULT_MIN_ENROL_QUALITY };
    let memory = services.engine.plan(&photo).map_err(|e| Error::from(e).about("image"))?.memory_bytes;
    let engine = services.engine.clone();
    let (photo, embedded) = services
        .pool
        .run(memory, move || {
            let embedded = enrolment_template(&engine, &photo, min_quality);
            (photo, embedded)
        })
        .await?;
    let (template, quality) = embedded.map_err(|e| e.about("image"))?;
    let keep = scene.settings.store_images;
    let added = store_face(
        &services.store,
        &services.images,
        Enrolment {
            gallery_id: &gallery.id,
            external_id: &request.external_id,
            attributes_enc,
            template: &template,
            quality,
            source_hash: photo_hash(&services.store, &photo),
            keep_photo: keep.then_some(photo.as_slice()),
        },
    )
    .await?;
    let (face_id, person_id, person_created) = match added {
        FaceAdded::Added { face_key, person_id, person_created } => (face_key, person_id, person_created),
        FaceAdded::AlreadyEnrolled { face_key, person_id } => {
            return Err(Error::new(
                ErrorCode::FaceAlreadyEnrolled,
                format!("this photo is already enrolled in the gallery as face {face_key} of person {person_id}"),
            ));
        }
        FaceAdded::NoSuchGallery => return Err(gallery_not_found(gallery_id)),
    };
    caller
        .audit(
            &services.store,
            "gallery.face.add",
            &gallery.id,
            serde_json::json!({ "face_id": face_id, "person_id": person_id, "image_kept": keep }),
        )
        .await?;
    services.galleries.catch_up().await?;
    Ok(AddedFace { face_id, person_id, person_created, quality, image_kept: keep })
}

pub async fn remove_face(services: &Services, caller: &Caller, gallery_id: &str, face_id: i64) -> Result<(), Error> {
    let gallery = find(&services.store, gallery_id).await?;
    let image =
        services.store.remove_face(&gallery.id, face_id).await?.ok_or_else(|| {
            Error::new(ErrorCode::FaceNotFound, format!("gallery {} has no face {face_id}", gallery.id))
        })?;
    delete_objects(services, image.as_slice()).await;
    caller
        .audit(&services.store, "gallery.face.remove", &gallery.id, serde_json::json!({ "face_id": face_id }))
        .await?;
    services.galleries.catch_up().await
}

fn person_not_found(gallery: &str, person: &str) -> Error {
    Error::new(ErrorCode::PersonNotFound, format!("gallery {gallery} has no person {}", echo(person)))
}

pub async fn remove_person(
    services: &Services,
    caller: &Caller,
    gallery_id: &str,
    person_id: &str,
) -> Result<(), Error> {
    let gallery = find(&services.store, gallery_id).await?;
    let images = services
        .store
        .remove_person(&gallery.id, person_id)
        .await?
        .ok_or_else(|| person_not_found(&gallery.id, person_id))?;
    delete_objects(services, &images).await;
    caller
        .audit(&services.store, "gallery.person.remove", &gallery.id, serde_json::json!({ "person_id": person_id }))
        .await?;
    services.galleries.catch_up().await
}

pub async fn list_persons(
    store: &Store,
    gallery_id: &str,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<PersonPage, Error> {
    let gallery = find(store, gallery_id).await?;
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::new(ErrorCode::InvalidPage, "limit must be 1-1000"));
    }
    let rows = store.list_persons(&gallery.id, after, limit).await?;
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id.clone())).flatten();
    let items = rows
        .into_iter()
        .map(|r| Person {
            id: r.id,
            gallery_id: r.gallery_id,
            external_id: r.external_id,
            created_at: r.created_at,
            attributes: None,
            faces: None,
        })
        .collect();
    Ok(PersonPage { items, next })
}

/// A person with their attributes (opened) and faces; reading them is audited.
pub async fn person(store: &Store, caller: &Caller, gallery_id: &str, person_id: &str) -> Result<Person, Error> {
    let gallery = find(store, gallery_id).await?;
    let row = store.person(&gallery.id, person_id).await?.ok_or_else(|| person_not_found(&gallery.id, person_id))?;
    let attributes = match &row.attributes_enc {
        Some(sealed) => {
            let plain = store.keys().open(Purpose::Templates, "gallery-person", sealed)?;
            Some(serde_json::from_slice(&plain).map_err(Error::internal)?)
        }
        None => None,
    };
    let faces = store
        .person_faces(&row.id)
        .await?
        .into_iter()
        .map(|f| Face {
            face_id: f.face_key,
            quality: f.quality,
            image_kept: f.image_key.is_some(),
            created_at: f.created_at,
        })
        .collect();
    caller.audit(store, "gallery.person.read", &gallery.id, serde_json::json!({ "person_id": row.id })).await?;
    Ok(Person {
        id: row.id,
        gallery_id: row.gallery_id,
        external_id: row.external_id,
        created_at: row.created_at,
        attributes,
        faces: Some(faces),
    })
}

/// The score a similarity maps to under the engine's calibration.
pub(crate) fn score(calibration: &Calibration, similarity: f32) -> f32 {
    (calibration.score(similarity) * 100.0).round() / 100.0
}
