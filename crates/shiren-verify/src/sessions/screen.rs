//! Screen and print traces in the frequency domain: a face shown on a screen and filmed again
//! carries the screen's pixel grid, which the camera's sensor grid turns into moiré; a print
//! carries its halftone raster. Both are periodic, so they stand out of a face's spectrum as
//! narrow peaks, while skin, hair and camera noise spread their energy smoothly over
//! frequencies. The measure is the strongest such peak in the face's central patch.
//!
//! How: four 64×64 tiles of luminance from the middle of the face box at the camera's own
//! resolution (no resampling, which would blur the grid away), each windowed (Hann) and
//! transformed; their power spectra averaged (fewer chance peaks); the average divided by its
//! own radial mean (a natural image falls off roughly as 1/f², which this flattens); the
//! result's maximum over the band from 8 to 32 cycles per tile (periods of 2 to 8 pixels).
//! Frequencies where JPEG's 8-pixel blocks put energy are left out: the tiles are aligned to
//! the block grid, so that energy sits exactly on the rows and columns of multiples of 8 cycles.
//!
//! Written by hand because a 64-point transform done directly (a table of 64 twiddles, about
//! half a million multiply-adds per tile) costs well under a millisecond; an FFT crate would
//! add its dependency tree for nothing. What it cannot do: tell a high-resolution screen held
//! far away (its grid finer than the camera resolves) from a face — that is what the
//! challenge's colour response is for.

use shiren_face::{Detection, RgbImage};

const N: usize = 64;
/// Tiles per side (2 × 2 tiles of N pixels).
const TILES: usize = 2;
/// The searched band, in cycles per tile: periods from 8 down to 2 pixels.
const BAND: (usize, usize) = (8, 32);

/// The strongest periodic peak in the middle of the face, in multiples of the spectrum's own
/// level (the median of its ring) at that frequency: about 10 for a face filmed directly, a
/// hundred or more for a pixel grid of a few per cent contrast. `None` when the face is too small or too close to the frame's
/// edge for a full patch.
pub fn screen_pattern(image: &RgbImage, face: &Detection) -> Option<f32> {
    let side = N * TILES;
    let (w, h) = (image.width(), image.height());
    let centre = [(face.bbox[0] + face.bbox[2]) / 2.0, (face.bbox[1] + face.bbox[3]) / 2.0];
    // The patch must lie inside the face: at least its size in the box's smaller side.
    if face.width().min(face.height()) < side as f32 || !centre[0].is_finite() || !centre[1].is_finite() {
        return None;
    }
    // Aligned to JPEG's 8-pixel grid (see the module's note).
    let x0 = ((centre[0] as i64 - side as i64 / 2).max(0) as usize) / 8 * 8;
    let y0 = ((centre[1] as i64 - side as i64 / 2).max(0) as usize) / 8 * 8;
    if x0 + side > w || y0 + side > h {
        return None;
    }
    let raw = image.as_raw();
    let luma = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        0.299 * f32::from(raw[i]) + 0.587 * f32::from(raw[i + 1]) + 0.114 * f32::from(raw[i + 2])
    };
    let dft = Dft::new();
    let mut power = vec![0.0f32; N * N];
    for ty in 0..TILES {
        for tx in 0..TILES {
            let mut tile = vec![0.0f32; N * N];
            for y in 0..N {
                for x in 0..N {
                    tile[y * N + x] = luma(x0 + tx * N + x, y0 + ty * N + y);
                }
            }
            for (p, q) in power.iter_mut().zip(dft.power(&tile)) {
                *p += q;
            }
        }
    }
    Some(peak_over_level(&power))
}

/// The maximum of the whitened spectrum over the band, JPEG's block frequencies (multiples of
/// 8 cycles per tile, which also holds a camera's 2-pixel Bayer residue) left out.
fn peak_over_level(power: &[f32]) -> f32 {
    // Signed frequency of a bin index, and its radius.
    let freq = |i: usize| if i <= N / 2 { i as i64 } else { i as i64 - N as i64 };
    let radius = |u: usize, v: usize| ((freq(u).pow(2) + freq(v).pow(2)) as f32).sqrt();
    let block = |i: usize| {
        let f = freq(i).unsigned_abs() as usize;
        f >= 8 && f.is_multiple_of(8)
    };
    // Each ring's level is its median, not its mean: a strong peak would raise its own
    // ring's mean and hide itself.
    let rings = N / 2 + N / 4;
    let mut members: Vec<Vec<f32>> = vec![Vec::new(); rings];
    for v in 0..N {
        for u in 0..N {
            let r = radius(u, v).round() as usize;
            if !block(u) && !block(v) && r < rings {
                members[r].push(power[v * N + u]);
            }
        }
    }
    let level: Vec<f64> = members
        .into_iter()
        .map(|mut ring| {
            ring.sort_by(f32::total_cmp);
            ring.get(ring.len() / 2).map_or(0.0, |m| f64::from(*m))
        })
        .collect();
    let mut peak = 0.0f32;
    for v in 0..N {
        for u in 0..N {
            let r = radius(u, v);
            if block(u) || block(v) || r < BAND.0 as f32 || r > BAND.1 as f32 {
                continue;
            }
            let ring = level[r.round() as usize];
            if ring > 0.0 {
                peak = peak.max((f64::from(power[v * N + u]) / ring) as f32);
            }
        }
    }
    peak
}

