//! [`ScreenedIndex`]: a flat scan of short binary codes that picks candidates, then the exact f16
//! scan's arithmetic over the candidates only.
//!
//! Why not only the graph: on face templates a probe's own person sits far above everybody else
//! (genuine cosine ≈ 0.65, impostors ≈ N(0, 0.09)) but the impostors form a near-uniform cloud
//! with an effective dimension near 120, the case where greedy graph routing loses its way. HNSW
//! (M 32, ef_search 512) still missed one same-person face in ten at a million faces while costing
//! 17 ms a probe. A sign code does not route, it compares every face: its cost grows linearly but
//! at 128 bytes a face instead of 1 KiB, and what it misses is bounded by the code's noise, not by
//! the graph's shape. Measured against HNSW with `shiren bench search` (figures in the README).
//!
//! How a face is coded: its unit vector is zero-padded to a power of two, turned by a fixed
//! pseudo-random rotation (three rounds of random signs and a Walsh–Hadamard transform, so no
//! 512×512 matrix is stored or multiplied) and reduced to the signs of the result. Two faces'
//! codes then differ in about θ/π of their bits, θ the angle between them, whatever the spectrum
//! of the templates (random hyperplanes; Charikar 2002). A search computes the probe's Hamming
//! distance to every code, takes the `candidates` closest (by counting distances, no sort), and
//! re-ranks them with the same f16 dot product as [`crate::ExactIndex`], so every reported
//! similarity is bit for bit the exact scan's.
//!
//! The Walsh–Hadamard transform is written here: it is a dozen lines, and the crates that offer
//! it bring FFT machinery this index does not need.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{PoisonError, RwLock};

use crate::exact::Flat;
use crate::topk::TopK;
use crate::vector::{clamp, dot_slots, narrow, normalised};
use crate::{FaceIndex, FaceKey, Hit, IndexError};

/// How many bits a face's code has and how many candidates a search re-ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenParams {
    /// Code length in bits: rounded up to a multiple of the padded dimension (512 for ArcFace),
    /// each multiple coded through its own rotation.
    pub code_bits: usize,
    /// Faces re-ranked exactly per search, at least: the closest codes.
    pub candidates: usize,
    /// ... or this many per million faces held, when that is more.
    pub candidates_per_million: usize,
    /// Up to this many faces a search skips the codes and scans every face exactly (faster there
    /// than codes plus re-ranking; see [`crate::gallery::EXACT_LIMIT`]).
    pub exact_below: usize,
}

impl Default for ScreenParams {
    /// Measured at a million synthetic faces with `shiren bench search` (README): 1,024 bits and
    /// 5,000 candidates give recall@1 1.000 and recall@10 0.999 against the exact scan.
    fn default() -> Self {
        Self {
            code_bits: 1024,
            candidates: MIN_CANDIDATES,
            candidates_per_million: 5_000,
            exact_below: crate::gallery::EXACT_LIMIT,
        }
    }
}

impl ScreenParams {
    /// Candidates re-ranked when the index holds `faces`.
    pub fn candidates_for(&self, faces: usize) -> usize {
        let scaled = (faces as u128 * self.candidates_per_million as u128 / 1_000_000) as usize;
        self.candidates.max(scaled).max(1)
    }
}

/// Largest dimension and code length: distances are counted in u16 (half the scratch memory of
/// u32 per searching thread), and 32,768 bits is far past any useful code.
const MAX_DIM: usize = 16_384;
const MAX_CODE_BITS: usize = 32_768;

/// Faces an index holds at most: slots are u32.
const MAX_FACES: usize = u32::MAX as usize;

/// Rows whose stored codes are recomputed to check a snapshot's codes.
const CODE_SAMPLE: usize = 64;

/// The default re-ranking budget's floor: even a small gallery's search re-ranks this many.
pub const MIN_CANDIDATES: usize = 2_000;

/// Seed of the rotation: fixed, so every node and every restart codes a face the same way.
const ROTATION_SEED: u64 = 0x5348_4952_454e_3130;

/// First bytes of a snapshot, and its header's length (magic, dim, code bits, rotation seed,
/// faces).
const SNAPSHOT_MAGIC: &[u8; 8] = b"SHSCRN01";
const SNAPSHOT_HEADER: usize = 8 + 4 * 8;

