//! Verification records: the `records` table, `record_images` (references to the encrypted
//! image objects a scene chose to keep), the `object_deletions` queue that makes sure a deleted
//! record's images really go, and expiry. Writing a record also counts it in `daily_stats`, in
//! the same transaction, so that statistics never disagree with the records written; reading
//! those counters is `statistics`.

use serde::{Deserialize, Serialize};
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{AssertSqlSafe, Database, FromRow};

use crate::{Page, Paging, Result, Store, StoreError, now_ms};

/// A verification to record.
#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct RecordRow {
    pub id: String,
    pub scene_id: String,
    pub product: String,
    #[sqlx(try_from = "StoredFlag")]
    pub passed: bool,
    pub sub_code: String,
    pub score: Option<f64>,
    pub quality_score: Option<f64>,
    pub attack_score: Option<f64>,
    pub order_no: Option<String>,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    #[serde(skip)]
    pub id_number_hash: Option<String>,
    pub access_key_id: String,
    /// Stage timings as JSON.
    pub timings: String,
    /// Product-specific result as JSON.
    pub detail: String,
    pub image_count: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A yes/no column as the schema stores it: BIGINT 0 or 1, since SQLite has no boolean type and
/// both databases share one schema. sqlx's `Any` driver decodes a `bool` only from a boolean
/// value, and `bool` is not ours to give sqlx traits, so rows read `passed` through this type
/// (`#[sqlx(try_from = "StoredFlag")]`). The value is checked while decoding, not in the
/// `TryFrom` step, because sqlx 0.9 reports a failed `try_from` as "unprintable error".
struct StoredFlag(bool);

impl sqlx::Type<Any> for StoredFlag {
    fn type_info() -> AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for StoredFlag {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        match <i64 as sqlx::Decode<Any>>::decode(value)? {
            0 => Ok(StoredFlag(false)),
            1 => Ok(StoredFlag(true)),
            other => Err(Box::new(StoreError::Corrupt(format!("{other} where 0 or 1 was stored")))),
        }
    }
}

impl sqlx::Encode<'_, Any> for StoredFlag {
    fn encode_by_ref(&self, buf: &mut <Any as Database>::ArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        <i64 as sqlx::Encode<Any>>::encode(i64::from(self.0), buf)
    }
}

impl From<StoredFlag> for bool {
    fn from(StoredFlag(flag): StoredFlag) -> bool {
        flag
    }
}

/// Filters for listing records; all optional.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub scene_id: Option<String>,
    pub product: Option<String>,
    pub passed: Option<bool>,
    pub sub_code: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub order_no: Option<String>,
    pub record_id: Option<String>,
    /// Keyed hash of the ID number searched for.
    pub id_number_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct ImageRef {
    pub record_id: String,
    pub idx: i64,
    pub object_key: String,
    pub content_type: String,
    pub bytes: i64,
}

/// How long an object queued before it is written stays out of the sweeper's reach: longer than
/// any call takes between writing its images and its record (a request's whole deadline is
/// minutes at most), so the sweeper never deletes an image its record is about to reference.
pub const OBJECT_WRITE_GRACE_MS: i64 = 30 * 60 * 1000;

