//! Synthetic face embeddings for tests and benchmarks: deterministic from a seed, clustered by
//! identity the way ArcFace templates are, so recall and latency measured on them transfer.
//!
//! The model of the space (512-d unit sphere):
//!
//! - Face templates do not fill the 512 dimensions evenly: their variance falls off over the
//!   principal directions. Here component `i` (from 1) is scaled by `i^-0.35`, which makes two
//!   unrelated directions have a cosine ≈ N(0, 0.09): the impostor spread that the published
//!   ArcFace operating points imply (FAR 1e-3 near cosine 0.28 is 3.1 standard deviations of 0.09;
//!   isotropic 512-d vectors, spread 0.044, would put 1e-3 at 0.14 and 0.28 near 1e-10). The
//!   lower effective dimension (≈ 120) is still high enough to defeat graph routing (see
//!   `screened`).
//! - Each identity has a centre: such a direction, normalised.
//! - Each face of an identity is `a·centre + √(1−a²)·u`, with `u` a unit vector of the same
//!   shape orthogonal to the centre, so its cosine to the centre is exactly `a`. `a` is drawn per
//!   face from N(0.806, 0.088) clipped to [0.35, 0.97] — a face-quality term: two faces of one
//!   person then have cosine ≈ a₁·a₂, mean 0.65, standard deviation ≈ 0.1 (mostly 0.45–0.85: the
//!   genuine range of real ArcFace pairs), and faces of different people stay ≈ N(0, 0.09).
//!
//! Everything about identity `i` (its centre, its faces) comes from a generator seeded by the
//! gallery's seed and `i` alone, so galleries are generated in parallel and centres need not be
//! kept: a probe regenerates its identity's centre.

use std::ops::RangeInclusive;

use crate::FaceKey;

/// Dimension of ArcFace templates.
pub const DIM: usize = 512;

/// Mean and spread of a face's cosine to its identity's centre (see the module text).
const CENTRE_COSINE_MEAN: f64 = 0.806;
const CENTRE_COSINE_SD: f64 = 0.088;
const CENTRE_COSINE_RANGE: (f64, f64) = (0.35, 0.97);

/// One synthetic face.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Sequential from 0 in generation order.
    pub key: FaceKey,
    pub identity: u32,
    /// Unit length, [`DIM`] components.
    pub vector: Vec<f32>,
}

/// A generated gallery: identities `0..identities`, each with a number of faces drawn from the
/// given range.
#[derive(Debug, Clone)]
pub struct Gallery {
    seed: u64,
    identities: u32,
    faces: Vec<Face>,
}

impl Gallery {
    /// Generates the gallery on all cores; the result depends only on the arguments.
    pub fn generate(identities: u32, faces_per_identity: RangeInclusive<u32>, seed: u64) -> Self {
        let (low, high) = (*faces_per_identity.start(), (*faces_per_identity.end()).max(*faces_per_identity.start()));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(identities.max(1) as usize);
        let per_thread = (identities as usize).div_ceil(threads.max(1)).max(1);
        let ranges: Vec<(u32, u32)> = (0..identities as usize)
            .step_by(per_thread)
            .map(|start| (start as u32, (start + per_thread).min(identities as usize) as u32))
            .collect();
        let parts: Vec<Vec<(u32, Vec<f32>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = ranges
                .iter()
                .map(|&(start, end)| {
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for identity in start..end {
                            let mut rng = Rng::new(seed, u64::from(identity));
                            let centre = unit_gaussian(&mut rng);
                            let count = low + (rng.next_u64() % (u64::from(high) - u64::from(low) + 1)) as u32;
                            for _ in 0..count {
                                out.push((identity, face_of(&centre, &mut rng)));
                            }
                        }
                        out
                    })
                })
                .collect();
            // A worker only does arithmetic on its own data; a panic there is a bug worth
            // propagating unchanged.
            workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        let faces = parts
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(key, (identity, vector))| Face { key: key as FaceKey, identity, vector })
            .collect();
        Self { seed, identities, faces }
    }

    pub fn identities(&self) -> u32 {
        self.identities
    }

    pub fn faces(&self) -> &[Face] {
        &self.faces
    }

    pub fn into_faces(self) -> Vec<Face> {
        self.faces
    }

    /// `(key, vector)` pairs, the shape index bulk loads take.
    pub fn items(&self) -> impl Iterator<Item = (FaceKey, Vec<f32>)> + '_ {
        self.faces.iter().map(|f| (f.key, f.vector.clone()))
    }

    /// A fresh face of `identity` (which may or may not be in the gallery), not equal to any
    /// stored one; different `seed`s give different faces.
    pub fn probe(&self, identity: u32, seed: u64) -> Vec<f32> {
        let centre = unit_gaussian(&mut Rng::new(self.seed, u64::from(identity)));
        // A stream apart from the identity's own (which made the gallery faces).
        let mut rng = Rng::new(self.seed ^ 0x9e37_79b9_7f4a_7c15, (u64::from(identity) << 32) ^ seed);
        face_of(&centre, &mut rng)
    }
}

