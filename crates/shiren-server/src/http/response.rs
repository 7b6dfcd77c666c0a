//! What the native API answers. Success: `{"request_id", "code": "OK", "data"}`. Failure:
//! `{"request_id", "code", "message"}` with the code's HTTP status from the core's table (and
//! `Retry-After` when the service is busy). This is the only place a code becomes a status; the
//! error metrics and the request deadline, which turn into answers too, live here with it.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shiren_verify::{Error, ErrorCode};

use super::request_id;
use crate::App;

/// Every successful response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Identifier of the request, also in the `x-request-id` header; quote it when reporting.
    pub request_id: String,
    pub code: String,
    pub data: T,
}

/// Every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Identifier of the request, also in the `x-request-id` header; quote it when reporting.
    pub request_id: String,
    /// Stable machine-readable error code (see the README's table).
    pub code: String,
    pub message: String,
}

/// A handler's answer.
pub type Reply<T> = Result<Json<Envelope<T>>, ApiError>;

/// `data` in an envelope.
pub fn ok<T>(data: T) -> Reply<T> {
    Ok(Json(Envelope { request_id: request_id::current().id, code: "OK".into(), data }))
}

/// A core error, answered over HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Error::new(code, message))
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error { code, message, retry_after_secs } = self.0;
        let request_id = request_id::current().id;
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody { request_id, code: code.as_str().into(), message };
        let mut response = (status, Json(body)).into_response();
        // For [`count_errors`], wherever in the stack this answer was made.
        response.extensions_mut().insert(code);
        if let Some(secs) = retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Counts every error answer in the metrics by its code, wherever it was made (handlers, the
/// signature check, the deadline), so that no path can forget to.
pub async fn count_errors(State(app): State<App>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        app.services.metrics.error(code.as_str());
    }
    response
}

/// Bounds a request's whole life, body and work included, at `limits.request_deadline`. Each part
/// has a tighter limit of its own (the body its timeout, the inference pool its queue); this is
/// the backstop that guarantees an answer, coded like every other.
pub async fn deadline(State(app): State<App>, req: Request, next: Next) -> Response {
    let limit = app.limits.request_deadline;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(seconds = limit.as_secs(), "request deadline exceeded");
            let message = format!("the request took longer than {} s; retry later", limit.as_secs());
            ApiError::new(ErrorCode::DeadlineExceeded, message).into_response()
        }
    }
}