/// Distances scored per block before their slots are re-ranked.
const BLOCK: usize = 256;

pub struct ScreenedIndex {
    dim: usize,
    params: ScreenParams,
    rotation: Rotation,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    flat: Flat,
    /// `words` u64 per face, in the order of `flat`'s rows.
    codes: Vec<u64>,
}

impl ScreenedIndex {
    pub fn new(dim: usize, params: ScreenParams) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::ZeroDimension);
        }
        if dim > MAX_DIM {
            return Err(IndexError::Limit(format!("{dim} dimensions, at most {MAX_DIM}")));
        }
        Ok(Self { dim, params, rotation: Rotation::new(dim, params.code_bits), inner: RwLock::new(Inner::default()) })
    }

    /// Bulk load on `threads` threads (the codes); fails on the first invalid vector or repeated
    /// key.
    pub fn from_items(
        dim: usize,
        items: impl IntoIterator<Item = (FaceKey, Vec<f32>)>,
        params: ScreenParams,
        threads: usize,
    ) -> Result<Self, IndexError> {
        let index = Self::new(dim, params)?;
        index.extend(items.into_iter().collect(), threads)?;
        Ok(index)
    }

    /// Adds a batch of faces, coding them on `threads` threads outside the lock (a start-up
    /// reads a gallery page by page into this, so only one page of f32 templates is held at a
    /// time). Stops at the first invalid vector or repeated key; the faces before it stay.
    pub fn extend(&self, items: Vec<(FaceKey, Vec<f32>)>, threads: usize) -> Result<(), IndexError> {
        // Validated and rounded to what is stored first, so each code is that of the stored row.
        let mut stored = Vec::with_capacity(items.len());
        let mut failure = None;
        for (key, vector) in items {
            match normalised(&vector, self.dim) {
                Ok(unit) => stored.push((key, unit.iter().map(|&x| narrow(x).to_f32()).collect::<Vec<f32>>())),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let words = self.rotation.words();
        let mut codes = vec![0u64; stored.len() * words];
        self.code_parallel(&stored, |(_, unit)| Cow::Borrowed(unit), &mut codes, threads);
        let mut inner = self.write();
        inner.flat.reserve(stored.len(), self.dim);
        inner.codes.reserve(codes.len());
        for ((key, unit), code) in stored.iter().zip(codes.chunks_exact(words)) {
            if inner.flat.keys.len() >= MAX_FACES {
                return Err(IndexError::Limit(format!("the index holds {MAX_FACES} faces already")));
            }
            // Each face's row and code go in together, so an error leaves them in step.
            inner.flat.push(*key, unit)?;
            inner.codes.extend_from_slice(code);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Returns the arrays' spare capacity (left by batches added one after another).
    pub fn shrink_to_fit(&self) {
        let mut inner = self.write();
        inner.flat.vectors.shrink_to_fit();
        inner.flat.keys.shrink_to_fit();
        inner.flat.slots.shrink_to_fit();
        inner.codes.shrink_to_fit();
    }

    pub fn params(&self) -> ScreenParams {
        self.params
    }

    /// Changes the re-ranking budget (benchmarks sweep it; the codes do not change).
    pub fn set_candidates(&mut self, candidates: usize, candidates_per_million: usize) {
        self.params.candidates = candidates;
        self.params.candidates_per_million = candidates_per_million;
    }

    /// The index as bytes for a snapshot: keys, vectors and codes, with the code layout so that
    /// [`ScreenedIndex::from_bytes`] can tell whether the codes are still valid. Nothing of a
    /// removed face is in it (removal keeps the arrays dense).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Copied under the lock (a memcpy: ~0.1 s at a million faces) and encoded outside it, so
        // a change waiting for the write lock does not hold up searches for the whole encoding.
        let (keys, vectors, codes) = {
            let inner = self.read();
            (inner.flat.keys.clone(), inner.flat.vectors.clone(), inner.codes.clone())
        };
        let faces = keys.len();
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER + faces * 8 + vectors.len() * 2 + codes.len() * 8);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&(self.dim as u64).to_le_bytes());
        out.extend_from_slice(&(self.rotation.bits() as u64).to_le_bytes());
        out.extend_from_slice(&ROTATION_SEED.to_le_bytes());
        out.extend_from_slice(&(faces as u64).to_le_bytes());
        keys.iter().for_each(|key| out.extend_from_slice(&key.to_le_bytes()));
        drop(keys);
        vectors.iter().for_each(|half| out.extend_from_slice(&half.to_bits().to_le_bytes()));
        drop(vectors);
        codes.iter().for_each(|word| out.extend_from_slice(&word.to_le_bytes()));
        out
    }

    /// An index from [`ScreenedIndex::to_bytes`]. The bytes are checked (layout, lengths, keys,
    /// finite unit vectors), not trusted. The stored codes are used only when they were made
    /// with this length and rotation seed and a sample of them recomputes to the same bits (so a
    /// change to the coding can never serve stale codes); otherwise every code is recomputed on
    /// `threads` threads.
    pub fn from_bytes(dim: usize, bytes: &[u8], params: ScreenParams, threads: usize) -> Result<Self, IndexError> {
        let corrupt = |what: &str| IndexError::Snapshot(what.to_string());
        let index = Self::new(dim, params)?;
        let (header, body) =
            bytes.split_at_checked(SNAPSHOT_HEADER).ok_or_else(|| corrupt("shorter than its header"))?;
        let field = |i: usize| u64::from_le_bytes(header[8 + 8 * i..16 + 8 * i].try_into().unwrap_or_default());
        if &header[..8] != SNAPSHOT_MAGIC {
            return Err(corrupt("not a screened-index snapshot"));
        }
        if field(0) != dim as u64 {
            return Err(IndexError::Dimension { expected: dim, got: field(0) as usize });
        }
        let (bits, seed) = (field(1) as usize, field(2));
        let faces = usize::try_from(field(3)).map_err(|_| corrupt("face count"))?;
        if faces > MAX_FACES {
            return Err(IndexError::Limit(format!("{faces} faces, at most {MAX_FACES}")));
        }
        let stored_words = bits / 64;
        let lengths = faces
            .checked_mul(8)
            .zip(faces.checked_mul(dim * 2))
            .zip(faces.checked_mul(stored_words).and_then(|w| w.checked_mul(8)))
            .map(|((k, v), c)| (k, v, c))
            .ok_or_else(|| corrupt("face count"))?;
        let total = lengths.0.checked_add(lengths.1).and_then(|n| n.checked_add(lengths.2));
        if bits % 64 != 0 || total != Some(body.len()) {
            return Err(corrupt("length does not match its face count"));
        }
        let (keys, rest) = body.split_at(lengths.0);
        let (vectors, codes) = rest.split_at(lengths.1);
        let mut inner = Inner::default();
        inner.flat.keys.reserve(faces);
        inner.flat.slots.reserve(faces);
        inner.flat.vectors =
            vectors.chunks_exact(2).map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]]))).collect();
        if inner.flat.vectors.iter().any(|h| !h.is_finite()) {
            return Err(IndexError::NonFinite);
        }
        // Every stored row is a unit vector rounded to f16: a row far off unit length would
        // score wrongly (and be clamped to 1.0 against every probe).
        for row in inner.flat.vectors.chunks_exact(dim) {
            let norm: f32 = row.iter().map(|h| h.to_f32() * h.to_f32()).sum();
            if (norm - 1.0).abs() > 0.01 {
                return Err(corrupt("a stored vector is not of unit length"));
            }
        }
        for (slot, key) in keys.chunks_exact(8).enumerate() {
            let key = u64::from_le_bytes(key.try_into().unwrap_or_default());
            crate::vector::check_key(key)?;
            if inner.flat.slots.insert(key, slot).is_some() {
                return Err(IndexError::DuplicateKey(key));
            }
            inner.flat.keys.push(key);
        }
        let words = index.rotation.words();
        if bits == index.rotation.bits() && seed == ROTATION_SEED {
            inner.codes = codes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())).collect();
        }
        if inner.codes.len() != faces * words || !index.codes_agree(&inner, CODE_SAMPLE) {
            tracing::info!(faces, "index snapshot: its codes were made another way; recomputing them");
            inner.codes = vec![0u64; faces * words];
            let rows: Vec<&[half::f16]> = inner.flat.vectors.chunks_exact(dim).collect();
            index.code_parallel(&rows, |row| Cow::Owned(crate::vector::widen_row(row)), &mut inner.codes, threads);
        }
        *index.write() = inner;
        Ok(index)
    }

    /// Whether the codes of up to `sample` rows, spread over the index, are what this index's
    /// rotation makes of their vectors.
    fn codes_agree(&self, inner: &Inner, sample: usize) -> bool {
        let (faces, words) = (inner.flat.keys.len(), self.rotation.words());
        let step = faces.div_ceil(sample.max(1)).max(1);
        let mut work = self.rotation.workspace();
        let mut code = vec![0u64; words];
        (0..faces).step_by(step).all(|slot| {
            let row = &inner.flat.vectors[slot * self.dim..(slot + 1) * self.dim];
            self.rotation.code(&crate::vector::widen_row(row), &mut work, &mut code);
            inner.codes.get(slot * words..(slot + 1) * words) == Some(&code[..])
        })
    }

    /// Every face's code is what its stored vector codes to (tests).
    #[cfg(test)]
    fn codes_match_vectors(&self) -> bool {
        let inner = self.read();
        inner.codes.len() == inner.flat.keys.len() * self.rotation.words() && self.codes_agree(&inner, usize::MAX)
    }

    /// Codes of `rows` into `codes` (`words()` per row, in order), on `threads` threads;
    /// `unit` gives a row's vector as stored.
    fn code_parallel<R: Sync>(
        &self,
        rows: &[R],
        unit: impl Fn(&R) -> Cow<'_, [f32]> + Sync,
        codes: &mut [u64],
        threads: usize,
    ) {
        let words = self.rotation.words();
        let per_thread = rows.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (part, out) in rows.chunks(per_thread).zip(codes.chunks_mut(per_thread * words)) {
                let (rotation, unit) = (&self.rotation, &unit);
                scope.spawn(move || {
                    let mut work = rotation.workspace();
                    for (row, code) in part.iter().zip(out.chunks_exact_mut(words)) {
                        rotation.code(&unit(row), &mut work, code);
                    }
                });
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // Every method leaves `flat` and `codes` consistent before it can panic (the pushes that
        // can fail come first), so a poisoned lock still guards consistent data.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaceIndex for ScreenedIndex {
    fn insert(&self, key: FaceKey, vector: &[f32]) -> Result<(), IndexError> {
        let unit = normalised(vector, self.dim)?;
        // Coded from the stored half-precision vector, as a bulk load or a snapshot codes it.
        let stored: Vec<f32> = unit.iter().map(|&x| narrow(x).to_f32()).collect();
        let mut code = vec![0u64; self.rotation.words()];
        self.rotation.code(&stored, &mut self.rotation.workspace(), &mut code);
        let mut inner = self.write();
        if inner.flat.keys.len() >= MAX_FACES {
            return Err(IndexError::Limit(format!("the index holds {MAX_FACES} faces already")));
        }
        inner.flat.push(key, &unit)?;
        inner.codes.extend_from_slice(&code);
        Ok(())
    }

    fn remove(&self, key: FaceKey) -> Result<bool, IndexError> {
        let mut inner = self.write();
        let Some((slot, last)) = inner.flat.remove(key, self.dim) else {
            return Ok(false);
        };
        let words = self.rotation.words();
        if slot != last {
            inner.codes.copy_within(last * words..(last + 1) * words, slot * words);
        }
        inner.codes.truncate(last * words);
        Ok(true)
    }

    fn contains(&self, key: FaceKey) -> bool {
        self.read().flat.slots.contains_key(&key)
    }

    fn len(&self) -> usize {
        self.read().flat.keys.len()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let query = normalised(query, self.dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let inner = self.read();
        let faces = inner.flat.keys.len();
        let wanted = self.params.candidates_for(faces).max(k);
        // Where every face would be a candidate, the plain scan gives the same answer cheaper.
        if faces <= self.params.exact_below || wanted >= faces {
            return Ok(inner.flat.search(&query, k, self.dim));
        }
        let words = self.rotation.words();
        let mut code = vec![0u64; words];
        self.rotation.code(&query, &mut self.rotation.workspace(), &mut code);
        SCRATCH.with_borrow_mut(|scratch| {
            let slots = scratch.candidates(&inner.codes, &code, words, faces, wanted, self.rotation.bits());
            let mut top = TopK::new(k);
            let mut scores = [0f32; BLOCK];
            for block in slots.chunks(BLOCK) {
                let scores = &mut scores[..block.len()];
                dot_slots(&query, &inner.flat.vectors, block, scores);
                for (&slot, &score) in block.iter().zip(scores.iter()) {
                    if let Some(&key) = inner.flat.keys.get(slot as usize)
                        && score.is_finite()
                    {
                        top.push(key, clamp(score));
                    }
                }
            }
            Ok(top.into_sorted())
        })
    }

    fn memory_bytes(&self) -> usize {
        let inner = self.read();
        inner.flat.memory_bytes() + inner.codes.capacity() * size_of::<u64>()
    }

    fn kind(&self) -> &'static str {
        if self.len() <= self.params.exact_below { "exact" } else { "screened" }
    }
}

thread_local! {
    /// Per-thread buffers of the candidate pass (a million faces need 2 MB of distances; reused,
    /// not reallocated per search).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch {
    distances: Vec<u16>,
    histogram: Vec<u32>,
    slots: Vec<u32>,
}

impl Scratch {
    /// The slots of the `wanted` codes closest to `probe` (ties at the cut-off distance broken
    /// by slot), in slot order.
    fn candidates(
        &mut self,
        codes: &[u64],
        probe: &[u64],
        words: usize,
        faces: usize,
        wanted: usize,
        bits: usize,
    ) -> &[u32] {
        self.slots.clear();
        self.distances.clear();
        self.distances.resize(faces, 0);
        self.histogram.clear();
        self.histogram.resize(bits + 1, 0);
        hamming_scan(&codes[..faces * words], probe, &mut self.distances, &mut self.histogram);
        // The cut: the distance at which the codes at or below it reach `wanted`. All codes
        // below it are taken and, of those at it, only as many as are still wanted (the first in
        // slot order), so a crowd of identical codes cannot inflate the re-ranking.
        let mut cut = 0usize;
        let mut below = 0usize;
        for (distance, &count) in self.histogram.iter().enumerate() {
            cut = distance;
            if below + count as usize >= wanted {
                break;
            }
            below += count as usize;
        }
        let (cut, mut at_cut) = (cut as u16, wanted.saturating_sub(below));
        for (slot, &distance) in self.distances.iter().enumerate() {
            if distance < cut || (distance == cut && at_cut > 0) {
                at_cut -= usize::from(distance == cut);
                self.slots.push(slot as u32);
            }
        }
        &self.slots
    }
}

/// Hamming distance of `probe` to every code, and their histogram.
fn hamming_scan(codes: &[u64], probe: &[u64], distances: &mut [u16], histogram: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the portable loop compiled with the POPCNT instruction enabled, on a CPU
            // that was just checked to have it.
            unsafe { hamming_scan_popcnt(codes, probe, distances, histogram) };
            return;
        }
    }
    hamming_scan_portable(codes, probe, distances, histogram);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_scan_popcnt(codes: &[u64], probe: &[u64], distances: &mut [u16], histogram: &mut [u32]) {
    hamming_scan_portable(codes, probe, distances, histogram);
}

