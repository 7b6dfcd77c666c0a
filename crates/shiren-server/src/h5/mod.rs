//! The capture page (`/h5/{token}`) and its own API: the surface a person's phone or browser
//! talks to. Its only credential is the capture link's token (unguessable, single use, short
//! lived); the page is public and everything it sends is treated as an attacker's: bodies are
//! bounded in size, time and shared memory before they are read, and the core judges every
//! frame itself.
//!
//! The page is served from the binary (HTML, script and style embedded, no CDN), with headers
//! that keep the token out of referrers and caches and allow no script but its own.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shiren_store::Policy;
use shiren_verify::sessions::cards::{self, CardAnswer};
use shiren_verify::sessions::{self, CaptureUpload, Hints, PageResult, PageSession, Started, UploadMeta};
use shiren_verify::{Caller, Error, ErrorCode};

use crate::App;
use crate::http::extract::JsonBody;
use crate::http::request_id;
use crate::http::response::{ApiError, Envelope, ErrorBody, Reply, ok};
use crate::http::signature::{content_length, read_body, reserve_upload, source_of};

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("capture.js");
const STYLE: &str = include_str!("capture.css");

pub fn routes(app: App) -> Router<App> {
    // The capture's own size limit, for the multipart reader too (the API's is smaller).
    let max_capture_bytes = app.limits.max_capture_bytes;
    let api = Router::new()
        .route("/h5/{token}/session", get(page_session))
        .route("/h5/{token}/consent", post(consent))
        .route("/h5/{token}/hint", post(hint))
        .route("/h5/{token}/card/{side}", post(card))
        .route("/h5/{token}/start", post(start))
        .route("/h5/{token}/frames", post(frames))
        .route_layer(from_fn_with_state(app, buffer_body))
        .layer(DefaultBodyLimit::max(max_capture_bytes));
    Router::new()
        .route("/h5/assets/capture.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/h5/assets/capture.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/h5/{token}", get(page))
        .merge(api)
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// The page itself: the same document for every token (the script reads its token from the
/// address and asks the API), so serving it reveals nothing.
async fn page() -> Response {
    let mut response = PAGE.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The token is in the address: never send it on as a referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Reads a page request's body within the capture size limit, the body deadline and the shared
/// upload budget, before the handler runs (the same bounds signed requests get).
async fn buffer_body(State(app): State<App>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let max = app.limits.max_capture_bytes;
    let announced = content_length(&parts).unwrap_or(max as u64);
    if announced > max as u64 {
        let e = Error::new(ErrorCode::RequestTooLarge, format!("the request body is larger than {max} bytes"));
        return ApiError(e).into_response();
    }
    let reservation = match reserve_upload(&app, announced).await {
        Ok(r) => r,
        Err(e) => return ApiError(e).into_response(),
    };
    let bytes = match read_body(body, max, app.limits.body_timeout).await {
        Ok(b) => b,
        Err(e) => return ApiError(e).into_response(),
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    drop(reservation);
    response
}

/// Who the page is, for the audit log and the record: the capture link acting for the key that
/// created the session (the core substitutes that key where it records).
fn page_caller(headers: &axum::http::Extensions) -> Caller {
    let ids = request_id::current();
    Caller {
        actor: "capture-page".into(),
        policy: Policy::Readonly,
        request_id: ids.id,
        client_request_id: ids.client,
        source: source_of(headers),
    }
}

/// The session as the page shows it: state, consent text, the challenge once issued, the
/// result once finished.
#[utoipa::path(get, path = "/h5/{token}/session", tag = "capture", params(("token" = String, Path)),
    responses((status = 200, body = Envelope<PageSession>), (status = 404, body = ErrorBody)))]
pub async fn page_session(State(app): State<App>, Path(token): Path<String>) -> Reply<PageSession> {
    ok(sessions::page_session(&app.services, &token).await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    /// `true`: the person agrees; `false`: declines, which ends the session.
    pub agree: bool,
}

/// The person's answer to the consent screen (recorded with the text version, time and user
/// agent).
#[utoipa::path(post, path = "/h5/{token}/consent", tag = "capture", params(("token" = String, Path)),
    request_body = ConsentAnswer,
    responses((status = 200, body = Envelope<PageSession>), (status = "4XX", body = ErrorBody)))]
