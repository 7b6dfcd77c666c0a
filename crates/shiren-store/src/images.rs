//! Face images a scene chose to keep: encrypted (AES-256-GCM, bound to the record and index)
//! before they reach object storage, a local directory by default or an S3-compatible bucket,
//! and read back through links that expire.

use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::crypto::{Keyring, Purpose};
use crate::{Result, StoreConfig, StoreError};

/// Where image objects go.
#[derive(Debug, Clone)]
pub enum ObjectLocation {
    /// A directory on this machine.
    Directory(std::path::PathBuf),
    /// An S3-compatible bucket; endpoint, region and credentials come from the standard AWS
    /// environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...).
    S3 { bucket: String },
}

impl ObjectLocation {
    /// `s3://BUCKET` or a directory path.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("s3://") {
            Some(bucket) => ObjectLocation::S3 { bucket: bucket.trim_end_matches('/').to_string() },
            None => ObjectLocation::Directory(text.into()),
        }
    }
}

#[derive(Clone)]
pub struct ImageStore {
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) keys: Keyring,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageStore({})", self.objects)
    }
}

pub(crate) fn objects_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Objects(e.to_string())
}

impl ImageStore {
    pub fn open(location: &ObjectLocation, keys: Keyring) -> Result<Self> {
        let objects: Arc<dyn ObjectStore> = match location {
            ObjectLocation::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(objects_err)?)
            }
            ObjectLocation::S3 { bucket } => Arc::new(
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(objects_err)?,
            ),
        };
        Ok(Self { objects, keys })
    }

    /// The object storage a store configuration names (`images/` in its data directory by
    /// default), encrypting with `keys`, normally the store's own ([`crate::Store::keys`]).
    pub fn open_config(config: &StoreConfig, keys: Keyring) -> Result<Self> {
        Self::open(&config.object_location(), keys)
    }

    pub fn local(dir: &Path, keys: Keyring) -> Result<Self> {
        Self::open(&ObjectLocation::Directory(dir.to_path_buf()), keys)
    }

    fn context(record_id: &str, idx: i64) -> String {
        format!("image:{record_id}:{idx}")
    }

    /// Where one image of a record is stored; known before it is, so that the object can be
    /// queued for deletion before it is written ([`crate::Store::queue_object_writes`]).
    pub fn object_key(record_id: &str, idx: i64) -> String {
        format!("records/{record_id}/{idx}.bin")
    }

    /// Stores one image of a record; returns its object key.
    pub async fn put(&self, record_id: &str, idx: i64, bytes: &[u8]) -> Result<String> {
        let key = Self::object_key(record_id, idx);
        let sealed = self.keys.seal(Purpose::Images, &Self::context(record_id, idx), bytes)?;
        self.objects.put(&ObjectPath::from(key.as_str()), sealed.into()).await.map_err(objects_err)?;
        Ok(key)
    }

    pub async fn get(&self, record_id: &str, idx: i64, object_key: &str) -> Result<Vec<u8>> {
        let got = self.objects.get(&ObjectPath::from(object_key)).await.map_err(objects_err)?;
        let sealed = got.bytes().await.map_err(objects_err)?;
        self.keys.open(Purpose::Images, &Self::context(record_id, idx), &sealed)
    }

    /// Removes an object; one already gone is not an error.
    pub async fn delete(&self, object_key: &str) -> Result<()> {
        match self.objects.delete(&ObjectPath::from(object_key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(objects_err(e)),
        }
    }

    /// Signature of an expiring link to one image, made for (and attributed to) an access key.
    pub fn link_signature(&self, record_id: &str, idx: i64, expires_at_secs: i64, key_id: &str) -> String {
        self.keys.keyed_hash(Purpose::Links, &Self::link_text(record_id, idx, expires_at_secs, key_id))
    }

    pub fn verify_link(&self, record_id: &str, idx: i64, expires_at_secs: i64, key_id: &str, signature: &str) -> bool {
        self.keys.verify_keyed_hash(
            Purpose::Links,
            &Self::link_text(record_id, idx, expires_at_secs, key_id),
            signature,
        )
    }

    fn link_text(record_id: &str, idx: i64, expires_at_secs: i64, key_id: &str) -> String {
        // A JSON array: each part is quoted and escaped, so no two different links share a text
        // whatever their ids contain.
        serde_json::json!([record_id, idx, expires_at_secs, key_id]).to_string()
    }
}
