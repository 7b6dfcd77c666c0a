//! Finding a card in a photo and straightening it: the card's outline is the largest
//! four-cornered shape among the photo's edges; the four corners are mapped onto the card's own
//! proportions (ISO/IEC 7810 ID-1, 85.6 × 54 mm, shared by ID and bank cards) so that the
//! reader sees the card flat, long side horizontal, whatever the camera's angle.

use image::{GrayImage, RgbImage};
use imageproc::contours::{BorderType, find_contours};
use imageproc::distance_transform::Norm;
use imageproc::geometry::{contour_area, convex_hull};
use imageproc::morphology::dilate;
use imageproc::point::Point;
use shiren_ocr::Quad;
use shiren_ocr::geometry::{Interpolation, warp_quad};

use crate::edges::ThinnedGradients;

/// Width of a straightened card: 10 pixels per millimetre.
pub const CARD_WIDTH: u32 = 856;
/// Height of a straightened card.
pub const CARD_HEIGHT: u32 = 540;
/// The edge search runs on the photo scaled to this many pixels on its longer side: a card's
/// outline survives, fine texture and sensor noise do not, and it costs a few milliseconds.
const SEARCH_SIDE: u32 = 480;
/// A card smaller than this share of the photo is not looked for. A card at the generator's
/// smallest (45% of a portrait photo's width) covers 9%; below 5% its text is too small to
/// read.
const MIN_AREA_SHARE: f32 = 0.05;

/// Where the card is and the card itself, straightened.
#[derive(Debug, Clone)]
pub struct LocatedCard {
    /// `CARD_WIDTH`×`CARD_HEIGHT`, long side horizontal; possibly upside down (the reader turns
    /// it by its text).
    pub card: RgbImage,
    /// The card's corners in the photo, as straightened (top-left first, clockwise); `None` when
    /// no outline was found and the whole photo was taken as the card.
    pub corners: Option<Quad>,
    /// The card's outline was found and lies wholly inside the photo, off its edges.
    pub border_complete: bool,
}

/// Finds the card and straightens it. A photo in which no outline is found is taken whole, as
/// the card (a tight crop or a scan), scaled to the card's size.
pub fn locate(photo: &RgbImage) -> LocatedCard {
    let (w, h) = photo.dimensions();
    match find_outline(photo) {
        Some(quad) => {
            let quad = long_side_first(quad);
            let card = warp_quad(photo, &quad, CARD_WIDTH, CARD_HEIGHT, Interpolation::Bilinear).unwrap_or_else(|| {
                image::imageops::resize(photo, CARD_WIDTH, CARD_HEIGHT, image::imageops::FilterType::Triangle)
            });
            let margin = 0.004 * w.max(h) as f32;
            let inside = quad
                .0
                .iter()
                .all(|p| p[0] > margin && p[1] > margin && p[0] < w as f32 - margin && p[1] < h as f32 - margin);
            LocatedCard { card, corners: Some(quad), border_complete: inside }
        }
        None => {
            // A photo taller than wide is a card held upright: lay it down first.
            let flat = if h > w { image::imageops::rotate90(photo) } else { photo.clone() };
            let card = image::imageops::resize(&flat, CARD_WIDTH, CARD_HEIGHT, image::imageops::FilterType::Triangle);
            LocatedCard { card, corners: None, border_complete: false }
        }
    }
}

/// The located card turned a quarter: its corners taken from the next one on, so that the
/// other pair of sides becomes the card's width. For when the text shows that the sides were
/// taken the wrong way round (a card nearly square in perspective).
pub fn relocated_quarter(photo: &RgbImage, located: &LocatedCard) -> Option<LocatedCard> {
    let q = located.corners?.0;
    let quad = Quad([q[1], q[2], q[3], q[0]]);
    let card = warp_quad(photo, &quad, CARD_WIDTH, CARD_HEIGHT, Interpolation::Bilinear)?;
    Some(LocatedCard { card, corners: Some(quad), border_complete: located.border_complete })
}

/// Finds, straightens and turns the card upright, and reads it with the detector's input at
/// most `detector_side` pixels a side: the one path of every card reader. When the straightened card's text runs across its short side, the card's sides were
/// paired wrongly, and it is straightened the other way and read again.
pub fn read_upright(
    engine: &shiren_ocr::OcrEngine,
    photo: &RgbImage,
    detector_side: u32,
    detector: shiren_ocr::Detector,
) -> Result<(LocatedCard, shiren_ocr::engine::UprightPage), shiren_ocr::OcrError> {
    let located = locate(photo);
    let page = engine.read_upright_with(&located.card, detector_side, detector)?;
    let sideways = matches!(page.rotation.degrees(), 90 | 270);
    if sideways && let Some(again) = relocated_quarter(photo, &located) {
        let second = engine.read_upright_with(&again.card, detector_side, detector)?;
        if !matches!(second.rotation.degrees(), 90 | 270) {
            return Ok((again, second));
        }
    }
    Ok((located, page))
}

