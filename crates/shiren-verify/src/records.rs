//! Records (认证记录): listing with personal data masked, one record's detail with expiring links
//! to its images, deletion (the record at once, its images through a durable queue), reading an
//! image through a link, and the retention sweep. Every read of a record or image is audited.

use serde::{Deserialize, Serialize};
use shiren_calendar::{Date, MS_PER_DAY};
use shiren_store::{Paging, RecordFilter, RecordRow};

use crate::authority::id_hash;
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, echo};
use crate::scenes::Product;
use crate::services::Services;

/// Query parameters for records. Times are Unix milliseconds or `YYYY-MM-DD` (UTC).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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
    /// At most 100 (default 20).
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
    /// Masked: `张*`.
    pub name: Option<String>,
    /// Masked: `1****************X`.
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub record: RecordView,
    /// The product's findings as recorded (see `Verification.detail`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    #[schema(value_type = Object)]
    pub timings_ms: serde_json::Value,
    /// Expiring links to the stored images (only when the scene keeps images).
    pub images: Vec<String>,
}

/// What a deletion removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: String,
    /// Images removed with the record (any that storage refused are retried by the sweep).
    pub images_deleted: usize,
}

/// The page a listing asks for; refused when below 1 or so far that its offset overflows.
pub(crate) fn paging(
    page: Option<i64>,
    page_size: Option<i64>,
    default_size: i64,
    max_size: i64,
) -> Result<Paging, Error> {
    Paging::new(page.unwrap_or(1), page_size.unwrap_or(default_size), max_size)
        .ok_or_else(|| Error::new(ErrorCode::InvalidPage, "page must be 1 or more, and not so large that it overflows"))
}

/// Unix milliseconds, or `YYYY-MM-DD` (UTC) as the start of that day (or the end, for an upper
/// bound).
pub(crate) fn parse_time(field: &str, text: Option<&str>, end_of_day: bool) -> Result<Option<i64>, Error> {
    let Some(text) = text else { return Ok(None) };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    Date::parse(text)
        .map(|d| Some((d.to_unix_days() + i64::from(end_of_day)) * MS_PER_DAY))
        .map_err(|_| Error::new(ErrorCode::InvalidTime, format!("{field}: use Unix milliseconds or YYYY-MM-DD")))
}

/// Records, newest first, names and ID numbers masked.
pub async fn list(services: &Services, caller: &Caller, query: &RecordQuery) -> Result<RecordPage, Error> {
    if let Some(p) = &query.product
        && Product::parse(p).is_none()
    {
        return Err(Error::new(ErrorCode::InvalidProduct, format!("unknown product {}", echo(p))));
    }
    let filter = RecordFilter {
        scene_id: query.scene_id.clone(),
        product: query.product.clone(),
        passed: query.passed,
        sub_code: query.sub_code.clone(),
        from_ms: parse_time("from", query.from.as_deref(), false)?,
        to_ms: parse_time("to", query.to.as_deref(), true)?,
        order_no: query.order_no.clone(),
        record_id: query.verification_id.clone(),
        id_number_hash: query.id_number.as_deref().map(|n| id_hash(services.store.keys(), n)),
    };
    let page = services.store.list_records(&filter, paging(query.page, query.page_size, 20, 100)?).await?;
    let detail = serde_json::json!({ "results": page.items.len(), "by_id_number": query.id_number.is_some() });
    caller.audit(&services.store, "record.list", query.scene_id.as_deref().unwrap_or("*"), detail).await?;
    Ok(RecordPage {
        items: page.items.into_iter().map(RecordView::from).collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    })
}

/// One record with its details and links to its images, made for (and attributed to) the caller.
pub async fn get(services: &Services, caller: &Caller, id: &str) -> Result<RecordDetail, Error> {
    let row = services.store.record(id).await?.ok_or_else(|| Error::not_found("record"))?;
    let images = services.store.record_images(id).await?;
    let expires = shiren_store::now_ms() / 1000 + services.config.image_link_secs;
    let links = images
        .iter()
        .map(|i| {
            let signature = services.images.link_signature(&i.record_id, i.idx, expires, &caller.actor);
            format!("/v1/images/{}/{}?expires={expires}&key={}&signature={signature}", i.record_id, i.idx, caller.actor)
        })
        .collect();
    caller.audit(&services.store, "record.read", id, serde_json::json!({ "image_links": images.len() })).await?;
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(Error::internal);
    Ok(RecordDetail {
        detail: parse(&row.detail)?,
        timings_ms: parse(&row.timings)?,
        record: row.into(),
        images: links,
    })
}

/// Deletes a record and its images (for erasure requests).
pub async fn delete(services: &Services, caller: &Caller, id: &str) -> Result<Deleted, Error> {
    let images = delete_with_images(services, id).await?.ok_or_else(|| Error::not_found("record"))?;
    caller.audit(&services.store, "record.delete", id, serde_json::json!({ "images_deleted": images })).await?;
    Ok(Deleted { deleted: id.to_string(), images_deleted: images })
}

/// Removes the record and queues its image objects in one transaction, then deletes the objects;
/// one that cannot be deleted now stays queued and the sweeper retries it, so no face image
/// outlives its record for long. `None` if there was no record; otherwise the images removed.
pub async fn delete_with_images(services: &Services, id: &str) -> Result<Option<usize>, Error> {
    let Some(images) = services.store.delete_record(id).await? else { return Ok(None) };
    // A session's record shares its id: what the session still holds sealed (ID_PLUS's card
    // fields) goes with the record.
    crate::sessions::forget_sealed(services, id).await;
    for image in &images {
        delete_object(services, &image.object_key).await;
    }
    Ok(Some(images.len()))
}

