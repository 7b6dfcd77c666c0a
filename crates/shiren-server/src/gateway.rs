//! The root address `/`, where the cloud vendors' SDKs send every call: Alibaba Cloud's
//! Cloudauth SDKs (V3 `ACS3-HMAC-SHA256` or the older RPC `HMAC-SHA1` signing) and Tencent Cloud's
//! FaceID SDK (`TC3-HMAC-SHA256`, or the older form signing). This module owns the choice of
//! surface from the request's head, the bounded reading of bodies and what both surfaces share
//! about a call (its head, the caller it becomes, auditing its refusal); each surface
//! authenticates, parses and answers in its own vendor's format.
//!
//! Each surface judges everything its scheme puts in the head (the whole V3 signature; the key,
//! clock and algorithm of RPC and TC3) before reading a body, as `/v1` does. Tencent's older form
//! signing puts everything in the body, so its bodies are read before any check: they draw on a
//! budget of their own (a quarter of the upload budget), so that unauthenticated senders cannot
//! starve the uploads of authenticated ones.

use std::net::IpAddr;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use shiren_store::AccessKey;
use shiren_verify::{Caller, Error, ErrorCode};
use tokio::sync::OwnedSemaphorePermit;

use crate::App;
use crate::http::request_id::{self, RequestIds};
use crate::http::response::ApiError;
use crate::http::signature::{Failure, audit_failure, content_length, read_body, reserve_in, source_of};

/// A call to `/` once its body is read.
pub struct VendorCall {
    pub method: Method,
    pub raw_path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source: Option<IpAddr>,
    pub request_id: String,
    pub client_request_id: Option<String>,
}

/// A header's value as text (first occurrence), when it is text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the head announces an HTML-form body (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    header(headers, "content-type")
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// Whether a query string carries this parameter name.
pub fn query_has(raw_query: &str, name: &str) -> bool {
    form_urlencoded::parse(raw_query.as_bytes()).any(|(k, _)| k == name)
}

impl VendorCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn has_form_body(&self) -> bool {
        is_form(&self.headers)
    }

    /// The caller a verified key makes.
    pub fn caller(&self, key: &AccessKey) -> Caller {
        Caller {
            actor: key.id.clone(),
            policy: key.policy,
            request_id: self.request_id.clone(),
            client_request_id: self.client_request_id.clone(),
            source: self.source,
        }
    }
}

/// Audits a refused authentication at `/`: the path is `/`, the action goes in the detail.
pub async fn audit_refusal(app: &App, parts: &Parts, action: &str, claimed_key: Option<&str>, error: &Error) {
    let RequestIds { id, client } = request_id::current();
    let failure = Failure { claimed_key, error, source: source_of(&parts.extensions), action: Some(action) };
    audit_failure(app, parts.method.as_str(), "/", &failure, &id, client.as_deref()).await;
}

/// Which budget a body is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The head was authenticated (or its key and clock checked): the shared upload budget.
    Uploads,
    /// Nothing was checked yet: the smaller budget of unauthenticated bodies.
    Unauthenticated,
}

/// Reads a body within the size limit, the body timeout and a memory budget; the permit holds
/// its room until the answer is ready.
pub async fn read(
    app: &App,
    parts: &Parts,
    body: Body,
    budget: Budget,
) -> Result<(Option<OwnedSemaphorePermit>, Bytes), Error> {
    let max = app.limits.max_body_bytes;
    let announced = content_length(parts).or_else(|| body.size_hint().exact()).unwrap_or(max as u64);
    if announced > max as u64 {
        return Err(Error::new(ErrorCode::RequestTooLarge, format!("the request body is larger than {max} bytes")));
    }
    let permit = match budget {
        Budget::Uploads => reserve_in(app, &app.uploads, announced).await?,
        Budget::Unauthenticated => reserve_in(app, &app.unauthenticated_uploads, announced).await?,
    };
    let bytes = read_body(body, max, app.limits.body_timeout).await?;
    Ok((permit, bytes))
}

/// Builds the call from its head and its read body.
pub fn call_of(parts: Parts, body: Bytes) -> VendorCall {
    let RequestIds { id, client } = request_id::current();
    VendorCall {
        source: source_of(&parts.extensions),
        raw_path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        method: parts.method,
        headers: parts.headers,
        body,
        request_id: id,
        client_request_id: client,
    }
}

pub fn routes() -> Router<App> {
    Router::new().route("/", any(dispatch))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Alibaba,
    Tencent,
}

/// Which vendor a call speaks, from its head: Tencent's SDK names its action in `X-TC-Action`
/// (TC3) or signs a form with `SecretId`; Alibaba's sends `x-acs-action` (both signings) or an
/// `Action` in the query (RPC).
fn surface_of(parts: &Parts) -> Option<Surface> {
    let headers = &parts.headers;
    let query = parts.uri.query().unwrap_or("");
    let authorization = header(headers, "authorization").unwrap_or("").trim_start();
    if headers.contains_key("x-tc-action") || authorization.starts_with("TC3-") || query_has(query, "SecretId") {
        return Some(Surface::Tencent);
    }
    if headers.contains_key("x-acs-action") || authorization.starts_with("ACS3-") || query_has(query, "Action") {
        return Some(Surface::Alibaba);
    }
    // Tencent's older form signing sends a bare form: everything is in the body.
    (parts.method == Method::POST && is_form(headers)).then_some(Surface::Tencent)
}

async fn dispatch(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST && parts.method != Method::GET {
        return ApiError::new(ErrorCode::NotFound, "the cloud-API drop-ins take POST (or GET) at /; see /docs")
            .into_response();
    }
    // The vendors' answers to a call that outlives the deadline, rather than the native one.
    let limit = app.limits.request_deadline.saturating_sub(std::time::Duration::from_secs(1));
    let late = || Error::new(ErrorCode::DeadlineExceeded, "the request took too long; retry later");
    match surface_of(&parts) {
        Some(Surface::Tencent) => match tokio::time::timeout(limit, crate::tencent::handle(&app, parts, body)).await {
            Ok(answer) => answer,
            Err(_) => crate::tencent::refuse(late()),
        },
        Some(Surface::Alibaba) => {
            let method = parts.method.clone();
            match tokio::time::timeout(limit, crate::aliyun::handle(&app, parts, body)).await {
                Ok(answer) => answer,
                Err(_) => crate::aliyun::refuse(late(), &method),
            }
        }
        None => ApiError::new(ErrorCode::NotFound, "no such endpoint; see /docs").into_response(),
    }
}
