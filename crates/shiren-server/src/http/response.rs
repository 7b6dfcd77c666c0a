//! What the native API answers. Success: `{"request_id", "code": "OK", "data"}`. Failure:
//! `{"request_id", "code", "message"}` with the code's HTTP status from the core's table (and
//! `Retry-After` when the service is busy). This is the only place a code becomes a status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shiren_verify::{Error, ErrorCode};

use super::request_id;

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
        if let Some(secs) = retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
