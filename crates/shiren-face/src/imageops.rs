//! Pixel operations the models' reference pipeline depends on, written to match OpenCV's
//! semantics rather than taken from an image library: the published accuracy of these models
//! holds only for OpenCV-style bilinear resizing (half-pixel centres, two taps, no antialiasing
//! when shrinking) and a bilinear affine warp with a zero border. Library resizers
//! (fast_image_resize, image's own) antialias when shrinking, which moves similarity scores by
//! up to 0.04, so these few loops are ours.

/// An 8-bit RGB image, rows top to bottom, pixels interleaved.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// Wraps interleaved RGB bytes; `None` when the length does not match.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (width.checked_mul(height)?.checked_mul(3)? == data.len()).then_some(Self { width, height, data })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    #[inline]
    fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.width * 3..(y + 1) * self.width * 3]
    }

    /// Rotates clockwise by `quarter_turns` × 90 degrees.
    pub fn rotated(&self, quarter_turns: u32) -> RgbImage {
        let (w, h) = (self.width, self.height);
        match quarter_turns % 4 {
            0 => self.clone(),
            2 => {
                let mut data = Vec::with_capacity(self.data.len());
                for px in self.data.chunks_exact(3).rev() {
                    data.extend_from_slice(px);
                }
                RgbImage { width: w, height: h, data }
            }
            turns => {
                let mut data = vec![0u8; self.data.len()];
                // New image is h wide and w tall.
                for y in 0..h {
                    let src = self.row(y);
                    for x in 0..w {
                        let (nx, ny) = if turns == 1 { (h - 1 - y, x) } else { (y, w - 1 - x) };
                        let d = (ny * h + nx) * 3;
                        data[d..d + 3].copy_from_slice(&src[x * 3..x * 3 + 3]);
                    }
                }
                RgbImage { width: h, height: w, data }
            }
        }
    }
}

/// Fixed-point precision of OpenCV's 8-bit bilinear resize coefficients.
const RESIZE_BITS: u32 = 11;
const RESIZE_ONE: i32 = 1 << RESIZE_BITS;

/// Source index and fixed-point weights for one output coordinate, as OpenCV computes them.
#[derive(Clone, Copy)]
struct Tap {
    index: usize,
    w0: i32,
    w1: i32,
}

fn taps(out_range: std::ops::Range<usize>, out_size: usize, in_size: usize) -> Vec<Tap> {
    // OpenCV's arithmetic: the scale as the inverse of out/in, the source position rounded to
    // float32, and the weight rounded half to even.
    let scale = 1.0 / (out_size as f64 / in_size as f64);
    out_range
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor();
            let mut frac = f - s;
            if s < 0.0 {
                s = 0.0;
                frac = 0.0;
            }
            let mut index = s as usize;
            if index + 1 >= in_size {
                index = in_size - 1;
                frac = 0.0;
            }
            let w0 = ((1.0 - frac) * RESIZE_ONE as f32).round_ties_even() as i32;
            Tap { index, w0, w1: RESIZE_ONE - w0 }
        })
        .collect()
}

/// OpenCV's vectorised vertical step for 8-bit images (rows carry 11 fractional bits, the
/// weights 11 more): each product keeps its high 16 bits before the sum is rounded. The plain
/// `(a + b + 2^21) >> 22` differs from it by one level on about a tenth of the pixels, which
/// moves detector keypoints by tenths of a pixel.
#[inline]
fn vertical_blend(r0: i32, r1: i32, w0: i32, w1: i32) -> i32 {
    ((((r0 >> 4) * w0) >> 16) + (((r1 >> 4) * w1) >> 16) + 2) >> 2
}

