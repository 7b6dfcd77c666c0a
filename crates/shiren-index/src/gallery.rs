//! [`GalleryIndex`]: the index the service searches — a [`ScreenedIndex`] with the measured
//! defaults: an exact flat scan while the gallery is small ([`EXACT_LIMIT`]), binary codes to
//! pick candidates and exact re-ranking past it. Nothing is rebuilt when a gallery grows past the
//! limit or shrinks back (the codes are kept from the first face), so there is no switch to pay
//! for and no window in which a change could be missed.
//!
//! Snapshots: past [`EXACT_LIMIT`] a gallery's index can be written out and loaded back
//! ([`GalleryIndex::snapshot`]); below it, reading the faces from the database is as quick.

use crate::{FaceIndex, FaceKey, Hit, IndexError, ScreenParams, ScreenedIndex};

/// Faces up to which a search scans every face exactly; past it, codes pick the candidates.
///
/// Equal to the smallest re-ranking budget ([`ScreenParams::candidates`]): below it every face
/// would be a candidate anyway, so the plain scan gives the same answer with less work. Measured
/// with `shiren bench search --faces 2000,2500,3000,4000,5000 --queries 2000 --exact-queries 2000
/// --index screened --no-real-faces` (release, one query thread, this 2-core VM): p50 exact scan
/// against codes 0.09 / 0.10 ms at 2,000 faces, 0.12 / 0.12 at 2,500, 0.18 / 0.13 at 4,000,
/// 0.23 / 0.14 at 5,000, recall@10 1.000 throughout. The two meet near 2,500 faces; between
/// 2,000 and 2,500 they differ by under 0.02 ms.
pub const EXACT_LIMIT: usize = crate::screened::MIN_CANDIDATES;

pub struct GalleryIndex {
    index: ScreenedIndex,
}

impl GalleryIndex {
    /// An empty gallery with the default parameters.
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        Ok(Self { index: ScreenedIndex::new(dim, ScreenParams::default())? })
    }

    /// An empty gallery searched exactly up to `exact_limit` faces (tests use a small one).
    pub fn with_limit(dim: usize, exact_limit: usize) -> Result<Self, IndexError> {
        let params = ScreenParams { exact_below: exact_limit, ..ScreenParams::default() };
        Ok(Self { index: ScreenedIndex::new(dim, params)? })
    }

    /// Bulk load at start-up, coding on `threads` threads.
    pub fn from_items(
        dim: usize,
        items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>,
        threads: usize,
    ) -> Result<Self, IndexError> {
        Ok(Self { index: ScreenedIndex::from_items(dim, items, ScreenParams::default(), threads)? })
    }

    /// Adds a batch of faces, coded on `threads` threads ([`ScreenedIndex::extend`]).
    pub fn extend(&self, items: Vec<(FaceKey, Vec<f32>)>, threads: usize) -> Result<(), IndexError> {
        self.index.extend(items, threads)
    }

    /// Returns spare capacity after a load in batches ([`ScreenedIndex::shrink_to_fit`]).
    pub fn shrink_to_fit(&self) {
        self.index.shrink_to_fit();
    }

    /// The index's bytes ([`ScreenedIndex::to_bytes`]) past [`EXACT_LIMIT`]; `None` below it.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        (self.index.len() > EXACT_LIMIT).then(|| self.index.to_bytes())
    }

    /// A gallery from [`GalleryIndex::snapshot`]'s bytes (checked, see
    /// [`ScreenedIndex::from_bytes`]).
    pub fn from_snapshot(dim: usize, bytes: &[u8], threads: usize) -> Result<Self, IndexError> {
        Ok(Self { index: ScreenedIndex::from_bytes(dim, bytes, ScreenParams::default(), threads)? })
    }
}

impl FaceIndex for GalleryIndex {
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError> {
        self.index.insert(key, vector)
    }

    fn remove(&self, key: FaceKey) -> Result<bool, IndexError> {
        self.index.remove(key)
    }

