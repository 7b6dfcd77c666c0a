//! `/v1/keys`: access keys, for full-access keys only.

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::routing::{delete, post};
use shiren_verify::Caller;
use shiren_verify::keys::{self, CreatedKey, KeyInput, KeyStatus, KeyView};

use super::scenes::DeletedId;
use crate::App;
use crate::http::extract::JsonBody;
use crate::http::response::{Envelope, ErrorBody, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/keys", post(create_key).get(list_keys))
        .route("/v1/keys/{id}", delete(delete_key))
        .route("/v1/keys/{id}/disable", post(disable_key))
        .route("/v1/keys/{id}/enable", post(enable_key))
}

/// Create an access key; the secret is returned only in this answer.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = KeyInput,
    responses((status = 200, body = Envelope<CreatedKey>), (status = 403, body = ErrorBody)))]
pub async fn create_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    JsonBody(input): JsonBody<KeyInput>,
) -> Reply<CreatedKey> {
    ok(keys::create(&app.services.store, &caller, &input).await?)
}

/// List access keys (never their secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = Envelope<Vec<KeyView>>)))]
pub async fn list_keys(State(app): State<App>, Extension(caller): Extension<Caller>) -> Reply<Vec<KeyView>> {
    ok(keys::list(&app.services.store, &caller).await?)
}

/// Disable a key: its requests are refused until it is enabled again.
#[utoipa::path(post, path = "/v1/keys/{id}/disable", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<KeyStatus>), (status = 404, body = ErrorBody)))]
pub async fn disable_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<KeyStatus> {
    ok(keys::set_enabled(&app.services.store, &caller, &id, false).await?)
}

/// Enable a disabled key.
#[utoipa::path(post, path = "/v1/keys/{id}/enable", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<KeyStatus>), (status = 404, body = ErrorBody)))]
pub async fn enable_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<KeyStatus> {
    ok(keys::set_enabled(&app.services.store, &caller, &id, true).await?)
}

/// Delete a key for good.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<DeletedId>), (status = 404, body = ErrorBody)))]
pub async fn delete_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<DeletedId> {
    keys::delete(&app.services.store, &caller, &id).await?;
    ok(DeletedId { deleted: id })
}
