//! One verification call: its context (scene, caller, order number, start time), the images and
//! timings it gathers, the photo work it runs in the inference pool, and the one record it
//! writes when it ends, however it ends: a verdict, or the error it failed with (as SubCode,
//! with the code alone as detail, since messages can quote what was sent).

use std::collections::BTreeMap;
use std::time::Instant;

use shiren_face::FaceError;
use shiren_idcard::{mask_id_number, mask_name};
use shiren_store::images::ImageStore;
use shiren_store::{ImageRef, RecordRow};

use crate::authority::id_hash;
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode};
use crate::images::ImageSource;
use crate::products::{Detail, FailureDetail, Verification};
use crate::scenes::{self, Product, Scene};
use crate::services::Services;

/// How a call came out, before it is recorded.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub sub_code: SubCode,
    pub score: Option<f64>,
    pub threshold: Option<f64>,
    pub quality: Option<f64>,
    pub attack: Option<f64>,
    pub detail: Detail,
    /// What the record keeps instead of `detail`, when the answer holds personal data the
    /// record must keep masked (OCR fields: the caller gets them once, in the answer).
    pub record_detail: Option<Detail>,
    /// Face comparisons made (counted in the statistics).
    pub comparisons: i64,
}

impl Verdict {
    pub fn new(sub_code: SubCode, detail: Detail) -> Self {
        Self {
            sub_code,
            score: None,
            threshold: None,
            quality: None,
            attack: None,
            detail,
            record_detail: None,
            comparisons: 0,
        }
    }
}

pub(crate) struct Call<'a> {
    pub services: &'a Services,
    caller: &'a Caller,
    pub scene: Scene,
    product: Product,
    order_no: Option<String>,
    started: Instant,
    timings: BTreeMap<String, f64>,
    /// What the scene keeps when it stores images.
    images: Vec<Vec<u8>>,
    /// The claimed name and ID number, recorded masked and hashed.
    identity: Option<(String, String)>,
    /// The record's id when the call continues something that already has one (a session).
    id: Option<String>,
}

/// A caller's order number: at most 64 printable characters.
pub(crate) fn check_order_no(order_no: Option<&str>) -> Result<(), Error> {
    if order_no.is_some_and(|o| o.chars().count() > 64 || o.chars().any(char::is_control)) {
        return Err(Error::new(ErrorCode::InvalidOrderNo, "order_no must be at most 64 printable characters"));
    }
    Ok(())
}

