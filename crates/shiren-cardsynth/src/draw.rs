//! Drawing primitives the card faces are made of: alpha blending, gradients, the faint
//! procedural line patterns that stand in for security printing, and anti-aliased shapes
//! (disks, polygons, rounded rectangles).
//!
//! Written as plain loops over the pixel buffer: the crate builds without optimisation in tests,
//! so the per-pixel work is kept to a few multiplications where possible.

use image::{Rgb, RgbImage};

/// Mixes `colour` into `pixel` with weight `alpha` (clamped to 0..=1).
pub(crate) fn blend(pixel: &mut Rgb<u8>, colour: [u8; 3], alpha: f32) {
    let alpha = alpha.clamp(0.0, 1.0);
    for (channel, target) in pixel.0.iter_mut().zip(colour) {
        let value = f32::from(*channel) + (f32::from(target) - f32::from(*channel)) * alpha;
        *channel = value.round().clamp(0.0, 255.0) as u8;
    }
}

/// Linear interpolation between two colours.
pub(crate) fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let channel = |i: usize| (f32::from(a[i]) + (f32::from(b[i]) - f32::from(a[i])) * t).round() as u8;
    [channel(0), channel(1), channel(2)]
}

/// A colour from hue (degrees), saturation and value (0..=1).
pub(crate) fn hsv(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let hue = hue.rem_euclid(360.0) / 60.0;
    let chroma = value * saturation;
    let x = chroma * (1.0 - (hue % 2.0 - 1.0).abs());
    let (r, g, b) = match hue as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = value - chroma;
    let byte = |v: f32| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [byte(r), byte(g), byte(b)]
}

/// Fills the image with a linear gradient from `from` to `to` along the direction `angle`
/// (radians, 0 = left to right).
pub(crate) fn linear_gradient(image: &mut RgbImage, from: [u8; 3], to: [u8; 3], angle: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (dx, dy) = (angle.cos(), angle.sin());
    // Project the corners to find the gradient's extent along the direction.
    let span = (w * dx).abs() + (h * dy).abs();
    let origin = (w / 2.0 * dx + h / 2.0 * dy) - span / 2.0;
    let (fa, fb) = (from.map(f32::from), to.map(f32::from));
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let t = ((x as f32 * dx + y as f32 * dy - origin) / span.max(1.0)).clamp(0.0, 1.0);
        for c in 0..3 {
            pixel.0[c] = (fa[c] + (fb[c] - fa[c]) * t) as u8;
        }
    }
}

/// Draws a guilloche-like pattern: thin wavy lines (level sets of two interfering waves) and a
/// family of rippled rings, each darkening or tinting the background by at most `strength`
/// toward `ink`. `phase` varies the pattern between cards.
pub(crate) fn guilloche(image: &mut RgbImage, ink: [u8; 3], strength: f32, phase: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (cx, cy) = (w * 0.58, h * 0.62);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32, y as f32);
        // Wavy near-horizontal lines, about 9 px apart, bent by a slow wave.
        let wave = yf / 9.0 + 1.6 * (xf * 0.012 + phase).sin() + 0.8 * (xf * 0.031 + yf * 0.004).sin();
        let line = 1.0 - (wave.fract() - 0.5).abs() * 2.0;
        let mut alpha = smooth_peak(line, 0.82) * 0.55;
        // Rings about a point right of centre, their radius modulated by the angle.
        let (rx, ry) = (xf - cx, yf - cy);
        let radius = (rx * rx + ry * ry).sqrt();
        let angle = ry.atan2(rx);
        let ring = (radius + 4.0 * (angle * 14.0 + phase).sin()) / 11.0;
        let ring_line = 1.0 - (ring.fract() - 0.5).abs() * 2.0;
        alpha += smooth_peak(ring_line, 0.86) * 0.45;
        blend(pixel, ink, alpha.min(1.0) * strength);
    }
}

/// 0 below `threshold`, rising smoothly to 1 at `value` = 1: turns a triangle wave into thin
/// anti-aliased lines.
fn smooth_peak(value: f32, threshold: f32) -> f32 {
    let t = ((value - threshold) / (1.0 - threshold)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Fills a disk, anti-aliased over one pixel at its edge.
pub(crate) fn fill_disk(image: &mut RgbImage, cx: f32, cy: f32, radius: f32, colour: [u8; 3]) {
    let (x0, y0, x1, y1) = clip_box(image, cx - radius - 1.0, cy - radius - 1.0, cx + radius + 1.0, cy + radius + 1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let coverage = radius + 0.5 - (dx * dx + dy * dy).sqrt();
            if coverage > 0.0 {
                blend(image.get_pixel_mut(x, y), colour, coverage);
            }
        }
    }
}

/// Fills a ring between `inner` and `outer` radius, anti-aliased.
pub(crate) fn fill_ring(image: &mut RgbImage, cx: f32, cy: f32, inner: f32, outer: f32, colour: [u8; 3]) {
    let (x0, y0, x1, y1) = clip_box(image, cx - outer - 1.0, cy - outer - 1.0, cx + outer + 1.0, cy + outer + 1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let d = (dx * dx + dy * dy).sqrt();
            let coverage = (outer + 0.5 - d).min(d - inner + 0.5);
            if coverage > 0.0 {
                blend(image.get_pixel_mut(x, y), colour, coverage);
            }
        }
    }
}

