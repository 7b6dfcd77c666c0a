//! Screen and print traces on a face: the strongest periodic peak (see `shiren-spectrum`) in
//! the face's central 128×128 patch, at the camera's own resolution. What it cannot do: tell a
//! high-resolution screen held far away (its grid finer than the camera resolves) from a face —
//! that is what the challenge's colour response is for.

use shiren_face::{Detection, RgbImage};
use shiren_spectrum::{PATCH, luma_patch, periodic_peak};

/// The strongest periodic peak in the middle of the face, in multiples of the spectrum's own
/// level at that frequency: about 10 for a face filmed directly, a hundred or more for a pixel
/// grid of a few per cent contrast. `None` when the face is too small or too close to the
/// frame's edge for a full patch.
pub fn screen_pattern(image: &RgbImage, face: &Detection) -> Option<f32> {
    let centre = [(face.bbox[0] + face.bbox[2]) / 2.0, (face.bbox[1] + face.bbox[3]) / 2.0];
    // The patch must lie inside the face: at least its size in the box's smaller side.
    if face.width().min(face.height()) < PATCH as f32 || !centre[0].is_finite() || !centre[1].is_finite() {
        return None;
    }
    let x0 = (centre[0] as i64 - PATCH as i64 / 2).max(0) as usize;
    let y0 = (centre[1] as i64 - PATCH as i64 / 2).max(0) as usize;
    let patch = luma_patch(image.as_raw(), image.width(), image.height(), x0, y0)?;
    Some(periodic_peak(&patch))
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
