//! The crate's deterministic randomness: a SplitMix64 generator (tiny, fast, and good enough
//! for sensor noise; a dependency on `rand` would buy nothing here) and the approximately
//! Gaussian sensor noise drawn from it.

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood 2014): a 64-bit counter run through a mixing function.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one frame of one camera: the same (seed, frame) always gives the same
    /// noise, and neighbouring frames are unrelated (both inputs go through the mixer).
    pub fn for_frame(seed: u64, frame_index: u64) -> Self {
        let mut outer = Self::new(seed);
        let a = outer.next_u64();
        let mut inner = Self::new(a ^ frame_index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Self::new(inner.next_u64())
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// The `index`-th value (from 0) of the stream seeded with `seed`, without generating
    /// the ones before it: the generator is a counter, so any pixel's noise can be drawn in
    /// any order.
    #[inline]
    pub fn at(seed: u64, index: u64) -> u64 {
        mix(seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA)))
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Standard deviation of the sum of four independent uniform integers in 0..32.
const IRWIN_HALL_SD: f32 = 18.472_953;
/// Mean of that sum.
const IRWIN_HALL_MEAN: i32 = 62;

/// Three approximately standard-normal values (one per colour channel) from one 64-bit draw:
/// each is the sum of four 5-bit uniforms, centred and scaled (Irwin–Hall, n = 4). Its tails
/// end at ±3.4 sigma, which sensor noise does not miss, and it costs one generator step per
/// pixel instead of three logarithms.
#[inline]
pub(crate) fn gaussian3(bits: u64) -> [f32; 3] {
    let mut out = [0.0f32; 3];
    let mut b = bits;
    for o in &mut out {
        let sum = (b & 31) + ((b >> 5) & 31) + ((b >> 10) & 31) + ((b >> 15) & 31);
        *o = (sum as i32 - IRWIN_HALL_MEAN) as f32 / IRWIN_HALL_SD;
        b >>= 20;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_frame_give_the_same_stream() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix64::for_frame(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(SplitMix64::for_frame(7, 3).next_u64(), SplitMix64::for_frame(7, 4).next_u64());
        assert_ne!(SplitMix64::for_frame(7, 3).next_u64(), SplitMix64::for_frame(8, 3).next_u64());
    }

    #[test]
    fn random_access_matches_the_stream() {
        let mut rng = SplitMix64::new(42);
        for i in 0..5 {
            assert_eq!(rng.next_u64(), SplitMix64::at(42, i));
        }
    }

    #[test]
    fn gaussian_has_unit_spread() {
        let mut rng = SplitMix64::new(1);
        let n = 60_000;
        let (mut sum, mut sq) = (0.0f64, 0.0f64);
        for _ in 0..n / 3 {
            for v in gaussian3(rng.next_u64()) {
                sum += v as f64;
                sq += (v * v) as f64;
            }
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }
}
