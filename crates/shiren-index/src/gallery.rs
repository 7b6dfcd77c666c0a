//! [`GalleryIndex`]: the index the service searches. Exact while the gallery is small, HNSW once
//! it outgrows [`EXACT_LIMIT`], and HNSW from then on (a gallery that shrinks back keeps its
//! graph: switching back and forth around the limit would rebuild it over and over).
//!
//! The switch happens inside the insert that crosses the limit and is paid by that caller (a few
//! seconds at the limit): the graph is built from a snapshot of the exact index while searches,
//! inserts and removals go on against the exact index; changes made meanwhile are logged and
//! replayed onto the graph under a brief exclusive lock, and only then does the graph take over.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use crate::hnsw::HnswParams;
use crate::{ExactIndex, FaceIndex, FaceKey, Hit, HnswIndex, IndexError};

/// Faces above which a gallery switches from the flat scan to HNSW: where the graph's search
/// (default parameters, top-10 with re-ranking) starts to beat the scan.
///
/// Measured with `shiren bench search --faces 20000,100000` (release, one query thread, 2-core
/// AVX-512 VM shared with another build): the scan costs ~79 ns a face (p50 1.4 ms at 20k, 7.9 ms
/// at 100k: memory bandwidth); HNSW (M 32, ef_search 128) 1.9 ms at 20k and 4.0 ms at 100k,
/// growing roughly with log n. The two meet near 30k. Below that the scan is as fast and exact.
pub const EXACT_LIMIT: usize = 30_000;

pub struct GalleryIndex {
    dim: usize,
    exact_limit: usize,
    /// Threads for building the graph at the switch.
    threads: usize,
    params: HnswParams,
    state: RwLock<State>,
    /// Set while a graph is being built from a snapshot; changes to the exact index made then are
    /// recorded in `changed` for replay.
    upgrading: AtomicBool,
    changed: Mutex<Vec<FaceKey>>,
}

enum State {
    Exact(ExactIndex),
    Hnsw(HnswIndex),
}

impl State {
    fn index(&self) -> &dyn FaceIndex {
        match self {
            State::Exact(index) => index,
            State::Hnsw(index) => index,
        }
    }
}

impl GalleryIndex {
    /// An empty gallery with the measured [`EXACT_LIMIT`], building its graph on all cores.
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        Self::with_limit(dim, EXACT_LIMIT, all_cores())
    }

    pub fn with_limit(dim: usize, exact_limit: usize, threads: usize) -> Result<Self, IndexError> {
        Ok(Self::wrap(dim, exact_limit, threads, State::Exact(ExactIndex::new(dim)?)))
    }

    /// Bulk load at start-up: straight into HNSW (on `threads` threads) when there are more than
    /// [`EXACT_LIMIT`] faces, else into the flat scan.
    pub fn from_items(
        dim: usize,
        items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>,
        threads: usize,
    ) -> Result<Self, IndexError> {
        let items: Vec<(FaceKey, Vec<f32>)> = items.into_iter().collect();
        let state = if items.len() > EXACT_LIMIT {
            State::Hnsw(HnswIndex::build(dim, items, threads)?)
        } else {
            State::Exact(ExactIndex::from_items(dim, items)?)
        };
        Ok(Self::wrap(dim, EXACT_LIMIT, threads, state))
    }

    /// The graph's bytes ([`HnswIndex::to_bytes`]) when the gallery is past the switch; `None`
    /// while it is a flat scan, which rebuilds from the database faster than a snapshot loads.
    pub fn snapshot(&self) -> Result<Option<Vec<u8>>, IndexError> {
        match &*self.read() {
            State::Exact(_) => Ok(None),
            State::Hnsw(graph) => graph.to_bytes().map(Some),
        }
    }

    /// A gallery whose graph comes from [`GalleryIndex::snapshot`] (trusted bytes).
    pub fn from_snapshot(dim: usize, bytes: &[u8], threads: usize) -> Result<Self, IndexError> {
        let graph = HnswIndex::from_bytes(dim, bytes, threads)?;
        Ok(Self::wrap(dim, EXACT_LIMIT, threads, State::Hnsw(graph)))
    }

    fn wrap(dim: usize, exact_limit: usize, threads: usize, state: State) -> Self {
        Self {
            dim,
            exact_limit,
            threads: threads.max(1),
            params: HnswParams::default(),
            state: RwLock::new(state),
            upgrading: AtomicBool::new(false),
            changed: Mutex::new(Vec::new()),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Both indexes keep themselves consistent across a panic in a caller; see their `read`.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a change to the exact index made while a graph may be being built from a snapshot.
    /// Called after the change: a change that lands after the snapshot was taken necessarily sees
    /// the flag that was set before it (SeqCst), and logging one that landed before is harmless.
    fn log_change(&self, key: FaceKey) {
        if self.upgrading.load(Ordering::SeqCst) {
            self.changed.lock().unwrap_or_else(PoisonError::into_inner).push(key);
        }
    }

    /// Builds the graph from the exact index and switches to it. Only one caller does it; the
    /// others go on using the exact index meanwhile.
    fn upgrade(&self) -> Result<(), IndexError> {
        if self.upgrading.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return Ok(());
        }
        let result = self.build_and_swap();
        self.upgrading.store(false, Ordering::SeqCst);
        self.changed.lock().unwrap_or_else(PoisonError::into_inner).clear();
        result
    }

    fn build_and_swap(&self) -> Result<(), IndexError> {
        let snapshot = match &*self.read() {
            State::Exact(exact) => exact.export(),
            State::Hnsw(_) => return Ok(()),
        };
        let graph = HnswIndex::build_with_progress(self.dim, snapshot, self.threads, self.params, &|_| {})?;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let State::Exact(exact) = &*state else {
            return Ok(());
        };
        let changed: HashSet<FaceKey> =
            std::mem::take(&mut *self.changed.lock().unwrap_or_else(PoisonError::into_inner)).into_iter().collect();
        for key in changed {
            graph.remove(key)?;
            if let Some(vector) = exact.get(key) {
                graph.insert(key, &vector)?;
            }
        }
        *state = State::Hnsw(graph);
        Ok(())
    }
}

