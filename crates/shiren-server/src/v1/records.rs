//! `/v1/records`: listing, one record, deletion; and `/v1/images/...`, the expiring image links
//! that record reads hand out (unsigned: the link's own signature is the credential).

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{Extensions, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shiren_store::Policy;
use shiren_verify::Caller;
use shiren_verify::records::{self, Deleted, ImageLink, RecordDetail, RecordPage, RecordQuery};

use crate::App;
use crate::http::extract::QueryParams;
use crate::http::request_id::RequestIds;
use crate::http::response::{ApiError, Envelope, ErrorBody, Reply, ok};
use crate::http::signature::source_of;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/records", get(list_records))
        .route("/v1/records/{id}", get(get_record).delete(delete_record))
}

/// Routes that carry their own credential.
pub fn link_routes() -> Router<App> {
    Router::new().route("/v1/images/{record_id}/{idx}", get(image_link))
}

/// Records, newest first, with names and ID numbers masked; filter by scene, product, outcome, SubCode, time, order number, verification id or ID number.
#[utoipa::path(get, path = "/v1/records", tag = "records", params(RecordQuery),
    responses((status = 200, body = Envelope<RecordPage>), (status = 400, body = ErrorBody)))]
pub async fn list_records(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    QueryParams(query): QueryParams<RecordQuery>,
) -> Reply<RecordPage> {
    ok(records::list(&app.services, &caller, &query).await?)
}

/// One record with its details and expiring links to its stored images (the read is audited).
#[utoipa::path(get, path = "/v1/records/{id}", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<RecordDetail>), (status = 404, body = ErrorBody)))]
pub async fn get_record(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<RecordDetail> {
    ok(records::get(&app.services, &caller, &id).await?)
}

/// Deletes a record and its stored images (for erasure requests).
#[utoipa::path(delete, path = "/v1/records/{id}", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorBody)))]
pub async fn delete_record(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<Deleted> {
    ok(records::delete(&app.services, &caller, &id).await?)
}

/// An image through an expiring link.
pub async fn image_link(
    State(app): State<App>,
    Extension(ids): Extension<RequestIds>,
    Path((record_id, idx)): Path<(String, i64)>,
    extensions: Extensions,
    link: Result<QueryParams<ImageLink>, ApiError>,
) -> Result<Response, ApiError> {
    let QueryParams(link) = link.map_err(|_| {
        ApiError::new(shiren_verify::ErrorCode::InvalidLink, "the link needs expires, key and signature")
    })?;
    let reader = Caller {
        actor: link.key.clone(),
        policy: Policy::Readonly,
        request_id: ids.id,
        client_request_id: ids.client,
        source: source_of(&extensions),
    };
    let (content_type, bytes) = records::read_image(&app.services, &reader, &record_id, idx, &link).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store".into())], Body::from(bytes))
        .into_response())
}
