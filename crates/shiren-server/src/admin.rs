//! Scenes, access keys, records, image links, statistics and the audit log. Every change and
//! every read of a record or an image is written to the audit log with the key that did it.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shiren_store::{
    AccessKey, AuditEvent, DailyStats, Paging, Policy, RecordFilter, RecordRow, civil_from_days, days_from_civil,
    now_ms,
};

use crate::auth::{Caller, ClientRequestId, RequestId, source_of};
use crate::authority::id_hash;
use crate::error::ApiError;
use crate::products::Envelope;
use crate::state::{AppState, Product, Scene, SceneSettings};

async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let source = caller.source.map(|s| s.to_string());
    let event = AuditEvent {
        actor: &caller.key_id,
        action,
        target,
        detail: &detail.to_string(),
        request_id: &caller.request_id,
        client_request_id: caller.client_request_id.as_deref(),
        source: source.as_deref(),
    };
    state.store.audit(&event).await?;
    Ok(())
}

/// The page a listing asks for; refused when below 1 or so far that its offset overflows.
fn paging(page: Option<i64>, page_size: Option<i64>, default_size: i64, max_size: i64) -> Result<Paging, ApiError> {
    Paging::new(page.unwrap_or(1), page_size.unwrap_or(default_size), max_size).ok_or_else(|| {
        ApiError::bad_request("InvalidParameter.Page", "page must be 1 or more, and not so large that it overflows")
    })
}

fn tag(caller: &Caller) -> impl Fn(ApiError) -> ApiError + '_ {
    move |e| e.with_request_id(&caller.request_id)
}

// ---------------------------------------------------------------- scenes

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneInput {
    pub name: String,
    #[serde(default)]
    pub settings: SceneSettings,
}

fn check_scene_input(input: &SceneInput) -> Result<String, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::bad_request("InvalidParameter.Name", "name must be 1-64 characters"));
    }
    input.settings.validate()?;
    serde_json::to_string(&input.settings).map_err(ApiError::internal)
}

/// Create a scene: the products it allows, its FAR level, liveness rules, image keeping and retention.
#[utoipa::path(post, path = "/v1/scenes", tag = "scenes", request_body = SceneInput,
    responses((status = 200, body = Envelope<Scene>), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn create_scene(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<SceneInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Envelope<Scene>>, ApiError> {
    let Json(input) = body.map_err(|e| ApiError::bad_request("InvalidJson", e.body_text())).map_err(tag(&caller))?;
    let config = check_scene_input(&input).map_err(tag(&caller))?;
    let row =
        state.store.create_scene(input.name.trim(), &config).await.map_err(ApiError::from).map_err(tag(&caller))?;
    audit(&state, &caller, "scene.create", &row.id, json!({ "name": row.name })).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, Scene::from_row(row).map_err(tag(&caller))?))
}

/// List the scenes.
#[utoipa::path(get, path = "/v1/scenes", tag = "scenes", responses((status = 200, body = Envelope<Vec<Scene>>)))]
pub async fn list_scenes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Envelope<Vec<Scene>>>, ApiError> {
    let rows = state.store.list_scenes().await.map_err(ApiError::from).map_err(tag(&caller))?;
    let scenes = rows.into_iter().map(Scene::from_row).collect::<Result<Vec<_>, _>>().map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, scenes))
}

/// One scene and its settings.
#[utoipa::path(get, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Scene>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_scene(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Scene>>, ApiError> {
    let row = state.store.scene(&id).await.map_err(ApiError::from).map_err(tag(&caller))?;
    let row = row.ok_or_else(|| ApiError::not_found("scene")).map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, Scene::from_row(row).map_err(tag(&caller))?))
}

