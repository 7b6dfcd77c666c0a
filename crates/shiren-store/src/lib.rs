//! Shiren's persistence: one sqlx `Any` layer over embedded SQLite (the default) or
//! PostgreSQL (`DATABASE_URL`), with the same SQL and migrations for both; encryption at rest
//! (`crypto`); and encrypted image objects on a local directory or S3-compatible storage
//! (`images`). Everything personal is stored masked, hashed with a secret key, or encrypted.
//!
//! This file owns the [`Store`] handle (connecting, migrating, [`Store::open`] from a
//! [`StoreConfig`]), the error type, identifiers and paging. Each table's queries and row types
//! live in a module of their own, as `impl Store` blocks, so that callers keep one handle:
//! `keys` (access keys, request nonces), `scenes`, `records` (records, their images, the
//! object-deletion queue, expiry, and the daily counters they update), `statistics` (reading
//! those counters), `audit`, `authority` (the local authority registry), `sessions`
//! (interactive verification sessions, frame digests, callbacks), `galleries` (1:N face
//! galleries and the change log every node's search index follows); `config` says where
//! everything lives.

pub mod crypto;
pub mod images;
pub mod index_snapshots;

mod audit;
mod authority;
mod config;
mod galleries;
mod keys;
mod records;
mod scenes;
mod sessions;
mod statistics;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use thiserror::Error;

pub use audit::{AuditEntry, AuditEvent};
pub use authority::AuthorityEntry;
pub use config::{StoreConfig, prepare_data_dir};
pub use crypto::{Keyring, Purpose};
pub use galleries::{
    ChangeOp, FaceAdded, FaceOwner, FaceRow, GalleryChange, GalleryRow, GalleryStats, NewFace, PersonRow,
    StoredTemplate,
};
pub use keys::{AccessKey, Policy};
pub use records::{ImageRef, OBJECT_WRITE_GRACE_MS, RecordFilter, RecordRow};
pub use scenes::SceneRow;
pub use sessions::{CallbackRow, SessionRow};
pub use statistics::DailyStats;

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
    #[error("data directory {path}: {source}")]
    DataDir {
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

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
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

    /// The offset, or an error for a page that [`Paging::new`] would have refused.
    pub(crate) fn checked_offset(&self) -> Result<i64> {
        self.offset().ok_or_else(|| StoreError::Config("page out of range".into()))
    }
}

/// The database, and the keys that protect what is in it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
    keys: Keyring,
}

impl Store {
    /// Opens everything a configuration names: prepares the data directory (owner-only, see
    /// [`prepare_data_dir`]), loads the master key (or creates `master.key` there once), and
    /// connects to the database and migrates it. Images are opened separately, with
    /// [`images::ImageStore::open_config`] and this store's [`Store::keys`], because only the
    /// service stores them.
    pub async fn open(config: &StoreConfig) -> Result<Self> {
        prepare_data_dir(&config.data_dir)?;
        let keys = config.keyring()?;
        Self::connect(&config.database_url(), keys).await
    }

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
}

#[cfg(test)]
mod tests;
