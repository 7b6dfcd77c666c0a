//! 1:N face search over 512-d ArcFace templates: which enrolled faces are most similar to a probe.
//!
//! Owns the search index only — no I/O, no persistence (the store owns the templates and rebuilds
//! the index from them at start-up). Implementations of one [`FaceIndex`] trait:
//!
//! - [`ExactIndex`]: a hand-written flat scan over half-precision vectors. Exact, tiny, and the
//!   fastest choice for small galleries.
//! - [`ScreenedIndex`]: the same vectors plus a 1,024-bit sign code per face; a search compares
//!   the probe's code with every code and re-ranks the closest few thousand exactly. Measured
//!   recall@1 1.000 and recall@10 0.999 at a million faces in ~6 ms on one core.
//! - [`HnswIndex`]: a USearch HNSW graph with exact re-ranking. Kept as the measured alternative
//!   (`shiren bench search` runs both): on face templates it loses same-person faces as galleries
//!   grow (recall@10 0.91 at a million faces with ef_search 512, 17 ms a probe).
//! - [`GalleryIndex`]: what the service uses; a [`ScreenedIndex`] that scans exactly while the
//!   gallery is small ([`gallery::EXACT_LIMIT`]), with snapshots past that.
//!
//! [`synthetic`] makes deterministic, realistically clustered embeddings for tests and benchmarks.
//!
//! Similarity is cosine: every stored vector and every query is L2-normalised, so it is a dot
//! product, always computed in f32 from the stored (f16) vector.

mod error;
pub mod exact;
pub mod gallery;
pub mod hnsw;
pub mod screened;
pub mod synthetic;
mod topk;
mod vector;

pub use error::IndexError;
pub use exact::ExactIndex;
pub use gallery::GalleryIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use screened::{ScreenParams, ScreenedIndex};
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
    /// `"exact"`, `"screened"` or `"hnsw"`.
    fn kind(&self) -> &'static str;
}