/// Deletes one queued object; `true` when it is gone.
async fn delete_object(services: &Services, object_key: &str) -> bool {
    match services.images.delete(object_key).await {
        Ok(()) => match services.store.object_deleted(object_key).await {
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

/// An image link as it arrives (its query string).
#[derive(Debug, Deserialize)]
pub struct ImageLink {
    pub expires: i64,
    pub key: String,
    pub signature: String,
}

/// An image, read through a link. The link's signature is the credential; the key that made it
/// must still be enabled, and the read is audited under that key.
pub async fn read_image(
    services: &Services,
    reader: &Caller,
    record_id: &str,
    idx: i64,
    link: &ImageLink,
) -> Result<(String, Vec<u8>), Error> {
    if !services.images.verify_link(record_id, idx, link.expires, &link.key, &link.signature) {
        return Err(Error::new(ErrorCode::InvalidLink, "the link's signature is not valid"));
    }
    if link.expires < shiren_store::now_ms() / 1000 {
        return Err(Error::new(ErrorCode::LinkExpired, "the link has expired; read the record again for a new one"));
    }
    let key = services.store.access_key(&link.key).await?;
    if key.is_none_or(|k| k.status != "enabled") {
        return Err(Error::new(ErrorCode::InvalidLink, "the key that made this link is disabled or deleted"));
    }
    let images = services.store.record_images(record_id).await?;
    let image = images.into_iter().find(|i| i.idx == idx).ok_or_else(|| Error::not_found("image"))?;
    let bytes = services.images.get(record_id, idx, &image.object_key).await?;
    let on_behalf = Caller { actor: link.key.clone(), ..reader.clone() };
    on_behalf
        .audit(&services.store, "image.read", &format!("{record_id}/{idx}"), serde_json::json!({ "via": "link" }))
        .await?;
    Ok((image.content_type, bytes))
}

/// Products whose one kept image is the verified face: the photo of ID_MIN and LR_FR_MIN, the
/// best frame of LR_FR, ID_PRO and PV_FV. (PV_FC keeps two people's photos, ID_PLUS card
/// photos beside the frame.)
const FACE_RECORDS: [Product; 5] = [Product::IdMin, Product::LrFrMin, Product::LrFr, Product::IdPro, Product::PvFv];

/// The face photo a passed verification kept, for use as another verification's reference, as
/// Alibaba Cloud's `CertifyId` reference allows. Audited as an image read. The new verification
/// keeps its own copy under its own scene's rules (when that scene keeps images).
pub async fn passed_photo(services: &Services, caller: &Caller, id: &str) -> Result<Vec<u8>, Error> {
    let row = services.store.record(id).await?.ok_or_else(|| Error::not_found("verification"))?;
    if !FACE_RECORDS.iter().any(|p| p.code() == row.product) {
        return Err(Error::new(
            ErrorCode::InvalidOperation,
            format!(
                "verification {id} is {}: only ID_MIN, LR_FR_MIN, LR_FR, ID_PRO and PV_FV keep one face photo",
                row.product
            ),
        ));
    }
    if !row.passed {
        return Err(Error::new(
            ErrorCode::InvalidOperation,
            format!("verification {id} did not pass: only a passed verification's photo can be a reference"),
        ));
    }
    let images = services.store.record_images(id).await?;
    let Some(image) = images.into_iter().next() else {
        return Err(Error::new(
            ErrorCode::MissingImage,
            format!("verification {id} kept no photo (its scene does not store images)"),
        ));
    };
    let bytes = services.images.get(id, image.idx, &image.object_key).await?;
    let target = format!("{id}/{}", image.idx);
    caller.audit(&services.store, "image.read", &target, serde_json::json!({ "via": "reference" })).await?;
    Ok(bytes)
}

/// Expired records deleted per batch; the sweep repeats batches until none is left.
const SWEEP_BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub records: usize,
    pub objects_retried: usize,
}

/// Deletes every record past its retention, in batches, however many there are; retries image
/// deletions that failed; forgets expired signature nonces.
pub async fn sweep(services: &Services) -> SweepReport {
    let mut report = SweepReport::default();
    let now = shiren_store::now_ms();
    if let Err(e) = services.store.purge_nonces(now).await {
        tracing::warn!(error = %e, "purging nonces failed");
    }
    let retention = Caller::internal("retention");
    loop {
        let ids = match services.store.expired_records(now, SWEEP_BATCH).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "listing expired records failed");
                break;
            }
        };
        let mut deleted_in_batch = 0;
        for id in &ids {
            match delete_with_images(services, id).await {
                Ok(Some(_)) => {
                    deleted_in_batch += 1;
                    if let Err(e) = retention.audit(&services.store, "record.expire", id, serde_json::json!({})).await {
                        tracing::warn!(record = %id, error = %e, "auditing an expiry failed");
                    }
                }
                // Deleted meanwhile (another node, an erasure request).
                Ok(None) => {}
                Err(e) => tracing::warn!(record = %id, error = %e, "expiring a record failed"),
            }
        }
        report.records += deleted_in_batch;
        // A short batch was the last; a batch where nothing could be deleted would repeat forever.
        if (ids.len() as i64) < SWEEP_BATCH || deleted_in_batch == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    report.objects_retried = retry_object_deletions(services).await;
    report
}

/// Retries queued image deletions; returns how many succeeded.
pub async fn retry_object_deletions(services: &Services) -> usize {
    let mut done = 0;
    loop {
        let keys = match services.store.pending_object_deletions(shiren_store::now_ms(), 500).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "listing queued image deletions failed");
                return done;
            }
        };
        let mut deleted = 0;
        for key in &keys {
            if delete_object(services, key).await {
                deleted += 1;
            }
        }
        done += deleted;
        if keys.len() < 500 || deleted == 0 {
            return done;
        }
    }
}
