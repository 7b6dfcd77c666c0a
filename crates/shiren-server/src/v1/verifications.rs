//! `/v1/verifications`: interactive verification sessions (LR_FR, ID_PRO, PV_FV). Creating one
//! answers the capture link a person opens (see `h5`); reading one answers its state and, once
//! finished, its outcome and liveness material. The sessions themselves live in the core.

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::Serialize;
use shiren_verify::sessions::{self, SessionRequest, SessionView};
use shiren_verify::{Caller, Error, ErrorCode};

use crate::App;
use crate::http::extract::ProductInput;
use crate::http::response::{Envelope, ErrorBody, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/verifications", post(create_verification))
        .route("/v1/verifications/{id}", get(get_verification))
}

/// A created session and the link to send the person to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedView {
    pub verification_id: String,
    /// The capture page; single use, valid until `expires_at`. Its token is the page's only
    /// credential: send it to the person's device only.
    pub capture_url: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Where people reach this service: the configured public URL, or the scheme and host the
/// creating request came to.
pub(crate) fn public_base(app: &App, headers: &HeaderMap) -> Result<String, Error> {
    if let Some(url) = &app.limits.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
        .ok_or_else(|| {
            Error::new(ErrorCode::InvalidParameter, "no usable Host header: configure public_url for capture links")
        })?;
    Ok(format!("{}://{host}", if app.limits.tls { "https" } else { "http" }))
}

/// Creates an interactive session: `product` LR_FR (liveness), ID_PRO (+ `name`, `id_number`
/// checked against the authority) or PV_FV (+ `reference_image`); `liveness` LIVENESS (blink),
/// MULTI_ACTION (2-3 random actions), PHOTINUS_LIVENESS (blink + colour flashes) or
/// MULTI_PHOTINUS (actions + colours).
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications", request_body = SessionRequest,
    responses((status = 200, description = "The session and its capture link", body = Envelope<CreatedView>),
              (status = "4XX", description = "Bad input (invalid ID number, no face in the reference), signature or permission", body = ErrorBody)))]
pub async fn create_verification(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ProductInput(request): ProductInput<SessionRequest>,
) -> Reply<CreatedView> {
    let base = public_base(&app, &headers)?;
    let created = sessions::create(&app.services, &caller, request).await?;
    ok(CreatedView {
        capture_url: format!("{base}/h5/{}", created.capture_token),
        verification_id: created.verification_id,
        expires_at: created.expires_at,
    })
}

/// A session's state; once finished, `passed`, `sub_code`, `score`, the liveness `material`
/// (every check with its numbers and threshold) and links to the best frame when the scene
/// keeps images. Read-only keys may read sessions.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<SessionView>), (status = 404, body = ErrorBody)))]
pub async fn get_verification(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply<SessionView> {
    ok(sessions::describe(&app.services, &caller, &id).await?)
}
