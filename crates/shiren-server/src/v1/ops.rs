//! Operations endpoints, unsigned: `/healthz`, `/readyz`, `/metrics` (Prometheus text),
//! `/openapi.json` and the readable `/docs` page.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;

use crate::App;

const DOCS_PAGE: &str = include_str!("../docs.html");

pub fn routes() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(super::ApiDoc::openapi()) }))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
}

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(app): State<App>) -> Response {
    let pool = &app.services.pool;
    match app.services.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "inference_queue_depth": pool.depth(), "workers": pool.workers() }))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))).into_response()
        }
    }
}

pub async fn metrics(State(app): State<App>) -> Response {
    let (metrics, pool) = (&app.services.metrics, &app.services.pool);
    metrics.queue_depth.set(pool.depth() as i64);
    metrics.decode_memory.set(i64::try_from(pool.memory_in_use()).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.render())
        .into_response()
}