impl FaceIndex for GalleryIndex {
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError> {
        let crossed = {
            let state = self.read();
            match &*state {
                State::Exact(exact) => {
                    exact.insert(key, vector)?;
                    self.log_change(key);
                    exact.len() > self.exact_limit
                }
                State::Hnsw(graph) => return graph.insert(key, vector),
            }
        };
        if crossed && let Err(error) = self.upgrade() {
            // The face is in (the exact index) and searches stay exact; the next insert tries the
            // switch again. Failing the insert would tell the caller the face is missing.
            tracing::warn!(%error, faces = self.len(), "gallery index: could not switch to HNSW");
        }
        Ok(())
    }

    fn remove(&self, key: FaceKey) -> Result<bool, IndexError> {
        let state = self.read();
        let removed = state.index().remove(key)?;
        if matches!(&*state, State::Exact(_)) {
            self.log_change(key);
        }
        Ok(removed)
    }

    fn contains(&self, key: FaceKey) -> bool {
        self.read().index().contains(key)
    }

    fn len(&self) -> usize {
        self.read().index().len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        self.read().index().search(query, k)
    }

    fn memory_bytes(&self) -> usize {
        self.read().index().memory_bytes()
    }

    fn kind(&self) -> &'static str {
        self.read().index().kind()
    }
}

fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;
    use crate::synthetic::{DIM, Gallery};
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn switches_to_hnsw_past_the_limit_and_keeps_answering_exactly() {
        let gallery = Gallery::generate(150, 2..=2, 21);
        let index = GalleryIndex::with_limit(DIM, 200, 2).unwrap();
        let faces = gallery.faces();
        for face in &faces[..200] {
            index.insert(face.key, &face.vector).unwrap();
        }
        assert_eq!(index.kind(), "exact");
        index.remove(faces[0].key).unwrap();
        let before: Vec<Vec<Hit>> = (0..20).map(|i| index.search(&gallery.probe(i * 7, 99), 5).unwrap()).collect();
        index.insert(faces[0].key, &faces[0].vector).unwrap();
        index.insert(faces[200].key, &faces[200].vector).unwrap();
        assert_eq!(index.kind(), "hnsw");
        assert_eq!(index.len(), 201);
        assert!(index.contains(faces[0].key) && index.contains(faces[200].key));
        assert_eq!(index.insert(faces[5].key, &faces[5].vector), Err(IndexError::DuplicateKey(faces[5].key)));
        for (i, old) in (0..20).zip(before) {
            let query = gallery.probe(i * 7, 99);
            let now = index.search(&query, 5).unwrap();
            // Same faces apart from the two added; same similarities to f16 rounding.
            for hit in now.iter().filter(|h| h.key != faces[0].key && h.key != faces[200].key) {
                let direct = cosine(&query, &faces[hit.key as usize].vector).unwrap();
                assert!((hit.similarity - direct).abs() < 1e-3);
                if let Some(o) = old.iter().find(|o| o.key == hit.key) {
                    assert!((o.similarity - hit.similarity).abs() < 1e-4);
                }
            }
        }
        // It stays HNSW even when it shrinks.
        for face in &faces[..150] {
            assert!(index.remove(face.key).unwrap());
        }
        assert_eq!(index.kind(), "hnsw");
        assert_eq!(index.len(), 51);
    }

    #[test]
    fn snapshots_only_of_graphs() {
        let gallery = Gallery::generate(300, 1..=1, 4);
        let index = GalleryIndex::with_limit(DIM, 100, 2).unwrap();
        for face in &gallery.faces()[..100] {
            index.insert(face.key, &face.vector).unwrap();
        }
        assert_eq!(index.snapshot().unwrap(), None);
        for face in &gallery.faces()[100..] {
            index.insert(face.key, &face.vector).unwrap();
        }
        let bytes = index.snapshot().unwrap().unwrap();
        let restored = GalleryIndex::from_snapshot(DIM, &bytes, 2).unwrap();
        assert_eq!((restored.kind(), restored.len()), ("hnsw", 300));
        let face = &gallery.faces()[250];
        assert_eq!(restored.search(&face.vector, 1).unwrap()[0].key, face.key);
    }

    #[test]
    fn from_items_chooses_by_size() {
        let small = Gallery::generate(10, 1..=1, 1);
        let index = GalleryIndex::from_items(DIM, small.items(), 2).unwrap();
        assert_eq!((index.kind(), index.len()), ("exact", 10));
        assert!(matches!(
            GalleryIndex::from_items(DIM, vec![(3, vec![1.0; DIM]), (3, vec![1.0; DIM])], 2),
            Err(IndexError::DuplicateKey(3))
        ));
    }

    #[test]
    fn concurrent_searches_during_inserts_and_the_switch() {
        let gallery = Gallery::generate(1200, 1..=2, 33);
        let faces = gallery.faces();
        let index = GalleryIndex::with_limit(DIM, 400, 2).unwrap();
        let writers_done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for part in 0..3 {
                let (index, writers_done) = (&index, &writers_done);
                scope.spawn(move || {
                    for face in faces.iter().skip(part).step_by(3) {
                        index.insert(face.key, &face.vector).unwrap();
                        if face.key % 10 == 0 {
                            assert!(index.remove(face.key).unwrap());
                        }
                    }
                    writers_done.fetch_add(1, Ordering::SeqCst);
                });
            }
            for searcher in 0..3u32 {
                let (index, gallery, writers_done) = (&index, &gallery, &writers_done);
                scope.spawn(move || {
                    let mut i = 0u32;
                    while writers_done.load(Ordering::SeqCst) < 3 || i < 50 {
                        let query = gallery.probe((i * 13 + searcher) % 1200, i.into());
                        let hits = index.search(&query, 10).unwrap();
                        assert!(hits.iter().all(|h| !h.similarity.is_nan()));
                        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
                        i += 1;
                    }
                });
            }
        });
        assert_eq!(index.kind(), "hnsw");
        let expected: Vec<FaceKey> = faces.iter().map(|f| f.key).filter(|k| k % 10 != 0).collect();
        assert_eq!(index.len(), expected.len());
        for face in faces {
            assert_eq!(index.contains(face.key), face.key % 10 != 0, "key {}", face.key);
        }
        // Every face inserted while the graph was being built made it into the graph.
        for face in faces.iter().filter(|f| f.key % 10 != 0) {
            assert_eq!(index.search(&face.vector, 1).unwrap()[0].key, face.key);
        }
    }
}
