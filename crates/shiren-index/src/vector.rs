//! Validation, normalisation and the f32 dot products every index ranks with.
//!
//! The dot products are written as fixed-width lane loops so the compiler vectorises them; on
//! x86-64 a copy compiled for AVX2 is chosen at run time (the release target is baseline x86-64,
//! SSE2 only).

use half::f16;

use crate::IndexError;

/// Independent accumulators per loop step: wide enough for two AVX registers, so the additions
/// do not wait on each other.
const LANES: usize = 16;

/// Keys from here up are the indexes' own (see [`IndexError::ReservedKey`]); the store's face
/// keys are positive `i64`s, far below.
pub(crate) const FIRST_RESERVED_KEY: crate::FaceKey = 1 << 63;

/// Refuses the keys no index accepts.
pub(crate) fn check_key(key: crate::FaceKey) -> Result<(), IndexError> {
    if key >= FIRST_RESERVED_KEY { Err(IndexError::ReservedKey(key)) } else { Ok(()) }
}

/// Checks `vector` against `dim` and returns it L2-normalised.
pub(crate) fn normalised(vector: &[f32], dim: usize) -> Result<Vec<f32>, IndexError> {
    if vector.len() != dim {
        return Err(IndexError::Dimension { expected: dim, got: vector.len() });
    }
    if vector.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::NonFinite);
    }
    // f64 so that large finite components cannot overflow the sum of squares, nor tiny ones
    // underflow it to zero.
    let norm = vector.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(IndexError::ZeroVector);
    }
    Ok(vector.iter().map(|&v| (f64::from(v) / norm) as f32).collect())
}

/// Cosine similarity of two vectors of the same length, computed like the indexes compute it
/// (f32, normalised first). `None` when the lengths differ or either has no direction or a
/// non-finite component.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    let a = normalised(a, a.len()).ok()?;
    let b = normalised(b, a.len()).ok()?;
    Some(clamp(dot(&a, &b)))
}

/// A dot product of unit vectors can stray just past ±1 through rounding.
#[inline]
pub(crate) fn clamp(similarity: f32) -> f32 {
    similarity.clamp(-1.0, 1.0)
}

/// f32 dot product.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Rounds a unit-vector component to half precision, flushing f16 subnormals (|x| < 6.1e-5) to
/// zero. That costs at most 6.1e-5 per component of a unit vector — far below the f16 rounding of
/// the large components — and lets [`widen`] convert back with one multiply and no special cases.
#[inline]
pub(crate) fn narrow(x: f32) -> f16 {
    let h = f16::from_f32(x);
    if h.classify() == std::num::FpCategory::Subnormal { f16::ZERO } else { h }
}

/// f16 bits → f32 for finite, non-subnormal halves (all that [`narrow`] stores): move sign,
/// exponent and mantissa into the f32 positions, then rebias the exponent by multiplying with
/// 2^(127-15). Plain integer and float operations, so the scan loop vectorises; the general
/// conversion in `half` is a branchy function call per element without F16C.
#[inline(always)]
fn widen(h: u16) -> f32 {
    const REBIAS: f32 = f32::from_bits((127 + 112) << 23); // 2^112
    let h = u32::from(h);
    f32::from_bits(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)) * REBIAS
}

/// Dot products of `query` with each `dim`-long row of `rows`, in order, written to `out`.
pub(crate) fn dot_rows(query: &[f32], rows: &[f16], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `dot_rows_avx2` only differs from the portable loop in being compiled for
            // AVX2, and the CPU was just checked to support AVX2.
            unsafe { dot_rows_avx2(query, rows, out) };
            return;
        }
    }
    dot_rows_portable(query, rows, out);
}