impl Store {
    /// Queues the objects a call is about to write for deletion, due after
    /// [`OBJECT_WRITE_GRACE_MS`]; [`Store::insert_record`] dequeues the ones its record
    /// references. A call cancelled, crashed or failed between the two leaves its images to the
    /// sweeper instead of in object storage for ever.
    pub async fn queue_object_writes(&self, record_id: &str, object_keys: &[String]) -> Result<()> {
        let due_at = now_ms() + OBJECT_WRITE_GRACE_MS;
        let mut tx = self.pool.begin().await?;
        for key in object_keys {
            queue_deletion(&mut tx, key, record_id, due_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes a record, its image references and the day's counters in one transaction, and
    /// dequeues the referenced images' provisional deletions.
    pub async fn insert_record(&self, record: &RecordRow, images: &[ImageRef], comparisons: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO records (id, scene_id, product, passed, sub_code, score, quality_score, attack_score, order_no, \
             name_masked, id_number_masked, id_number_hash, access_key_id, timings, detail, image_count, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&record.id)
        .bind(&record.scene_id)
        .bind(&record.product)
        .bind(StoredFlag(record.passed))
        .bind(&record.sub_code)
        .bind(record.score)
        .bind(record.quality_score)
        .bind(record.attack_score)
        .bind(record.order_no.as_deref())
        .bind(record.name_masked.as_deref())
        .bind(record.id_number_masked.as_deref())
        .bind(record.id_number_hash.as_deref())
        .bind(&record.access_key_id)
        .bind(&record.timings)
        .bind(&record.detail)
        .bind(record.image_count)
        .bind(record.created_at)
        .bind(record.expires_at)
        .execute(&mut *tx)
        .await?;
        for image in images {
            sqlx::query("INSERT INTO record_images (record_id, idx, object_key, content_type, bytes) VALUES ($1, $2, $3, $4, $5)")
                .bind(&image.record_id)
                .bind(image.idx)
                .bind(&image.object_key)
                .bind(&image.content_type)
                .bind(image.bytes)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM object_deletions WHERE object_key = $1 AND record_id = $2")
                .bind(&image.object_key)
                .bind(&image.record_id)
                .execute(&mut *tx)
                .await?;
        }
        let day = shiren_calendar::utc_day(record.created_at);
        sqlx::query(
            "INSERT INTO daily_stats (scene_id, day, product, submissions, passes, failures, comparisons) VALUES ($1, $2, $3, 1, $4, $5, $6) \
             ON CONFLICT (scene_id, day, product) DO UPDATE SET submissions = daily_stats.submissions + 1, \
             passes = daily_stats.passes + excluded.passes, failures = daily_stats.failures + excluded.failures, \
             comparisons = daily_stats.comparisons + excluded.comparisons",
        )
        .bind(&record.scene_id)
        .bind(&day)
        .bind(&record.product)
        .bind(i64::from(record.passed))
        .bind(i64::from(!record.passed))
        .bind(comparisons)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn record(&self, id: &str) -> Result<Option<RecordRow>> {
        Ok(sqlx::query_as("SELECT * FROM records WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    /// Records matching `filter`, newest first.
    pub async fn list_records(&self, filter: &RecordFilter, paging: Paging) -> Result<Page<RecordRow>> {
        enum Param {
            Text(String),
            Int(i64),
        }
        let mut conditions: Vec<(&str, Param)> = Vec::new();
        let texts = [
            ("scene_id =", &filter.scene_id),
            ("product =", &filter.product),
            ("sub_code =", &filter.sub_code),
            ("order_no =", &filter.order_no),
            ("id =", &filter.record_id),
            ("id_number_hash =", &filter.id_number_hash),
        ];
        for (condition, value) in texts {
            if let Some(v) = value {
                conditions.push((condition, Param::Text(v.clone())));
            }
        }
        if let Some(p) = filter.passed {
            conditions.push(("passed =", Param::Int(i64::from(p))));
        }
        if let Some(v) = filter.from_ms {
            conditions.push(("created_at >=", Param::Int(v)));
        }
        if let Some(v) = filter.to_ms {
            conditions.push(("created_at <", Param::Int(v)));
        }
        // `$n` placeholders numbered in order of appearance, as both databases accept.
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> =
                conditions.iter().enumerate().map(|(i, (c, _))| format!("{c} ${}", i + 1)).collect();
            format!(" WHERE {}", parts.join(" AND "))
        };
        let n = conditions.len();
        let count_sql = format!("SELECT COUNT(*) FROM records{where_sql}");
        let list_sql = format!(
            "SELECT * FROM records{where_sql} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let Paging { page, page_size } = paging;
        let offset = paging.checked_offset()?;
        // Safe to run as dynamic SQL: built only from the constant column conditions above and
        // numbered placeholders; every value is bound.
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        let mut list = sqlx::query_as::<_, RecordRow>(AssertSqlSafe(list_sql));
        for (_, param) in &conditions {
            (count, list) = match param {
                Param::Text(t) => (count.bind(t.clone()), list.bind(t.clone())),
                Param::Int(v) => (count.bind(*v), list.bind(*v)),
            };
        }
        let total = count.fetch_one(&self.pool).await?;
        let items = list.bind(page_size).bind(offset).fetch_all(&self.pool).await?;
        Ok(Page { items, total, page, page_size })
    }

    pub async fn record_images(&self, record_id: &str) -> Result<Vec<ImageRef>> {
        Ok(sqlx::query_as("SELECT * FROM record_images WHERE record_id = $1 ORDER BY idx")
            .bind(record_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes a record and its image references, queueing the image objects for deletion in the
    /// same transaction; returns the queued objects, which the caller deletes and then confirms
    /// with [`Store::object_deleted`]. `None` when there was no such record.
    pub async fn delete_record(&self, id: &str) -> Result<Option<Vec<ImageRef>>> {
        let mut tx = self.pool.begin().await?;
        let images: Vec<ImageRef> = sqlx::query_as("SELECT * FROM record_images WHERE record_id = $1 ORDER BY idx")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let now = now_ms();
        for image in &images {
            queue_deletion(&mut tx, &image.object_key, id, now).await?;
        }
        sqlx::query("DELETE FROM record_images WHERE record_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM records WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((done.rows_affected() > 0).then_some(images))
    }

    /// Object storage confirmed that a queued object is gone.
    pub async fn object_deleted(&self, object_key: &str) -> Result<()> {
        sqlx::query("DELETE FROM object_deletions WHERE object_key = $1").bind(object_key).execute(&self.pool).await?;
        Ok(())
    }

    /// Queued object deletions due by `now`, oldest first.
    pub async fn pending_object_deletions(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT object_key FROM object_deletions WHERE due_at <= $1 ORDER BY due_at, object_key LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Ids of records whose retention has ended.
    pub async fn expired_records(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM records WHERE expires_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Queues one object for deletion from `due_at`; an object already queued keeps its entry.
async fn queue_deletion(
    tx: &mut sqlx::Transaction<'_, Any>,
    object_key: &str,
    record_id: &str,
    due_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO object_deletions (object_key, record_id, due_at) VALUES ($1, $2, $3) \
         ON CONFLICT (object_key) DO NOTHING",
    )
    .bind(object_key)
    .bind(record_id)
    .bind(due_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