#[inline(always)]
fn hamming_scan_portable(codes: &[u64], probe: &[u64], distances: &mut [u16], histogram: &mut [u32]) {
    match probe.len() {
        8 => hamming_fixed::<8>(codes, probe, distances, histogram),
        16 => hamming_fixed::<16>(codes, probe, distances, histogram),
        words => {
            for (code, d) in codes.chunks_exact(words.max(1)).zip(distances.iter_mut()) {
                let distance: u32 = code.iter().zip(probe).map(|(a, b)| (a ^ b).count_ones()).sum();
                *d = distance as u16;
                if let Some(bucket) = histogram.get_mut(distance as usize) {
                    *bucket += 1;
                }
            }
        }
    }
}

/// The loop above for a code length known at compile time, so it unrolls.
#[inline(always)]
fn hamming_fixed<const WORDS: usize>(codes: &[u64], probe: &[u64], distances: &mut [u16], histogram: &mut [u32]) {
    let Ok(probe) = <&[u64; WORDS]>::try_from(probe) else {
        return;
    };
    for (code, d) in codes.chunks_exact(WORDS).zip(distances.iter_mut()) {
        let mut distance = 0u32;
        for i in 0..WORDS {
            distance += (code[i] ^ probe[i]).count_ones();
        }
        *d = distance as u16;
        if let Some(bucket) = histogram.get_mut(distance as usize) {
            *bucket += 1;
        }
    }
}

