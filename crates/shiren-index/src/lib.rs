//! 1:N face search over 512-d ArcFace templates: which enrolled faces are most similar to a probe.
//!
//! Owns the search index only — no I/O, no persistence (the store owns the templates and rebuilds
//! the index from them at start-up). Three implementations of one [`FaceIndex`] trait:
//!
//! - [`ExactIndex`]: a hand-written flat scan over half-precision vectors. Exact, tiny, and the
//!   fastest choice for small galleries.
//! - [`HnswIndex`]: a USearch HNSW graph for large galleries, whose candidates are re-ranked
//!   exactly so a reported similarity is the same number a 1:1 comparison would give.
//! - [`GalleryIndex`]: what the service uses; exact while small, switching once to HNSW when the
//!   gallery passes the measured crossover ([`gallery::EXACT_LIMIT`]).
//!
//! [`synthetic`] makes deterministic, realistically clustered embeddings for tests and benchmarks.
//!
//! Similarity is cosine: every stored vector and every query is L2-normalised, so it is a dot
//! product, always computed in f32 from the stored (f16) vector.

mod error;
pub mod exact;
pub mod gallery;
pub mod hnsw;
pub mod synthetic;
mod topk;
mod vector;

pub use error::IndexError;
pub use exact::ExactIndex;
pub use gallery::GalleryIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use vector::cosine;

/// The caller's identifier of one enrolled face (the store's template id).
pub type FaceKey = u64;

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: FaceKey,
    /// Cosine similarity in [-1, 1] between the query and the stored face, computed exactly in f32
    /// from the stored half-precision vector. Never NaN.
    pub similarity: f32,
}

/// A searchable set of faces. Every method takes `&self`: searches run concurrently with each
/// other and with inserts and removals.
pub trait FaceIndex: Send + Sync {
    /// Adds a face under `key`. The vector is L2-normalised first. A key already present is an
    /// error ([`IndexError::DuplicateKey`]), never a second entry.
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError>;
    /// Removes the face under `key`; `true` if it was there.
    fn remove(&self, key: FaceKey) -> Result<bool, IndexError>;
    fn contains(&self, key: FaceKey) -> bool;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` most similar faces, most similar first (ties by key). `k == 0` or an empty index
    /// gives an empty list. The query is validated like an inserted vector.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError>;
    /// Heap memory held by the index, in bytes (approximate for the graph's allocator).
    fn memory_bytes(&self) -> usize;
    /// `"exact"` or `"hnsw"`.
    fn kind(&self) -> &'static str;
}
