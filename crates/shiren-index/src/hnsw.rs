//! [`HnswIndex`]: an approximate nearest-neighbour graph (USearch HNSW) for large galleries,
//! with exact re-ranking.
//!
//! The graph stores faces in f16 and answers with approximate inner products. We ask it for more
//! candidates than wanted ([`oversample`]), then score each candidate ourselves: the stored vector
//! is read back as f32 and dotted with the f32 query, exactly as [`crate::ExactIndex`] scores. So
//! a reported similarity equals a direct 1:1 cosine to f16 rounding (~1e-4), whichever index
//! produced it, and a threshold means the same thing on both sides of the switch-over.
//!
//! Concurrency: USearch runs any number of searches and adds at once, but each needs one of a
//! fixed number of per-thread contexts reserved in advance, and fails ("Reserve capacity ahead")
//! when none is free; a counting gate here makes callers wait for a context instead. Growing the
//! capacity must not overlap any operation, so it takes the graph's write lock; everything else
//! takes the read lock. Inserts and removals are serialised among themselves so that "is the key
//! present? then add it" cannot interleave with another insert of the same key.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::topk::TopK;
use crate::vector::{FIRST_RESERVED_KEY, check_key, clamp, dot, normalised};
use crate::{FaceIndex, FaceKey, Hit, IndexError};

/// Graph parameters.
///
/// Measured with `shiren bench search` (release, one query thread, 500 probes, k = 10, 2-core
/// AVX2 machine), M = 32 / ef_construction 128, on synthetic faces with ArcFace's impostor
/// spread (the README has the full tables):
///
/// | faces | ef_search | p50 | p99 | recall@1 | recall@10 |
/// |---|---|---|---|---|---|
/// | 100k | 128 | 2.5 ms | 3.5 ms | 0.980 | 0.960 |
/// | 100k | 256 | 4.9 ms | 7.2 ms | 0.992 | 0.984 |
/// | 1M | 128 | 5.2 ms | 6.5 ms | 0.780 | 0.750 |
/// | 1M | 512 | 17 ms | 24 ms | 0.926 | 0.913 |
///
/// Recall falls steeply between 100k and 1M on these near-random 512-d directions: past a few
/// hundred thousand faces these parameters are not enough (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Edges per node (HNSW's M).
    pub connectivity: usize,
    /// Candidate list length while inserting (ef_construction).
    pub expansion_add: usize,
    /// Candidate list length while searching (ef_search); raised to the oversample when smaller.
    pub expansion_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { connectivity: 32, expansion_add: 128, expansion_search: 128 }
    }
}

/// Candidates asked of the graph for a top-`k` search: four times `k`, at least 32. The graph's
/// order is approximate near ties, so a wider net lets the exact re-ranking fix the order of the
/// top `k`.
pub fn oversample(k: usize) -> usize {
    k.saturating_mul(4).max(32)
}

/// The capacity a new graph starts with; it then doubles whenever full.
const MIN_CAPACITY: usize = 1024;

/// Progress reports during [`HnswIndex::build_with_progress`] come every this many faces.
const PROGRESS_EVERY: usize = 1024;

pub struct HnswIndex {
    dim: usize,
    params: HnswParams,
    graph: RwLock<Index>,
    writer: Mutex<()>,
    contexts: Contexts,
}

