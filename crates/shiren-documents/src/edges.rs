//! Canny edges of a colour image at several threshold pairs, for the card-outline search.
//!
//! Written here rather than calling `imageproc::edges::canny` per channel and per threshold
//! pair: that function runs all four of Canny's steps on every call, and the outline search
//! needs three channels at three threshold pairs — nine blurs, gradient and suppression passes
//! of which only three differ. The blur and gradients are still imageproc's; what is done here
//! is the thinning (non-maximum suppression) once per channel and the cheap last step
//! (hysteresis) per threshold pair, which together halved the outline search's time.

use image::GrayImage;
use imageproc::filter::{filter_clamped, gaussian_blur_f32};
use imageproc::kernel;

/// The blur applied before the gradients (Canny's usual 1.4, as imageproc's `canny` uses).
const BLUR_SIGMA: f32 = 1.4;
/// tan(22.5°) and tan(67.5°): the bounds between the four gradient directions.
const TAN_22_5: f32 = 0.414_213_57;
const TAN_67_5: f32 = 2.414_213_6;

/// Each channel's gradient strength where it is a local maximum across the edge, zero elsewhere.
pub(crate) struct ThinnedGradients {
    width: u32,
    height: u32,
    channels: Vec<Vec<f32>>,
}

impl ThinnedGradients {
    pub(crate) fn of(channels: &[GrayImage]) -> Self {
        let (width, height) = channels.first().map_or((0, 0), GrayImage::dimensions);
        let channels = channels.iter().map(thinned).collect();
        Self { width, height, channels }
    }

    /// The union over the channels of the pixels on an edge: at least `high` strong, or at
    /// least `low` strong and joined (8-connected) to such a pixel through pixels as strong.
    pub(crate) fn edges(&self, low: f32, high: f32) -> GrayImage {
        let mut out = GrayImage::new(self.width, self.height);
        let (w, h) = (self.width as usize, self.height as usize);
        let mut stack = Vec::new();
        // Each channel's edges are followed on their own (a pixel another channel marked must
        // not stop the walk) and then joined to the others'.
        let mut marks = vec![false; w * h];
        for strength in &self.channels {
            marks.fill(false);
            for start in 0..strength.len() {
                if strength[start] < high || marks[start] {
                    continue;
                }
                marks[start] = true;
                stack.push(start);
                while let Some(i) = stack.pop() {
                    let (x, y) = (i % w, i / w);
                    for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                        for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                            let j = ny * w + nx;
                            if !marks[j] && strength[j] >= low {
                                marks[j] = true;
                                stack.push(j);
                            }
                        }
                    }
                }
            }
            for (pixel, &marked) in out.iter_mut().zip(&marks) {
                if marked {
                    *pixel = 255;
                }
            }
        }
        out
    }
}

/// Canny's first three steps on one channel: blur, Sobel gradients, and suppression of every
/// pixel weaker than either neighbour along its gradient's direction (one of four). The
/// border pixels, which have no neighbours on one side, are suppressed.
fn thinned(channel: &GrayImage) -> Vec<f32> {
    let (w, h) = (channel.width() as usize, channel.height() as usize);
    let blurred = gaussian_blur_f32(channel, BLUR_SIGMA);
    let gx = filter_clamped(&blurred, kernel::SOBEL_HORIZONTAL_3X3);
    let gy = filter_clamped(&blurred, kernel::SOBEL_VERTICAL_3X3);
    let (gx, gy): (&[i16], &[i16]) = (&gx, &gy);
    let strength: Vec<f32> = gx.iter().zip(gy).map(|(&x, &y)| f32::from(x).hypot(f32::from(y))).collect();
    let mut out = vec![0.0; w * h];
    if w < 3 || h < 3 {
        return out;
    }
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let g = strength[i];
            if g == 0.0 {
                continue;
            }
            let (dx, dy) = (f32::from(gx[i]), f32::from(gy[i]));
            // The direction from the ratio of the gradients rather than an arctangent (the
            // same four sectors; a y axis pointing down, as the image's rows do).
            let (ax, ay) = (dx.abs(), dy.abs());
            let (a, b) = if ay <= TAN_22_5 * ax {
                (i - 1, i + 1)
            } else if ay >= TAN_67_5 * ax {
                (i - w, i + w)
            } else if (dx > 0.0) == (dy > 0.0) {
                (i - w - 1, i + w + 1)
            } else {
                (i - w + 1, i + w - 1)
            };
            if g >= strength[a] && g >= strength[b] {
                out[i] = g;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// A dark square on a light ground, one channel or three.
    fn square(size: u32) -> GrayImage {
        GrayImage::from_fn(size, size, |x, y| {
            let inside = (20..size - 20).contains(&x) && (20..size - 20).contains(&y);
            Luma([if inside { 40 } else { 220 }])
        })
    }

    #[test]
    fn a_square_gives_a_thin_closed_outline_and_nothing_inside() {
        let image = square(100);
        let edges = ThinnedGradients::of(&[image]).edges(40.0, 90.0);
        // Each side crossed once, one or two pixels wide, near the square's border at 20 / 80.
        for y in [30u32, 50, 70] {
            let row: Vec<u32> = (0..100).filter(|&x| edges.get_pixel(x, y).0[0] > 0).collect();
            assert!(!row.is_empty() && row.len() <= 4, "row {y}: {row:?}");
            assert!(row.iter().all(|&x| (18..=21).contains(&x) || (78..=81).contains(&x)), "row {y}: {row:?}");
        }
        assert_eq!(edges.get_pixel(50, 50).0[0], 0);
        assert_eq!(edges.get_pixel(5, 5).0[0], 0);
    }

    #[test]
    fn the_same_edges_as_imageprocs_canny_up_to_its_neighbour_rule() {
        // imageproc's hysteresis follows six of the eight neighbours; ours follows all eight, so
        // ours holds every pixel of its result and at most a few more.
        let image = GrayImage::from_fn(120, 90, |x, y| {
            let wave = ((x as f32 / 7.0).sin() * 40.0 + (y as f32 / 5.0).cos() * 40.0) as i32;
            let block = if (30..90).contains(&x) && (20..70).contains(&y) { 60 } else { 0 };
            Luma([(120 + wave + block).clamp(0, 255) as u8])
        });
        for (low, high) in [(10.0, 30.0), (20.0, 50.0), (40.0, 90.0)] {
            let theirs = imageproc::edges::canny(&image, low, high);
            let ours = ThinnedGradients::of(std::slice::from_ref(&image)).edges(low, high);
            let count = |e: &GrayImage| e.pixels().filter(|p| p.0[0] > 0).count();
            let missing = theirs.pixels().zip(ours.pixels()).filter(|(t, o)| t.0[0] > 0 && o.0[0] == 0).count();
            assert!(missing * 100 <= count(&theirs), "{missing} of {} missing at {low}/{high}", count(&theirs));
            assert!(count(&ours) <= count(&theirs) * 11 / 10 + 5, "{} against {}", count(&ours), count(&theirs));
        }
    }

    #[test]
    fn a_tiny_or_empty_image_has_no_edges() {
        assert_eq!(ThinnedGradients::of(&[GrayImage::new(2, 2)]).edges(1.0, 2.0).dimensions(), (2, 2));
        assert_eq!(ThinnedGradients::of(&[]).edges(1.0, 2.0).dimensions(), (0, 0));
    }
}
