//! Shiren's persistence: one sqlx `Any` layer over embedded SQLite (the default) or
//! PostgreSQL (`DATABASE_URL`), with the same SQL and migrations for both; encryption at rest
//! (`crypto`); and encrypted image objects on a local directory or S3-compatible storage
//! (`images`). Everything personal is stored masked, hashed with a secret key, or encrypted.

pub mod crypto;
pub mod images;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};
use thiserror::Error;

pub use crypto::{Keyring, Purpose};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object storage: {0}")]
    Objects(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("decryption failed (wrong master key or tampered data)")]
    Crypto,
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { path: path.display().to_string(), source }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A random identifier: a prefix, the time in milliseconds (so ids sort by creation), and 64
/// random bits.
pub fn new_id(prefix: &str) -> String {
    let mut random = [0u8; 8];
    // Without randomness ids could collide; the time part still orders them.
    let _ = getrandom::fill(&mut random);
    format!("{prefix}{:012x}{}", now_ms(), hex::encode(random))
}

/// Random printable secret of `len` characters (alphanumerics).
pub fn random_token(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| StoreError::Config(format!("no randomness: {e}")))?;
        // Rejection sampling keeps every character equally likely.
        for &b in &buf {
            if (b as usize) < 248 && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Everything: verifications and changes.
    Full,
    /// Records, statistics and queries only.
    Readonly,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Full => "full",
            Policy::Readonly => "readonly",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Policy::Full),
            "readonly" => Some(Policy::Readonly),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub policy: Policy,
    /// `enabled` or `disabled`.
    pub status: String,
    pub description: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneRow {
    pub id: String,
    pub name: String,
    /// The scene's settings as JSON; the service owns their shape.
    pub config: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A verification to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordRow {
    pub id: String,
    pub scene_id: String,
    pub product: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRef {
    pub record_id: String,
    pub idx: i64,
    pub object_key: String,
    pub content_type: String,
    pub bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DailyStats {
    pub scene_id: String,
    pub day: String,
    pub product: String,
    pub submissions: i64,
    pub passes: i64,
    pub failures: i64,
    pub comparisons: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// The server's id of the request that did it.
    pub request_id: String,
    /// The caller's own `x-request-id`, if it sent one (unsigned: for correlation only).
    pub client_request_id: Option<String>,
    /// The peer address the request came from.
    pub source: Option<String>,
}

/// Something to write to the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    /// The access key, `cli:USER`, `retention`, or `anonymous` for a failed authentication.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    /// JSON.
    pub detail: &'a str,
    pub request_id: &'a str,
    pub client_request_id: Option<&'a str>,
    pub source: Option<&'a str>,
}

/// A page of a listing: `page` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub page_size: i64,
}

impl Paging {
    /// `None` when the page is below 1 or so far that its offset does not fit in 64 bits; the
    /// size is clamped to `1..=max_size`.
    pub fn new(page: i64, page_size: i64, max_size: i64) -> Option<Self> {
        let page_size = page_size.clamp(1, max_size.max(1));
        let paging = Self { page, page_size };
        (page >= 1 && paging.offset().is_some()).then_some(paging)
    }

    pub fn offset(&self) -> Option<i64> {
        (self.page - 1).checked_mul(self.page_size)
    }
}

#[derive(Debug, Clone)]
pub struct AuthorityEntry {
    pub id_number_hash: String,
    pub name_hash: String,
    pub id_number_masked: String,
    pub name_masked: String,
    /// Encrypted face template, when a usable reference photo was imported.
    pub template_enc: Option<Vec<u8>>,
    pub created_at: i64,
}

/// The database, and the keys that protect what is in it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
    keys: Keyring,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and applies migrations.
    pub async fn connect(url: &str, keys: Keyring) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(StoreError::Config(format!("unsupported database URL scheme in {url:?}")));
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        options = match kind {
            // One writer at a time is SQLite's model; a few connections serve concurrent reads.
            DbKind::Sqlite => options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL with full sync: a verification acknowledged to the caller survives a
                    // crash or power loss; readers never block the writer.
                    sqlx::raw_sql("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            }),
            DbKind::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, kind, keys })
    }

    /// The default embedded database inside `data_dir`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("shiren.db").display())
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- access keys ----

    /// Creates a key; the secret is returned once and stored only encrypted.
    pub async fn create_access_key(&self, policy: Policy, description: &str) -> Result<(AccessKey, String)> {
        let id = format!("SR{}", random_token(22)?);
        let secret = random_token(32)?;
        let sealed = self.keys.seal(Purpose::Secrets, &format!("access_key:{id}"), secret.as_bytes())?;
        let key = AccessKey {
            id: id.clone(),
            policy,
            status: "enabled".into(),
            description: description.to_string(),
            created_at: now_ms(),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO access_keys (id, secret_enc, policy, status, description, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&key.id)
        .bind(sealed)
        .bind(policy.as_str())
        .bind(&key.status)
        .bind(&key.description)
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok((key, secret))
    }

    fn access_key_from_row(row: &AnyRow) -> Result<AccessKey> {
        let policy: String = row.try_get("policy")?;
        Ok(AccessKey {
            id: row.try_get("id")?,
            policy: Policy::parse(&policy).ok_or_else(|| StoreError::Corrupt(format!("policy {policy:?}")))?,
            status: row.try_get("status")?,
            description: row.try_get("description")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }

    /// The key and its decrypted secret.
    pub async fn access_key_with_secret(&self, id: &str) -> Result<Option<(AccessKey, String)>> {
        let row = sqlx::query("SELECT * FROM access_keys WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let key = Self::access_key_from_row(&row)?;
        let sealed: Vec<u8> = row.try_get("secret_enc")?;
        let secret = self.keys.open(Purpose::Secrets, &format!("access_key:{id}"), &sealed)?;
        let secret = String::from_utf8(secret).map_err(|_| StoreError::Corrupt("secret is not UTF-8".into()))?;
        Ok(Some((key, secret)))
    }

    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        let rows = sqlx::query("SELECT * FROM access_keys ORDER BY created_at, id").fetch_all(&self.pool).await?;
        rows.iter().map(Self::access_key_from_row).collect()
    }

    pub async fn set_access_key_status(&self, id: &str, enabled: bool) -> Result<bool> {
        let status = if enabled { "enabled" } else { "disabled" };
        let done = sqlx::query("UPDATE access_keys SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM access_keys WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn touch_access_key(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE access_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- replay protection ----

    /// Records a request nonce; `false` when this key already used it (a replay).
    pub async fn remember_nonce(&self, key_id: &str, nonce: &str, expires_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key_id, nonce) DO NOTHING",
        )
        .bind(key_id)
        .bind(nonce)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn purge_nonces(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM request_nonces WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    // ---- scenes ----

    fn scene_from_row(row: &AnyRow) -> Result<SceneRow> {
        Ok(SceneRow {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            config: row.try_get("config")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    pub async fn create_scene(&self, name: &str, config: &str) -> Result<SceneRow> {
        let now = now_ms();
        let scene = SceneRow {
            id: new_id("sc"),
            name: name.to_string(),
            config: config.to_string(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query("INSERT INTO scenes (id, name, config, created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(&scene.id)
            .bind(&scene.name)
            .bind(&scene.config)
            .bind(scene.created_at)
            .bind(scene.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(scene)
    }

    pub async fn scene(&self, id: &str) -> Result<Option<SceneRow>> {
        let row = sqlx::query("SELECT * FROM scenes WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::scene_from_row).transpose()
    }

    pub async fn list_scenes(&self) -> Result<Vec<SceneRow>> {
        let rows = sqlx::query("SELECT * FROM scenes WHERE deleted_at IS NULL ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::scene_from_row).collect()
    }

    pub async fn update_scene(&self, id: &str, name: &str, config: &str) -> Result<Option<SceneRow>> {
        let done = sqlx::query(
            "UPDATE scenes SET name = $1, config = $2, updated_at = $3 WHERE id = $4 AND deleted_at IS NULL",
        )
        .bind(name)
        .bind(config)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.scene(id).await
    }

    /// Marks a scene deleted; its records and statistics stay until their retention ends.
    pub async fn delete_scene(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE scenes SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- records ----

    /// Writes a record, its image references and the day's counters in one transaction.
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
        .bind(i64::from(record.passed))
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
        }
        let day = utc_day(record.created_at);
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

    fn record_from_row(row: &AnyRow) -> Result<RecordRow> {
        let passed: i64 = row.try_get("passed")?;
        Ok(RecordRow {
            id: row.try_get("id")?,
            scene_id: row.try_get("scene_id")?,
            product: row.try_get("product")?,
            passed: passed != 0,
            sub_code: row.try_get("sub_code")?,
            score: row.try_get("score")?,
            quality_score: row.try_get("quality_score")?,
            attack_score: row.try_get("attack_score")?,
            order_no: row.try_get("order_no")?,
            name_masked: row.try_get("name_masked")?,
            id_number_masked: row.try_get("id_number_masked")?,
            id_number_hash: row.try_get("id_number_hash")?,
            access_key_id: row.try_get("access_key_id")?,
            timings: row.try_get("timings")?,
            detail: row.try_get("detail")?,
            image_count: row.try_get("image_count")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    pub async fn record(&self, id: &str) -> Result<Option<RecordRow>> {
        let row = sqlx::query("SELECT * FROM records WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::record_from_row).transpose()
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
        let count_sql = format!("SELECT COUNT(*) AS n FROM records{where_sql}");
        let list_sql = format!(
            "SELECT * FROM records{where_sql} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let Paging { page, page_size } = paging;
        let offset = paging.offset().ok_or_else(|| StoreError::Config("page out of range".into()))?;
        // Safe to run as dynamic SQL: built only from the constant column conditions above and
        // numbered placeholders; every value is bound.
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        let mut list = sqlx::query(AssertSqlSafe(list_sql));
        for (_, param) in &conditions {
            (count, list) = match param {
                Param::Text(t) => (count.bind(t.clone()), list.bind(t.clone())),
                Param::Int(v) => (count.bind(*v), list.bind(*v)),
            };
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let rows = list.bind(page_size).bind(offset).fetch_all(&self.pool).await?;
        let items = rows.iter().map(Self::record_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total, page, page_size })
    }

    pub async fn record_images(&self, record_id: &str) -> Result<Vec<ImageRef>> {
        let rows = sqlx::query("SELECT * FROM record_images WHERE record_id = $1 ORDER BY idx")
            .bind(record_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(image_from_row).collect()
    }

    /// Deletes a record and its image references, queueing the image objects for deletion in the
    /// same transaction; returns the queued objects, which the caller deletes and then confirms
    /// with [`Store::object_deleted`]. `None` when there was no such record.
    pub async fn delete_record(&self, id: &str) -> Result<Option<Vec<ImageRef>>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT * FROM record_images WHERE record_id = $1 ORDER BY idx")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let images = rows.iter().map(image_from_row).collect::<Result<Vec<_>>>()?;
        let now = now_ms();
        for image in &images {
            sqlx::query(
                "INSERT INTO object_deletions (object_key, record_id, queued_at, attempts) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(&image.object_key)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
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

    /// Queued object deletions, oldest first, each counted as one more attempt.
    pub async fn pending_object_deletions(&self, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT object_key FROM object_deletions ORDER BY queued_at, object_key LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let keys =
            rows.iter().map(|r| r.try_get::<String, _>("object_key")).collect::<std::result::Result<Vec<_>, _>>()?;
        for key in &keys {
            sqlx::query("UPDATE object_deletions SET attempts = attempts + 1 WHERE object_key = $1")
                .bind(key)
                .execute(&self.pool)
                .await?;
        }
        Ok(keys)
    }

    /// Ids of records whose retention has ended.
    pub async fn expired_records(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM records WHERE expires_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get::<String, _>("id").map_err(StoreError::from)).collect()
    }

    // ---- statistics ----

    /// Daily counters for days `from..=to` (`YYYY-MM-DD`), all products summed per scene and day.
    pub async fn statistics(&self, scene_id: Option<&str>, from_day: &str, to_day: &str) -> Result<Vec<DailyStats>> {
        let (sql, scene) = match scene_id {
            Some(s) => (
                "SELECT scene_id, day, product, submissions, passes, failures, comparisons FROM daily_stats \
                 WHERE day >= $1 AND day <= $2 AND scene_id = $3 ORDER BY scene_id, day, product",
                Some(s),
            ),
            None => (
                "SELECT scene_id, day, product, submissions, passes, failures, comparisons FROM daily_stats \
                 WHERE day >= $1 AND day <= $2 ORDER BY scene_id, day, product",
                None,
            ),
        };
        let mut q = sqlx::query(sql).bind(from_day).bind(to_day);
        if let Some(s) = scene {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(DailyStats {
                    scene_id: r.try_get("scene_id")?,
                    day: r.try_get("day")?,
                    product: r.try_get("product")?,
                    submissions: r.try_get("submissions")?,
                    passes: r.try_get("passes")?,
                    failures: r.try_get("failures")?,
                    comparisons: r.try_get("comparisons")?,
                })
            })
            .collect()
    }

    // ---- audit ----

    pub async fn audit(&self, event: &AuditEvent<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, detail, request_id, client_request_id, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id("au"))
        .bind(now_ms())
        .bind(event.actor)
        .bind(event.action)
        .bind(event.target)
        .bind(event.detail)
        .bind(event.request_id)
        .bind(event.client_request_id)
        .bind(event.source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_audit(&self, from_ms: i64, to_ms: i64, paging: Paging) -> Result<Page<AuditEntry>> {
        let Paging { page, page_size } = paging;
        let offset = paging.offset().ok_or_else(|| StoreError::Config("page out of range".into()))?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE at >= $1 AND at < $2")
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(page_size)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                    client_request_id: r.try_get("client_request_id")?,
                    source: r.try_get("source")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total, page, page_size })
    }

    // ---- authority registry (the `local` provider) ----

    pub async fn upsert_authority(&self, entry: &AuthorityEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO authority_registry (id_number_hash, name_hash, id_number_masked, name_masked, template_enc, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id_number_hash) DO UPDATE SET name_hash = excluded.name_hash, \
             id_number_masked = excluded.id_number_masked, name_masked = excluded.name_masked, \
             template_enc = excluded.template_enc, created_at = excluded.created_at",
        )
        .bind(&entry.id_number_hash)
        .bind(&entry.name_hash)
        .bind(&entry.id_number_masked)
        .bind(&entry.name_masked)
        .bind(entry.template_enc.clone())
        .bind(entry.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn authority(&self, id_number_hash: &str) -> Result<Option<AuthorityEntry>> {
        let row = sqlx::query("SELECT * FROM authority_registry WHERE id_number_hash = $1")
            .bind(id_number_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(AuthorityEntry {
                id_number_hash: r.try_get("id_number_hash")?,
                name_hash: r.try_get("name_hash")?,
                id_number_masked: r.try_get("id_number_masked")?,
                name_masked: r.try_get("name_masked")?,
                template_enc: r.try_get("template_enc")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }
}

fn image_from_row(row: &AnyRow) -> Result<ImageRef> {
    Ok(ImageRef {
        record_id: row.try_get("record_id")?,
        idx: row.try_get("idx")?,
        object_key: row.try_get("object_key")?,
        content_type: row.try_get("content_type")?,
        bytes: row.try_get("bytes")?,
    })
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds.
pub fn utc_day(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's method).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
