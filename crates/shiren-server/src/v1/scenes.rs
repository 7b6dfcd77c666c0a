//! `/v1/scenes`: create, list, read, replace and delete scenes.

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::routing::get;
use shiren_verify::Caller;
use shiren_verify::scenes::{self, Scene, SceneInput};

use crate::App;
use crate::http::extract::JsonBody;
use crate::http::response::{Envelope, ErrorBody, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/scenes", get(list_scenes).post(create_scene))
        .route("/v1/scenes/{id}", get(get_scene).put(update_scene).delete(delete_scene))
}

/// A deleted resource.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeletedId {
    pub deleted: String,
}

/// Create a scene: the products it allows, its FAR level, liveness rules, image keeping and retention.
#[utoipa::path(post, path = "/v1/scenes", tag = "scenes", request_body = SceneInput,
    responses((status = 200, body = Envelope<Scene>), (status = "4XX", body = ErrorBody)))]
pub async fn create_scene(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    JsonBody(input): JsonBody<SceneInput>,
) -> Reply<Scene> {
    ok(scenes::create(&app.services.store, &caller, &input).await?)
}

/// List the scenes.
#[utoipa::path(get, path = "/v1/scenes", tag = "scenes", responses((status = 200, body = Envelope<Vec<Scene>>)))]
pub async fn list_scenes(State(app): State<App>) -> Reply<Vec<Scene>> {
    ok(scenes::list(&app.services.store).await?)
}

/// One scene and its settings.
#[utoipa::path(get, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Scene>), (status = 404, body = ErrorBody)))]
pub async fn get_scene(State(app): State<App>, Path(id): Path<String>) -> Reply<Scene> {
    ok(scenes::get(&app.services.store, &id).await?)
}

/// Replace a scene's name and settings.
#[utoipa::path(put, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)), request_body = SceneInput,
    responses((status = 200, body = Envelope<Scene>), (status = 404, body = ErrorBody)))]
pub async fn update_scene(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SceneInput>,
) -> Reply<Scene> {
    ok(scenes::update(&app.services.store, &caller, &id, &input).await?)
}

/// Delete a scene; its records stay until their retention ends.
#[utoipa::path(delete, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<DeletedId>), (status = 404, body = ErrorBody)))]
pub async fn delete_scene(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<DeletedId> {
    scenes::delete(&app.services.store, &caller, &id).await?;
    ok(DeletedId { deleted: id })
}