/// Replace a scene's name and settings.
#[utoipa::path(put, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)), request_body = SceneInput,
    responses((status = 200, body = Envelope<Scene>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_scene(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<SceneInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Envelope<Scene>>, ApiError> {
    let Json(input) = body.map_err(|e| ApiError::bad_request("InvalidJson", e.body_text())).map_err(tag(&caller))?;
    let config = check_scene_input(&input).map_err(tag(&caller))?;
    let row = state
        .store
        .update_scene(&id, input.name.trim(), &config)
        .await
        .map_err(ApiError::from)
        .map_err(tag(&caller))?;
    let row = row.ok_or_else(|| ApiError::not_found("scene")).map_err(tag(&caller))?;
    audit(&state, &caller, "scene.update", &id, json!({ "name": row.name })).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, Scene::from_row(row).map_err(tag(&caller))?))
}

/// Delete a scene; its records stay until their retention ends.
#[utoipa::path(delete, path = "/v1/scenes/{id}", tag = "scenes", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_scene(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    if !state.store.delete_scene(&id).await.map_err(ApiError::from).map_err(tag(&caller))? {
        return Err(ApiError::not_found("scene").with_request_id(&caller.request_id));
    }
    audit(&state, &caller, "scene.delete", &id, json!({})).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, json!({ "deleted": id })))
}

// ---------------------------------------------------------------- access keys

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    /// `full` or `readonly`.
    #[schema(value_type = String, example = "readonly")]
    pub policy: Policy,
    #[serde(default)]
    pub description: String,
}

/// A new key; the secret is shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    #[schema(value_type = String)]
    pub policy: Policy,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub access_key_id: String,
    #[schema(value_type = String)]
    pub policy: Policy,
    pub status: String,
    pub description: String,
    pub created_at: i64,
    /// When the key last authenticated a request, to the minute (Unix milliseconds).
    pub last_used_at: Option<i64>,
}

impl From<AccessKey> for KeyView {
    fn from(k: AccessKey) -> Self {
        KeyView {
            access_key_id: k.id,
            policy: k.policy,
            status: k.status,
            description: k.description,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// Create an access key; the secret is returned only in this answer.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = KeyInput,
    responses((status = 200, body = Envelope<CreatedKey>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<KeyInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Envelope<CreatedKey>>, ApiError> {
    let Json(input) = body.map_err(|e| ApiError::bad_request("InvalidJson", e.body_text())).map_err(tag(&caller))?;
    if input.description.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "InvalidParameter.Description",
            "description must be at most 200 characters",
        )
        .with_request_id(&caller.request_id));
    }
    let (key, secret) = state
        .store
        .create_access_key(input.policy, &input.description)
        .await
        .map_err(ApiError::from)
        .map_err(tag(&caller))?;
    audit(&state, &caller, "key.create", &key.id, json!({ "policy": key.policy })).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(
        &caller.request_id,
        CreatedKey { access_key_id: key.id, access_key_secret: secret, policy: key.policy },
    ))
}

/// List access keys (never their secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = Envelope<Vec<KeyView>>)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Envelope<Vec<KeyView>>>, ApiError> {
    if caller.policy != Policy::Full {
        return Err(ApiError::forbidden("Forbidden.ReadOnlyKey", "only full-access keys may list keys")
            .with_request_id(&caller.request_id));
    }
    let keys = state.store.list_access_keys().await.map_err(ApiError::from).map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, keys.into_iter().map(KeyView::from).collect()))
}

async fn set_key(
    state: AppState,
    caller: Caller,
    id: String,
    enabled: bool,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    if id == caller.key_id && !enabled {
        return Err(ApiError::bad_request("InvalidOperation", "a key cannot disable itself")
            .with_request_id(&caller.request_id));
    }
    if !state.store.set_access_key_status(&id, enabled).await.map_err(ApiError::from).map_err(tag(&caller))? {
        return Err(ApiError::not_found("access key").with_request_id(&caller.request_id));
    }
    let action = if enabled { "key.enable" } else { "key.disable" };
    audit(&state, &caller, action, &id, json!({})).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(
        &caller.request_id,
        json!({ "access_key_id": id, "status": if enabled { "enabled" } else { "disabled" } }),
    ))
}

