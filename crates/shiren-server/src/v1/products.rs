//! `/v1` product endpoints: each reads its request (JSON or multipart), calls the core's product
//! and answers the `Verification` it returns. No verdict is made and no record written here.

use axum::Router;
use axum::extract::{Extension, State};
use axum::routing::post;
use shiren_verify::Caller;
use shiren_verify::products::{
    self, BankCardOcrRequest, CompareRequest, ElementsRequest, IdCardOcrRequest, IdentityRequest, PhotoRequest,
    Verification,
};

use crate::App;
use crate::http::extract::ProductInput;
use crate::http::response::{Envelope, ErrorBody, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/compare", post(compare))
        .route("/v1/liveness", post(liveness))
        .route("/v1/identity", post(identity))
        .route("/v1/attributes", post(attributes))
        .route("/v1/elements", post(elements))
        .route("/v1/ocr/idcard", post(id_card_ocr))
        .route("/v1/ocr/bankcard", post(bank_card_ocr))
}

/// PV_FC: compare the subjects of two photos.
#[utoipa::path(post, path = "/v1/compare", tag = "products", request_body = CompareRequest,
    responses((status = 200, description = "Verification done (see `passed`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = ErrorBody),
              (status = 503, description = "Inference queue full; retry after the Retry-After seconds", body = ErrorBody)))]
pub async fn compare(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<CompareRequest>,
) -> Reply<Verification> {
    ok(products::compare(&app.services, &caller, request).await?)
}

/// LR_FR_MIN: single-photo (passive) liveness with quality checks. Without a licensed PAD
/// model this judges quality, face count and open eyes only: it cannot tell a printed photo
/// or a screen from a live face (see the README).
#[utoipa::path(post, path = "/v1/liveness", tag = "products", request_body = PhotoRequest,
    responses((status = 200, description = "Verification done (see `passed`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = ErrorBody)))]
pub async fn liveness(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<PhotoRequest>,
) -> Reply<Verification> {
    ok(products::liveness(&app.services, &caller, request).await?)
}

/// ID_MIN: ID number check, name/number match, and face against the authority's reference.
#[utoipa::path(post, path = "/v1/identity", tag = "products", request_body = IdentityRequest,
    responses((status = 200, description = "Verification done (see `passed` and `sub_code`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input (e.g. invalid ID number), signature or permission", body = ErrorBody),
              (status = 503, description = "Authority unavailable or inference queue full", body = ErrorBody)))]
pub async fn identity(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<IdentityRequest>,
) -> Reply<Verification> {
    ok(products::identity(&app.services, &caller, request).await?)
}

/// Face attributes and quality of every face in a photo.
#[utoipa::path(post, path = "/v1/attributes", tag = "products", request_body = PhotoRequest,
    responses((status = 200, description = "Attributes per face, largest first, in `detail.faces`", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = ErrorBody)))]
pub async fn attributes(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<PhotoRequest>,
) -> Reply<Verification> {
    ok(products::attributes(&app.services, &caller, request).await?)
}

/// 2-, 3- and 4-element checks (name + ID number, + phone, + bank card) against the authority.
#[utoipa::path(post, path = "/v1/elements", tag = "products", request_body = ElementsRequest,
    responses((status = 200, description = "`200` all match, `201` mismatch, `202` no record", body = Envelope<Verification>),
              (status = 501, description = "The configured authority cannot check phone numbers or bank cards", body = ErrorBody),
              (status = 503, description = "Authority unavailable", body = ErrorBody)))]
pub async fn elements(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<ElementsRequest>,
) -> Reply<Verification> {
    ok(products::elements(&app.services, &caller, request).await?)
}

/// ID_OCR: read a PRC resident ID card from photos of its front, its back, or both (either
/// photo may show either side): the printed fields, cross-checks between them and the number,
/// and warnings (copy, screen recapture, incomplete border, glare, unreadable field, missing
/// portrait, sides of different cards). `200` read and consistent, `208` document risk, `209`
/// unreadable. The fields are answered once; the record keeps them masked.
#[utoipa::path(post, path = "/v1/ocr/idcard", tag = "products", request_body = IdCardOcrRequest,
    responses((status = 200, description = "Card read (see `sub_code` and `detail.warnings`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input (no image, unreadable image), signature or permission", body = ErrorBody),
              (status = 503, description = "Inference queue full; retry after the Retry-After seconds", body = ErrorBody)))]
pub async fn id_card_ocr(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<IdCardOcrRequest>,
) -> Reply<Verification> {
    ok(products::id_card_ocr(&app.services, &caller, request).await?)
}

/// BANKCARD_OCR: read a bank card's number (Luhn-checked), expiry, issuing bank and card type,
/// whichever way up the photo is. `200` number read, `209` no valid number found. The number is
/// answered once; the record keeps it masked.
#[utoipa::path(post, path = "/v1/ocr/bankcard", tag = "products", request_body = BankCardOcrRequest,
    responses((status = 200, description = "Card read (see `sub_code`)", body = Envelope<Verification>),
              (status = "4XX", description = "Bad input, signature or permission", body = ErrorBody),
              (status = 503, description = "Inference queue full; retry after the Retry-After seconds", body = ErrorBody)))]
pub async fn bank_card_ocr(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ProductInput(request): ProductInput<BankCardOcrRequest>,
) -> Reply<Verification> {
    ok(products::bank_card_ocr(&app.services, &caller, request).await?)
}