/// The card's outline in photo pixels, corners clockwise from the one nearest the top-left.
pub fn find_outline(photo: &RgbImage) -> Option<Quad> {
    let (w, h) = photo.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let scale = SEARCH_SIDE as f32 / w.max(h) as f32;
    let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let small = image::imageops::resize(photo, sw, sh, image::imageops::FilterType::Triangle);
    // Edges are found in each colour channel: a green card on a green desk, or a red one on
    // brown wood, differs in hue more than in brightness (measured on 200 generated bank cards:
    // outlines found on 48% from brightness alone, 98% from the three channels).
    let channels: Vec<GrayImage> =
        (0..3).map(|c| GrayImage::from_fn(sw, sh, |x, y| image::Luma([small.get_pixel(x, y).0[c]]))).collect();
    // Strict thresholds (a textured desk then has few edges) and looser ones (a pale card on a
    // pale desk); the largest outline the edges really follow wins (a strict pass alone may
    // find only the portrait's frame).
    // Sides that follow edges over half their length first; failing that, a third (a white
    // card on a pale desk, photocopied, keeps little of one side: measured on 200 generated
    // cards of each kind, the lower bar alone finds 1% fewer outlines right).
    let gradients = ThinnedGradients::of(&channels);
    let edge_maps: Vec<GrayImage> =
        [(40.0, 90.0), (20.0, 50.0), (10.0, 30.0)].into_iter().map(|(low, high)| gradients.edges(low, high)).collect();
    let (_, quad) = MIN_SIDE_SUPPORT.iter().find_map(|&support| {
        edge_maps.iter().filter_map(|edges| outline_at(edges, support)).max_by(|a, b| a.0.total_cmp(&b.0))
    })?;
    let corners = quad.map(|p| [p.x / scale, p.y / scale]);
    Some(clockwise_from_top_left(corners))
}

/// The least share of each side's length that must follow edges, in the order tried.
const MIN_SIDE_SUPPORT: [f32; 2] = [0.5, 0.35];

/// The largest card-shaped outline among `edges` (one threshold pair's Canny edges): the
/// four-cornered hull of a joined edge region, each side then fitted to the edges along it
/// (`fit_sides`). Every side must follow edges for at least `min_side_support` of its length:
/// the hull of a textured background is as large as the photo but its sides run along the
/// photo's border where there are no edges, and a hull around a card's edges broken by a
/// printed wave or a colour gradient cuts across the card where there are few.
fn outline_at(edges: &GrayImage, min_side_support: f32) -> Option<(f64, [Point<f32>; 4])> {
    let (sw, sh) = edges.dimensions();
    // Closing small gaps in the outline (a glare spot, a finger) joins it into one region.
    let joined = dilate(edges, Norm::LInf, 2);
    let min_area = MIN_AREA_SHARE as f64 * (sw * sh) as f64;
    let mut best: Option<(f64, [Point<f32>; 4])> = None;
    for contour in find_contours::<i32>(&joined) {
        if !matches!(contour.border_type, BorderType::Outer) || contour.points.len() < 4 {
            continue;
        }
        let hull = convex_hull(contour.points);
        if hull.len() < 4 {
            continue;
        }
        let area = contour_area(&hull);
        if area < min_area || best.as_ref().is_some_and(|(a, _)| *a >= area) {
            continue;
        }
        let Some(rough) = four_corners(&hull) else { continue };
        let Some((quad, support)) = fit_sides(edges, &rough) else { continue };
        // Perspective foreshortens; anything between square-ish and very long is no card.
        if (1.15..=2.3).contains(&aspect_of(&quad)) && support >= min_side_support {
            best = Some((area, quad));
        }
    }
    best
}

/// How far, in search pixels, an edge is looked for on either side of a rough side: the hull
/// lies on the outside of the dilated edges, and its chords between points on the rounded
/// corners run a few pixels inside the card's straight border.
const SIDE_SEARCH: i32 = 6;

