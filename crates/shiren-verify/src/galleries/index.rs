//! This node's search index of every gallery, kept in step with the database.
//!
//! The faces table is the source of truth; this is a cache of it that any node can rebuild. At
//! start the node reads the log head, then each gallery's index snapshot when the object storage
//! holds one (see below) or else its faces, and builds each gallery's index; from then on it
//! applies the change log after the number it has reached, before every search (one small query
//! when nothing changed) and once a second in the background. Replaying is idempotent (face keys
//! are never reused: a face already held is not added twice, a face gone is not removed twice),
//! so a page of faces or a snapshot that overlaps the log loses and doubles nothing.
//! Search hits are looked up in the database afterwards, so a face removed anywhere is gone
//! from every node's answers at once, even before its node's index has caught up.
//!
//! Snapshots: reading and opening a million faces from the database takes about 19 s here (a
//! snapshot loads in 4), so the indexes of galleries past the flat scan are written, encrypted,
//! to the object storage with the change number they are complete up to: after a node built one
//! from the database, and then when enough changes or any removal have accumulated, at most
//! every [`SNAPSHOT_INTERVAL`]; a gallery that shrank back to the flat scan has its snapshot
//! deleted instead. Any node may write one (the last complete upload wins; each is valid at its
//! own number). A snapshot that is missing, unreadable or ahead of the database (restored from a
//! backup) is ignored and the gallery rebuilt from its faces. A deleted gallery's snapshot is
//! deleted by every node that applies the deletion, and orphans are swept at start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use shiren_index::{FaceIndex, GalleryIndex, Hit};
use shiren_store::images::ImageStore;
use shiren_store::{ChangeOp, Store};

use crate::authority::template_from_bytes;
use crate::error::Error;

/// Faces read per page at start and changes per page when catching up.
const PAGE: i64 = 20_000;

/// Dimension of the face templates (ArcFace).
pub const TEMPLATE_DIM: usize = 512;

/// A gallery's snapshot is rewritten at most this often (each write serialises and encrypts the
/// whole index: seconds at a million faces).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(600);

/// Changes to a gallery (or any removal, so that removed faces leave the stored snapshot) that
/// make its snapshot due again: one in a hundred of its faces, at least this many.
const SNAPSHOT_MIN_CHANGES: usize = 1000;

#[derive(Default)]
struct State {
    /// Every change up to this number is in `galleries`.
    applied: i64,
    galleries: HashMap<String, Arc<GalleryIndex>>,
}

/// What this node knows of a gallery's stored snapshot.
#[derive(Debug, Clone, Default)]
struct SnapshotMark {
    /// When this node last wrote or loaded it (`None`: it does not know of one).
    at: Option<Instant>,
    /// Changes applied to the gallery since.
    changes: usize,
    removals: bool,
}

/// What a gallery's index holds on this node.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IndexInfo {
    /// `exact` (a flat scan, up to 2,000 faces) or `screened` (binary codes pick candidates that
    /// are re-ranked exactly).
    pub kind: String,
    pub faces: usize,
    pub memory_bytes: usize,
}

/// How a start went, for the log and the restart benchmark.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub faces: usize,
    /// Galleries whose index came from a snapshot.
    pub from_snapshots: usize,
    /// Galleries built from their faces.
    pub from_database: usize,
    pub seconds: f64,
}

/// The node's indexes.
pub struct SearchIndexes {
    store: Store,
    state: Arc<RwLock<State>>,
    /// One catch-up at a time; the others wait for it and find the work done.
    applying: tokio::sync::Mutex<()>,
    /// Where index snapshots are kept; `None` rebuilds every gallery from the database at start.
    snapshots: Option<ImageStore>,
    marks: Arc<Mutex<HashMap<String, SnapshotMark>>>,
    report: LoadReport,
}

