//! The root address `/`, where the cloud vendors' SDKs send every call: Alibaba Cloud's
//! Cloudauth SDKs (V3 `ACS3-HMAC-SHA256` or the older RPC `HMAC-SHA1` signing) and Tencent Cloud's
//! FaceID SDK (`TC3-HMAC-SHA256`). This module owns only the choice of surface and the bounded
//! reading of the body; each surface (`aliyun`, `tencent`) authenticates, parses and answers in
//! its own vendor's format.
//!
//! Unlike `/v1`, whose signature covers a declared body hash so that the head can be judged
//! first, these schemes sign the parameters themselves (RPC, and TC3's hashed payload without a
//! header declaring it), so the body is read before the signature is checked: within the same
//! size limit, time limit and shared memory budget as every other body.

use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shiren_verify::{Error, ErrorCode};

use crate::App;
use crate::http::request_id::{self, RequestIds};
use crate::http::response::ApiError;
use crate::http::signature::{content_length, read_body, reserve_upload, source_of};

/// A call to `/` as it arrived, body read.
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

impl VendorCall {
    /// A header's value as text (first occurrence), when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every header as (name, value) text pairs, for the signature libraries.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect()
    }

    /// Whether the body is an HTML-form body (`application/x-www-form-urlencoded`).
    pub fn has_form_body(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
    }

    /// Whether the query string or a form body carries this parameter name.
    fn mentions(&self, name: &str) -> bool {
        let in_pairs = |raw: &[u8]| form_urlencoded::parse(raw).any(|(k, _)| k == name);
        in_pairs(self.raw_query.as_bytes()) || (self.has_form_body() && in_pairs(&self.body))
    }
}

pub fn routes() -> Router<App> {
    Router::new().route("/", get(dispatch).post(dispatch))
}

/// Which vendor a call at `/` speaks: Tencent's SDK names its action in `X-TC-Action` (TC3) or
/// signs with `SecretId` in the form (the older signing); everything else is Alibaba's.
async fn dispatch(State(app): State<App>, req: Request) -> Response {
    let RequestIds { id: request_id, client: client_request_id } = request_id::current();
    let source = source_of(req.extensions());
    let (parts, body) = req.into_parts();
    let announced = content_length(&parts).unwrap_or(app.limits.max_body_bytes as u64);
    let tencent_header = parts.headers.contains_key("x-tc-action");
    let read = async {
        if announced > app.limits.max_body_bytes as u64 {
            return Err(Error::new(
                ErrorCode::RequestTooLarge,
                format!("the request body is larger than {} bytes", app.limits.max_body_bytes),
            ));
        }
        let reservation = reserve_upload(&app, announced).await?;
        let bytes = read_body(body, app.limits.max_body_bytes, app.limits.body_timeout).await?;
        Ok((reservation, bytes))
    };
    let (reservation, body) = match read.await {
        Ok(v) => v,
        Err(e) if tencent_header => return crate::tencent::refuse(e),
        Err(e) => return crate::aliyun::refuse(e, &parts.method),
    };
    let call = VendorCall {
        method: parts.method,
        raw_path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
        source,
        request_id,
        client_request_id,
    };
    let answer = if tencent_header || call.mentions("SecretId") {
        crate::tencent::handle(&app, call).await
    } else if call.header("x-acs-action").is_some() || call.mentions("Action") {
        crate::aliyun::handle(&app, call).await
    } else {
        ApiError::new(ErrorCode::NotFound, "no such endpoint; see /docs").into_response()
    };
    drop(reservation);
    answer
}