/// Disable a key: its requests are refused until it is enabled again.
#[utoipa::path(post, path = "/v1/keys/{id}/disable", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn disable_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    set_key(state, caller, id, false).await
}

/// Enable a disabled key.
#[utoipa::path(post, path = "/v1/keys/{id}/enable", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn enable_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    set_key(state, caller, id, true).await
}

/// Delete a key for good.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    if id == caller.key_id {
        return Err(
            ApiError::bad_request("InvalidOperation", "a key cannot delete itself").with_request_id(&caller.request_id)
        );
    }
    if !state.store.delete_access_key(&id).await.map_err(ApiError::from).map_err(tag(&caller))? {
        return Err(ApiError::not_found("access key").with_request_id(&caller.request_id));
    }
    audit(&state, &caller, "key.delete", &id, json!({})).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, json!({ "deleted": id })))
}

// ---------------------------------------------------------------- records

/// Query parameters for records. Times are Unix milliseconds or `YYYY-MM-DD` (UTC).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub scene_id: Option<String>,
    pub product: Option<String>,
    /// `true` for passed, `false` for failed.
    pub passed: Option<bool>,
    pub sub_code: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub order_no: Option<String>,
    pub verification_id: Option<String>,
    /// Full ID number to search for (matched through its keyed hash).
    pub id_number: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// A record as listings show it: personal data masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub verification_id: String,
    pub scene_id: String,
    pub product: String,
    pub passed: bool,
    pub sub_code: String,
    pub score: Option<f64>,
    pub quality_score: Option<f64>,
    pub attack_score: Option<f64>,
    pub order_no: Option<String>,
    pub name: Option<String>,
    pub id_number: Option<String>,
    pub access_key_id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub image_count: i64,
}

