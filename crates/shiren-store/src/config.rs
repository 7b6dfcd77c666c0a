//! Where the store's data lives: [`StoreConfig`] names the data directory, the database, the
//! master key and the object storage, each defaulting to a place inside the data directory, and
//! [`prepare_data_dir`] makes that directory private before anything is written into it. The
//! service and the command line both open the store through this, so they cannot disagree about
//! where records, keys and images are.

use std::path::{Path, PathBuf};

use crate::images::ObjectLocation;
use crate::{Keyring, Result, Store, StoreError};

/// What to open. Only `data_dir` is required; everything else defaults to a file or directory
/// inside it.
#[derive(Clone)]
pub struct StoreConfig {
    /// Where the embedded database, the master key file and stored images live by default.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: `shiren.db` in the data directory.
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes; default: `master.key` in the data directory, created once.
    pub master_key: Option<String>,
    /// Where stored images go: a directory or `s3://BUCKET`; default: `images/` in the data
    /// directory.
    pub object_store: Option<String>,
}

/// Names the master key's presence, never its value.
impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url)
            .field("master_key", &self.master_key.as_ref().map(|_| "(set)"))
            .field("object_store", &self.object_store)
            .finish()
    }
}

impl StoreConfig {
    /// Everything in `data_dir`, at the default places.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self { data_dir: data_dir.into(), database_url: None, master_key: None, object_store: None }
    }

    /// The configured database, or the embedded SQLite database `shiren.db` in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| Store::sqlite_url(&self.data_dir))
    }

    /// The configured object storage, or the directory `images/` in the data directory.
    pub fn object_location(&self) -> ObjectLocation {
        match &self.object_store {
            Some(text) => ObjectLocation::parse(text),
            None => ObjectLocation::Directory(self.data_dir.join("images")),
        }
    }

    /// The master key from the configuration, or from `master.key` in the data directory (created
    /// with a fresh random key the first time).
    pub fn keyring(&self) -> Result<Keyring> {
        match &self.master_key {
            Some(base64) => Keyring::from_base64(base64),
            None => Keyring::load_or_create(&self.data_dir.join("master.key")),
        }
    }
}

/// Creates the data directory readable by its owner only, and makes everything the process
/// creates from now on (database, WAL, master key, image files) owner-only too, by setting the
/// process umask to 077: records, the audit log and face images are nobody else's business on a
/// shared machine. An existing directory open to others is reported, not changed, since the
/// operator may have reasons; the report goes to the log and to standard error, so that a
/// command-line user sees it even with logging off.
pub fn prepare_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let data_dir_error = |source| StoreError::DataDir { path: dir.display().to_string(), source };
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(data_dir_error)?;
    }
    let mode = std::fs::metadata(dir).map_err(data_dir_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is readable by other users; restrict it with chmod 700"
        );
        eprintln!(
            "shiren: warning: data directory {} has mode {:o}; other users can read records and the audit log (chmod 700 it)",
            dir.display(),
            mode & 0o777
        );
    }
    Ok(())
}