/// Fits each side of the rough quad `rough` to the edge pixels along it: at every other pixel
/// of the side's middle 80%, the edge nearest the side within `SIDE_SEARCH` pixels across it;
/// a straight line through those (least squares, then again without the points more than 1.5
/// pixels off it); the corners where neighbouring lines cross. Returns the fitted quad and the
/// least share, over the sides, of places where an edge was found (the side's support).
fn fit_sides(edges: &GrayImage, rough: &[Point<f32>; 4]) -> Option<([Point<f32>; 4], f32)> {
    let (w, h) = (edges.width() as i32, edges.height() as i32);
    let is_edge = |x: f32, y: f32| {
        let (x, y) = (x.round() as i32, y.round() as i32);
        x >= 0 && y >= 0 && x < w && y < h && edges.get_pixel(x as u32, y as u32).0[0] > 0
    };
    let mut lines = Vec::with_capacity(4);
    let mut least_support = f32::MAX;
    for i in 0..4 {
        let (a, b) = (rough[i], rough[(i + 1) % 4]);
        let length = distance(a, b);
        if length < 8.0 {
            return None;
        }
        let (dx, dy) = ((b.x - a.x) / length, (b.y - a.y) / length);
        let (nx, ny) = (-dy, dx);
        let steps = (length / 2.0) as u32;
        let (mut found, mut places) = (Vec::new(), 0u32);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            if !(0.1..=0.9).contains(&t) {
                continue;
            }
            let (px, py) = (a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t);
            if px < 0.0 || py < 0.0 || px >= w as f32 || py >= h as f32 {
                continue;
            }
            places += 1;
            let nearest =
                (0..=SIDE_SEARCH).flat_map(|d| [d, -d]).map(|d| d as f32).find(|&d| is_edge(px + nx * d, py + ny * d));
            if let Some(d) = nearest {
                found.push(Point::new(px + nx * d, py + ny * d));
            }
        }
        if places == 0 {
            return None;
        }
        least_support = least_support.min(found.len() as f32 / places as f32);
        let line = fit_line(&found)?;
        let close: Vec<Point<f32>> = found.into_iter().filter(|p| line.distance(*p) <= 1.5).collect();
        lines.push(fit_line(&close).unwrap_or(line));
    }
    let mut corners = [Point::new(0.0, 0.0); 4];
    for i in 0..4 {
        corners[i] = lines[(i + 3) % 4].crossing(&lines[i])?;
    }
    // A fitted corner far from where the hull put it is a line fitted to something else.
    let size = distance(rough[0], rough[2]).max(distance(rough[1], rough[3]));
    if corners.iter().zip(rough).any(|(c, r)| distance(*c, *r) > 0.1 * size) {
        return None;
    }
    Some((corners, least_support))
}

/// A straight line through a point, along a unit direction.
#[derive(Debug, Clone, Copy)]
struct Line {
    through: Point<f32>,
    direction: (f32, f32),
}

impl Line {
    fn distance(&self, p: Point<f32>) -> f32 {
        ((p.x - self.through.x) * self.direction.1 - (p.y - self.through.y) * self.direction.0).abs()
    }

    /// Where two lines cross; `None` for (nearly) parallel lines.
    fn crossing(&self, other: &Line) -> Option<Point<f32>> {
        let (d1, d2) = (self.direction, other.direction);
        let cross = d1.0 * d2.1 - d1.1 * d2.0;
        if cross.abs() < 1e-3 {
            return None;
        }
        let (ex, ey) = (other.through.x - self.through.x, other.through.y - self.through.y);
        let t = (ex * d2.1 - ey * d2.0) / cross;
        Some(Point::new(self.through.x + d1.0 * t, self.through.y + d1.1 * t))
    }
}

/// The total-least-squares line through `points` (their mean, along the principal axis); `None`
/// for fewer than two points.
fn fit_line(points: &[Point<f32>]) -> Option<Line> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f32;
    let (mx, my) = (points.iter().map(|p| p.x).sum::<f32>() / n, points.iter().map(|p| p.y).sum::<f32>() / n);
    let (mut sxx, mut sxy, mut syy) = (0.0f32, 0.0f32, 0.0f32);
    for p in points {
        let (x, y) = (p.x - mx, p.y - my);
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(Line { through: Point::new(mx, my), direction: (angle.cos(), angle.sin()) })
}