/// A window of the image resized to `out_w` × `out_h` (OpenCV `INTER_LINEAR`), placed on a
/// zero canvas: output pixel (x, y) of the window is canvas pixel (x0 + x, y0 + y), and canvas
/// pixels beyond the resized image are black. The full letterbox is the window at (0, 0) the
/// size of the canvas; a smaller window computes exactly the same pixels for its area.
///
/// Writes the detector's input directly: planar RGB, `(value - mean) * scale`.
pub fn resize_window_to_tensor(
    image: &RgbImage,
    out_w: usize,
    out_h: usize,
    window: Window,
    mean: f32,
    scale: f32,
) -> Vec<f32> {
    let plane = window.width * window.height;
    let pad = (0.0 - mean) * scale;
    let mut tensor = vec![pad; plane * 3];
    let x_end = (window.x + window.width).min(out_w);
    let y_end = (window.y + window.height).min(out_h);
    if window.x >= x_end || window.y >= y_end {
        return tensor;
    }
    let xtaps: Vec<PixelTap> = taps(window.x..x_end, out_w, image.width)
        .into_iter()
        .map(|t| PixelTap { a: t.index * 3, b: (t.index + 1).min(image.width - 1) * 3, w0: t.w0, w1: t.w1 })
        .collect();
    let ytaps = taps(window.y..y_end, out_h, image.height);
    let cols = xtaps.len();
    // Horizontally resized rows, kept by source row index: consecutive output rows mostly
    // share their two source rows, so each source row is resized about once.
    let mut slots: [(usize, Vec<i32>); 2] = [(usize::MAX, vec![0; cols * 3]), (usize::MAX, vec![0; cols * 3])];
    for (row, ty) in ytaps.iter().enumerate() {
        let y1 = (ty.index + 1).min(image.height - 1);
        for (needed, other) in [(ty.index, y1), (y1, ty.index)] {
            if slots.iter().any(|(idx, _)| *idx == needed) {
                continue;
            }
            let victim = usize::from(slots[0].0 == other);
            hresize_row(image.row(needed), &xtaps, &mut slots[victim].1);
            slots[victim].0 = needed;
        }
        let r0 = &slots[usize::from(slots[0].0 != ty.index)].1;
        let r1 = &slots[usize::from(slots[0].0 != y1)].1;
        let base = row * window.width;
        for c in 0..3 {
            let out = &mut tensor[c * plane + base..c * plane + base + cols];
            let (a, b) = (&r0[c * cols..(c + 1) * cols], &r1[c * cols..(c + 1) * cols]);
            for ((o, &p0), &p1) in out.iter_mut().zip(a).zip(b) {
                let px = vertical_blend(p0, p1, ty.w0, ty.w1).clamp(0, 255);
                *o = (px as f32 - mean) * scale;
            }
        }
    }
    tensor
}

/// One source row resized horizontally, stored channel by channel (`out[c * cols + i]`) so
/// the vertical pass runs over contiguous memory.
fn hresize_row(src_row: &[u8], xtaps: &[PixelTap], out: &mut [i32]) {
    let cols = xtaps.len();
    let (red, rest) = out.split_at_mut(cols);
    let (green, blue) = rest.split_at_mut(cols);
    for (i, t) in xtaps.iter().enumerate() {
        let (a, b) = (&src_row[t.a..t.a + 3], &src_row[t.b..t.b + 3]);
        red[i] = a[0] as i32 * t.w0 + b[0] as i32 * t.w1;
        green[i] = a[1] as i32 * t.w0 + b[1] as i32 * t.w1;
        blue[i] = a[2] as i32 * t.w0 + b[2] as i32 * t.w1;
    }
}

/// A horizontal tap with the byte offsets of its two source pixels.
struct PixelTap {
    a: usize,
    b: usize,
    w0: i32,
    w1: i32,
}

/// A rectangle of output pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// A 2×3 affine matrix mapping source coordinates to destination coordinates.
pub type Affine = [[f64; 3]; 2];

pub fn invert_affine(m: &Affine) -> Option<Affine> {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (a, b, c, d) = (m[1][1] / det, -m[0][1] / det, -m[1][0] / det, m[0][0] / det);
    Some([[a, b, -(a * m[0][2] + b * m[1][2])], [c, d, -(c * m[0][2] + d * m[1][2])]])
}

pub fn apply_affine(m: &Affine, x: f64, y: f64) -> (f64, f64) {
    (m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2])
}