/// Dot products of `query` with the rows of `rows` at `slots` (row `s` is `rows[s*dim..]`), written
/// to `out` in the order of `slots`. Same kernel as [`dot_rows`], so the same row gives the same
/// bits either way. Slots past the end score `-inf` (callers pass only slots they hold).
pub(crate) fn dot_slots(query: &[f32], rows: &[f16], slots: &[u32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as for `dot_rows_avx2`: the portable loop compiled for AVX2, on a CPU that
            // was just checked to have it.
            unsafe { dot_slots_avx2(query, rows, slots, out) };
            return;
        }
    }
    dot_slots_portable(query, rows, slots, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_rows_avx2(query: &[f32], rows: &[f16], out: &mut [f32]) {
    dot_rows_portable(query, rows, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_slots_avx2(query: &[f32], rows: &[f16], slots: &[u32], out: &mut [f32]) {
    dot_slots_portable(query, rows, slots, out);
}

#[inline(always)]
fn dot_rows_portable(query: &[f32], rows: &[f16], out: &mut [f32]) {
    let dim = query.len();
    if dim == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_row(query, row);
    }
}

#[inline(always)]
fn dot_slots_portable(query: &[f32], rows: &[f16], slots: &[u32], out: &mut [f32]) {
    let dim = query.len();
    for (i, (&slot, o)) in slots.iter().zip(out.iter_mut()).enumerate() {
        // Candidates are scattered over the array: ask for a row a few candidates ahead so its
        // cache lines arrive while this one is summed (the hardware prefetcher only follows a row
        // once it is being read).
        if let Some(&ahead) = slots.get(i + PREFETCH_AHEAD) {
            prefetch_row(rows, ahead as usize * dim, dim);
        }
        let start = slot as usize * dim;
        *o = match rows.get(start..start + dim) {
            Some(row) => dot_row(query, row),
            None => f32::NEG_INFINITY,
        };
    }
}

/// How many candidates ahead [`dot_slots`] prefetches.
const PREFETCH_AHEAD: usize = 4;

/// Hints the cache to load `rows[start..start + dim]`; no effect on results, nothing when out of
/// range.
#[inline(always)]
fn prefetch_row(rows: &[f16], start: usize, dim: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        if let Some(row) = rows.get(start..start + dim) {
            // 64-byte cache lines hold 32 halves.
            for line in row.chunks(32) {
                // SAFETY: a prefetch never faults nor changes memory; the address is a live
                // element of `rows`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>()) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (rows, start, dim);
}

#[inline(always)]
fn dot_row(query: &[f32], row: &[f16]) -> f32 {
    let mut acc = [0f32; LANES];
    let (qc, rc) = (query.chunks_exact(LANES), row.chunks_exact(LANES));
    let tail: f32 = qc.remainder().iter().zip(rc.remainder()).map(|(q, r)| q * widen(r.to_bits())).sum();
    for (q, r) in qc.zip(rc) {
        for i in 0..LANES {
            acc[i] += q[i] * widen(r[i].to_bits());
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Decodes a stored row back to f32.
pub(crate) fn widen_row(row: &[f16]) -> Vec<f32> {
    row.iter().map(|h| widen(h.to_bits())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_matches_half_for_every_stored_value() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            if !h.is_finite() || h.classify() == std::num::FpCategory::Subnormal {
                continue;
            }
            assert_eq!(widen(bits).to_bits(), h.to_f32().to_bits(), "bits {bits:#06x}");
        }
    }

    #[test]
    fn narrow_flushes_subnormals() {
        assert_eq!(narrow(1e-6), f16::ZERO);
        assert_eq!(narrow(0.5), f16::from_f32(0.5));
    }

    #[test]
    fn dot_rows_equals_plain_dot() {
        let dim = 37;
        let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let rows_f32: Vec<f32> = (0..dim * 3).map(|i| (i as f32 * 0.11).cos() * 0.3).collect();
        let rows: Vec<f16> = rows_f32.iter().map(|&x| narrow(x)).collect();
        let mut out = [0f32; 3];
        dot_rows(&q, &rows, &mut out);
        for (r, o) in rows.chunks_exact(dim).zip(out) {
            let expect: f32 = q.iter().zip(r).map(|(a, b)| a * b.to_f32()).sum();
            assert!((expect - o).abs() < 1e-5, "{expect} vs {o}");
        }
    }

    #[test]
    fn normalised_rejects_bad_vectors() {
        assert_eq!(normalised(&[1.0, 2.0], 3), Err(IndexError::Dimension { expected: 3, got: 2 }));
        assert_eq!(normalised(&[1.0, f32::NAN], 2), Err(IndexError::NonFinite));
        assert_eq!(normalised(&[0.0, -0.0], 2), Err(IndexError::ZeroVector));
        let v = normalised(&[3e38, 3e38], 2).unwrap();
        assert!((v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }
}
