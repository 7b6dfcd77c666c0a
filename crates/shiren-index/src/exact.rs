//! [`ExactIndex`]: every query compared with every stored face.
//!
//! Hand-written rather than taken from a library: a flat scan is a few lines, exact by
//! construction, and the fastest choice up to a few thousand faces (measured in
//! [`crate::gallery::EXACT_LIMIT`]). Faces are kept as f16 in one contiguous array (1 KiB per
//! 512-d face, read front to back at memory bandwidth), with a parallel key array and a key → slot
//! map; removal moves the last face into the freed slot so the array stays dense.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use half::f16;

use crate::topk::TopK;
use crate::vector::{check_key, clamp, dot_rows, narrow, normalised, widen_row};
use crate::{FaceIndex, FaceKey, Hit, IndexError};

/// Rows scored per block before their scores are offered to the top-k: large enough to keep the
/// dot-product loop busy, small enough for the score buffer to stay in L1.
const BLOCK: usize = 256;

pub struct ExactIndex {
    dim: usize,
    flat: RwLock<Flat>,
}

/// The stored faces: shared with [`crate::ScreenedIndex`], which keeps its codes beside them.
#[derive(Default)]
pub(crate) struct Flat {
    /// `keys.len() * dim` halves, row `i` belonging to `keys[i]`.
    pub(crate) vectors: Vec<f16>,
    pub(crate) keys: Vec<FaceKey>,
    pub(crate) slots: HashMap<FaceKey, usize>,
}

