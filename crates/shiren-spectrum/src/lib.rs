//! Periodic traces in an image patch, measured in the frequency domain: a screen's pixel grid
//! filmed again (moiré), a print's halftone raster, a photocopier's dither. All are periodic, so
//! they stand out of a natural image's spectrum as narrow peaks, while skin, paper texture and
//! camera noise spread their energy smoothly over frequencies.
//!
//! How: a 128×128 luminance patch at the camera's own resolution (no resampling, which would
//! blur a grid away) is cut into four 64×64 tiles, each windowed (Hann) and transformed; their
//! power spectra averaged (fewer chance peaks); the average divided by its own ring median (a
//! natural image falls off roughly as 1/f², which this flattens); the result's maximum over the
//! band from 8 to 32 cycles per tile (periods of 2 to 8 pixels). Frequencies where JPEG's
//! 8-pixel blocks put energy are left out: patches are aligned to the block grid by the caller,
//! so that energy sits exactly on the rows and columns of multiples of 8 cycles.
//!
//! Written by hand because a 64-point transform done directly (a table of 64 twiddles, about
//! half a million multiply-adds per tile) costs well under a millisecond; an FFT crate would
//! add its dependency tree for nothing.

/// Side of one transformed tile.
const N: usize = 64;
/// Tiles per side of a patch.
const TILES: usize = 2;
/// Side of the patch measured.
pub const PATCH: usize = N * TILES;
/// The searched band, in cycles per tile: periods from 8 down to 2 pixels.
const BAND: (usize, usize) = (8, 32);

/// The luminance of the `PATCH`×`PATCH` patch of an RGB buffer `width` pixels wide whose
/// top-left corner is (`x0`, `y0`), moved to JPEG's 8-pixel grid; `None` when it does not fit.
pub fn luma_patch(rgb: &[u8], width: usize, height: usize, x0: usize, y0: usize) -> Option<Vec<f32>> {
    let (x0, y0) = (x0 / 8 * 8, y0 / 8 * 8);
    if x0 + PATCH > width || y0 + PATCH > height || rgb.len() < width * height * 3 {
        return None;
    }
    let mut patch = Vec::with_capacity(PATCH * PATCH);
    for y in y0..y0 + PATCH {
        for x in x0..x0 + PATCH {
            let i = (y * width + x) * 3;
            patch.push(0.299 * f32::from(rgb[i]) + 0.587 * f32::from(rgb[i + 1]) + 0.114 * f32::from(rgb[i + 2]));
        }
    }
    Some(patch)
}

/// The strongest periodic peak of a `PATCH`×`PATCH` luminance patch (row-major), in multiples
/// of the spectrum's own level at that frequency: about 10 for a face or a card filmed
/// directly, a hundred or more for a pixel grid of a few per cent contrast. 0 for a patch of
/// the wrong size.
pub fn periodic_peak(patch: &[f32]) -> f32 {
    if patch.len() != PATCH * PATCH {
        return 0.0;
    }
    let dft = Dft::new();
    let mut power = vec![0.0f32; N * N];
    for ty in 0..TILES {
        for tx in 0..TILES {
            let mut tile = vec![0.0f32; N * N];
            for y in 0..N {
                for x in 0..N {
                    tile[y * N + x] = patch[(ty * N + y) * PATCH + tx * N + x];
                }
            }
            for (p, q) in power.iter_mut().zip(dft.power(&tile)) {
                *p += q;
            }
        }
    }
    peak_over_level(&power)
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

    /// A textured patch without periodicity (shading, blotches, noise), optionally multiplied
    /// by a two-way grid of `period` pixels at `angle` degrees and `contrast`.
    fn patch(grid: Option<(f32, f32, f32)>) -> Vec<f32> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as f32 / 1000.0 - 0.5
        };
        let coarse: Vec<f32> = (0..(PATCH / 6 + 1) * (PATCH / 6 + 1)).map(|_| noise() * 30.0).collect();
        let mut out = Vec::with_capacity(PATCH * PATCH);
        for y in 0..PATCH {
            for x in 0..PATCH {
                let (fx, fy) = (x as f32, y as f32);
                let mut v =
                    150.0 + 0.3 * fx - 0.2 * fy + coarse[(y / 6) * (PATCH / 6 + 1) + x / 6] * 0.4 + noise() * 6.0;
                if let Some((period, angle, contrast)) = grid {
                    let (c, s) = (angle.to_radians().cos(), angle.to_radians().sin());
                    let phase = |p: f32| (2.0 * std::f32::consts::PI * p / period).cos();
                    v *= 1.0 - contrast * 0.5 * (2.0 + phase(fx * c + fy * s) + phase(-fx * s + fy * c)) / 2.0;
                }
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn a_grid_stands_out_and_texture_does_not() {
        let plain = periodic_peak(&patch(None));
        assert!(plain < 25.0, "plain texture scored {plain}");
        for (period, angle) in [(3.3, 7.0), (4.6, 0.0), (2.4, 21.0), (6.5, 40.0)] {
            let grid = periodic_peak(&patch(Some((period, angle, 0.06))));
            assert!(
                grid > 4.0 * plain.max(10.0),
                "a grid of period {period} at {angle}° scored {grid} (plain {plain})"
            );
        }
    }

    #[test]
    fn patches_that_do_not_fit_are_refused() {
        assert_eq!(periodic_peak(&[1.0; 10]), 0.0);
        let rgb = vec![0u8; 200 * 100 * 3];
        assert!(luma_patch(&rgb, 200, 100, 0, 0).is_none(), "100 rows cannot hold 128");
        let rgb = vec![0u8; 200 * 200 * 3];
        assert_eq!(luma_patch(&rgb, 200, 200, 70, 3).map(|p| p.len()), Some(PATCH * PATCH));
        assert!(luma_patch(&rgb, 200, 200, 80, 0).is_none(), "128 columns from 80 leave the image");
        assert!(luma_patch(&rgb[..10], 200, 200, 0, 0).is_none());
    }
}
