//! Quadrilaterals in image coordinates and the perspective crops made from them: a detected text
//! line is a rotated rectangle, and the recogniser wants it straight, left to right.

use image::RgbImage;
pub use imageproc::geometric_transformations::Interpolation;
use imageproc::geometric_transformations::{Border, Projection, warp_into};
use serde::{Deserialize, Serialize};

/// Four corners in the order top-left, top-right, bottom-right, bottom-left (as the text runs),
/// in pixels of the image that was read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quad(pub [[f32; 2]; 4]);

impl Quad {
    /// An axis-aligned rectangle.
    pub fn rect(x: f32, y: f32, w: f32, h: f32) -> Self {
        Quad([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    }

    /// Length of the top and bottom edges (the longer one).
    pub fn width(&self) -> f32 {
        dist(self.0[0], self.0[1]).max(dist(self.0[3], self.0[2]))
    }

    /// Length of the left and right edges (the longer one).
    pub fn height(&self) -> f32 {
        dist(self.0[0], self.0[3]).max(dist(self.0[1], self.0[2]))
    }

    pub fn center(&self) -> [f32; 2] {
        let (sx, sy) = self.0.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
        [sx / 4.0, sy / 4.0]
    }

    /// The direction of the top edge, in degrees (0 = level text, positive = clockwise in image
    /// coordinates, where y grows downwards).
    pub fn angle_degrees(&self) -> f32 {
        let [a, b] = [self.0[0], self.0[1]];
        (b[1] - a[1]).atan2(b[0] - a[0]).to_degrees()
    }

    /// The smallest axis-aligned box holding the quad: (left, top, right, bottom).
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        self.0.iter().fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |(l, t, r, b), p| {
            (l.min(p[0]), t.min(p[1]), r.max(p[0]), b.max(p[1]))
        })
    }

    /// Maps every corner through `f`.
    pub fn map(&self, f: impl Fn([f32; 2]) -> [f32; 2]) -> Self {
        Quad(self.0.map(f))
    }
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Orders four points as top-left, top-right, bottom-right, bottom-left for a box that is wider
/// than tall or only moderately rotated: the two leftmost points give the left edge (the upper of
/// them is top-left), the two rightmost the right edge.
pub fn order_corners(mut points: [[f32; 2]; 4]) -> Quad {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if points[0][1] <= points[1][1] { (points[0], points[1]) } else { (points[1], points[0]) };
    let (tr, br) = if points[2][1] <= points[3][1] { (points[2], points[3]) } else { (points[3], points[2]) };
    Quad([tl, tr, br, bl])
}

/// Cuts `quad` out of `image` and straightens it into a `width`×`height` image (edge pixels
/// repeated where the quad leaves the image). `None` when the quad is degenerate.
pub fn warp_quad(
    image: &RgbImage,
    quad: &Quad,
    width: u32,
    height: u32,
    interpolation: Interpolation,
) -> Option<RgbImage> {
    if width == 0 || height == 0 {
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let from = quad.0.map(|p| (p[0], p[1]));
    let to = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let source_to_output = Projection::from_control_points(from, to)?;
    let mut out = RgbImage::new(width, height);
    warp_into(image, source_to_output, interpolation, Border::Replicate, &mut out);
    Some(out)
}

/// Straightens a text line for the recogniser: the crop is as long as the quad's longer
/// horizontal edge and as tall as its longer vertical edge; a crop much taller than wide is a
/// vertical line and is turned to run left to right.
pub fn crop_line(image: &RgbImage, quad: &Quad) -> Option<RgbImage> {
    let w = quad.width().round().max(1.0) as u32;
    let h = quad.height().round().max(1.0) as u32;
    // Bicubic, as the recogniser's training crops were made: measured on generated cards,
    // bilinear's softer strokes cost characters on long lines.
    let crop = warp_quad(image, quad, w, h, Interpolation::Bicubic)?;
    if h as f32 >= 1.5 * w as f32 { Some(image::imageops::rotate270(&crop)) } else { Some(crop) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn corners_are_ordered_as_the_text_runs() {
        let q = order_corners([[10.0, 20.0], [100.0, 22.0], [9.0, 40.0], [99.0, 42.0]]);
        assert_eq!(q.0, [[10.0, 20.0], [100.0, 22.0], [99.0, 42.0], [9.0, 40.0]]);
        assert!((q.angle_degrees() - 1.27).abs() < 0.05);
    }

    #[test]
    fn a_crop_is_straightened_and_degenerate_quads_are_refused() {
        let mut img = RgbImage::from_pixel(64, 64, Rgb([255, 255, 255]));
        for x in 10..50 {
            img.put_pixel(x, 30, Rgb([0, 0, 0]));
        }
        let crop = crop_line(&img, &Quad::rect(8.0, 25.0, 44.0, 10.0)).expect("a crop");
        assert_eq!(crop.dimensions(), (44, 10));
        assert!(crop.get_pixel(20, 5).0[0] < 128);
        assert!(warp_quad(&img, &Quad([[1.0, 1.0]; 4]), 10, 10, Interpolation::Bilinear).is_none());
    }
}
