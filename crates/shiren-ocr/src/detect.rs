//! Text detection: the image goes into a PP-OCRv6 DB network at most `max_side` pixels a side
//! (each side a multiple of 32), and the probability map that comes out is turned into boxes the
//! way Differentiable Binarization prescribes: threshold the map, take each region's outline,
//! fit the smallest rotated rectangle, keep it if the map is confident inside it, then grow it by
//! `area × unclip_ratio / perimeter` on every side (the network is trained on shrunk text
//! regions) and scale it back to the photo.

use image::{GrayImage, Luma, RgbImage, imageops::FilterType};
use imageproc::contours::{BorderType, find_contours};
use imageproc::geometry::convex_hull;
use imageproc::point::Point;
use serde::{Deserialize, Serialize};

use crate::geometry::{Quad, order_corners};

/// Detector thresholds; the defaults are PaddleOCR's for PP-OCRv5, kept for PP-OCRv6 (its own
/// 0.2 / 0.4-0.45 / 1.4 read no more on the generated bank cards' expiry dates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectSettings {
    /// The longer side of the network input; larger finds smaller text, slower.
    pub max_side: u32,
    /// A map value above this is text.
    pub binary_threshold: f32,
    /// A region is kept when the map's mean inside its rectangle is at least this.
    pub box_threshold: f32,
    /// How far a region's rectangle is grown back (see the module comment).
    pub unclip_ratio: f32,
    /// At most this many regions are considered (bounds the work on a noisy image).
    pub max_candidates: usize,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self { max_side: 960, binary_threshold: 0.3, box_threshold: 0.5, unclip_ratio: 1.6, max_candidates: 1000 }
    }
}

/// One detected text region in the photo's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub quad: Quad,
    /// Mean detector probability inside the region, 0-1.
    pub score: f32,
}

/// The network input for `image`: NCHW floats, and the map size it will produce.
pub(crate) struct DetectorInput {
    pub data: Vec<f32>,
    pub width: usize,
    pub height: usize,
}

