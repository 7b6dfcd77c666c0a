//! `/v1/galleries` (face galleries, their persons and faces), `/v1/search` (FACE_SEARCH) and
//! `/v1/duplicates` (FACE_DUPLICATION). Changing a gallery needs a full-access key; the two
//! searches are open to read-only keys too (see the signature layer).

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use shiren_verify::Caller;
use shiren_verify::galleries::{
    self, AddFaceRequest, AddedFace, DuplicateRequest, Gallery, GalleryInput, Person, PersonPage, SearchRequest,
};
use shiren_verify::products::Verification;

use crate::App;
use crate::http::extract::{JsonBody, ProductInput, QueryParams};
use crate::http::response::{Envelope, ErrorBody, Reply, ok};
use crate::v1::scenes::DeletedId;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/galleries", get(list_galleries).post(create_gallery))
        .route("/v1/galleries/{id}", get(get_gallery).delete(delete_gallery))
        .route("/v1/galleries/{id}/faces", post(add_face))
        .route("/v1/galleries/{id}/faces/{face_id}", delete(remove_face))
        .route("/v1/galleries/{id}/persons", get(list_persons))
        .route("/v1/galleries/{id}/persons/{person_id}", get(get_person).delete(remove_person))
        .route("/v1/search", post(search))
        .route("/v1/duplicates", post(duplicates))
}

/// Create a face gallery.
#[utoipa::path(post, path = "/v1/galleries", tag = "galleries", request_body = GalleryInput,
    responses((status = 200, body = Envelope<Gallery>), (status = 409, description = "Name taken", body = ErrorBody)))]
pub async fn create_gallery(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    JsonBody(input): JsonBody<GalleryInput>,
) -> Reply<Gallery> {
    ok(galleries::create(&app.services.store, &caller, &input).await?)
}

/// The galleries with their numbers of persons and faces.
#[utoipa::path(get, path = "/v1/galleries", tag = "galleries", responses((status = 200, body = Envelope<Vec<Gallery>>)))]
pub async fn list_galleries(State(app): State<App>) -> Reply<Vec<Gallery>> {
    ok(galleries::list(&app.services.store).await?)
}

/// One gallery (by id or name): its size, this node's index of it, and the search thresholds
/// per FPIR that its size calls for.
#[utoipa::path(get, path = "/v1/galleries/{id}", tag = "galleries", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Gallery>), (status = 404, body = ErrorBody)))]
pub async fn get_gallery(State(app): State<App>, Path(id): Path<String>) -> Reply<Gallery> {
    let gallery = galleries::find(&app.services.store, &id).await?;
    ok(galleries::describe(&app.services, &gallery.id).await?)
}

/// Delete a gallery with every person, face and kept photo in it.
#[utoipa::path(delete, path = "/v1/galleries/{id}", tag = "galleries", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<DeletedId>), (status = 404, body = ErrorBody)))]
pub async fn delete_gallery(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<DeletedId> {
    let gallery = galleries::find(&app.services.store, &id).await?;
    galleries::delete(&app.services, &caller, &gallery.id).await?;
    ok(DeletedId { deleted: gallery.id })
}

/// Enrol a face from a photo (its subject, quality-checked) for a person, creating the person
/// when the external id is new.
#[utoipa::path(post, path = "/v1/galleries/{id}/faces", tag = "galleries", params(("id" = String, Path)),
    request_body = AddFaceRequest,
    responses((status = 200, body = Envelope<AddedFace>),
              (status = 409, description = "The photo is already enrolled", body = ErrorBody),
              (status = 422, description = "No face, or its quality is too low", body = ErrorBody)))]
pub async fn add_face(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ProductInput(request): ProductInput<AddFaceRequest>,
) -> Reply<AddedFace> {
    ok(galleries::add_face(&app.services, &caller, &id, request).await?)
}

/// Remove one face; it leaves every node's search results at once.
#[utoipa::path(delete, path = "/v1/galleries/{id}/faces/{face_id}", tag = "galleries",
    params(("id" = String, Path), ("face_id" = i64, Path)),
    responses((status = 200, body = Envelope<DeletedId>), (status = 404, body = ErrorBody)))]
pub async fn remove_face(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, face_id)): Path<(String, i64)>,
) -> Reply<DeletedId> {
    galleries::remove_face(&app.services, &caller, &id, face_id).await?;
    ok(DeletedId { deleted: face_id.to_string() })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PersonQuery {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1-1000, default 100.
    pub limit: Option<i64>,
}

/// The persons of a gallery, in creation order, a page at a time.
#[utoipa::path(get, path = "/v1/galleries/{id}/persons", tag = "galleries", params(("id" = String, Path), PersonQuery),
    responses((status = 200, body = Envelope<PersonPage>), (status = 404, body = ErrorBody)))]
pub async fn list_persons(
    State(app): State<App>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PersonQuery>,
) -> Reply<PersonPage> {
    ok(galleries::list_persons(&app.services.store, &id, query.after.as_deref(), query.limit).await?)
}

/// One person with their attributes and faces (the read is audited).
#[utoipa::path(get, path = "/v1/galleries/{id}/persons/{person_id}", tag = "galleries",
    params(("id" = String, Path), ("person_id" = String, Path)),
    responses((status = 200, body = Envelope<Person>), (status = 404, body = ErrorBody)))]
pub async fn get_person(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, person_id)): Path<(String, String)>,
) -> Reply<Person> {
    ok(galleries::person(&app.services.store, &caller, &id, &person_id).await?)
}

/// Remove a person and all their faces.
#[utoipa::path(delete, path = "/v1/galleries/{id}/persons/{person_id}", tag = "galleries",
    params(("id" = String, Path), ("person_id" = String, Path)),
    responses((status = 200, body = Envelope<DeletedId>), (status = 404, body = ErrorBody)))]
pub async fn remove_person(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, person_id)): Path<(String, String)>,
) -> Reply<DeletedId> {
    galleries::remove_person(&app.services, &caller, &id, &person_id).await?;
    ok(DeletedId { deleted: person_id })
}

/// FACE_SEARCH: the top persons of one or more galleries for a photo, with similarities, scores
/// and the threshold for the requested FPIR at the galleries' size. Read-only keys may search.
#[utoipa::path(post, path = "/v1/search", tag = "galleries", request_body = SearchRequest,
    responses((status = 200, description = "Search done; `passed` when the best candidate matched", body = Envelope<Verification>),
              (status = "4XX", description = "Unknown or empty gallery, no face, top_k out of range", body = ErrorBody)))]
pub async fn search(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<SearchRequest>,
) -> Reply<Verification> {
    ok(galleries::search(&app.services, &caller, request).await?)
}

/// FACE_DUPLICATION: is the face enrolled in the gallery under another identity than the one
/// claimed? `passed` when it is not; SubCode 210 with the duplicates when it is.
#[utoipa::path(post, path = "/v1/duplicates", tag = "galleries", request_body = DuplicateRequest,
    responses((status = 200, body = Envelope<Verification>), (status = "4XX", body = ErrorBody)))]
pub async fn duplicates(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<DuplicateRequest>,
) -> Reply<Verification> {
    ok(galleries::duplicates(&app.services, &caller, request).await?)
}
