//! Request identity and authorisation. Every `/v1` request (but image links, which carry their
//! own signature) must be signed with ACS3-HMAC-SHA256 by an enabled access key: the
//! signature covers method, path, query, the signed headers and the body hash; the timestamp
//! must be inside the skew window; a nonce is accepted once per key (kept in the database, so
//! every instance and a restart see it). Read-only keys may only read (GET).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shiren_auth::{AuthError, Credential, Payload, QueryParams};
use shiren_store::Policy;

use crate::error::ApiError;
use crate::state::AppState;

/// The id of the request being handled, echoed in `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The verified caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub policy: Policy,
    pub request_id: String,
}

/// Gives every request an id (the caller's `x-request-id` when it is sane) and logs it.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_string)
        .unwrap_or_else(|| shiren_store::new_id("rq"));
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = tracing::Instrument::instrument(next.run(req), span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn auth_error(e: &AuthError) -> ApiError {
    let status = match e {
        AuthError::MissingAuthorization
        | AuthError::InvalidAccessKeyId(_)
        | AuthError::SignatureDoesNotMatch { .. }
        | AuthError::RequestTimeTooSkewed { .. } => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

pub async fn require_signature(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    match verify(&state, req, &request_id).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            state.metrics.error(&e.code);
            e.with_request_id(&request_id).into_response()
        }
    }
}

async fn verify(state: &AppState, req: Request, request_id: &str) -> Result<Request, ApiError> {
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, state.config.max_body_bytes).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            format!("the request body is larger than {} bytes", state.config.max_body_bytes),
        )
    })?;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let credential = Credential::from_headers(&headers).map_err(|e| auth_error(&e))?;
    let Some((key, secret)) = state.store.access_key_with_secret(&credential.access_key_id).await? else {
        return Err(auth_error(&AuthError::InvalidAccessKeyId(credential.access_key_id.clone())));
    };
    let query = QueryParams::parse(parts.uri.query().unwrap_or(""));
    let request = shiren_auth::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &headers,
        payload: Payload::Body(&bytes),
    };
    let now = shiren_auth::unix_now();
    shiren_auth::verify_at(&request, &credential, &secret, now, state.config.signature_skew_secs)
        .map_err(|e| auth_error(&e))?;
    if key.status != "enabled" {
        return Err(ApiError::forbidden("InvalidAccessKeyId.Inactive", format!("access key {} is disabled", key.id)));
    }
    let request_time = shiren_auth::request_time(&request).map_err(|e| auth_error(&e))?;
    let nonce = request.header("x-acs-signature-nonce").unwrap_or_default();
    if nonce.is_empty() || nonce.len() > 128 {
        return Err(ApiError::bad_request("InvalidSignatureNonce", "x-acs-signature-nonce must be 1-128 characters"));
    }
    // A nonce only needs remembering while its timestamp is still inside the window.
    let keep_until = (request_time + state.config.signature_skew_secs as i64 + 60) * 1000;
    if !state.store.remember_nonce(&key.id, &nonce, keep_until).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "SignatureNonceUsed",
            "this signature nonce was already used: the request is a replay",
        ));
    }
    if key.policy == Policy::Readonly && parts.method != Method::GET && parts.method != Method::HEAD {
        return Err(ApiError::forbidden(
            "Forbidden.ReadOnlyKey",
            "this access key is read-only: it may query records and statistics but not verify or change anything",
        ));
    }
    parts.extensions.insert(Caller { key_id: key.id, policy: key.policy, request_id: request_id.to_string() });
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