/// A direct 2-D discrete Fourier transform of N×N tiles, by rows then columns.
struct Dft {
    cos: Vec<f32>,
    sin: Vec<f32>,
    window: Vec<f32>,
}

impl Dft {
    fn new() -> Self {
        let angle = |k: usize| 2.0 * std::f32::consts::PI * k as f32 / N as f32;
        Dft {
            cos: (0..N).map(|k| angle(k).cos()).collect(),
            sin: (0..N).map(|k| angle(k).sin()).collect(),
            // Hann: the tile's edges would otherwise spread their jump over every frequency.
            window: (0..N).map(|k| 0.5 - 0.5 * angle(k).cos()).collect(),
        }
    }

    /// |F(u, v)|² of the windowed, mean-removed tile.
    fn power(&self, tile: &[f32]) -> Vec<f32> {
        let mean = tile.iter().sum::<f32>() / tile.len() as f32;
        let mut re = vec![0.0f32; N * N];
        let mut im = vec![0.0f32; N * N];
        // Rows: real input.
        for y in 0..N {
            let row: Vec<f32> = (0..N).map(|x| (tile[y * N + x] - mean) * self.window[x] * self.window[y]).collect();
            for u in 0..N {
                let (mut a, mut b) = (0.0, 0.0);
                for (x, value) in row.iter().enumerate() {
                    let k = (u * x) % N;
                    a += value * self.cos[k];
                    b -= value * self.sin[k];
                }
                re[y * N + u] = a;
                im[y * N + u] = b;
            }
        }
        // Columns: complex input.
        let mut power = vec![0.0f32; N * N];
        for u in 0..N {
            for v in 0..N {
                let (mut a, mut b) = (0.0, 0.0);
                for y in 0..N {
                    let k = (v * y) % N;
                    let (c, s) = (self.cos[k], self.sin[k]);
                    let (r, i) = (re[y * N + u], im[y * N + u]);
                    a += r * c + i * s;
                    b += i * c - r * s;
                }
                power[v * N + u] = a * a + b * b;
            }
        }
        power
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face-like patch without periodicity: smooth shading plus pseudo-random texture and
    /// sensor noise at several scales.
    fn skin(width: usize, height: usize, grid: Option<(f32, f32, f32)>) -> RgbImage {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as f32 / 1000.0 - 0.5
        };
        let stride = width / 6 + 2;
        let coarse: Vec<f32> = (0..stride * (height / 6 + 2)).map(|_| noise() * 30.0).collect();
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (x as f32, y as f32);
                let shade = 150.0 + 40.0 * ((fx - 320.0) / 300.0) - 30.0 * ((fy - 240.0) / 240.0).powi(2);
                let texture = coarse[(y / 6) * stride + x / 6] * 0.4;
                let mut v = shade + texture + noise() * 6.0;
                if let Some((period, angle, contrast)) = grid {
                    let (c, s) = (angle.to_radians().cos(), angle.to_radians().sin());
                    let phase = |p: f32| (2.0 * std::f32::consts::PI * p / period).cos();
                    v *= 1.0 - contrast * 0.5 * (2.0 + phase(fx * c + fy * s) + phase(-fx * s + fy * c)) / 2.0;
                }
                let v = v.clamp(0.0, 255.0);
                data.extend_from_slice(&[v as u8, (v * 0.8) as u8, (v * 0.7) as u8]);
            }
        }
        RgbImage::from_raw(width, height, data).unwrap_or_else(|| panic!("{width}x{height}"))
    }

    fn face() -> Detection {
        Detection { bbox: [180.0, 100.0, 460.0, 420.0], score: 1.0, keypoints: [[0.0; 2]; 5] }
    }

    #[test]
    fn a_grid_stands_out_and_texture_does_not() {
        let plain = screen_pattern(&skin(640, 480, None), &face()).unwrap_or(f32::NAN);
        assert!(plain < 25.0, "plain texture scored {plain}");
        for (period, angle) in [(3.3, 7.0), (4.6, 0.0), (2.4, 21.0), (6.5, 40.0)] {
            let grid = screen_pattern(&skin(640, 480, Some((period, angle, 0.06))), &face()).unwrap_or(f32::NAN);
            assert!(
                grid > 4.0 * plain.max(10.0),
                "a grid of period {period} at {angle}° scored {grid} (plain {plain})"
            );
        }
    }

    #[test]
    fn a_small_or_edge_face_is_not_measured() {
        let small = Detection { bbox: [300.0, 200.0, 400.0, 300.0], score: 1.0, keypoints: [[0.0; 2]; 5] };
        assert_eq!(screen_pattern(&skin(640, 480, None), &small), None);
        let edge = Detection { bbox: [500.0, 100.0, 780.0, 420.0], score: 1.0, keypoints: [[0.0; 2]; 5] };
        assert_eq!(screen_pattern(&skin(640, 480, None), &edge), None);
        let nan = Detection { bbox: [f32::NAN, 100.0, 460.0, 420.0], score: 1.0, keypoints: [[0.0; 2]; 5] };
        assert_eq!(screen_pattern(&skin(640, 480, None), &nan), None);
    }
}