/// Warps `image` by `forward` (source → destination) into a `size` × `size` crop, bilinear with
/// a zero border (OpenCV `warpAffine` defaults), returned as RGB bytes.
pub fn warp_affine(image: &RgbImage, forward: &Affine, size: usize) -> Option<RgbImage> {
    let inv = invert_affine(forward)?;
    let mut out = vec![0u8; size * size * 3];
    let (w, h) = (image.width as i64, image.height as i64);
    let src = &image.data;
    for dy in 0..size {
        // Walk the row incrementally: each step right adds the first column of the inverse.
        let (mut sx, mut sy) = apply_affine(&inv, 0.0, dy as f64);
        for dx in 0..size {
            // OpenCV quantises sample positions to 1/32 pixel.
            let qx = floor_i64(sx * 32.0 + 0.5);
            let qy = floor_i64(sy * 32.0 + 0.5);
            sx += inv[0][0];
            sy += inv[1][0];
            let (x0, y0) = (qx >> 5, qy >> 5);
            let (fx, fy) = ((qx & 31) as f32 / 32.0, (qy & 31) as f32 / 32.0);
            let o = (dy * size + dx) * 3;
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                let p00 = ((y0 * w + x0) * 3) as usize;
                let p10 = p00 + (w as usize) * 3;
                for c in 0..3 {
                    let top = src[p00 + c] as f32 * (1.0 - fx) + src[p00 + 3 + c] as f32 * fx;
                    let bottom = src[p10 + c] as f32 * (1.0 - fx) + src[p10 + 3 + c] as f32 * fx;
                    // Non-negative, so adding a half and truncating rounds to nearest.
                    out[o + c] = (top * (1.0 - fy) + bottom * fy + 0.5) as u8;
                }
                continue;
            }
            // Near or beyond the border: taps outside the image count as black.
            let mut acc = [0f32; 3];
            for (yy, wy) in [(y0, 1.0 - fy), (y0 + 1, fy)] {
                if wy == 0.0 || yy < 0 || yy >= h {
                    continue;
                }
                for (xx, wx) in [(x0, 1.0 - fx), (x0 + 1, fx)] {
                    if wx == 0.0 || xx < 0 || xx >= w {
                        continue;
                    }
                    let p = ((yy * w + xx) * 3) as usize;
                    for c in 0..3 {
                        acc[c] += src[p + c] as f32 * wx * wy;
                    }
                }
            }
            for c in 0..3 {
                out[o + c] = (acc[c] + 0.5) as u8;
            }
        }
    }
    RgbImage::from_raw(size, size, out)
}

/// `floor` without a libm call (baseline x86-64 has no rounding instruction).
#[inline]
fn floor_i64(v: f64) -> i64 {
    let t = v as i64;
    if (t as f64) > v { t - 1 } else { t }
}

/// Planar float tensor `(value - mean) * scale` of an RGB crop.
pub fn to_planar(image: &RgbImage, mean: [f32; 3], scale: f32) -> Vec<f32> {
    let plane = image.width * image.height;
    let mut t = vec![0f32; plane * 3];
    for (i, px) in image.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            t[c * plane + i] = (px[c] as f32 - mean[c]) * scale;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> RgbImage {
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 256) as u8]);
            }
        }
        RgbImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn window_matches_the_same_area_of_the_full_letterbox() {
        let img = gradient(301, 211);
        let full = Window { x: 0, y: 0, width: 320, height: 320 };
        let whole = resize_window_to_tensor(&img, 250, 175, full, 0.0, 1.0);
        let win = Window { x: 64, y: 32, width: 224, height: 160 };
        let part = resize_window_to_tensor(&img, 250, 175, win, 0.0, 1.0);
        for c in 0..3 {
            for y in 0..win.height {
                for x in 0..win.width {
                    let a = whole[c * 320 * 320 + (y + 32) * 320 + x + 64];
                    let b = part[c * win.width * win.height + y * win.width + x];
                    assert_eq!(a, b, "c{c} x{x} y{y}");
                }
            }
        }
    }

    #[test]
    fn identity_resize_keeps_pixels() {
        let img = gradient(40, 30);
        let t = resize_window_to_tensor(&img, 40, 30, Window { x: 0, y: 0, width: 40, height: 30 }, 0.0, 1.0);
        let back = to_planar(&img, [0.0; 3], 1.0);
        assert_eq!(t, back);
    }

    #[test]
    fn rotations_compose_to_identity() {
        let img = gradient(13, 7);
        assert_eq!(img.rotated(1).rotated(3), img);
        assert_eq!(img.rotated(2).rotated(2), img);
        assert_eq!(img.rotated(1).rotated(1), img.rotated(2));
        let r = img.rotated(1);
        assert_eq!((r.width(), r.height()), (7, 13));
        // Clockwise: the top-left pixel goes to the top-right corner.
        assert_eq!(&r.as_raw()[(6) * 3..(6) * 3 + 3], &img.as_raw()[0..3]);
    }

    #[test]
    fn identity_warp_copies_and_borders_are_black() {
        let img = gradient(16, 16);
        let id: Affine = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert_eq!(warp_affine(&img, &id, 16).unwrap(), img);
        let shifted: Affine = [[1.0, 0.0, 8.0], [0.0, 1.0, 0.0]];
        let out = warp_affine(&img, &shifted, 16).unwrap();
        assert_eq!(&out.as_raw()[0..3], &[0, 0, 0]);
        assert_eq!(&out.as_raw()[8 * 3..8 * 3 + 3], &img.as_raw()[0..3]);
    }
}