/// The largest quadrilateral with its corners on the hull: for a card, its four corners (each a
/// little inside a rounded corner). Exhaustive over diagonals (i, k), with the best third and
/// fourth corner on either side of each; the hull is thinned to at most `MAX_HULL` points
/// first, which bounds the work at about `MAX_HULL`³ / 2 triangle areas.
fn four_corners(hull: &[Point<i32>]) -> Option<[Point<f32>; 4]> {
    const MAX_HULL: usize = 96;
    let step = hull.len().div_ceil(MAX_HULL).max(1);
    let p: Vec<Point<f32>> = hull.iter().step_by(step).map(|p| Point::new(p.x as f32, p.y as f32)).collect();
    let n = p.len();
    if n < 4 {
        return None;
    }
    let area = |a: Point<f32>, b: Point<f32>, c: Point<f32>| {
        ((b.x - a.x) * (c.y - a.y) - (c.x - a.x) * (b.y - a.y)).abs() / 2.0
    };
    let mut best: Option<(f32, [usize; 4])> = None;
    for i in 0..n {
        for k in i + 2..n {
            // Corners strictly between i and k on one side, and on the other side.
            let side = |range: &mut dyn Iterator<Item = usize>| {
                range.map(|j| (area(p[i], p[j % n], p[k]), j % n)).max_by(|a, b| a.0.total_cmp(&b.0))
            };
            let Some((a1, j)) = side(&mut (i + 1..k)) else { continue };
            let Some((a2, l)) = side(&mut (k + 1..i + n)) else { continue };
            if best.is_none_or(|(b, _)| a1 + a2 > b) {
                best = Some((a1 + a2, [i, j, k, l]));
            }
        }
    }
    let (_, [i, j, k, l]) = best?;
    Some([p[i], p[j], p[k], p[l]])
}

fn distance(a: Point<f32>, b: Point<f32>) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Longer pair of opposite sides over the shorter pair.
fn aspect_of(quad: &[Point<f32>; 4]) -> f32 {
    let a = (distance(quad[0], quad[1]) + distance(quad[2], quad[3])) / 2.0;
    let b = (distance(quad[1], quad[2]) + distance(quad[3], quad[0])) / 2.0;
    a.max(b) / a.min(b).max(1.0)
}

/// Orders corners clockwise (in image coordinates) starting from the one with the smallest
/// x + y.
fn clockwise_from_top_left(points: [[f32; 2]; 4]) -> Quad {
    let cx = points.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = points.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    let mut sorted = points;
    // Angle from the centre, increasing clockwise on screen (y down).
    sorted.sort_by(|a, b| (a[1] - cy).atan2(a[0] - cx).total_cmp(&(b[1] - cy).atan2(b[0] - cx)));
    let start = (0..4).min_by(|&i, &j| (sorted[i][0] + sorted[i][1]).total_cmp(&(sorted[j][0] + sorted[j][1])));
    let start = start.unwrap_or(0);
    Quad([sorted[start], sorted[(start + 1) % 4], sorted[(start + 2) % 4], sorted[(start + 3) % 4]])
}