/// `a·centre + √(1−a²)·u` with `u` a random unit vector orthogonal to `centre`.
fn face_of(centre: &[f64], rng: &mut Rng) -> Vec<f32> {
    let a =
        (CENTRE_COSINE_MEAN + CENTRE_COSINE_SD * rng.gaussian()).clamp(CENTRE_COSINE_RANGE.0, CENTRE_COSINE_RANGE.1);
    let mut u = shaped_gaussian(rng);
    let along: f64 = u.iter().zip(centre).map(|(x, c)| x * c).sum();
    u.iter_mut().zip(centre).for_each(|(x, c)| *x -= along * c);
    let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
    let b = (1.0 - a * a).sqrt() / norm;
    centre.iter().zip(&u).map(|(c, x)| (a * c + b * x) as f32).collect()
}

/// How fast the spread falls over the components (see the module text).
const SPECTRUM_DECAY: f64 = 0.35;

/// A Gaussian direction shaped by the spectrum, not normalised.
fn shaped_gaussian(rng: &mut Rng) -> Vec<f64> {
    (0..DIM).map(|i| rng.gaussian() * ((i + 1) as f64).powf(-SPECTRUM_DECAY)).collect()
}

fn unit_gaussian(rng: &mut Rng) -> Vec<f64> {
    let v = shaped_gaussian(rng);
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// xoshiro256++ seeded through splitmix64: small, fast, and stable across versions of anything,
/// so a seed names the same gallery forever.
struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self { s: [next(), next(), next(), next()], spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller, both outputs used).
    fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine;

    fn mean_sd(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn deterministic_and_shaped_like_arcface() {
        let gallery = Gallery::generate(300, 2..=4, 11);
        let again = Gallery::generate(300, 2..=4, 11);
        assert_eq!(gallery.faces(), again.faces());
        assert_ne!(Gallery::generate(300, 2..=4, 12).faces()[0], gallery.faces()[0]);
        let faces = gallery.faces();
        assert!(faces.len() >= 600 && faces.len() <= 1200);
        assert!(faces.iter().enumerate().all(|(i, f)| f.key == i as u64 && f.vector.len() == DIM));
        for f in faces.iter().take(10) {
            let norm: f32 = f.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }

        let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
        for (i, a) in faces.iter().enumerate() {
            for b in &faces[i + 1..(i + 40).min(faces.len())] {
                let score = cosine(&a.vector, &b.vector).unwrap();
                if a.identity == b.identity { genuine.push(score) } else { impostor.push(score) }
            }
        }
        let (g_mean, g_sd) = mean_sd(&genuine);
        let (i_mean, i_sd) = mean_sd(&impostor);
        assert!((g_mean - 0.65).abs() < 0.03, "genuine mean {g_mean}");
        assert!((g_sd - 0.1).abs() < 0.03, "genuine sd {g_sd}");
        assert!(i_mean.abs() < 0.01, "impostor mean {i_mean}");
        assert!((i_sd - 0.09).abs() < 0.012, "impostor sd {i_sd}");
        assert!(impostor.iter().all(|&s| s < 0.5));

        // A probe is a new face of its identity.
        let probe = gallery.probe(5, 1);
        assert_ne!(probe, gallery.probe(5, 2));
        for f in faces.iter().filter(|f| f.identity == 5) {
            let score = cosine(&probe, &f.vector).unwrap();
            assert!(score > 0.3 && score < 0.99, "{score}");
        }
    }
}
