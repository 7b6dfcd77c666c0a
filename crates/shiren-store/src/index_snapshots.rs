//! Encrypted snapshots of the 1:N search indexes, kept in the object storage beside the images so
//! that a starting node loads a gallery's index instead of reading and decoding every face from
//! the database, and any node can write or read them.
//!
//! A snapshot is a cache, never the truth: it records the change-log number it is complete up
//! to, and a node that loads it replays the log from there. The index holds face templates, so it
//! is sealed like them (AES-256-GCM, templates key), in chunks so that neither writing nor
//! reading needs a second copy of an index of gigabytes, each chunk bound to its gallery and its
//! place; a header chunk gives the number and the length, so a truncated, reordered or
//! substituted object fails to open instead of loading part of an index.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::crypto::{Purpose, SEAL_OVERHEAD};
use crate::images::{ImageStore, objects_err};
use crate::{Result, StoreError};

/// Plaintext bytes per sealed chunk: 16 MiB, above S3's 5 MiB minimum part size.
const CHUNK: usize = 16 << 20;
/// Version 2: the screened index's bytes (version 1 held HNSW graphs; a node meeting one
/// rebuilds from the database and overwrites it).
const MAGIC: &[u8; 8] = b"SHRNIDX2";
/// Magic, change number, index length.
const HEADER_LEN: usize = 8 + 8 + 8;
const PREFIX: &str = "index-snapshots";

/// A gallery's index as of a change-log number.
#[derive(Debug)]
pub struct IndexSnapshot {
    /// Every change up to this number is in the index (later ones may be too: replaying them is
    /// idempotent).
    pub seq: i64,
    /// The index's bytes (`GalleryIndex::snapshot` of shiren-index).
    pub bytes: Vec<u8>,
}

fn object_key(gallery_id: &str) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{gallery_id}.bin"))
}

fn header_context(gallery_id: &str) -> String {
    format!("index-snapshot:{gallery_id}:header")
}

fn chunk_context(gallery_id: &str, index: usize) -> String {
    format!("index-snapshot:{gallery_id}:{index}")
}

impl ImageStore {
    /// Writes (or replaces) the snapshot of a gallery. The object appears whole or not at all
    /// (a multipart upload completes atomically on every backend object_store supports).
    pub async fn put_index_snapshot(&self, gallery_id: &str, seq: i64, bytes: &[u8]) -> Result<()> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&seq.to_le_bytes());
        header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        let mut upload = self.objects.put_multipart(&object_key(gallery_id)).await.map_err(objects_err)?;
        let mut parts = vec![self.keys.seal(Purpose::Templates, &header_context(gallery_id), &header)?];
        // The header joins the first chunk's part: a part must be large except the last.
        let mut written = Ok(());
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            parts.push(self.keys.seal(Purpose::Templates, &chunk_context(gallery_id, index), chunk)?);
            let part: Vec<u8> = std::mem::take(&mut parts).concat();
            if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                written = Err(e);
                break;
            }
        }
        if written.is_ok() && !parts.is_empty() {
            written = upload.put_part(PutPayload::from(parts.concat())).await;
        }
        match written {
            Ok(()) => upload.complete().await.map(|_| ()).map_err(objects_err),
            Err(e) => {
                let _ = upload.abort().await;
                Err(objects_err(e))
            }
        }
    }

    /// The snapshot of a gallery, or `None` when there is none. A snapshot that fails to open
    /// (another master key, damage, tampering) is an error: the caller rebuilds from the database.
    pub async fn get_index_snapshot(&self, gallery_id: &str) -> Result<Option<IndexSnapshot>> {
        let sealed = match self.objects.get(&object_key(gallery_id)).await {
            Ok(got) => got.bytes().await.map_err(objects_err)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(objects_err(e)),
        };
        let header_sealed = HEADER_LEN + SEAL_OVERHEAD;
        let header = sealed.get(..header_sealed).ok_or_else(|| corrupt(gallery_id, "shorter than its header"))?;
        let header = self.keys.open(Purpose::Templates, &header_context(gallery_id), header)?;
        let field = |range: std::ops::Range<usize>| -> Result<[u8; 8]> {
            header.get(range).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt(gallery_id, "short header"))
        };
        if header.get(..8) != Some(MAGIC.as_slice()) {
            return Err(corrupt(gallery_id, "unknown format"));
        }
        let seq = i64::from_le_bytes(field(8..16)?);
        let length = usize::try_from(u64::from_le_bytes(field(16..24)?))
            .map_err(|_| corrupt(gallery_id, "index too large for this machine"))?;
        let chunks = length.div_ceil(CHUNK);
        if sealed.len() != header_sealed + length + chunks * SEAL_OVERHEAD {
            return Err(corrupt(gallery_id, "length does not match its header"));
        }
        let mut bytes = Vec::with_capacity(length);
        let mut body = &sealed[header_sealed..];
        for index in 0..chunks {
            let plain = CHUNK.min(length - index * CHUNK);
            let (part, rest) = body.split_at(plain + SEAL_OVERHEAD);
            bytes.extend_from_slice(&self.keys.open(Purpose::Templates, &chunk_context(gallery_id, index), part)?);
            body = rest;
        }
        Ok(Some(IndexSnapshot { seq, bytes }))
    }

    /// Removes a gallery's snapshot (the gallery was deleted); one already gone is not an error.
    pub async fn delete_index_snapshot(&self, gallery_id: &str) -> Result<()> {
        match self.objects.delete(&object_key(gallery_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(objects_err(e)),
        }
    }

    /// The galleries that have a snapshot stored.
    pub async fn index_snapshot_galleries(&self) -> Result<Vec<String>> {
        use futures_util::TryStreamExt;
        let prefix = ObjectPath::from(PREFIX);
        let listed: Vec<object_store::ObjectMeta> =
            self.objects.list(Some(&prefix)).try_collect().await.map_err(objects_err)?;
        Ok(listed
            .iter()
            .filter_map(|meta| meta.location.filename()?.strip_suffix(".bin").map(str::to_string))
            .collect())
    }
}

fn corrupt(gallery_id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("index snapshot of gallery {gallery_id}: {what}"))
}