/// The fixed pseudo-random rotation and sign coding (see the module text).
struct Rotation {
    dim: usize,
    /// Power of two ≥ dim.
    padded: usize,
    /// Per block of `padded` bits, three rounds of ±1 signs.
    signs: Vec<[Vec<f32>; 3]>,
}

impl Rotation {
    fn new(dim: usize, code_bits: usize) -> Self {
        let padded = dim.next_power_of_two().max(64);
        // At most MAX_CODE_BITS, so that a distance fits the u16 the scan counts in.
        let blocks = code_bits.div_ceil(padded).clamp(1, (MAX_CODE_BITS / padded).max(1));
        let mut state = ROTATION_SEED;
        let mut next_sign = move || {
            // splitmix64: one well-mixed bit per call is plenty for a sign.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            if (z ^ (z >> 31)) & 1 == 0 { 1.0f32 } else { -1.0 }
        };
        let signs = (0..blocks)
            .map(|_| std::array::from_fn(|_| (0..padded).map(|_| next_sign()).collect::<Vec<f32>>()))
            .collect();
        Self { dim, padded, signs }
    }

    fn bits(&self) -> usize {
        self.padded * self.signs.len()
    }

    fn words(&self) -> usize {
        self.bits() / 64
    }

    fn workspace(&self) -> Vec<f32> {
        vec![0.0; self.padded]
    }