impl ExactIndex {
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::ZeroDimension);
        }
        Ok(Self { dim, flat: RwLock::new(Flat::default()) })
    }

    /// Bulk load; fails on the first invalid vector or repeated key.
    pub fn from_items(dim: usize, items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>) -> Result<Self, IndexError> {
        let index = Self::new(dim)?;
        let items = items.into_iter();
        {
            let mut flat = index.write();
            flat.reserve(items.size_hint().0, dim);
            for (key, vector) in items {
                flat.push(key, &normalised(&vector, dim)?)?;
            }
        }
        Ok(index)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The stored (normalised, half-precision) vector of `key`, widened to f32.
    pub fn get(&self, key: FaceKey) -> Option<Vec<f32>> {
        let flat = self.read();
        let slot = *flat.slots.get(&key)?;
        flat.vectors.get(slot * self.dim..(slot + 1) * self.dim).map(widen_row)
    }

    /// Every stored face, as [`ExactIndex::get`] gives it, in storage order.
    pub fn export(&self) -> Vec<(FaceKey, Vec<f32>)> {
        let flat = self.read();
        flat.keys.iter().zip(flat.vectors.chunks_exact(self.dim)).map(|(&k, row)| (k, widen_row(row))).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Flat> {
        // A panic while the lock was held cannot leave `Flat` half-updated in a way that breaks
        // memory safety, and every method keeps its three parts consistent before returning.
        self.flat.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Flat> {
        self.flat.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Flat {
    pub(crate) fn reserve(&mut self, faces: usize, dim: usize) {
        self.vectors.reserve(faces.saturating_mul(dim));
        self.keys.reserve(faces);
        self.slots.reserve(faces);
    }

    pub(crate) fn push(&mut self, key: FaceKey, unit: &[f32]) -> Result<(), IndexError> {
        check_key(key)?;
        if self.slots.contains_key(&key) {
            return Err(IndexError::DuplicateKey(key));
        }
        self.slots.insert(key, self.keys.len());
        self.keys.push(key);
        self.vectors.extend(unit.iter().map(|&x| narrow(x)));
        Ok(())
    }

    /// Removes `key`, moving the last face into its slot so the arrays stay dense. Returns the
    /// freed slot and the slot the moved face came from (equal when the last face was removed).
    pub(crate) fn remove(&mut self, key: FaceKey, dim: usize) -> Option<(usize, usize)> {
        let slot = self.slots.remove(&key)?;
        let last = self.keys.len() - 1;
        if slot != last {
            self.vectors.copy_within(last * dim..(last + 1) * dim, slot * dim);
            let moved = self.keys[last];
            self.keys[slot] = moved;
            self.slots.insert(moved, slot);
        }
        self.keys.truncate(last);
        self.vectors.truncate(last * dim);
        Some((slot, last))
    }

    /// The `k` faces most similar to the unit vector `query`, scanning every row in order.
    pub(crate) fn search(&self, query: &[f32], k: usize, dim: usize) -> Vec<Hit> {
        let mut top = TopK::new(k);
        let mut scores = [0f32; BLOCK];
        for (rows, keys) in self.vectors.chunks(BLOCK * dim).zip(self.keys.chunks(BLOCK)) {
            let scores = &mut scores[..keys.len()];
            dot_rows(query, rows, scores);
            let mut threshold = top.threshold();
            for (&key, &score) in keys.iter().zip(scores.iter()) {
                if score >= threshold {
                    top.push(key, clamp(score));
                    threshold = top.threshold();
                }
            }
        }
        top.into_sorted()
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        // hashbrown: one control byte plus the (key, slot) pair per bucket.
        let map = self.slots.capacity() * (size_of::<(FaceKey, usize)>() + 1);
        self.vectors.capacity() * size_of::<f16>() + self.keys.capacity() * size_of::<FaceKey>() + map
    }
}

impl FaceIndex for ExactIndex {
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError> {
        let unit = normalised(vector, self.dim)?;
        self.write().push(key, &unit)
    }

    fn remove(&self, key: FaceKey) -> Result<bool, IndexError> {
        Ok(self.write().remove(key, self.dim).is_some())
    }

    fn contains(&self, key: FaceKey) -> bool {
        self.read().slots.contains_key(&key)
    }

    fn len(&self) -> usize {
        self.read().keys.len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let query = normalised(query, self.dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        Ok(self.read().search(&query, k, self.dim))
    }

    fn memory_bytes(&self) -> usize {
        self.read().memory_bytes()
    }

    fn kind(&self) -> &'static str {
        "exact"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;
    use crate::synthetic::Gallery;

    fn brute(items: &[(FaceKey, Vec<f32>)], query: &[f32], k: usize) -> Vec<FaceKey> {
        let mut scored: Vec<(FaceKey, f32)> = items.iter().map(|(key, v)| (*key, cosine(query, v).unwrap())).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.into_iter().take(k).map(|(k, _)| k).collect()
    }

    #[test]
    fn finds_what_a_brute_force_in_f32_finds() {
        let gallery = Gallery::generate(200, 1..=4, 7);
        let items: Vec<(FaceKey, Vec<f32>)> = gallery.faces().iter().map(|f| (f.key, f.vector.clone())).collect();
        let index = ExactIndex::from_items(512, items.clone()).unwrap();
        assert_eq!(index.len(), items.len());
        for identity in 0..20 {
            let query = gallery.probe(identity, 1000 + u64::from(identity));
            let hits = index.search(&query, 5).unwrap();
            assert_eq!(hits.len(), 5);
            // The best hit is exact to f16 rounding; lower ranks may swap only on near-ties.
            assert_eq!(hits[0].key, brute(&items, &query, 1)[0]);
            for w in hits.windows(2) {
                assert!(w[0].similarity >= w[1].similarity);
            }
            for hit in &hits {
                let stored = &items.iter().find(|(k, _)| *k == hit.key).unwrap().1;
                let direct = cosine(&query, stored).unwrap();
                assert!((hit.similarity - direct).abs() < 1e-3, "{} vs {direct}", hit.similarity);
            }
        }
    }

    #[test]
    fn insert_remove_search_semantics() {
        let index = ExactIndex::new(4).unwrap();
        assert!(index.is_empty());
        assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], 3).unwrap(), vec![]);
        index.insert(1, &[2.0, 0.0, 0.0, 0.0]).unwrap();
        index.insert(2, &[0.0, 1.0, 0.0, 0.0]).unwrap();
        index.insert(3, &[1.0, 1.0, 0.0, 0.0]).unwrap();
        assert_eq!(index.insert(2, &[0.0, 0.0, 1.0, 0.0]), Err(IndexError::DuplicateKey(2)));
        assert_eq!(index.len(), 3);
        assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], 0).unwrap(), vec![]);

        let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert_eq!(hits[0].similarity, 1.0);
        assert!((hits[1].similarity - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);

        assert!(index.remove(1).unwrap());
        assert!(!index.remove(1).unwrap());
        assert!(!index.contains(1));
        let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![3, 2]);
        // The moved face keeps its own vector.
        assert_eq!(index.get(3).map(|v| (v[0] * 1000.0).round()), Some(707.0));
        index.insert(1, &[0.0, 0.0, 0.0, 5.0]).unwrap();
        assert_eq!(index.search(&[0.0, 0.0, 0.0, 1.0], 1).unwrap()[0].key, 1);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(ExactIndex::new(0), Err(IndexError::ZeroDimension)));
        let index = ExactIndex::new(3).unwrap();
        assert_eq!(index.insert(1, &[1.0, 0.0]), Err(IndexError::Dimension { expected: 3, got: 2 }));
        assert_eq!(index.insert(1, &[1.0, f32::NAN, 0.0]), Err(IndexError::NonFinite));
        assert_eq!(index.insert(1, &[1.0, f32::INFINITY, 0.0]), Err(IndexError::NonFinite));
        assert_eq!(index.insert(1, &[0.0; 3]), Err(IndexError::ZeroVector));
        assert_eq!(index.search(&[0.0; 3], 1), Err(IndexError::ZeroVector));
        assert_eq!(index.search(&[1.0; 4], 1), Err(IndexError::Dimension { expected: 3, got: 4 }));
        assert!(index.is_empty());
    }
}
