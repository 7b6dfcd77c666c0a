//! The native API, version 1: one module per resource, each exporting its routes; this module
//! composes them and describes them in the OpenAPI document.

pub mod audit;
pub mod galleries;
pub mod keys;
pub mod ops;
pub mod products;
pub mod records;
pub mod scenes;
pub mod statistics;
pub mod verifications;

use axum::Router;
use utoipa::OpenApi;

use crate::App;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shiren verification API", version = "1",
        description = "Every /v1 request is signed with ACS3-HMAC-SHA256 (Alibaba Cloud's V3 signature): headers \
        x-acs-date, x-acs-signature-nonce, x-acs-content-sha256 and Authorization: ACS3-HMAC-SHA256 \
        Credential=KEY_ID,SignedHeaders=...,Signature=... . Read-only keys may only use GET, and POST /v1/search and /v1/duplicates. Errors carry a stable \
        code (PascalCase, a dot before a refinement: InvalidImage.Truncated) from one table, listed in the README."),
    paths(
        products::compare, products::liveness, products::identity, products::attributes, products::elements,
        products::id_card_ocr, products::bank_card_ocr,
        scenes::create_scene, scenes::list_scenes, scenes::get_scene, scenes::update_scene, scenes::delete_scene,
        keys::create_key, keys::list_keys, keys::disable_key, keys::enable_key, keys::delete_key,
        records::list_records, records::get_record, records::delete_record, statistics::statistics, audit::audit_log,
        verifications::create_verification, verifications::get_verification,
        galleries::create_gallery, galleries::list_galleries, galleries::get_gallery, galleries::delete_gallery,
        galleries::add_face, galleries::remove_face, galleries::list_persons, galleries::get_person,
        galleries::remove_person, galleries::search, galleries::duplicates,
        crate::h5::page_session, crate::h5::consent, crate::h5::hint, crate::h5::card, crate::h5::start, crate::h5::frames,
    ),
    components(schemas(
        crate::http::response::ErrorBody,
        shiren_verify::scenes::Product, shiren_verify::scenes::SceneSettings, shiren_verify::scenes::LivenessSettings,
        shiren_verify::images::ImageSource, shiren_verify::products::Detail,
        shiren_verify::products::IdCardOcrDetail, shiren_verify::products::BankCardOcrDetail,
        shiren_verify::sessions::SessionDetail, shiren_verify::sessions::Check,
        shiren_verify::sessions::InteractiveSettings, shiren_verify::sessions::ConsentText,
        shiren_verify::sessions::cards::CardDocument, shiren_verify::sessions::cards::CardProgress,
        shiren_verify::scenes::IdPlusSettings,
        shiren_verify::galleries::SearchDetail, shiren_verify::galleries::DuplicateDetail,
        shiren_verify::galleries::Candidate, shiren_verify::galleries::FpirThreshold, shiren_verify::galleries::IndexInfo,
    )),
    tags((name = "products", description = "Verifications; each writes one record"),
         (name = "scenes", description = "Verification scenes and their settings"),
         (name = "keys", description = "Access keys (full-access keys only)"),
         (name = "records", description = "Records, statistics and the audit log"),
         (name = "galleries", description = "1:N face galleries, search and the duplicate-identity check"),
         (name = "verifications", description = "Interactive verification sessions (LR_FR, ID_PRO, PV_FV, ID_PLUS)"),
         (name = "capture", description = "The capture page's own API, authenticated by the capture link's token \
            (unsigned: the page is public; everything it sends is judged on the server)"))
)]
pub struct ApiDoc;

/// Every `/v1` route that must be signed.
pub fn signed_routes() -> Router<App> {
    Router::new()
        .merge(products::routes())
        .merge(scenes::routes())
        .merge(keys::routes())
        .merge(records::routes())
        .merge(statistics::routes())
        .merge(audit::routes())
        .merge(verifications::routes())
        .merge(galleries::routes())
}

/// Routes with a credential of their own, or none: image links and operations.
pub fn open_routes() -> Router<App> {
    Router::new().merge(records::link_routes()).merge(ops::routes())
}