impl From<RecordRow> for RecordView {
    fn from(r: RecordRow) -> Self {
        RecordView {
            verification_id: r.id,
            scene_id: r.scene_id,
            product: r.product,
            passed: r.passed,
            sub_code: r.sub_code,
            score: r.score,
            quality_score: r.quality_score,
            attack_score: r.attack_score,
            order_no: r.order_no,
            name: r.name_masked,
            id_number: r.id_number_masked,
            access_key_id: r.access_key_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            image_count: r.image_count,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub items: Vec<RecordView>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

/// `YYYY-MM-DD` → days since the epoch.
fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (y, m, d) =
        (parts.next()?.parse::<i64>().ok()?, parts.next()?.parse::<u32>().ok()?, parts.next()?.parse::<u32>().ok()?);
    if parts.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

fn parse_time(field: &str, text: &Option<String>, end_of_day: bool) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    parse_day(text).map(|d| Some((d + i64::from(end_of_day)) * 86_400_000)).ok_or_else(|| {
        ApiError::bad_request("InvalidParameter.Time", format!("{field}: use Unix milliseconds or YYYY-MM-DD"))
    })
}

/// Records, newest first, with names and ID numbers masked; filter by scene, product, outcome, SubCode, time, order number, verification id or ID number.
#[utoipa::path(get, path = "/v1/records", tag = "records", params(RecordQuery),
    responses((status = 200, body = Envelope<RecordPage>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_records(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<RecordQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Envelope<RecordPage>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("InvalidParameter", e.body_text())).map_err(tag(&caller))?;
    if let Some(p) = &q.product
        && !Product::ALL.iter().any(|x| x.code() == p)
    {
        return Err(ApiError::bad_request(
            "InvalidParameter.Product",
            format!("unknown product {}", crate::error::echo(p)),
        )
        .with_request_id(&caller.request_id));
    }
    let filter = RecordFilter {
        scene_id: q.scene_id.clone(),
        product: q.product.clone(),
        passed: q.passed,
        sub_code: q.sub_code.clone(),
        from_ms: parse_time("from", &q.from, false).map_err(tag(&caller))?,
        to_ms: parse_time("to", &q.to, true).map_err(tag(&caller))?,
        order_no: q.order_no.clone(),
        record_id: q.verification_id.clone(),
        id_number_hash: q.id_number.as_deref().map(|n| id_hash(state.store.keys(), n)),
    };
    let paging = paging(q.page, q.page_size, 20, 100).map_err(tag(&caller))?;
    let page = state.store.list_records(&filter, paging).await.map_err(ApiError::from).map_err(tag(&caller))?;
    let searched_person = q.id_number.is_some();
    audit(
        &state,
        &caller,
        "record.list",
        q.scene_id.as_deref().unwrap_or("*"),
        json!({ "results": page.items.len(), "by_id_number": searched_person }),
    )
    .await
    .map_err(tag(&caller))?;
    Ok(Envelope::ok(
        &caller.request_id,
        RecordPage {
            items: page.items.into_iter().map(RecordView::from).collect(),
            total: page.total,
            page: page.page,
            page_size: page.page_size,
        },
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub record: RecordView,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    #[schema(value_type = Object)]
    pub timings_ms: serde_json::Value,
    /// Expiring links to the stored images (only when the scene keeps images).
    pub images: Vec<String>,
}

/// One record with its details and expiring links to its stored images (the read is audited).
#[utoipa::path(get, path = "/v1/records/{id}", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<RecordDetail>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<RecordDetail>>, ApiError> {
    let row = state.store.record(&id).await.map_err(ApiError::from).map_err(tag(&caller))?;
    let row = row.ok_or_else(|| ApiError::not_found("record")).map_err(tag(&caller))?;
    let images = state.store.record_images(&id).await.map_err(ApiError::from).map_err(tag(&caller))?;
    let expires = now_ms() / 1000 + state.config.image_link_secs;
    let links = images
        .iter()
        .map(|i| {
            format!(
                "/v1/images/{}/{}?expires={expires}&key={}&signature={}",
                i.record_id,
                i.idx,
                caller.key_id,
                state.images.link_signature(&i.record_id, i.idx, expires, &caller.key_id)
            )
        })
        .collect();
    audit(&state, &caller, "record.read", &id, json!({ "image_links": images.len() })).await.map_err(tag(&caller))?;
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(ApiError::internal);
    let detail = parse(&row.detail).map_err(tag(&caller))?;
    let timings = parse(&row.timings).map_err(tag(&caller))?;
    Ok(Envelope::ok(
        &caller.request_id,
        RecordDetail { record: row.into(), detail, timings_ms: timings, images: links },
    ))
}

/// Deletes a record and its stored images (for erasure requests).
#[utoipa::path(delete, path = "/v1/records/{id}", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    let images = delete_record_and_images(&state, &id).await.map_err(tag(&caller))?;
    let images = images.ok_or_else(|| ApiError::not_found("record")).map_err(tag(&caller))?;
    audit(&state, &caller, "record.delete", &id, json!({ "images_deleted": images })).await.map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, json!({ "deleted": id, "images_deleted": images })))
}

/// Removes the record and queues its image objects in one transaction, then deletes the objects;
/// one that cannot be deleted now stays queued and the sweeper retries it, so no face image
/// outlives its record for long. `None` if there was no record; otherwise the images removed.
pub async fn delete_record_and_images(state: &AppState, id: &str) -> Result<Option<usize>, ApiError> {
    let Some(images) = state.store.delete_record(id).await? else { return Ok(None) };
    for image in &images {
        delete_object(state, &image.object_key).await;
    }
    Ok(Some(images.len()))
}

/// Deletes one queued object; `true` when it is gone.
async fn delete_object(state: &AppState, object_key: &str) -> bool {
    match state.images.delete(object_key).await {
        Ok(()) => match state.store.object_deleted(object_key).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "unqueueing a deleted image failed; it will be deleted again");
                false
            }
        },
        Err(e) => {
            tracing::warn!(object = object_key, error = %e, "deleting an image failed; the sweeper retries it");
            false
        }
    }
}

