//! `/v1/statistics`: per scene and day, over 7 days, 30 days or a custom range.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use shiren_verify::statistics::{self, Statistics, StatsQuery};

use crate::App;
use crate::http::extract::QueryParams;
use crate::http::response::{Envelope, ErrorBody, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new().route("/v1/statistics", get(statistics))
}

/// Submissions, passes, failures, pass rate and comparisons per scene and day.
#[utoipa::path(get, path = "/v1/statistics", tag = "records", params(StatsQuery),
    responses((status = 200, body = Envelope<Statistics>), (status = 400, body = ErrorBody)))]
pub async fn statistics(State(app): State<App>, QueryParams(query): QueryParams<StatsQuery>) -> Reply<Statistics> {
    ok(statistics::statistics(&app.services.store, &query).await?)
}