    /// Writes the sign code of `unit` (length `dim`) into `code` (`words()` long).
    fn code(&self, unit: &[f32], work: &mut [f32], code: &mut [u64]) {
        let per_block = self.padded / 64;
        for (rounds, out) in self.signs.iter().zip(code.chunks_exact_mut(per_block)) {
            work[..self.dim].copy_from_slice(&unit[..self.dim]);
            work[self.dim..].iter_mut().for_each(|x| *x = 0.0);
            for signs in rounds {
                work.iter_mut().zip(signs).for_each(|(x, s)| *x *= s);
                walsh_hadamard(work);
            }
            for (word, chunk) in out.iter_mut().zip(work.chunks_exact(64)) {
                *word = chunk.iter().enumerate().fold(0u64, |w, (bit, &x)| w | (u64::from(x > 0.0) << bit));
            }
        }
    }
}

/// In-place unnormalised fast Walsh–Hadamard transform (`x.len()` a power of two): only the
/// signs of the result are used, so the √n scale is left out.
fn walsh_hadamard(x: &mut [f32]) {
    let n = x.len();
    let mut half = 1;
    while half < n {
        for block in x.chunks_exact_mut(2 * half) {
            let (left, right) = block.split_at_mut(half);
            for (a, b) in left.iter_mut().zip(right.iter_mut()) {
                let (u, v) = (*a, *b);
                *a = u + v;
                *b = u - v;
            }
        }
        half *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExactIndex;
    use crate::synthetic::Gallery;

    #[test]
    fn walsh_hadamard_is_orthogonal_up_to_scale() {
        let mut x: Vec<f32> = (0..8).map(|i| (i as f32 * 0.7).sin()).collect();
        let original = x.clone();
        walsh_hadamard(&mut x);
        walsh_hadamard(&mut x);
        for (a, b) in x.iter().zip(&original) {
            assert!((a / 8.0 - b).abs() < 1e-5);
        }
    }

    #[test]
    fn code_distance_tracks_the_angle() {
        let rotation = Rotation::new(512, 1024);
        let gallery = Gallery::generate(50, 2..=2, 3);
        let faces = gallery.faces();
        let mut work = rotation.workspace();
        let code = |v: &[f32], work: &mut Vec<f32>| {
            let mut c = vec![0u64; rotation.words()];
            rotation.code(v, work, &mut c);
            c
        };
        let mut worst = 0f64;
        for pair in faces.chunks_exact(2).chain(faces[1..].chunks_exact(2)) {
            let (a, b) = (code(&pair[0].vector, &mut work), code(&pair[1].vector, &mut work));
            let differing: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
            let estimate = (std::f64::consts::PI * f64::from(differing) / rotation.bits() as f64).cos();
            let exact = f64::from(crate::cosine(&pair[0].vector, &pair[1].vector).unwrap());
            worst = worst.max((estimate - exact).abs());
        }
        // 1024 random hyperplanes: the estimate's spread is about 0.05; five spreads is a bug.
        assert!(worst < 0.25, "worst code estimate off by {worst}");
    }

    #[test]
    fn same_answers_as_the_exact_scan_when_every_face_is_a_candidate() {
        let gallery = Gallery::generate(300, 1..=4, 11);
        let params = ScreenParams { candidates: usize::MAX, exact_below: 0, ..ScreenParams::default() };
        let screened = ScreenedIndex::from_items(512, gallery.items(), params, 2).unwrap();
        let exact = ExactIndex::from_items(512, gallery.items()).unwrap();
        for identity in 0..30 {
            let probe = gallery.probe(identity, 77);
            assert_eq!(screened.search(&probe, 7).unwrap(), exact.search(&probe, 7).unwrap());
        }
    }

    #[test]
    fn a_small_candidate_budget_still_finds_the_same_person() {
        let gallery = Gallery::generate(3_000, 1..=3, 5);
        let params =
            ScreenParams { candidates: 100, candidates_per_million: 0, exact_below: 0, ..ScreenParams::default() };
        let screened = ScreenedIndex::from_items(512, gallery.items(), params, 2).unwrap();
        let exact = ExactIndex::from_items(512, gallery.items()).unwrap();
        let mut same_top = 0;
        for identity in 0..200 {
            let probe = gallery.probe(identity, 9);
            let (got, want) = (screened.search(&probe, 1).unwrap(), exact.search(&probe, 1).unwrap());
            // Whatever is found carries the exact scan's similarity.
            assert_eq!(exact.search(&probe, 6000).unwrap().iter().find(|h| h.key == got[0].key), Some(&got[0]));
            same_top += usize::from(got == want);
        }
        assert!(same_top >= 198, "{same_top} of 200 probes found the exact top face");
    }

    #[test]
    fn insert_remove_keep_codes_in_step() {
        let gallery = Gallery::generate(400, 1..=3, 21);
        let params =
            ScreenParams { candidates: 50, candidates_per_million: 0, exact_below: 0, ..ScreenParams::default() };
        let index = ScreenedIndex::new(512, params).unwrap();
        for face in gallery.faces() {
            index.insert(face.key, &face.vector).unwrap();
        }
        assert_eq!(index.insert(0, &gallery.faces()[0].vector), Err(IndexError::DuplicateKey(0)));
        // Remove every other face: the moved faces must keep their own codes.
        for face in gallery.faces().iter().step_by(2) {
            assert!(index.remove(face.key).unwrap());
        }
        assert!(!index.remove(0).unwrap());
        assert!(index.codes_match_vectors(), "the faces moved into freed slots took their codes along");
        let restored = ScreenedIndex::from_bytes(512, &index.to_bytes(), params, 2).unwrap();
        assert!(restored.codes_match_vectors());
        let exact = ExactIndex::from_items(512, gallery.items().skip(1).step_by(2)).unwrap();
        assert_eq!(index.len(), exact.len());
        for face in gallery.faces().iter().skip(1).step_by(2).take(40) {
            let hits = index.search(&face.vector, 1).unwrap();
            assert_eq!(hits[0].key, face.key, "a stored face finds itself");
            assert_eq!(hits, exact.search(&face.vector, 1).unwrap());
        }
        for face in gallery.faces().iter().step_by(2) {
            assert!(index.search(&face.vector, 3).unwrap().iter().all(|h| h.key != face.key));
        }
    }

    #[test]
    fn extend_stops_at_the_first_bad_face_and_keeps_codes_in_step() {
        let gallery = Gallery::generate(40, 1..=1, 2);
        let params =
            ScreenParams { candidates: 5, candidates_per_million: 0, exact_below: 0, ..ScreenParams::default() };
        let index = ScreenedIndex::new(512, params).unwrap();
        let mut items: Vec<(FaceKey, Vec<f32>)> = gallery.items().take(10).collect();
        items.insert(4, (999, vec![f32::NAN; 512]));
        assert_eq!(index.extend(items, 2), Err(IndexError::NonFinite));
        assert_eq!(index.len(), 4);
        let mut items: Vec<(FaceKey, Vec<f32>)> = gallery.items().skip(4).take(10).collect();
        items.push(gallery.items().next().unwrap());
        assert_eq!(index.extend(items, 2), Err(IndexError::DuplicateKey(0)));
        assert_eq!(index.len(), 14);
        assert!(index.codes_match_vectors());
        let exact = ExactIndex::from_items(512, gallery.items().take(14)).unwrap();
        for face in gallery.faces().iter().take(14) {
            // Each stored face finds itself through its code, with the exact scan's similarity.
            assert_eq!(index.search(&face.vector, 1).unwrap(), exact.search(&face.vector, 1).unwrap());
        }
    }

    #[test]
    fn identical_codes_do_not_inflate_the_candidates() {
        let params =
            ScreenParams { candidates: 10, candidates_per_million: 0, exact_below: 0, ..ScreenParams::default() };
        let index = ScreenedIndex::new(8, params).unwrap();
        for key in 0..500 {
            index.insert(key, &[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
        }
        index.insert(900, &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
        let inner = index.read();
        let mut code = vec![0u64; index.rotation.words()];
        index.rotation.code(
            &normalised(&[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 8).unwrap(),
            &mut index.rotation.workspace(),
            &mut code,
        );
        let mut scratch = Scratch::default();
        let slots = scratch.candidates(&inner.codes, &code, index.rotation.words(), 501, 10, index.rotation.bits());
        assert_eq!(slots, (0..10).collect::<Vec<u32>>(), "ten of the tied codes, first by slot");
    }

    #[test]
    fn snapshot_codes_made_another_way_are_recomputed() {
        let gallery = Gallery::generate(300, 1..=2, 8);
        let params =
            ScreenParams { candidates: 20, candidates_per_million: 0, exact_below: 0, ..ScreenParams::default() };
        let index = ScreenedIndex::from_items(512, gallery.items(), params, 2).unwrap();
        let mut bytes = index.to_bytes();
        // Flip every stored code bit: as if the rotation had changed under the same seed.
        let codes_at = bytes.len() - index.len() * index.rotation.words() * 8;
        bytes[codes_at..].iter_mut().for_each(|b| *b = !*b);
        let restored = ScreenedIndex::from_bytes(512, &bytes, params, 2).unwrap();
        assert!(restored.codes_match_vectors());
        let probe = gallery.probe(3, 5);
        assert_eq!(restored.search(&probe, 5).unwrap(), index.search(&probe, 5).unwrap());
        // A row that is not a unit vector is refused.
        let mut scaled = index.to_bytes();
        let first_vector = SNAPSHOT_HEADER + index.len() * 8;
        scaled[first_vector..first_vector + 2].copy_from_slice(&half::f16::from_f32(3.0).to_bits().to_le_bytes());
        assert!(matches!(ScreenedIndex::from_bytes(512, &scaled, params, 2), Err(IndexError::Snapshot(_))));
        // Absurd counts are refused before anything is allocated.
        let mut huge = index.to_bytes();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(ScreenedIndex::from_bytes(512, &huge, params, 2).is_err());
        let mut bits = index.to_bytes();
        bits[16..24].copy_from_slice(&(u64::MAX - 63).to_le_bytes());
        assert!(ScreenedIndex::from_bytes(512, &bits, params, 2).is_err());
    }

    #[test]
    fn rejects_bad_input_like_the_others() {
        let index = ScreenedIndex::new(4, ScreenParams::default()).unwrap();
        assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], 3).unwrap(), vec![]);
        assert_eq!(index.insert(1, &[1.0, f32::NAN, 0.0, 0.0]), Err(IndexError::NonFinite));
        assert_eq!(index.insert(1, &[0.0; 4]), Err(IndexError::ZeroVector));
        assert_eq!(index.insert(1 << 63, &[1.0; 4]), Err(IndexError::ReservedKey(1 << 63)));
        assert_eq!(index.search(&[1.0; 3], 1), Err(IndexError::Dimension { expected: 4, got: 3 }));
        assert!(index.is_empty());
        assert!(matches!(ScreenedIndex::new(1 << 20, ScreenParams::default()), Err(IndexError::Limit(_))));
        index.insert(9, &[0.0, 0.0, 3.0, 0.0]).unwrap();
        assert_eq!(index.search(&[0.0, 0.0, 1.0, 0.0], 5).unwrap(), vec![Hit { key: 9, similarity: 1.0 }]);
    }
}