/// Retries queued image deletions; returns how many succeeded.
pub async fn retry_object_deletions(state: &AppState) -> usize {
    let mut done = 0;
    loop {
        let keys = match state.store.pending_object_deletions(500).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "listing queued image deletions failed");
                return done;
            }
        };
        let mut deleted = 0;
        for key in &keys {
            if delete_object(state, key).await {
                deleted += 1;
            }
        }
        done += deleted;
        if keys.len() < 500 || deleted == 0 {
            return done;
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    pub expires: i64,
    pub key: String,
    pub signature: String,
}

/// An expiring image link. The link's signature is the credential; the read is audited under
/// the key that made the link, which must still be enabled.
pub async fn image_link(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(ClientRequestId(client_request_id)): Extension<ClientRequestId>,
    Path((record_id, idx)): Path<(String, i64)>,
    extensions: axum::http::Extensions,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let Query(q) =
            query.map_err(|_| ApiError::bad_request("InvalidLink", "the link needs expires, key and signature"))?;
        if !state.images.verify_link(&record_id, idx, q.expires, &q.key, &q.signature) {
            return Err(ApiError::forbidden("InvalidLink", "the link's signature is not valid"));
        }
        if q.expires < now_ms() / 1000 {
            return Err(ApiError::new(
                StatusCode::GONE,
                "LinkExpired",
                "the link has expired; read the record again for a new one",
            ));
        }
        let key = state.store.access_key_with_secret(&q.key).await?;
        if key.is_none_or(|(k, _)| k.status != "enabled") {
            return Err(ApiError::forbidden("InvalidLink", "the key that made this link is disabled or deleted"));
        }
        let images = state.store.record_images(&record_id).await?;
        let image = images.into_iter().find(|i| i.idx == idx).ok_or_else(|| ApiError::not_found("image"))?;
        let bytes = state.images.get(&record_id, idx, &image.object_key).await?;
        let source = source_of(&extensions).map(|s| s.to_string());
        let event = AuditEvent {
            actor: &q.key,
            action: "image.read",
            target: &format!("{record_id}/{idx}"),
            detail: r#"{"via":"link"}"#,
            request_id: &request_id,
            client_request_id: client_request_id.as_deref(),
            source: source.as_deref(),
        };
        state.store.audit(&event).await?;
        Response::builder()
            .header(header::CONTENT_TYPE, image.content_type)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from(bytes))
            .map_err(ApiError::internal)
    }
    .await;
    result.unwrap_or_else(|e| e.with_request_id(&request_id).into_response())
}

// ---------------------------------------------------------------- statistics

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    pub scene_id: Option<String>,
    /// `7d` (default), `30d` or `custom` with `from` and `to` (`YYYY-MM-DD`, at most 180 days).
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    pub scene_id: String,
    pub day: String,
    pub submissions: i64,
    pub passes: i64,
    pub failures: i64,
    /// passes / submissions, 0 when there were none.
    pub pass_rate: f64,
    pub comparisons: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    pub from: String,
    pub to: String,
    pub days: Vec<DayStats>,
    pub totals: DayStats,
}

fn day_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn sum_days(rows: &[DailyStats], scene: &str, day: &str) -> DayStats {
    let mut s = DayStats {
        scene_id: scene.into(),
        day: day.into(),
        submissions: 0,
        passes: 0,
        failures: 0,
        pass_rate: 0.0,
        comparisons: 0,
    };
    for r in rows {
        s.submissions += r.submissions;
        s.passes += r.passes;
        s.failures += r.failures;
        s.comparisons += r.comparisons;
    }
    if s.submissions > 0 {
        s.pass_rate = s.passes as f64 / s.submissions as f64;
    }
    s
}