pub async fn consent(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Reply<PageSession> {
    let page = page_caller(request.extensions());
    let JsonBody(answer) = JsonBody::<ConsentAnswer>::from_request(request, &()).await?;
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    ok(sessions::consent(&app.services, &token, answer.agree, agent, &page).await?)
}

/// A low-rate preview frame (the JPEG as the body) → hints for the person: no face, too far,
/// too close, too dark, several faces, face the camera. Advisory; nothing is recorded.
#[utoipa::path(post, path = "/h5/{token}/hint", tag = "capture", params(("token" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = Envelope<Hints>), (status = "4XX", body = ErrorBody)))]
pub async fn hint(State(app): State<App>, Path(token): Path<String>, body: axum::body::Bytes) -> Reply<Hints> {
    ok(sessions::hint(&app.services, &token, body.to_vec()).await?)
}

/// ID_PLUS: a photo of one side of the ID card (the JPEG as the body; `side` is `front` or
/// `back`), read on the server: the side is accepted, or the answer says what to fix. Only the
/// scene's number of card photos is allowed; after the last one without both sides the session
/// ends (209).
#[utoipa::path(post, path = "/h5/{token}/card/{side}", tag = "capture",
    params(("token" = String, Path), ("side" = String, Path, description = "`front` or `back`")),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = Envelope<CardAnswer>), (status = "4XX", body = ErrorBody)))]
pub async fn card(
    State(app): State<App>,
    Path((token, side)): Path<(String, String)>,
    request: Request,
) -> Reply<CardAnswer> {
    let page = page_caller(request.extensions());
    let side = match side.as_str() {
        "front" => cards::Side::Front,
        "back" => cards::Side::Back,
        _ => return Err(ApiError::new(ErrorCode::InvalidParameter, "the side is front or back")),
    };
    let body = axum::body::to_bytes(request.into_body(), cards::MAX_CARD_BYTES + 1)
        .await
        .map_err(|_| ApiError::new(ErrorCode::ImageBytesTooLarge, "a card photo is too large"))?;
    ok(cards::card(&app.services, &token, side, body.to_vec(), &page).await?)
}

/// The challenge (actions and colours with their times) and the one-time nonce the upload must
/// carry. Issued once: calling again returns the same challenge.
#[utoipa::path(post, path = "/h5/{token}/start", tag = "capture", params(("token" = String, Path)),
    responses((status = 200, body = Envelope<Started>), (status = "4XX", body = ErrorBody)))]
pub async fn start(State(app): State<App>, Path(token): Path<String>, request: Request) -> Reply<Started> {
    let page = page_caller(request.extensions());
    ok(sessions::start(&app.services, &token, &page).await?)
}

/// The captured frames: multipart with a `meta` part (`{"nonce": ..., "frames": [{"t_ms": ...},
/// ...]}`) and the JPEG frames as parts named `frame`, in the same order. Judged on the server;
/// the answer is the result screen's data (no scores). Repeating an upload that was already
/// judged returns the same result.
#[utoipa::path(post, path = "/h5/{token}/frames", tag = "capture", params(("token" = String, Path)),
    request_body(content = UploadMeta, content_type = "multipart/form-data"),
    responses((status = 200, body = Envelope<PageResult>), (status = "4XX", body = ErrorBody)))]
pub async fn frames(State(app): State<App>, Path(token): Path<String>, request: Request) -> Reply<PageResult> {
    let page = page_caller(request.extensions());
    let upload = read_upload(request).await?;
    ok(sessions::frames(&app.services, &token, upload, &page).await?)
}

async fn read_upload(request: Request) -> Result<CaptureUpload, ApiError> {
    let invalid = |e: axum::extract::multipart::MultipartError| {
        let code = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::RequestTooLarge
        } else {
            ErrorCode::InvalidMultipart
        };
        ApiError::new(code, e.body_text())
    };
    let mut form = Multipart::from_request(request, &()).await.map_err(|e| {
        ApiError::new(ErrorCode::InvalidMultipart, format!("not a valid multipart form: {}", e.body_text()))
    })?;
    let mut upload = CaptureUpload::default();
    let mut meta: Option<UploadMeta> = None;
    while let Some(field) = form.next_field().await.map_err(invalid)? {
        match field.name().unwrap_or_default() {
            "meta" => {
                let bytes = field.bytes().await.map_err(invalid)?;
                let parsed = serde_json::from_slice::<UploadMeta>(&bytes)
                    .map_err(|e| ApiError::new(ErrorCode::InvalidFrames, format!("meta: {e}")))?;
                meta = Some(parsed);
            }
            "frame" => {
                if upload.frames.len() >= sessions::MAX_FRAMES {
                    return Err(ApiError::new(
                        ErrorCode::InvalidFrames,
                        format!("at most {} frames", sessions::MAX_FRAMES),
                    ));
                }
                upload.frames.push(field.bytes().await.map_err(invalid)?.to_vec());
            }
            other => {
                let name: String = other.chars().take(32).collect();
                return Err(ApiError::new(ErrorCode::InvalidFrames, format!("unexpected part {name:?}")));
            }
        }
    }
    let meta = meta.ok_or_else(|| ApiError::new(ErrorCode::InvalidFrames, "the meta part is missing"))?;
    upload.nonce = meta.nonce;
    upload.times_ms = meta.frames.into_iter().map(|f| f.t_ms).collect();
    Ok(upload)
}
