//! The index's error type: what a caller can get wrong (dimension, values, keys) kept apart from
//! what the graph library reports.

use crate::FaceKey;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    #[error("vector has {got} dimensions, the index holds {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("vector has a NaN or infinite component")]
    NonFinite,
    #[error("vector is all zeros and has no direction")]
    ZeroVector,
    #[error("face key {0} is already in the index")]
    DuplicateKey(FaceKey),
    /// Keys from 2^63 up are the indexes' own (refused by every index, so that one kind can
    /// stand in for another): `u64::MAX` marks a deleted slot inside the HNSW graph, and the
    /// graph's filler vectors (see `HnswIndex::to_bytes`) take keys below it.
    #[error("face key {0} is reserved")]
    ReservedKey(FaceKey),
    #[error("index dimension must be at least 1")]
    ZeroDimension,
    /// Past what an index can hold (dimensions, faces).
    #[error("index limit: {0}")]
    Limit(String),
    /// Snapshot bytes that are not a whole snapshot of this kind of index.
    #[error("index snapshot: {0}")]
    Snapshot(String),
    /// The HNSW library failed (out of memory, most likely).
    #[error("vector index: {0}")]
    Backend(String),
}