impl HnswIndex {
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        Self::with_params(dim, HnswParams::default())
    }

    pub fn with_params(dim: usize, params: HnswParams) -> Result<Self, IndexError> {
        Self::empty(dim, params, MIN_CAPACITY, 1)
    }

    fn empty(dim: usize, params: HnswParams, capacity: usize, threads: usize) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::ZeroDimension);
        }
        let options = IndexOptions {
            dimensions: dim,
            // Inner product on unit vectors is the cosine, without the graph normalising again.
            metric: MetricKind::IP,
            quantization: ScalarKind::F16,
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let graph = Index::new(&options).map_err(backend)?;
        let contexts = Contexts::new(context_count(threads));
        graph.reserve_capacity_and_threads(capacity.max(MIN_CAPACITY), contexts.total).map_err(backend)?;
        Ok(Self { dim, params, graph: RwLock::new(graph), writer: Mutex::new(()), contexts })
    }

    /// The graph in USearch's own serialised form (header, keys, links and half-precision
    /// vectors), for an index snapshot that spares a restart the rebuild. Inserts and removals
    /// wait while the bytes are written; searches do not.
    ///
    /// A removed face's node stays in the graph, vector included, until an add reuses its slot,
    /// and USearch writes such slots out too (its `compact` reorders nodes, it does not drop
    /// them). So that no removed face reaches a snapshot, every freed slot is first overwritten:
    /// as many filler vectors as there are freed slots are added (an add takes a freed slot
    /// before a new one) and removed again, leaving the slots free but holding filler. That costs
    /// one insert per face removed since the last snapshot.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let _writer = lock(&self.writer);
        let graph = self.read();
        let freed = graph.stats().nodes.saturating_sub(graph.size());
        let fillers: Vec<FaceKey> = (0..freed as u64).map(|i| FIRST_RESERVED_KEY + i).collect();
        for &key in &fillers {
            self.add(&graph, key, &normalised(&filler(self.dim, key), self.dim)?)?;
        }
        for &key in &fillers {
            graph.remove(key).map_err(backend)?;
        }
        let mut bytes = vec![0u8; graph.serialized_length()];
        graph.save_to_buffer(&mut bytes).map_err(backend)?;
        Ok(bytes)
    }

    /// A graph from [`HnswIndex::to_bytes`], searched and extended on `threads` threads. The
    /// bytes must be trusted (the service only loads snapshots it authenticated): USearch checks
    /// the header, not every link. A graph of another dimension or precision is refused.
    pub fn from_bytes(dim: usize, bytes: &[u8], threads: usize) -> Result<Self, IndexError> {
        let metadata = Index::metadata_from_buffer(bytes).map_err(backend)?;
        if metadata.dimensions != dim as u64 {
            let got = usize::try_from(metadata.dimensions).unwrap_or(usize::MAX);
            return Err(IndexError::Dimension { expected: dim, got });
        }
        if metadata.quantization != ScalarKind::F16 || metadata.metric != MetricKind::IP || metadata.multi {
            return Err(IndexError::Backend("snapshot holds a graph of another kind".into()));
        }
        let mut index = Self::empty(dim, HnswParams::default(), MIN_CAPACITY, threads)?;
        {
            let graph = index.graph.write().unwrap_or_else(PoisonError::into_inner);
            graph.load_from_buffer(bytes).map_err(backend)?;
            let capacity = graph.size().saturating_add(graph.size() / 8).max(MIN_CAPACITY);
            graph.reserve_capacity_and_threads(capacity, index.contexts.total).map_err(backend)?;
            graph.change_expansion_search(index.params.expansion_search);
            index.params.connectivity = graph.connectivity();
            index.params.expansion_add = graph.expansion_add();
        }
        Ok(index)
    }

    /// Bulk load on `threads` threads.
    pub fn build(
        dim: usize,
        items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>,
        threads: usize,
    ) -> Result<Self, IndexError> {
        Self::build_with_progress(dim, items, threads, HnswParams::default(), &|_| {})
    }

    /// Bulk load on `threads` threads, calling `progress` with the number of faces added so far
    /// (from the worker threads, every thousand or so faces, and once at the end). Fails, building
    /// nothing, on the first invalid vector or repeated key.
    pub fn build_with_progress(
        dim: usize,
        items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>,
        threads: usize,
        params: HnswParams,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::ZeroDimension);
        }
        // Validate and normalise everything first, into one contiguous buffer: a bad vector then
        // fails the load before any work, and the buffer goes back to the system whole when done.
        let items = items.into_iter();
        let (lower, _) = items.size_hint();
        let mut keys = Vec::with_capacity(lower);
        let mut units = Vec::with_capacity(lower.saturating_mul(dim));
        let mut seen = HashSet::with_capacity(lower);
        for (key, vector) in items {
            check_key(key)?;
            if !seen.insert(key) {
                return Err(IndexError::DuplicateKey(key));
            }
            keys.push(key);
            units.extend(normalised(&vector, dim)?);
        }
        drop(seen);
        let threads = threads.clamp(1, keys.len().max(1));
        let index = Self::empty(dim, params, keys.len(), threads)?;
        let added = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<IndexError>> = Mutex::new(None);
        {
            let graph = index.read();
            let graph = &*graph;
            let chunk = keys.len().div_ceil(threads).max(1);
            std::thread::scope(|scope| {
                for (keys, units) in keys.chunks(chunk).zip(units.chunks(chunk * dim)) {
                    let (index, added, failed, first_error) = (&index, &added, &failed, &first_error);
                    scope.spawn(move || {
                        for (key, unit) in keys.iter().zip(units.chunks_exact(dim)) {
                            if failed.load(Ordering::Relaxed) {
                                return;
                            }
                            if let Err(error) = index.add(graph, *key, unit) {
                                failed.store(true, Ordering::Relaxed);
                                lock(first_error).get_or_insert(error);
                                return;
                            }
                            let done = added.fetch_add(1, Ordering::Relaxed) + 1;
                            if done.is_multiple_of(PROGRESS_EVERY) {
                                progress(done);
                            }
                        }
                    });
                }
            });
        }
        if let Some(error) = first_error.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(error);
        }
        progress(added.into_inner());
        Ok(index)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes ef_search for later searches (for tuning; the oversample still applies).
    pub fn set_expansion_search(&mut self, expansion: usize) {
        self.params.expansion_search = expansion;
        self.read().change_expansion_search(expansion);
    }

    /// The SIMD family the graph's distance kernels run on (for benchmark reports).
    pub fn hardware_acceleration(&self) -> String {
        self.read().hardware_acceleration()
    }

    /// The stored (normalised, half-precision) vector of `key`, widened to f32.
    pub fn get(&self, key: FaceKey) -> Option<Vec<f32>> {
        let mut stored = vec![0f32; self.dim];
        match self.read().get(key, &mut stored) {
            Ok(1) => Some(stored),
            _ => None,
        }
    }

    fn add(&self, graph: &Index, key: FaceKey, unit: &[f32]) -> Result<(), IndexError> {
        let _context = self.contexts.acquire();
        graph.add(key, unit).map_err(backend)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // The graph is C++ state that a Rust panic cannot leave half-written: panics can only
        // happen outside its calls.
        self.graph.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaceIndex for HnswIndex {
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError> {
        check_key(key)?;
        let unit = normalised(vector, self.dim)?;
        let _writer = lock(&self.writer);
        {
            let graph = self.read();
            if graph.contains(key) {
                return Err(IndexError::DuplicateKey(key));
            }
            if graph.size() < graph.capacity() {
                return self.add(&graph, key, &unit);
            }
        }
        {
            let graph = self.graph.write().unwrap_or_else(PoisonError::into_inner);
            let capacity = graph.capacity().saturating_mul(2).max(MIN_CAPACITY);
            graph.reserve_capacity_and_threads(capacity, self.contexts.total).map_err(backend)?;
        }
        self.add(&self.read(), key, &unit)
    }

    fn remove(&self, key: FaceKey) -> Result<bool, IndexError> {
        let _writer = lock(&self.writer);
        // USearch marks the node deleted (searches skip it) and reuses its slot for a later add.
        Ok(self.read().remove(key).map_err(backend)? > 0)
    }

    fn contains(&self, key: FaceKey) -> bool {
        self.read().contains(key)
    }

    fn len(&self) -> usize {
        self.read().size()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let query = normalised(query, self.dim)?;
        let graph = self.read();
        let len = graph.size();
        if k == 0 || len == 0 {
            return Ok(Vec::new());
        }
        let candidates = {
            let _context = self.contexts.acquire();
            graph.search(&query, oversample(k).min(len)).map_err(backend)?
        };
        let mut top = TopK::new(k);
        let mut stored = vec![0f32; self.dim];
        for key in candidates.keys {
            // A face removed since the graph answered reads back as nothing and is skipped, and a
            // filler added by a concurrent `to_bytes` is never an answer.
            if key < FIRST_RESERVED_KEY && graph.get(key, &mut stored).map_err(backend)? == 1 {
                top.push(key, clamp(dot(&query, &stored)));
            }
        }
        Ok(top.into_sorted())
    }

    fn memory_bytes(&self) -> usize {
        self.read().memory_usage()
    }

    fn kind(&self) -> &'static str {
        "hnsw"
    }
}