    fn contains(&self, key: FaceKey) -> bool {
        self.index.contains(key)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        self.index.search(query, k)
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    fn kind(&self) -> &'static str {
        self.index.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{DIM, Gallery};
    use crate::{ExactIndex, cosine};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn exact_while_small_then_screened_with_the_same_answers() {
        let gallery = Gallery::generate(150, 2..=2, 21);
        let index = GalleryIndex::with_limit(DIM, 200).unwrap();
        let faces = gallery.faces();
        for face in &faces[..200] {
            index.insert(face.key, &face.vector).unwrap();
        }
        assert_eq!(index.kind(), "exact");
        index.insert(faces[200].key, &faces[200].vector).unwrap();
        assert_eq!((index.kind(), index.len()), ("screened", 201));
        assert_eq!(index.insert(faces[5].key, &faces[5].vector), Err(IndexError::DuplicateKey(faces[5].key)));
        // Under 2,000 faces every face is a candidate: the same answers as the exact scan.
        let exact = ExactIndex::from_items(DIM, gallery.items().take(201)).unwrap();
        for i in 0..20 {
            let query = gallery.probe(i * 7, 99);
            let hits = index.search(&query, 5).unwrap();
            assert_eq!(hits, exact.search(&query, 5).unwrap());
            for hit in &hits {
                let direct = cosine(&query, &faces[hit.key as usize].vector).unwrap();
                assert!((hit.similarity - direct).abs() < 1e-3);
            }
        }
        for face in &faces[..150] {
            assert!(index.remove(face.key).unwrap());
        }
        assert_eq!((index.kind(), index.len()), ("exact", 51));
    }

    #[test]
    fn snapshots_only_past_the_limit_and_checked_on_load() {
        let gallery = Gallery::generate(EXACT_LIMIT as u32 + 500, 1..=1, 4);
        let small = GalleryIndex::from_items(DIM, gallery.items().take(100), 2).unwrap();
        assert_eq!(small.snapshot(), None);
        let index = GalleryIndex::from_items(DIM, gallery.items(), 2).unwrap();
        let removed = gallery.faces()[7].key;
        index.remove(removed).unwrap();
        let bytes = index.snapshot().unwrap();
        let restored = GalleryIndex::from_snapshot(DIM, &bytes, 2).unwrap();
        assert_eq!((restored.kind(), restored.len()), ("screened", EXACT_LIMIT + 499));
        assert!(!restored.contains(removed));
        for face in gallery.faces().iter().skip(200).step_by(997) {
            assert_eq!(restored.search(&face.vector, 3).unwrap(), index.search(&face.vector, 3).unwrap());
        }
        // A removed face's vector is not in the bytes.
        let removed_vector: Vec<u8> = gallery.faces()[7]
            .vector
            .iter()
            .flat_map(|&x| crate::vector::narrow(x).to_bits().to_le_bytes())
            .take(64)
            .collect();
        assert!(!bytes.windows(64).any(|w| w == removed_vector.as_slice()));
        // Damage is refused, not served.
        assert!(GalleryIndex::from_snapshot(DIM, &bytes[..bytes.len() - 1], 2).is_err());
        assert!(GalleryIndex::from_snapshot(DIM, b"SHSCRN01", 2).is_err());
        assert!(GalleryIndex::from_snapshot(DIM + 1, &bytes, 2).is_err());
        let mut nan = bytes.clone();
        let first_vector = 8 + 32 + 8 * (EXACT_LIMIT + 499);
        nan[first_vector..first_vector + 2].copy_from_slice(&0x7e00u16.to_le_bytes());
        assert_eq!(GalleryIndex::from_snapshot(DIM, &nan, 2).err(), Some(IndexError::NonFinite));
    }

    #[test]
    fn from_items_refuses_repeated_keys() {
        let small = Gallery::generate(10, 1..=1, 1);
        let index = GalleryIndex::from_items(DIM, small.items(), 2).unwrap();
        assert_eq!((index.kind(), index.len()), ("exact", 10));
        assert!(matches!(
            GalleryIndex::from_items(DIM, vec![(3, vec![1.0; DIM]), (3, vec![1.0; DIM])], 2),
            Err(IndexError::DuplicateKey(3))
        ));
    }

    #[test]
    fn concurrent_searches_during_inserts_and_removals() {
        let gallery = Gallery::generate(1200, 1..=2, 33);
        let faces = gallery.faces();
        let index = GalleryIndex::with_limit(DIM, 400).unwrap();
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
        assert_eq!(index.kind(), "screened");
        let expected: Vec<FaceKey> = faces.iter().map(|f| f.key).filter(|k| k % 10 != 0).collect();
        assert_eq!(index.len(), expected.len());
        for face in faces {
            assert_eq!(index.contains(face.key), face.key % 10 != 0, "key {}", face.key);
        }
        for face in faces.iter().filter(|f| f.key % 10 != 0) {
            assert_eq!(index.search(&face.vector, 1).unwrap()[0].key, face.key);
        }
    }
}