/// Submissions, passes, failures, pass rate and comparisons per scene and day.
#[utoipa::path(get, path = "/v1/statistics", tag = "records", params(StatsQuery),
    responses((status = 200, body = Envelope<Statistics>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn statistics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Envelope<Statistics>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("InvalidParameter", e.body_text())).map_err(tag(&caller))?;
    let today = now_ms().div_euclid(86_400_000);
    let bad =
        |m: &str| ApiError::bad_request("InvalidParameter.Range", m.to_string()).with_request_id(&caller.request_id);
    let (from, to) = match q.range.as_deref().unwrap_or("7d") {
        "7d" => (today - 6, today),
        "30d" => (today - 29, today),
        "custom" => {
            let from =
                q.from.as_deref().and_then(parse_day).ok_or_else(|| bad("custom range needs from=YYYY-MM-DD"))?;
            let to = q.to.as_deref().and_then(parse_day).ok_or_else(|| bad("custom range needs to=YYYY-MM-DD"))?;
            if to < from {
                return Err(bad("to is before from"));
            }
            if to - from + 1 > 180 {
                return Err(bad("a custom range covers at most 180 days"));
            }
            (from, to)
        }
        other => return Err(bad(&format!("range {}: use 7d, 30d or custom", crate::error::echo(other)))),
    };
    let rows = state
        .store
        .statistics(q.scene_id.as_deref(), &day_string(from), &day_string(to))
        .await
        .map_err(ApiError::from)
        .map_err(tag(&caller))?;
    // One entry per scene and day with any activity, products summed.
    let mut keys: Vec<(String, String)> = rows.iter().map(|r| (r.scene_id.clone(), r.day.clone())).collect();
    keys.dedup();
    let days = keys
        .iter()
        .map(|(scene, day)| {
            let matching: Vec<DailyStats> =
                rows.iter().filter(|r| &r.scene_id == scene && &r.day == day).cloned().collect();
            sum_days(&matching, scene, day)
        })
        .collect();
    let totals = sum_days(&rows, q.scene_id.as_deref().unwrap_or("*"), "*");
    Ok(Envelope::ok(&caller.request_id, Statistics { from: day_string(from), to: day_string(to), days, totals }))
}

// ---------------------------------------------------------------- audit

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// The audit log: administrative actions and reads of records and images.
#[utoipa::path(get, path = "/v1/audit", tag = "records", params(AuditQuery), responses((status = 200, body = Envelope<serde_json::Value>)))]
pub async fn audit_log(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Envelope<serde_json::Value>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("InvalidParameter", e.body_text())).map_err(tag(&caller))?;
    let from = parse_time("from", &q.from, false).map_err(tag(&caller))?.unwrap_or(0);
    let to = parse_time("to", &q.to, true).map_err(tag(&caller))?.unwrap_or(i64::MAX);
    let paging = paging(q.page, q.page_size, 50, 200).map_err(tag(&caller))?;
    let page = state.store.list_audit(from, to, paging).await.map_err(ApiError::from).map_err(tag(&caller))?;
    Ok(Envelope::ok(&caller.request_id, serde_json::to_value(page).map_err(ApiError::internal).map_err(tag(&caller))?))
}

/// Liveness and readiness.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(
            json!({ "status": "ready", "inference_queue_depth": state.pool.depth(), "workers": state.pool.workers() }),
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))).into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.queue_depth.set(state.pool.depth() as i64);
    state.metrics.decode_memory.set(i64::try_from(state.pool.memory_in_use()).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_parse_strictly() {
        assert!(super::parse_day("2026-02-28").is_some());
        assert!(super::parse_day("2026-02-29").is_none());
        assert!(super::parse_day("2026-13-01").is_none());
        assert!(super::parse_day("yesterday").is_none());
    }
}