impl SearchIndexes {
    /// Builds every gallery's index, from its snapshot in `snapshots` where there is a usable
    /// one, else from the database.
    pub async fn load(store: Store, threads: usize, snapshots: Option<ImageStore>) -> Result<Arc<Self>, Error> {
        let begun = Instant::now();
        let threads = threads.max(1);
        let head = store.gallery_log_head().await?;
        let gallery_ids = store.gallery_ids().await?;
        let mut galleries = HashMap::new();
        let mut marks = HashMap::new();
        let mut applied = head;
        let mut report = LoadReport::default();
        for gallery_id in gallery_ids {
            if let Some(objects) = &snapshots
                && let Some((index, seq)) = load_snapshot(objects, &gallery_id, head, threads).await
            {
                applied = applied.min(seq);
                report.from_snapshots += 1;
                report.faces += index.len();
                marks.insert(gallery_id.clone(), SnapshotMark { at: Some(Instant::now()), ..Default::default() });
                galleries.insert(gallery_id, Arc::new(index));
                continue;
            }
            // Page by page into the index, so only one page of templates is held as f32 at a time.
            let index = Arc::new(GalleryIndex::new(TEMPLATE_DIM).map_err(Error::internal)?);
            let mut after = 0;
            loop {
                let page = store.face_templates(&gallery_id, after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.face_key;
                let items = page
                    .into_iter()
                    .map(|face| {
                        template_from_bytes(&face.template)
                            .map(|template| (face.face_key as u64, template))
                            .ok_or_else(|| Error::internal(format!("face {}: malformed template", face.face_key)))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                let filling = Arc::clone(&index);
                tokio::task::spawn_blocking(move || filling.extend(items, threads))
                    .await
                    .map_err(Error::internal)?
                    .map_err(Error::internal)?;
            }
            if index.is_empty() {
                continue;
            }
            let trimming = Arc::clone(&index);
            tokio::task::spawn_blocking(move || trimming.shrink_to_fit()).await.map_err(Error::internal)?;
            report.from_database += 1;
            report.faces += index.len();
            // Not known to be stored: due for a snapshot as soon as the follower looks.
            marks.insert(gallery_id.clone(), SnapshotMark::default());
            galleries.insert(gallery_id, index);
        }
        if let Some(objects) = &snapshots {
            sweep_orphans(&store, objects).await;
        }
        let mut indexes = Self {
            store,
            state: Arc::new(RwLock::new(State { applied, galleries })),
            applying: Default::default(),
            snapshots,
            marks: Arc::new(Mutex::new(marks)),
            report,
        };
        indexes.catch_up().await?;
        let report = &mut indexes.report;
        report.seconds = begun.elapsed().as_secs_f64();
        tracing::info!(
            faces = report.faces,
            from_snapshots = report.from_snapshots,
            from_database = report.from_database,
            seconds = report.seconds,
            "gallery indexes built"
        );
        Ok(Arc::new(indexes))
    }

    /// How the start went.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// Writes the snapshot of every gallery index that is due one (see the module text); `force`
    /// writes every one's now. Returns how many were written. A failure is logged and left for the
    /// next round: the snapshot is only a shortcut.
    pub async fn write_snapshots(&self, force: bool) -> usize {
        let Some(objects) = &self.snapshots else { return 0 };
        let due: Vec<(String, Arc<GalleryIndex>)> = {
            let Ok(state) = self.state.read() else { return 0 };
            let marks = self.marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state
                .galleries
                .iter()
                .filter(|(id, index)| {
                    let mark = marks.get(*id).cloned().unwrap_or_default();
                    force || snapshot_due(&mark, index.len())
                })
                .map(|(id, index)| (id.clone(), Arc::clone(index)))
                .collect()
        };
        let mut written = 0;
        for (gallery_id, index) in due {
            match self.write_snapshot(objects, &gallery_id, index).await {
                Ok(true) => written += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(gallery = %gallery_id, error = %e.message, "writing an index snapshot failed");
                    // Due again after the interval, not never: the write reset the mark.
                    let retry = SnapshotMark { at: Some(Instant::now()), changes: 0, removals: true };
                    self.marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(gallery_id, retry);
                }
            }
        }
        written
    }

    async fn write_snapshot(
        &self,
        objects: &ImageStore,
        gallery_id: &str,
        index: Arc<GalleryIndex>,
    ) -> Result<bool, Error> {
        // Everything up to the number read before the index is written out is in it (a change's
        // number is recorded only after it is applied); later changes that make it in too are
        // replayed harmlessly by whoever loads it.
        let seq = self.applied();
        self.marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(gallery_id.to_string(), SnapshotMark { at: Some(Instant::now()), ..Default::default() });
        let Some(bytes) = tokio::task::spawn_blocking(move || index.snapshot()).await.map_err(Error::internal)? else {
            // Small enough to rebuild from the database: a snapshot stored while it was larger
            // would keep faces removed since, so it goes.
            objects.delete_index_snapshot(gallery_id).await?;
            return Ok(false);
        };
        objects.put_index_snapshot(gallery_id, seq, &bytes).await?;
        drop(bytes);
        // Deleted meanwhile (by a node that deleted the old snapshot before this upload ended)?
        if self.store.gallery(gallery_id).await?.is_none_or(|g| g.id != gallery_id) {
            objects.delete_index_snapshot(gallery_id).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Applies every committed change this node has not applied yet.
    pub async fn catch_up(&self) -> Result<(), Error> {
        let head = self.store.gallery_log_head().await?;
        if self.applied() >= head {
            return Ok(());
        }
        let _turn = self.applying.lock().await;
        loop {
            let applied = self.applied();
            if applied >= head {
                return Ok(());
            }
            let changes = self.store.gallery_changes(applied, PAGE).await?;
            if changes.is_empty() {
                // The head moved past what is visible: not possible with the head's row lock,
                // but the next call will pick it up rather than spin here.
                return Ok(());
            }
            let (state, marks) = (Arc::clone(&self.state), Arc::clone(&self.marks));
            // Index work is CPU work: off the async threads.
            let dropped = tokio::task::spawn_blocking(move || apply(&state, &marks, changes))
                .await
                .map_err(Error::internal)??;
            if let Some(objects) = &self.snapshots {
                for gallery_id in dropped {
                    // The gallery's faces are gone from the database; their snapshot goes too.
                    objects.delete_index_snapshot(&gallery_id).await?;
                }
            }
        }
    }

    fn applied(&self) -> i64 {
        self.state.read().map(|s| s.applied).unwrap_or(i64::MAX)
    }

    /// The gallery's index, when it has any face on this node.
    pub fn gallery(&self, gallery_id: &str) -> Option<Arc<GalleryIndex>> {
        self.state.read().ok()?.galleries.get(gallery_id).cloned()
    }

    pub fn info(&self, gallery_id: &str) -> IndexInfo {
        match self.gallery(gallery_id) {
            Some(index) => {
                IndexInfo { kind: index.kind().to_string(), faces: index.len(), memory_bytes: index.memory_bytes() }
            }
            None => IndexInfo { kind: "exact".into(), faces: 0, memory_bytes: 0 },
        }
    }

    /// Top `k` faces of a gallery for a query template, exact similarities.
    pub fn search(&self, gallery_id: &str, query: &[f32], k: usize) -> Result<Vec<Hit>, Error> {
        match self.gallery(gallery_id) {
            Some(index) => index.search(query, k).map_err(Error::internal),
            None => Ok(Vec::new()),
        }
    }

    /// Follows the change log every `interval` until the process ends.
    pub fn follow(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let indexes = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(e) = indexes.catch_up().await {
                    tracing::warn!(error = %e.message, "following the gallery change log failed; retrying");
                    continue;
                }
                indexes.write_snapshots(false).await;
            }
        })
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("gallery index lock poisoned")
}

/// Applies changes in order; returns the galleries deleted.
fn apply(
    state: &RwLock<State>,
    marks: &Mutex<HashMap<String, SnapshotMark>>,
    changes: Vec<shiren_store::GalleryChange>,
) -> Result<Vec<String>, Error> {
    let mut dropped = Vec::new();
    for change in changes {
        {
            let mut marks = marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if matches!(change.op, ChangeOp::Drop) {
                marks.remove(&change.gallery_id);
            } else {
                let mark = marks.entry(change.gallery_id.clone()).or_default();
                mark.changes += 1;
                mark.removals |= matches!(change.op, ChangeOp::Remove { .. });
            }
        }
        match change.op {
            ChangeOp::Add { face_key } => {
                if let Some(bytes) = &change.template {
                    let template = template_from_bytes(bytes)
                        .ok_or_else(|| Error::internal(format!("face {face_key}: malformed template")))?;
                    let index = {
                        let mut state = state.write().map_err(poisoned)?;
                        match state.galleries.get(&change.gallery_id) {
                            Some(index) => Arc::clone(index),
                            None => {
                                let index = GalleryIndex::new(TEMPLATE_DIM).map_err(Error::internal)?;
                                let index = Arc::new(index);
                                state.galleries.insert(change.gallery_id.clone(), Arc::clone(&index));
                                index
                            }
                        }
                    };
                    if !index.contains(face_key as u64) {
                        index.insert(face_key as u64, &template).map_err(Error::internal)?;
                    }
                }
            }
            ChangeOp::Remove { face_key } => {
                if let Some(index) = state.read().map_err(poisoned)?.galleries.get(&change.gallery_id) {
                    index.remove(face_key as u64).map_err(Error::internal)?;
                }
            }
            ChangeOp::Drop => {
                state.write().map_err(poisoned)?.galleries.remove(&change.gallery_id);
                dropped.push(change.gallery_id.clone());
            }
        }
        state.write().map_err(poisoned)?.applied = change.seq;
    }
    Ok(dropped)
}

/// Whether a gallery of `faces` faces is due a new snapshot (see the module text).
fn snapshot_due(mark: &SnapshotMark, faces: usize) -> bool {
    let Some(at) = mark.at else { return true };
    let enough = mark.removals || mark.changes >= SNAPSHOT_MIN_CHANGES.max(faces / 100);
    enough && at.elapsed() >= SNAPSHOT_INTERVAL
}

/// A gallery's index from its stored snapshot with the change number it is complete to, or
/// `None` (logged) when there is none that can be used.
async fn load_snapshot(
    objects: &ImageStore,
    gallery_id: &str,
    head: i64,
    threads: usize,
) -> Option<(GalleryIndex, i64)> {
    let snapshot = match objects.get_index_snapshot(gallery_id).await {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(gallery = %gallery_id, error = %e, "index snapshot unreadable; rebuilding from the database");
            return None;
        }
    };
    if snapshot.seq > head {
        tracing::warn!(
            gallery = %gallery_id,
            snapshot = snapshot.seq,
            database = head,
            "index snapshot is ahead of the database (restored from a backup?); rebuilding from the database"
        );
        return None;
    }
    let seq = snapshot.seq;
    let loaded =
        tokio::task::spawn_blocking(move || GalleryIndex::from_snapshot(TEMPLATE_DIM, &snapshot.bytes, threads)).await;
    match loaded {
        Ok(Ok(index)) => Some((index, seq)),
        Ok(Err(e)) => {
            tracing::warn!(gallery = %gallery_id, error = %e, "index snapshot does not load; rebuilding from the database");
            None
        }
        Err(e) => {
            tracing::warn!(gallery = %gallery_id, error = %e, "loading an index snapshot failed; rebuilding from the database");
            None
        }
    }
}

/// Deletes snapshots of galleries that no longer exist (one whose upload ended after its
/// gallery's deletion was applied everywhere). Best effort: logged, never fatal.
async fn sweep_orphans(store: &Store, objects: &ImageStore) {
    let stored = match objects.index_snapshot_galleries().await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error = %e, "listing index snapshots failed");
            return;
        }
    };
    for gallery_id in stored {
        match store.gallery(&gallery_id).await {
            Ok(Some(gallery)) if gallery.id == gallery_id => {}
            Ok(_) => {
                if let Err(e) = objects.delete_index_snapshot(&gallery_id).await {
                    tracing::warn!(gallery = %gallery_id, error = %e, "deleting an orphaned index snapshot failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking index snapshots failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiren_index::synthetic::Gallery;
    use shiren_store::{FaceAdded, Keyring, NewFace};

    fn bytes_of(vector: &[f32]) -> Vec<u8> {
        vector.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    async fn add(store: &Store, gallery_id: &str, external_id: &str, vector: &[f32]) -> i64 {
        let template = bytes_of(vector);
        let face = NewFace::template_only(gallery_id, external_id, &template);
        match store.add_face(&face).await.unwrap() {
            FaceAdded::Added { face_key, .. } => face_key,
            other => panic!("{other:?}"),
        }
    }

    /// A gallery past the flat scan: built from the database once, then loaded from its snapshot with the
    /// changes made since replayed; unusable snapshots are ignored, and deleted ones go with their
    /// gallery.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_spare_the_rebuild_and_never_serve_stale_faces() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&Store::sqlite_url(dir.path()), Keyring::from_bytes([3; 32])).await.unwrap();
        let objects = ImageStore::local(&dir.path().join("objects"), store.keys().clone()).unwrap();
        let gallery = store.create_gallery("big", "").await.unwrap().unwrap();
        let synthetic = Gallery::generate(1_000, 1..=5, 17);
        let faces = synthetic.faces();
        assert!(faces.len() > shiren_index::gallery::EXACT_LIMIT, "{} faces", faces.len());
        let persons: Vec<String> = (0..synthetic.identities()).map(|i| format!("p{i}")).collect();
        let mut keys = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(5000) {
            let templates: Vec<Vec<u8>> = chunk.iter().map(|f| bytes_of(&f.vector)).collect();
            let batch: Vec<NewFace> = chunk
                .iter()
                .zip(&templates)
                .map(|(face, template)| NewFace::template_only(&gallery.id, &persons[face.identity as usize], template))
                .collect();
            for added in store.add_faces(&batch).await.unwrap() {
                let FaceAdded::Added { face_key, .. } = added else { panic!("{added:?}") };
                keys.push(face_key);
            }
        }

        let built = SearchIndexes::load(store.clone(), 2, Some(objects.clone())).await.unwrap();
        assert_eq!((built.load_report().from_database, built.load_report().from_snapshots), (1, 0));
        assert_eq!(built.info(&gallery.id).kind, "screened");
        assert_eq!(built.write_snapshots(false).await, 1, "an index built from the database is due at once");
        assert_eq!(built.write_snapshots(false).await, 0, "and then not again until changes accumulate");

        // Changes after the snapshot: one face removed, one added.
        let removed = keys[100];
        assert!(store.remove_face(&gallery.id, removed).await.unwrap().is_some());
        let fresh = synthetic.probe(5, 1234);
        let added = add(&store, &gallery.id, "newcomer", &fresh).await;
        built.catch_up().await.unwrap();

        let loaded = SearchIndexes::load(store.clone(), 2, Some(objects.clone())).await.unwrap();
        assert_eq!((loaded.load_report().from_database, loaded.load_report().from_snapshots), (0, 1));
        let index = loaded.gallery(&gallery.id).unwrap();
        assert!(!index.contains(removed as u64) && index.contains(added as u64));
        assert_eq!(index.len(), faces.len());
        for (i, face) in faces.iter().enumerate().step_by(997) {
            let probe = synthetic.probe(face.identity, i as u64);
            // The same index with the same changes replayed: the same hits.
            assert_eq!(loaded.search(&gallery.id, &probe, 5).unwrap(), built.search(&gallery.id, &probe, 5).unwrap());
        }
        assert_eq!(loaded.search(&gallery.id, &fresh, 1).unwrap()[0].key, added as u64);

        // A damaged snapshot, and one claiming a number the database has not reached: rebuilt.
        let path = dir.path().join(format!("objects/index-snapshots/{}.bin", gallery.id));
        let sealed = std::fs::read(&path).unwrap();
        std::fs::write(&path, &sealed[..sealed.len() / 2]).unwrap();
        let rebuilt = SearchIndexes::load(store.clone(), 2, Some(objects.clone())).await.unwrap();
        assert_eq!(rebuilt.load_report().from_database, 1);
        assert!(!rebuilt.gallery(&gallery.id).unwrap().contains(removed as u64));
        let head = store.gallery_log_head().await.unwrap();
        let bytes = rebuilt.gallery(&gallery.id).unwrap().snapshot().unwrap();
        objects.put_index_snapshot(&gallery.id, head + 10, &bytes).await.unwrap();
        objects.put_index_snapshot("gone-gallery", 1, &bytes).await.unwrap();
        let rebuilt = SearchIndexes::load(store.clone(), 2, Some(objects.clone())).await.unwrap();
        assert_eq!(rebuilt.load_report().from_database, 1);
        assert_eq!(objects.index_snapshot_galleries().await.unwrap(), vec![gallery.id.clone()], "orphan swept");

        // A gallery that shrinks back to the flat scan loses its snapshot, which would otherwise
        // keep the removed faces.
        assert_eq!(rebuilt.write_snapshots(true).await, 1);
        let index = rebuilt.gallery(&gallery.id).unwrap();
        let surplus = index.len() - shiren_index::gallery::EXACT_LIMIT;
        for &key in keys.iter().filter(|k| **k != removed).take(surplus) {
            assert!(store.remove_face(&gallery.id, key).await.unwrap().is_some());
        }
        rebuilt.catch_up().await.unwrap();
        assert_eq!(index.len(), shiren_index::gallery::EXACT_LIMIT);
        assert_eq!(rebuilt.write_snapshots(true).await, 0);
        assert!(objects.index_snapshot_galleries().await.unwrap().is_empty(), "stale snapshot deleted");

        // Deleting the gallery deletes its snapshot on the node that applies it.
        objects.put_index_snapshot(&gallery.id, head, &bytes).await.unwrap();
        assert!(path.exists());
        store.delete_gallery(&gallery.id).await.unwrap().unwrap();
        rebuilt.catch_up().await.unwrap();
        assert!(rebuilt.gallery(&gallery.id).is_none());
        assert!(objects.index_snapshot_galleries().await.unwrap().is_empty());
        assert!(!path.exists());
    }
}
