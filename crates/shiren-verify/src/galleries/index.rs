//! This node's search index of every gallery, kept in step with the database.
//!
//! The faces table is the source of truth; this is a cache of it that any node can rebuild. At
//! start the node reads the log head, then every face, and builds each gallery's index; from
//! then on it applies the change log after the number it has reached, before every search (one
//! small query when nothing changed) and once a second in the background. Replaying is
//! idempotent (face keys are never reused: a face already held is not added twice, a face gone
//! is not removed twice), so a page of faces that overlaps the log loses and doubles nothing.
//! Search hits are looked up in the database afterwards, so a face removed anywhere is gone
//! from every node's answers at once, even before its node's index has caught up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use shiren_index::gallery::EXACT_LIMIT;
use shiren_index::{FaceIndex, GalleryIndex, Hit};
use shiren_store::{ChangeOp, Store};

use crate::authority::template_from_bytes;
use crate::error::Error;

/// Faces read per page at start and changes per page when catching up.
const PAGE: i64 = 20_000;

/// Dimension of the face templates (ArcFace).
pub const TEMPLATE_DIM: usize = 512;

#[derive(Default)]
struct State {
    /// Every change up to this number is in `galleries`.
    applied: i64,
    galleries: HashMap<String, Arc<GalleryIndex>>,
}

/// What a gallery's index holds on this node.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IndexInfo {
    /// `exact` (a flat scan, for small galleries) or `hnsw` (a graph, past the crossover).
    pub kind: String,
    pub faces: usize,
    pub memory_bytes: usize,
}

/// The node's indexes.
pub struct SearchIndexes {
    store: Store,
    threads: usize,
    state: Arc<RwLock<State>>,
    /// One catch-up at a time; the others wait for it and find the work done.
    applying: tokio::sync::Mutex<()>,
}

impl SearchIndexes {
    /// Builds every gallery's index from the database.
    pub async fn load(store: Store, threads: usize) -> Result<Arc<Self>, Error> {
        let begun = Instant::now();
        let head = store.gallery_log_head().await?;
        let mut items: HashMap<String, Vec<(u64, Vec<f32>)>> = HashMap::new();
        let mut after = 0;
        loop {
            let page = store.face_templates(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.face_key;
            for face in page {
                let template = template_from_bytes(&face.template)
                    .ok_or_else(|| Error::internal(format!("face {}: malformed template", face.face_key)))?;
                items.entry(face.gallery_id).or_default().push((face.face_key as u64, template));
            }
        }
        let faces: usize = items.values().map(Vec::len).sum();
        let threads = threads.max(1);
        let galleries = tokio::task::spawn_blocking(move || {
            items
                .into_iter()
                .map(|(gallery, items)| {
                    let index = GalleryIndex::from_items(TEMPLATE_DIM, items, threads).map_err(Error::internal)?;
                    Ok((gallery, Arc::new(index)))
                })
                .collect::<Result<HashMap<_, _>, Error>>()
        })
        .await
        .map_err(Error::internal)??;
        let indexes = Arc::new(Self {
            store,
            threads,
            state: Arc::new(RwLock::new(State { applied: head, galleries })),
            applying: Default::default(),
        });
        indexes.catch_up().await?;
        tracing::info!(faces, seconds = begun.elapsed().as_secs_f64(), "gallery indexes built");
        Ok(indexes)
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
            let state = Arc::clone(&self.state);
            let threads = self.threads;
            // Index work is CPU work: off the async threads.
            tokio::task::spawn_blocking(move || apply(&state, changes, threads)).await.map_err(Error::internal)??;
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
                }
            }
        })
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("gallery index lock poisoned")
}

fn apply(state: &RwLock<State>, changes: Vec<shiren_store::GalleryChange>, threads: usize) -> Result<(), Error> {
    for change in changes {
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
                                let index = GalleryIndex::with_limit(TEMPLATE_DIM, EXACT_LIMIT, threads)
                                    .map_err(Error::internal)?;
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
            }
        }
        state.write().map_err(poisoned)?.applied = change.seq;
    }
    Ok(())
}