/// Resizes to at most `max_side` a side (never enlarging), each side rounded to a multiple of
/// 32, and normalises with ImageNet's mean and deviation in PaddleOCR's channel order (its
/// images are BGR, and the first mean applies to the first channel, blue).
pub(crate) fn prepare(image: &RgbImage, max_side: u32) -> DetectorInput {
    let (w, h) = image.dimensions();
    let ratio = if w.max(h) > max_side { max_side as f32 / w.max(h) as f32 } else { 1.0 };
    let round32 = |v: u32| (((v as f32 * ratio) / 32.0).round() as u32 * 32).max(32);
    let (rw, rh) = (round32(w), round32(h));
    let resized = image::imageops::resize(image, rw, rh, FilterType::Triangle);
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let plane = (rw * rh) as usize;
    let mut data = vec![0.0f32; 3 * plane];
    for (i, px) in resized.pixels().enumerate() {
        // BGR: plane 0 is blue.
        for (c, &value) in [px.0[2], px.0[1], px.0[0]].iter().enumerate() {
            data[c * plane + i] = (value as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    DetectorInput { data, width: rw as usize, height: rh as usize }
}

/// Turns the probability map (`map_w`×`map_h`) into text boxes in the coordinates of an image of
/// `image_w`×`image_h`.
pub(crate) fn boxes_from_map(
    map: &[f32],
    map_w: usize,
    map_h: usize,
    image_w: u32,
    image_h: u32,
    settings: &DetectSettings,
) -> Vec<TextBox> {
    if map.len() < map_w * map_h || map_w == 0 || map_h == 0 {
        return Vec::new();
    }
    let mut bitmap = GrayImage::new(map_w as u32, map_h as u32);
    for (i, &p) in map.iter().take(map_w * map_h).enumerate() {
        // NaN compares false and so is background.
        if p > settings.binary_threshold {
            bitmap.put_pixel((i % map_w) as u32, (i / map_w) as u32, Luma([255]));
        }
    }
    let sx = image_w as f32 / map_w as f32;
    let sy = image_h as f32 / map_h as f32;
    let mut boxes = Vec::new();
    let outlines = find_contours::<i32>(&bitmap).into_iter().filter(|c| matches!(c.border_type, BorderType::Outer));
    for outline in outlines.take(settings.max_candidates) {
        if outline.points.is_empty() {
            continue;
        }
        let Some(corners) = min_area_rect_exact(&outline.points) else { continue };
        let quad = order_corners(corners);
        let (w, h) = (edge(quad.0[0], quad.0[1]), edge(quad.0[1], quad.0[2]));
        if w.min(h) < 3.0 {
            continue;
        }
        let score = mean_inside(map, map_w, map_h, &quad);
        if score.is_nan() || score < settings.box_threshold {
            continue;
        }
        let grown = unclip(&quad, w, h, settings.unclip_ratio);
        let grown_short = w.min(h) + 2.0 * (w * h * settings.unclip_ratio / (2.0 * (w + h)));
        if grown_short < 5.0 {
            continue;
        }
        let scaled = grown.map(|[x, y]| [(x * sx).clamp(0.0, image_w as f32), (y * sy).clamp(0.0, image_h as f32)]);
        boxes.push(TextBox { quad: scaled, score });
    }
    boxes
}

/// The smallest rotated rectangle around the points, corners unrounded (imageproc's
/// `min_area_rect` rounds them outwards to whole pixels, which at the map's scale makes every
/// box a pixel or two taller than the reference's, and the recogniser sees narrower characters
/// — enough to drop one from a long line). Rotating calipers over the convex hull's edges.
fn min_area_rect_exact(points: &[Point<i32>]) -> Option<[[f32; 2]; 4]> {
    let hull: Vec<[f32; 2]> = convex_hull(points.to_vec()).iter().map(|p| [p.x as f32, p.y as f32]).collect();
    match hull.len() {
        0 => return None,
        1 => return Some([hull[0]; 4]),
        2 => return Some([hull[0], hull[1], hull[1], hull[0]]),
        _ => {}
    }
    let mut best: Option<(f32, [[f32; 2]; 4])> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        if len == 0.0 {
            continue;
        }
        // Unit vectors along the edge and across it.
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            (min_u, max_u, min_v, max_v) = (min_u.min(pu), max_u.max(pu), min_v.min(pv), max_v.max(pv));
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let at = |su: f32, sv: f32| [su * u[0] + sv * v[0], su * u[1] + sv * v[1]];
            best = Some((area, [at(min_u, min_v), at(max_u, min_v), at(max_u, max_v), at(min_u, max_v)]));
        }
    }
    best.map(|(_, corners)| corners)
}

fn edge(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Grows a rectangle of sides `w` (top edge) and `h` by `d = area × ratio / perimeter` on every
/// side. For a rectangle this is exactly the bounding rectangle of the rounded offset polygon
/// that the reference post-processing computes with a polygon-clipping library.
fn unclip(quad: &Quad, w: f32, h: f32, ratio: f32) -> Quad {
    let d = w * h * ratio / (2.0 * (w + h));
    let [tl, tr, _, bl] = quad.0;
    let u = [(tr[0] - tl[0]) / w, (tr[1] - tl[1]) / w];
    let v = [(bl[0] - tl[0]) / h, (bl[1] - tl[1]) / h];
    let c = quad.center();
    let (hw, hh) = (w / 2.0 + d, h / 2.0 + d);
    let at = |su: f32, sv: f32| [c[0] + su * hw * u[0] + sv * hh * v[0], c[1] + su * hw * u[1] + sv * hh * v[1]];
    Quad([at(-1.0, -1.0), at(1.0, -1.0), at(1.0, 1.0), at(-1.0, 1.0)])
}

/// The mean of the map over the pixels whose centres lie inside the (convex) quad.
fn mean_inside(map: &[f32], map_w: usize, map_h: usize, quad: &Quad) -> f32 {
    let (l, t, r, b) = quad.bounds();
    let x0 = (l.floor().max(0.0) as usize).min(map_w - 1);
    let x1 = (r.ceil().max(0.0) as usize).min(map_w - 1);
    let y0 = (t.floor().max(0.0) as usize).min(map_h - 1);
    let y1 = (b.ceil().max(0.0) as usize).min(map_h - 1);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside_convex(&quad.0, x as f32 + 0.5, y as f32 + 0.5) {
                sum += map[y * map_w + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 {
        // A quad thinner than a pixel: its nearest pixel stands for it.
        let c = quad.center();
        let x = (c[0].max(0.0) as usize).min(map_w - 1);
        let y = (c[1].max(0.0) as usize).min(map_h - 1);
        return map[y * map_w + x];
    }
    (sum / n as f64) as f32
}

/// Whether (x, y) is inside or on the convex polygon `corners` (either winding).
fn inside_convex(corners: &[[f32; 2]; 4], x: f32, y: f32) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let a = corners[i];
        let b = corners[(i + 1) % 4];
        let cross = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        if cross.abs() < 1e-6 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Sorts boxes into reading order: top to bottom, and left to right among boxes whose centres
/// are within half a line height of each other.
pub fn reading_order(boxes: &mut [TextBox]) {
    reading_order_by(boxes, |b| &b.quad);
}

/// `reading_order` for anything that has a quad.
pub fn reading_order_by<T>(items: &mut [T], quad: impl Fn(&T) -> &Quad) {
    items.sort_by(|a, b| quad(a).center()[1].total_cmp(&quad(b).center()[1]));
    // Insertion pass: neighbours on the same row are swapped into left-to-right order.
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 {
            let (p, q) = (quad(&items[j - 1]), quad(&items[j]));
            let tolerance = 0.5 * p.height().min(q.height());
            let same_row = (q.center()[1] - p.center()[1]).abs() <= tolerance;
            if same_row && q.center()[0] < p.center()[0] {
                items.swap(j - 1, j);
                j -= 1;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_with(rects: &[(usize, usize, usize, usize)], w: usize, h: usize) -> Vec<f32> {
        let mut map = vec![0.05f32; w * h];
        for &(x, y, rw, rh) in rects {
            for yy in y..y + rh {
                for xx in x..x + rw {
                    map[yy * w + xx] = 0.9;
                }
            }
        }
        map
    }

    #[test]
    fn each_region_becomes_one_grown_box_in_image_pixels() {
        let map = map_with(&[(10, 10, 40, 8), (10, 40, 20, 10)], 64, 64);
        let mut boxes = boxes_from_map(&map, 64, 64, 128, 128, &DetectSettings::default());
        reading_order(&mut boxes);
        assert_eq!(boxes.len(), 2);
        let (l, t, r, b) = boxes[0].quad.bounds();
        // 40×8 region (39×7 between outline pixels): d = 39·7·1.5 / 92 ≈ 4.45 map pixels.
        assert!((l - 2.0 * (10.0 - 4.45)).abs() < 2.0, "{l}");
        assert!((r - 2.0 * (49.0 + 4.45)).abs() < 2.0, "{r}");
        assert!(t < 20.0 && b > 34.0, "{t} {b}");
        assert!(boxes[0].score > 0.85);
    }

    #[test]
    fn faint_or_tiny_regions_and_nan_maps_give_nothing() {
        let mut map = map_with(&[(10, 10, 2, 2)], 32, 32);
        map[20 * 32 + 20] = f32::NAN;
        assert!(boxes_from_map(&map, 32, 32, 32, 32, &DetectSettings::default()).is_empty());
        let faint = vec![0.35f32; 32 * 32];
        assert!(boxes_from_map(&faint, 32, 32, 32, 32, &DetectSettings::default()).is_empty());
        assert!(boxes_from_map(&[], 0, 0, 32, 32, &DetectSettings::default()).is_empty());
    }

    #[test]
    fn inputs_are_multiples_of_32_and_never_enlarged() {
        let small = RgbImage::new(100, 50);
        let input = prepare(&small, 960);
        assert_eq!((input.width, input.height), (96, 64));
        let big = RgbImage::new(3000, 1000);
        let input = prepare(&big, 960);
        assert_eq!((input.width, input.height), (960, 320));
        assert_eq!(input.data.len(), 3 * 960 * 320);
    }

    #[test]
    fn rows_read_left_to_right() {
        let b = |x: f32, y: f32| TextBox { quad: Quad::rect(x, y, 20.0, 10.0), score: 1.0 };
        let mut boxes = vec![b(50.0, 2.0), b(0.0, 0.0), b(0.0, 30.0)];
        reading_order(&mut boxes);
        assert_eq!(boxes.iter().map(|b| b.quad.0[0][0]).collect::<Vec<_>>(), vec![0.0, 50.0, 0.0]);
    }
}