/// Fills a polygon (any winding, even-odd rule) with 4×4 supersampling at each pixel.
pub(crate) fn fill_polygon(image: &mut RgbImage, points: &[(f32, f32)], colour: [u8; 3]) {
    if points.len() < 3 {
        return;
    }
    let (mut left, mut top, mut right, mut bottom) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in points {
        (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x), bottom.max(y));
    }
    let (x0, y0, x1, y1) = clip_box(image, left - 1.0, top - 1.0, right + 1.0, bottom + 1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let mut inside = 0u32;
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = x as f32 + (sx as f32 + 0.5) / 4.0;
                    let py = y as f32 + (sy as f32 + 0.5) / 4.0;
                    inside += u32::from(contains(points, px, py));
                }
            }
            if inside > 0 {
                blend(image.get_pixel_mut(x, y), colour, inside as f32 / 16.0);
            }
        }
    }
}

fn contains(points: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut previous = points[points.len() - 1];
    for &point in points {
        let ((xi, yi), (xj, yj)) = (point, previous);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        previous = point;
    }
    inside
}

/// The ten points of a five-pointed star centred at (cx, cy), one point toward `rotation`
/// (radians, 0 = up).
pub(crate) fn star(cx: f32, cy: f32, radius: f32, rotation: f32) -> Vec<(f32, f32)> {
    (0..10)
        .map(|i| {
            // The inner radius of a regular star is sin(18°)/sin(54°) ≈ 0.382 of the outer.
            let r = if i % 2 == 0 { radius } else { radius * 0.382 };
            let angle = rotation + i as f32 * std::f32::consts::PI / 5.0;
            (cx + r * angle.sin(), cy - r * angle.cos())
        })
        .collect()
}

/// The coverage (0..=1) of a rounded rectangle spanning [0, w] × [0, h] with corner radius `r`
/// at the pixel centred on (x, y).
pub(crate) fn rounded_rect_coverage(x: f32, y: f32, w: f32, h: f32, r: f32) -> f32 {
    // Distance outside the rectangle shrunk by r, minus r: a signed distance to the outline.
    let qx = (x - w / 2.0).abs() - (w / 2.0 - r);
    let qy = (y - h / 2.0).abs() - (h / 2.0 - r);
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt() + qx.max(qy).min(0.0) - r;
    (0.5 - outside).clamp(0.0, 1.0)
}

/// Fills a rounded rectangle with top-left (x, y), anti-aliased.
pub(crate) fn fill_rounded_rect(image: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, r: f32, colour: [u8; 3]) {
    let (x0, y0, x1, y1) = clip_box(image, x - 1.0, y - 1.0, x + w + 1.0, y + h + 1.0);
    for py in y0..y1 {
        for px in x0..x1 {
            let coverage = rounded_rect_coverage(px as f32 + 0.5 - x, py as f32 + 0.5 - y, w, h, r);
            if coverage > 0.0 {
                blend(image.get_pixel_mut(px, py), colour, coverage);
            }
        }
    }
}

/// The pixel rows and columns a box touches, clipped to the image: (x0, y0, x1, y1), exclusive
/// ends.
fn clip_box(image: &RgbImage, left: f32, top: f32, right: f32, bottom: f32) -> (u32, u32, u32, u32) {
    let clamp = |v: f32, max: u32| v.floor().clamp(0.0, max as f32) as u32;
    let (w, h) = image.dimensions();
    (clamp(left, w), clamp(top, h), clamp(right + 1.0, w), clamp(bottom + 1.0, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_primaries() {
        assert_eq!(hsv(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv(120.0, 1.0, 1.0), [0, 255, 0]);
        assert_eq!(hsv(240.0, 1.0, 1.0), [0, 0, 255]);
        assert_eq!(hsv(17.0, 0.0, 0.5), [128, 128, 128]);
    }

    #[test]
    fn rounded_rect_has_soft_corners() {
        let (w, h, r) = (100.0, 60.0, 10.0);
        assert_eq!(rounded_rect_coverage(50.0, 30.0, w, h, r), 1.0);
        assert_eq!(rounded_rect_coverage(0.5, 0.5, w, h, r), 0.0);
        assert_eq!(rounded_rect_coverage(50.0, 0.5, w, h, r), 1.0);
        assert_eq!(rounded_rect_coverage(50.0, -2.0, w, h, r), 0.0);
    }

    #[test]
    fn polygon_fill_covers_inside_only() {
        let mut image = RgbImage::new(20, 20);
        fill_polygon(&mut image, &[(2.0, 2.0), (18.0, 2.0), (18.0, 18.0), (2.0, 18.0)], [255, 255, 255]);
        assert_eq!(image.get_pixel(10, 10).0, [255, 255, 255]);
        assert_eq!(image.get_pixel(0, 0).0, [0, 0, 0]);
    }
}
