//! API errors: an HTTP status, a stable machine code, a message a person can act on, and the
//! request id, always as JSON.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shiren_face::FaceError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Identifier of the request, also in the `x-request-id` header; quote it when reporting.
    pub request_id: String,
    /// Stable machine-readable error code.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), request_id: None, retry_after_secs: None }
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", format!("{what} not found"))
    }
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "internal error; see the server log")
    }
    pub fn busy(retry_after_secs: u64, message: &str) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceBusy", message);
        e.retry_after_secs = Some(retry_after_secs);
        e
    }
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
        self
    }
}

/// A caller-supplied value quoted in a message: at most 64 characters, so that an 11 MB field
/// is not sent back (or logged) whole.
pub fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} characters)", &value[..cut], value.chars().count()),
    }
}

impl From<shiren_store::StoreError> for ApiError {
    fn from(e: shiren_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// Image and face problems are the caller's (400/422); engine failures are ours (500).
impl From<FaceError> for ApiError {
    fn from(e: FaceError) -> Self {
        let status = match &e {
            FaceError::NoFace => StatusCode::UNPROCESSABLE_ENTITY,
            FaceError::ImageBytesTooLarge { .. } | FaceError::ImageTooLarge { .. } | FaceError::DecodeLimit(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            e if e.is_bad_input() => StatusCode::BAD_REQUEST,
            _ => return ApiError::internal(e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = self.request_id.unwrap_or_default();
        let mut response =
            (self.status, Json(ErrorBody { request_id: request_id.clone(), code: self.code, message: self.message }))
                .into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        response
    }
}