/// A filler vector for a freed slot: a fixed pseudo-random direction per key, unlike any face
/// and unlike each other (identical fillers would crowd each other's links).
fn filler(dim: usize, key: FaceKey) -> Vec<f32> {
    let mut state = key ^ 0x9e37_79b9_7f4a_7c15;
    (0..dim)
        .map(|_| {
            // xorshift64: any spread-out sequence will do.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn backend(error: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(error.to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per-thread search contexts to reserve: enough that a request pool twice the core count, or a
/// bulk load on `threads` threads, rarely waits.
fn context_count(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 2).max(threads).max(4)
}

/// A counting gate over USearch's per-thread contexts.
struct Contexts {
    total: usize,
    free: Mutex<usize>,
    released: Condvar,
}

struct ContextGuard<'a>(&'a Contexts);

impl Contexts {
    fn new(total: usize) -> Self {
        Self { total, free: Mutex::new(total), released: Condvar::new() }
    }

    fn acquire(&self) -> ContextGuard<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        ContextGuard(self)
    }
}

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{DIM, Gallery};
    use crate::{ExactIndex, cosine};

    /// Recall@1, recall of true matches, and recall@10 with a wide search, against the flat scan.
    #[test]
    fn recall_against_exact_at_twenty_thousand_faces() {
        let gallery = Gallery::generate(6700, 1..=5, 3);
        assert!(gallery.faces().len() > 19_000, "{}", gallery.faces().len());
        let mut hnsw = HnswIndex::build(DIM, gallery.items(), 2).unwrap();
        let exact = ExactIndex::from_items(DIM, gallery.items()).unwrap();
        assert_eq!(hnsw.len(), gallery.faces().len());
        let k = 10;
        let queries: Vec<Vec<f32>> = (0..200u64)
            .map(|i| gallery.probe(gallery.faces()[(i * 61) as usize % gallery.faces().len()].identity, i))
            .collect();
        let truth: Vec<Vec<Hit>> = queries.iter().map(|q| exact.search(q, k).unwrap()).collect();
        let recall = |hnsw: &HnswIndex| {
            let (mut top1, mut topk, mut matches, mut found) = (0, 0, 0, 0);
            for (query, want) in queries.iter().zip(&truth) {
                let got = hnsw.search(query, k).unwrap();
                assert_eq!(got.len(), k);
                assert!(got.windows(2).all(|w| w[0].similarity >= w[1].similarity));
                for hit in &got {
                    // Re-ranked similarities are the direct cosine, not the graph's approximation.
                    let direct = cosine(query, &gallery.faces()[hit.key as usize].vector).unwrap();
                    assert!((hit.similarity - direct).abs() < 1e-3, "{} vs {direct}", hit.similarity);
                }
                top1 += usize::from(got[0].key == want[0].key);
                topk += got.iter().filter(|h| want.iter().any(|w| w.key == h.key)).count();
                for w in want.iter().filter(|w| w.similarity >= 0.5) {
                    matches += 1;
                    found += usize::from(got.iter().any(|h| h.key == w.key));
                }
            }
            let n = queries.len() as f64;
            (top1 as f64 / n, topk as f64 / (n * k as f64), found as f64 / f64::from(matches))
        };
        let (recall1, _, match_recall) = recall(&hnsw);
        assert!(recall1 >= 0.99 && match_recall >= 0.99, "recall@1 {recall1}, match recall {match_recall}");
        // Impostors a few thousandths apart fill the rest of each top-10; the graph finds those
        // too when asked to look wide enough.
        hnsw.set_expansion_search(512);
        let (_, recall10, _) = recall(&hnsw);
        assert!(recall10 >= 0.99, "recall@10 {recall10} at ef_search 512");
    }

    #[test]
    fn removed_faces_never_come_back() {
        let gallery = Gallery::generate(700, 1..=3, 5);
        let index = HnswIndex::build(DIM, gallery.items(), 2).unwrap();
        let removed: Vec<&crate::synthetic::Face> = gallery.faces().iter().step_by(3).collect();
        for face in &removed {
            assert!(index.remove(face.key).unwrap());
            assert!(!index.remove(face.key).unwrap());
            assert!(!index.contains(face.key));
        }
        assert_eq!(index.len(), gallery.faces().len() - removed.len());
        for face in &removed {
            // Its own vector is the strongest possible query for it.
            let hits = index.search(&face.vector, 50).unwrap();
            assert!(hits.iter().all(|h| h.key % 3 != 0 || h.key as usize >= gallery.faces().len()), "{hits:?}");
            assert!(hits.iter().all(|h| !removed.iter().any(|r| r.key == h.key)));
        }
        // A removed key can be enrolled again, with a new face.
        let again = removed[0];
        let other = &gallery.faces()[1].vector;
        index.insert(again.key, other).unwrap();
        let hits = index.search(other, 2).unwrap();
        assert!(hits.iter().any(|h| h.key == again.key && h.similarity > 0.999));
    }

    /// A snapshot answers like the graph it came from, holds no removed face's vector, and keeps
    /// taking inserts; bytes of another kind are refused, not loaded.
    #[test]
    fn snapshot_round_trip() {
        let gallery = Gallery::generate(1500, 1..=3, 13);
        let index = HnswIndex::build(DIM, gallery.items(), 2).unwrap();
        let removed: Vec<&crate::synthetic::Face> = gallery.faces().iter().step_by(7).collect();
        let removed_vectors: Vec<Vec<u8>> = removed
            .iter()
            .map(|f| {
                let stored = index.get(f.key).unwrap();
                stored[..16].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
            })
            .collect();
        for face in &removed {
            assert!(index.remove(face.key).unwrap());
        }
        let bytes = index.to_bytes().unwrap();
        for pattern in &removed_vectors {
            assert!(!bytes.windows(pattern.len()).any(|w| w == pattern.as_slice()), "a removed vector was written");
        }
        let kept = &gallery.faces()[1];
        let pattern: Vec<u8> =
            index.get(kept.key).unwrap()[..16].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        assert!(bytes.windows(pattern.len()).any(|w| w == pattern.as_slice()), "a present vector is missing");

        let restored = HnswIndex::from_bytes(DIM, &bytes, 2).unwrap();
        assert_eq!(restored.len(), index.len());
        assert_eq!(restored.params(), index.params());
        for face in gallery.faces().iter().take(300) {
            assert_eq!(restored.search(&face.vector, 5).unwrap(), index.search(&face.vector, 5).unwrap());
        }
        assert!(removed.iter().all(|f| !restored.contains(f.key)));
        let fresh = gallery.probe(3, 77);
        restored.insert(1 << 40, &fresh).unwrap();
        assert_eq!(restored.search(&fresh, 1).unwrap()[0].key, 1 << 40);
        assert!(restored.remove(1 << 40).unwrap());

        assert!(matches!(HnswIndex::from_bytes(DIM + 1, &bytes, 2), Err(IndexError::Dimension { .. })));
        assert!(HnswIndex::from_bytes(DIM, &[0u8; 64], 2).is_err());
        assert!(HnswIndex::from_bytes(DIM, &[], 2).is_err());
    }

    #[test]
    fn insert_search_and_errors() {
        let index = HnswIndex::new(DIM).unwrap();
        assert_eq!(index.kind(), "hnsw");
        let gallery = Gallery::generate(1500, 1..=2, 9);
        let query = gallery.probe(0, 0);
        assert_eq!(index.search(&query, 5).unwrap(), vec![]);
        // More than the initial capacity, one at a time: the graph grows.
        for face in gallery.faces() {
            index.insert(face.key, &face.vector).unwrap();
        }
        assert_eq!(index.len(), gallery.faces().len());
        assert!(index.memory_bytes() > gallery.faces().len() * DIM * 2);
        let face = &gallery.faces()[10];
        assert_eq!(index.insert(face.key, &face.vector), Err(IndexError::DuplicateKey(face.key)));
        assert_eq!(index.len(), gallery.faces().len());
        assert_eq!(index.search(&query, 0).unwrap(), vec![]);
        let hits = index.search(&face.vector, 3).unwrap();
        assert_eq!(hits[0].key, face.key);
        assert!((hits[0].similarity - 1.0).abs() < 1e-3);
        assert!(hits.len() == 3 && hits.iter().all(|h| !h.similarity.is_nan()));
        assert_eq!(index.get(face.key).map(|v| v.len()), Some(DIM));

        assert_eq!(index.insert(u64::MAX, &face.vector), Err(IndexError::ReservedKey(u64::MAX)));
        assert_eq!(
            index.insert(1 << 40, &face.vector[1..]),
            Err(IndexError::Dimension { expected: DIM, got: DIM - 1 })
        );
        let mut bad = face.vector.clone();
        bad[7] = f32::NAN;
        assert_eq!(index.insert(1 << 40, &bad), Err(IndexError::NonFinite));
        assert_eq!(index.search(&bad, 1), Err(IndexError::NonFinite));
        assert_eq!(index.insert(1 << 40, &vec![0.0; DIM]), Err(IndexError::ZeroVector));
        assert!(matches!(HnswIndex::new(0), Err(IndexError::ZeroDimension)));
        let dup = vec![(1, face.vector.clone()), (1, face.vector.clone())];
        assert!(matches!(HnswIndex::build(DIM, dup, 2), Err(IndexError::DuplicateKey(1))));
    }

    #[test]
    fn small_index_returns_everything() {
        let index = HnswIndex::new(4).unwrap();
        index.insert(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
        index.insert(2, &[0.0, 1.0, 0.0, 0.0]).unwrap();
        let hits = index.search(&[1.0, 0.1, 0.0, 0.0], 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![1, 2]);
    }
}
