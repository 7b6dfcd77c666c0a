//! The seeded random source every card and photo is drawn from: SplitMix64, small and fully
//! determined by its seed, so a failing OCR test can be replayed from the seed it prints.
//!
//! Each use (ID card truth, bank card truth, bank card style, photo) salts the caller's seed with
//! its own constant, so one seed used for several things does not give correlated draws.

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, salt: u64) -> Rng {
        let mut rng = Rng(seed ^ salt.rotate_left(17));
        // One step mixes the salt into every bit before the first draw is used.
        rng.next_u64();
        rng
    }

    // Inlined even unoptimised: the photo's noise pass draws once per pixel.
    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        // The top 24 bits fill an f32 mantissa exactly.
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [low, high).
    pub(crate) fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Uniform in [-magnitude, magnitude).
    pub(crate) fn signed(&mut self, magnitude: f32) -> f32 {
        self.range(-magnitude, magnitude)
    }

    /// Uniform integer in 0..n (0 when n is 0). The modulo bias is below 2^-40 for the small n
    /// used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform integer in low..=high.
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        low + self.below((high - low + 1) as u64) as i64
    }

    pub(crate) fn chance(&mut self, probability: f32) -> bool {
        self.unit() < probability
    }

    /// One element, or `None` for an empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_replayable_and_salted() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut rng = Rng::new(7, 1);
                move |_| rng.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut rng = Rng::new(7, 1);
                move |_| rng.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut rng = Rng::new(7, 2);
                move |_| rng.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ranges_hold() {
        let mut rng = Rng::new(1, 0);
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            let n = rng.between(3, 5);
            assert!((3..=5).contains(&n));
        }
        assert_eq!(rng.between(4, 4), 4);
        assert!(rng.pick::<u8>(&[]).is_none());
    }
}