pub(crate) fn round2(v: f32) -> f64 {
    (f64::from(v) * 100.0).round() / 100.0
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

impl<'a> Call<'a> {
    /// Checks the caller's order number and finds the scene, which must enable the product.
    /// Nothing is recorded when this fails: there is no scene to record under.
    pub async fn begin(
        services: &'a Services,
        caller: &'a Caller,
        product: Product,
        scene_id: &str,
        order_no: Option<String>,
    ) -> Result<Call<'a>, Error> {
        let started = Instant::now();
        check_order_no(order_no.as_deref())?;
        let scene = scenes::for_product(&services.store, scene_id, product).await?;
        Ok(Call {
            services,
            caller,
            scene,
            product,
            order_no,
            started,
            timings: BTreeMap::new(),
            images: Vec::new(),
            identity: None,
            id: None,
        })
    }

    /// Ends the call: records its verdict, or the error it failed with. A call the service had
    /// no room for is not recorded: it was never looked at, and recording (and storing the
    /// images of) every refusal would turn an overload into a write storm.
    pub async fn conclude(self, outcome: Result<Verdict, Error>) -> Result<Verification, Error> {
        match outcome {
            Ok(verdict) => self.record(verdict).await,
            Err(error) if error.code == ErrorCode::ServiceBusy => Err(error),
            Err(error) => Err(self.fail(error).await),
        }
    }

    pub fn product(&self) -> Product {
        self.product
    }

    /// Records under `id` instead of a new one (a session's record shares its id).
    pub fn record_as(&mut self, id: &str) {
        self.id = Some(id.to_string());
    }

    /// Keeps an image the call made or received otherwise (a session's best frame), when the
    /// scene keeps images.
    pub fn keep_image(&mut self, bytes: Vec<u8>) {
        if self.scene.settings.store_images {
            self.images.push(bytes);
        }
    }

    pub fn claim_identity(&mut self, name: String, id_number: String) {
        self.identity = Some((name, id_number));
    }

    pub fn time(&mut self, stage: &str, since: Instant) {
        self.timings.insert(stage.into(), ms(since));
    }

    /// Loads a request's image (kept for storage as soon as it is here, when the scene keeps
    /// images).
    pub async fn image(&mut self, field: &str, source: &ImageSource) -> Result<Vec<u8>, Error> {
        let bytes = source.load(field, &self.services.config.images, &self.scene).await?;
        if self.scene.settings.store_images {
            self.images.push(bytes.clone());
        }
        Ok(bytes)
    }

    /// Runs `work` on each photo in the inference pool, after pricing their decoded memory from
    /// their headers (which also refuses oversized images before they queue); `extra_memory` is
    /// for other images the work decodes. Errors name the field of the photo they concern.
    pub async fn photo_work<T: Send + 'static, E: Send + 'static + From<FaceError> + Into<Error>>(
        &mut self,
        photos: Vec<(&'static str, Vec<u8>)>,
        extra_memory: u64,
        work: impl Fn(&Services, &[u8]) -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Vec<T>, Error> {
        let mut memory = extra_memory;
        for (field, bytes) in &photos {
            memory += self.services.engine.plan(bytes).map_err(|e| Error::from(e).about(field))?.memory_bytes;
        }
        let services = self.services.clone();
        let queued = Instant::now();
        let (results, inference) = self
            .services
            .pool
            .run(memory, move || {
                let begun = Instant::now();
                let bytes: Vec<&[u8]> = photos.iter().map(|(_, b)| b.as_slice()).collect();
                let results = services.engine.each_photo(&bytes, |b| work(&services, b));
                let results: Vec<_> = results.into_iter().zip(&photos).map(|(r, (field, _))| (*field, r)).collect();
                (results, begun.elapsed().as_secs_f64() * 1000.0)
            })
            .await?;
        self.timings.insert("queue".into(), (queued.elapsed().as_secs_f64() * 1000.0 - inference).max(0.0));
        self.timings.insert("inference".into(), inference);
        results.into_iter().map(|(field, r)| r.map_err(|e| e.into().about(field))).collect()
    }

    /// Records a call that ended in an error, and returns the error naming the record.
    async fn fail(self, error: Error) -> Error {
        let verdict = Verdict::new(SubCode::Failed(error.code), Detail::Failure(FailureDetail { error: error.code }));
        match self.record(verdict).await {
            Ok(v) => Error { message: format!("{} (verification {})", error.message, v.verification_id), ..error },
            Err(record_error) => record_error,
        }
    }

    /// Writes the record (and the images when the scene keeps them) and counts the outcome.
    async fn record(mut self, verdict: Verdict) -> Result<Verification, Error> {
        let services = self.services;
        let id = self.id.take().unwrap_or_else(|| shiren_store::new_id("v"));
        let now = shiren_store::now_ms();
        let images = self.store_images(&id).await?;
        self.timings.insert("total".into(), ms(self.started));
        let keys = services.store.keys();
        let (name, number) = match &self.identity {
            Some((n, i)) => (Some(n.as_str()), Some(i.as_str())),
            None => (None, None),
        };
        let passed = verdict.sub_code.passed();
        let row = RecordRow {
            id: id.clone(),
            scene_id: self.scene.id.clone(),
            product: self.product.code().into(),
            passed,
            sub_code: verdict.sub_code.as_str().into(),
            score: verdict.score,
            quality_score: verdict.quality,
            attack_score: verdict.attack,
            order_no: self.order_no.clone(),
            name_masked: name.map(mask_name),
            id_number_masked: number.map(mask_id_number),
            id_number_hash: number.map(|n| id_hash(keys, n)),
            access_key_id: self.caller.actor.clone(),
            timings: serde_json::to_string(&self.timings).map_err(Error::internal)?,
            detail: serde_json::to_string(verdict.record_detail.as_ref().unwrap_or(&verdict.detail))
                .map_err(Error::internal)?,
            image_count: images.len() as i64,
            created_at: now,
            expires_at: (self.scene.settings.retention_days > 0)
                .then(|| now + i64::from(self.scene.settings.retention_days) * 86_400_000),
        };
        if let Err(e) = services.store.insert_record(&row, &images, verdict.comparisons).await {
            for image in &images {
                let _ = services.images.delete(&image.object_key).await;
            }
            return Err(e.into());
        }
        services.metrics.observe(
            self.product.code(),
            if passed { "pass" } else { "fail" },
            self.started.elapsed().as_secs_f64(),
        );
        Ok(Verification {
            verification_id: id,
            product: self.product,
            scene_id: self.scene.id,
            passed,
            sub_code: verdict.sub_code,
            score: verdict.score,
            threshold: verdict.threshold,
            quality_score: verdict.quality,
            attack_score: verdict.attack,
            detail: verdict.detail,
            timings_ms: self.timings,
        })
    }

    /// Stores the call's images, without their metadata, when the scene keeps images. An image
    /// whose container cannot be rewritten is not kept at all. The objects are queued for
    /// deletion before they are written, and dequeued only by the record that references them,
    /// so that a call cut off here (a client gone, a crash) leaves nothing behind for good.
    async fn store_images(&mut self, id: &str) -> Result<Vec<ImageRef>, Error> {
        let services = self.services;
        let mut keep = Vec::new();
        for (idx, bytes) in std::mem::take(&mut self.images).into_iter().enumerate() {
            match shiren_face::metadata::strip(&bytes) {
                Ok(bytes) => keep.push((idx as i64, bytes)),
                Err(e) => {
                    tracing::warn!(record = %id, idx, error = %e, "image not stored: its metadata cannot be removed")
                }
            }
        }
        if keep.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keep.iter().map(|(idx, _)| ImageStore::object_key(id, *idx)).collect();
        services.store.queue_object_writes(id, &keys).await?;
        let mut stored: Vec<ImageRef> = Vec::new();
        for (idx, bytes) in keep {
            match services.images.put(id, idx, &bytes).await {
                Ok(key) => stored.push(ImageRef {
                    record_id: id.to_string(),
                    idx,
                    object_key: key,
                    content_type: sniff_content_type(&bytes).into(),
                    bytes: bytes.len() as i64,
                }),
                Err(e) => {
                    for image in &stored {
                        let _ = services.images.delete(&image.object_key).await;
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(stored)
    }
}

fn sniff_content_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    }
}