/// Re-orders a clockwise quad so that its first edge is one of the long sides: a card
/// photographed upright (long side vertical) is laid down. Which long side comes first is
/// decided later by the text (upside down or not).
fn long_side_first(quad: Quad) -> Quad {
    let q = quad.0;
    let top = ((q[0][0] - q[1][0]).powi(2) + (q[0][1] - q[1][1]).powi(2)).sqrt();
    let right = ((q[1][0] - q[2][0]).powi(2) + (q[1][1] - q[2][1]).powi(2)).sqrt();
    if top >= right { quad } else { Quad([q[3], q[0], q[1], q[2]]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};

    /// A flat card-coloured rectangle with dark "text" bars, placed on a textured desk at the
    /// given corners.
    fn photo_with_card(corners: [(f32, f32); 4], w: u32, h: u32) -> RgbImage {
        let mut card = RgbImage::from_pixel(CARD_WIDTH, CARD_HEIGHT, Rgb([225, 230, 235]));
        for row in 0..5u32 {
            for x in 100..500 {
                for y in 60 + row * 80..80 + row * 80 {
                    card.put_pixel(x, y, Rgb([30, 30, 30]));
                }
            }
        }
        let mut photo = RgbImage::from_fn(w, h, |x, y| {
            let v = 90 + ((x * 7 + y * 13) % 11) as u8;
            Rgb([v, v - 20, v - 40])
        });
        let (cw, ch) = (CARD_WIDTH as f32, CARD_HEIGHT as f32);
        let from = [(0.0, 0.0), (cw, 0.0), (cw, ch), (0.0, ch)];
        let projection = Projection::from_control_points(from, corners).unwrap();
        // Draw the card over the desk: warp onto a transparent layer, keep the covered pixels.
        let mut layer = RgbImage::new(w, h);
        warp_into(&card, projection, Interpolation::Bilinear, Border::Constant(Rgb([0, 0, 0])), &mut layer);
        for (x, y, px) in layer.enumerate_pixels() {
            if px.0 != [0, 0, 0] {
                photo.put_pixel(x, y, *px);
            }
        }
        photo
    }

    /// One-pixel edges along the rectangle (x0, y0)-(x1, y1).
    fn rectangle_edges(x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
        let mut edges = GrayImage::new(200, 150);
        for x in x0..=x1 {
            edges.put_pixel(x, y0, image::Luma([255]));
            edges.put_pixel(x, y1, image::Luma([255]));
        }
        for y in y0..=y1 {
            edges.put_pixel(x0, y, image::Luma([255]));
            edges.put_pixel(x1, y, image::Luma([255]));
        }
        edges
    }

    #[test]
    fn sides_are_fitted_to_the_edges_and_judged_one_by_one() {
        let edges = rectangle_edges(20, 30, 180, 130);
        // A rough quad a few pixels inside, as the hull's chords between rounded corners are.
        let rough =
            [Point::new(24.0, 33.0), Point::new(176.0, 34.0), Point::new(177.0, 127.0), Point::new(23.0, 126.0)];
        let (fitted, support) = fit_sides(&edges, &rough).expect("fitted");
        let want = [(20.0, 30.0), (180.0, 30.0), (180.0, 130.0), (20.0, 130.0)];
        for (got, (x, y)) in fitted.iter().zip(want) {
            assert!((got.x - x).abs() < 0.6 && (got.y - y).abs() < 0.6, "{got:?} for ({x}, {y})");
        }
        assert!(support > 0.95, "{support}");
        // A quad whose right side cuts across the inside, where there are no edges, fails on
        // that side alone although the other three follow the rectangle.
        let across =
            [Point::new(20.0, 30.0), Point::new(110.0, 30.0), Point::new(100.0, 130.0), Point::new(20.0, 130.0)];
        let support = fit_sides(&edges, &across).map_or(0.0, |(_, s)| s);
        assert!(support < MIN_SIDE_SUPPORT[1], "{support}");
    }

    #[test]
    fn a_tilted_card_is_found_and_straightened() {
        let corners = [(180.0, 140.0), (880.0, 190.0), (850.0, 640.0), (150.0, 580.0)];
        let photo = photo_with_card(corners, 1024, 768);
        let located = locate(&photo);
        let found = located.corners.expect("an outline");
        for (got, want) in found.0.iter().zip(corners) {
            assert!((got[0] - want.0).abs() < 8.0 && (got[1] - want.1).abs() < 8.0, "{found:?}");
        }
        assert!(located.border_complete);
        assert_eq!(located.card.dimensions(), (CARD_WIDTH, CARD_HEIGHT));
        // The outline has a card's proportions (85.6 × 54 mm), as drawn.
        let aspect = aspect_of(&found.0.map(|c| Point::new(c[0], c[1])));
        assert!((aspect / (85.6 / 54.0) - 1.0).abs() < 0.1, "{aspect}");
        // The first text bar is where the card has it.
        assert!(located.card.get_pixel(300, 70).0[0] < 90, "{:?}", located.card.get_pixel(300, 70));
    }

    #[test]
    fn an_upright_card_is_laid_down_and_a_cut_card_is_reported() {
        let corners = [(700.0, 100.0), (700.0, 900.0), (200.0, 900.0), (200.0, 100.0)];
        let photo = photo_with_card(corners, 960, 1280);
        let located = locate(&photo);
        let quad = located.corners.expect("an outline");
        assert!(quad.width() > quad.height(), "{quad:?}");
        // The same card running off the photo's left edge.
        let cut = [(300.0, 100.0), (300.0, 900.0), (-150.0, 900.0), (-150.0, 100.0)];
        let located = locate(&photo_with_card(cut, 960, 1280));
        assert!(!located.border_complete);
    }

    #[test]
    fn a_photo_without_a_card_is_taken_whole() {
        let photo = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
        let located = locate(&photo);
        assert!(located.corners.is_none());
        assert!(!located.border_complete);
        assert_eq!(located.card.dimensions(), (CARD_WIDTH, CARD_HEIGHT));
        assert!(locate(&RgbImage::new(3, 3)).corners.is_none());
    }
}
