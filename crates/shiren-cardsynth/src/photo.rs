//! The photograph of a card: the canvas placed on a desk-like surface in perspective, turned,
//! lit unevenly, blurred, noisy and JPEG-compressed, as a phone photo of a card arrives at the
//! service, plus the two kinds of second-hand capture ([`Variant`]) that OCR must read too.
//!
//! Coordinates are continuous: pixel (i, j) covers [i, i+1) × [j, j+1), so the card canvas's
//! top-left corner is (0, 0) and its bottom-right (856, 540). imageproc samples at integer
//! coordinates (pixel centres), so the projection given to it is shifted by half a pixel.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageFormat, Luma, RgbImage, Rgba, RgbaImage};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};

use crate::draw::rounded_rect_coverage;
use crate::rng::Rng;
use crate::{CARD_CORNER_RADIUS, CARD_WIDTH, CardSynthError};

/// How the card reached the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// The card itself.
    #[default]
    Clean,
    /// A black-and-white photocopy of the card, photographed: the whole photo desaturated, its
    /// contrast raised, with a slight paper-grey tint.
    GreyscaleCopy,
    /// The card shown on a phone or monitor screen and photographed: an RGB subpixel grid at a
    /// small angle multiplies the image (the moiré of recapture), with a blue cast and reduced
    /// contrast.
    ScreenRecapture,
}

/// What the photograph may do to the card. Every amount is drawn from the seed within these
/// bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoSettings {
    /// The quarter turns (clockwise, 0 to 3) the card may be photographed in; one is drawn.
    /// Empty means upright only.
    pub turns: Vec<u8>,
    pub variant: Variant,
    /// Adds a bright specular spot somewhere over the card.
    pub glare: bool,
    /// The largest in-plane rotation on top of the quarter turn, in degrees.
    pub max_tilt_degrees: f32,
    /// The largest displacement of each corner (perspective), as a fraction of the card's size.
    pub max_corner_jitter: f32,
    /// The largest gaussian blur sigma, in photo pixels, for a card photographed at 0.9 of its
    /// canvas size or larger; smaller cards get proportionally less (half at 0.45).
    pub max_blur_sigma: f32,
}

impl Default for PhotoSettings {
    fn default() -> PhotoSettings {
        PhotoSettings {
            turns: vec![0],
            variant: Variant::Clean,
            glare: false,
            max_tilt_degrees: 12.0,
            max_corner_jitter: 0.06,
            max_blur_sigma: 1.2,
        }
    }
}

/// A photographed card.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The photo as the service receives it.
    pub jpeg: Vec<u8>,
    /// The same photo decoded (what the JPEG holds, compression artefacts included).
    pub image: RgbImage,
    /// The card's top-left, top-right, bottom-right and bottom-left corners as the card reads
    /// (so turned with it), in photo pixels. For the rounded card these are the corners of its
    /// bounding rectangle.
    pub corners: [[f32; 2]; 4],
    /// How many quarter turns clockwise the card was turned: rotating the photo this many turns
    /// counter-clockwise makes it upright (up to the tilt).
    pub quarter_turns: u8,
    /// The JPEG quality used, 70 to 95.
    pub jpeg_quality: u8,
}

/// Photographs `card` (any size; the canonical canvas is 856×540) under conditions drawn from
/// `seed` within `settings`.
pub fn photograph(card: &RgbImage, seed: u64, settings: &PhotoSettings) -> Result<Photo, CardSynthError> {
    let mut rng = Rng::new(seed, 0x9407_0C4A);
    let (card_w, card_h) = card.dimensions();
    if card_w == 0 || card_h == 0 {
        return Err(CardSynthError::EmptyCard);
    }
    let (photo_w, photo_h) = match rng.unit() {
        r if r < 0.45 => (1280, 960),
        r if r < 0.8 => (1024, 768),
        _ => (960, 1280),
    };

    let turns: Vec<u8> = settings.turns.iter().map(|t| t % 4).collect();
    let quarter_turns = rng.pick(&turns).copied().unwrap_or(0);
    let corners = place_card(&mut rng, settings, (card_w as f32, card_h as f32), (photo_w, photo_h), quarter_turns);

    // The crate runs unoptimised in tests, so the per-pixel work is fused into few passes:
    // surface with shadow; card; light, copy and glare; blur; screen and noise.
    let layer = warp_card(card, &corners)?;
    let shadow = Shadow::new(&layer, photo_w, photo_h, &mut rng);
    let mut photo = desk(&mut rng, photo_w, photo_h, &shadow);
    composite(&mut photo, &layer);
    let tone = Tone::draw(&mut rng, settings, &corners);
    tone.apply(&mut photo);
    // A card photographed small would not stay legible under the full blur: the limit shrinks
    // with the card's scale below 0.9 (to half at 0.45).
    let scale = ((corners[1][0] - corners[0][0]).hypot(corners[1][1] - corners[0][1])) / card_w as f32;
    let sigma = rng.range(0.0, settings.max_blur_sigma.max(0.0) * (scale / 0.9).clamp(0.5, 1.0));
    if sigma > 0.3 {
        // Only around the card: the surface is smooth, and its noise comes after the blur.
        let margin = (3.0 * sigma).ceil() + 2.0;
        let (x0, y0) = (layer.origin.0.saturating_sub(margin as u32), layer.origin.1.saturating_sub(margin as u32));
        let x1 = (layer.origin.0 + layer.image.width() + margin as u32).min(photo_w);
        let y1 = (layer.origin.1 + layer.image.height() + margin as u32).min(photo_h);
        blur(&mut photo, 3, (photo_w, photo_h), (x0, y0, x1, y1), sigma);
    }
    // The screen grid goes on after the blur, so that it survives as the camera resolved it.
    let screen = (settings.variant == Variant::ScreenRecapture).then(|| Screen::draw(&mut rng));
    let noise_sigma = rng.range(1.5, 5.0);
    finish(&mut photo, &mut rng, screen.as_ref(), noise_sigma, settings.variant == Variant::GreyscaleCopy);

    let jpeg_quality = rng.between(70, 95) as u8;
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, jpeg_quality).encode_image(&photo).map_err(CardSynthError::Jpeg)?;
    let image = image::load(Cursor::new(&jpeg), ImageFormat::Jpeg).map_err(CardSynthError::Jpeg)?.to_rgb8();
    Ok(Photo { jpeg, image, corners, quarter_turns, jpeg_quality })
}

/// Where the card's corners land in the photo: size, perspective jitter, turn and tilt, and a
/// position that keeps the whole card in view.
fn place_card(
    rng: &mut Rng,
    settings: &PhotoSettings,
    (card_w, card_h): (f32, f32),
    (photo_w, photo_h): (u32, u32),
    quarter_turns: u8,
) -> [[f32; 2]; 4] {
    let (pw, ph) = (photo_w as f32, photo_h as f32);
    let coverage = rng.range(0.45, 0.85);
    let jitter = settings.max_corner_jitter.max(0.0);
    let local = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
        .map(|(x, y): (f32, f32)| (x * card_w + rng.signed(jitter) * card_w, y * card_h + rng.signed(jitter) * card_h));
    let tilt = rng.signed(settings.max_tilt_degrees.max(0.0)).to_radians();
    let angle = f32::from(quarter_turns) * std::f32::consts::FRAC_PI_2 + tilt;
    let (sin, cos) = angle.sin_cos();
    // With y pointing down, this rotation turns clockwise on screen for a positive angle.
    let rotated = local.map(|(x, y)| (x * cos - y * sin, x * sin + y * cos));
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in &rotated {
        (min_x, min_y, max_x, max_y) = (min_x.min(x), min_y.min(y), max_x.max(x), max_y.max(y));
    }
    // The card spans `coverage` of the photo's width, unless its height then does not fit (a
    // turned card in a landscape photo): then it is shrunk to 94% of the height.
    let scale = (coverage * pw / (max_x - min_x)).min(0.94 * ph / (max_y - min_y));
    let (min_x, min_y, max_x, max_y) = (min_x * scale, min_y * scale, max_x * scale, max_y * scale);
    let margin = 0.02 * pw.min(ph);
    let cx = rng.range(margin - min_x, (pw - margin - max_x).max(margin - min_x + 1.0));
    let cy = rng.range(margin - min_y, (ph - margin - max_y).max(margin - min_y + 1.0));
    rotated.map(|(x, y)| [cx + x * scale, cy + y * scale])
}

/// The card warped into place: a transparent layer covering the card's bounding box, whose
/// top-left pixel is at `origin` in the photo.
struct Layer {
    image: RgbaImage,
    origin: (u32, u32),
}

/// Warps the card with its rounded corners onto a [`Layer`]. The colour is premultiplied by
/// coverage so that bilinear sampling at the edges stays correct.
fn warp_card(card: &RgbImage, corners: &[[f32; 2]; 4]) -> Result<Layer, CardSynthError> {
    let (w, h) = card.dimensions();
    let (wf, hf) = (w as f32, h as f32);
    let radius = CARD_CORNER_RADIUS * wf / CARD_WIDTH as f32;
    let mut source = RgbaImage::new(w, h);
    let (rgb, rgba): (&[u8], &mut [u8]) = (card, &mut source);
    for y in 0..h {
        // Only the corner squares are partly covered; everything else is opaque.
        let corner_row = (y as f32) < radius || (y as f32) + 1.0 > hf - radius;
        for x in 0..w {
            let (i, o) = ((y * w + x) as usize * 3, (y * w + x) as usize * 4);
            let in_corner = corner_row && ((x as f32) < radius || (x as f32) + 1.0 > wf - radius);
            if in_corner {
                let alpha = rounded_rect_coverage(x as f32 + 0.5, y as f32 + 0.5, wf, hf, radius);
                for c in 0..3 {
                    rgba[o + c] = (f32::from(rgb[i + c]) * alpha).round() as u8;
                }
                rgba[o + 3] = (alpha * 255.0).round() as u8;
            } else {
                rgba[o..o + 3].copy_from_slice(&rgb[i..i + 3]);
                rgba[o + 3] = 255;
            }
        }
    }
    let from = [(0.0, 0.0), (wf, 0.0), (wf, hf), (0.0, hf)];
    let to = corners.map(|[x, y]| (x, y));
    let projection = Projection::from_control_points(from, to).ok_or(CardSynthError::Geometry)?;
    // Only the card's bounding box is warped (placement keeps it inside the photo).
    let left = corners.iter().map(|c| c[0]).fold(f32::MAX, f32::min).floor().max(0.0);
    let top = corners.iter().map(|c| c[1]).fold(f32::MAX, f32::min).floor().max(0.0);
    let right = corners.iter().map(|c| c[0]).fold(0.0, f32::max).ceil();
    let bottom = corners.iter().map(|c| c[1]).fold(0.0, f32::max).ceil();
    // From continuous coordinates to imageproc's pixel-centre ones on both sides, and to the
    // layer's origin.
    let projection = Projection::translate(-0.5 - left, -0.5 - top) * projection * Projection::translate(0.5, 0.5);
    let mut image = RgbaImage::new((right - left) as u32 + 1, (bottom - top) as u32 + 1);
    warp_into(&source, projection, Interpolation::Bilinear, Border::Constant(Rgba([0, 0, 0, 0])), &mut image);
    Ok(Layer { image, origin: (left as u32, top as u32) })
}

/// The soft shadow the card casts on the surface, kept at a quarter of the photo's resolution:
/// a shadow has no fine detail.
struct Shadow {
    small: GrayImage,
    offset: (f32, f32),
    strength: f32,
}

impl Shadow {
    const STEP: u32 = 4;

    fn new(layer: &Layer, photo_w: u32, photo_h: u32, rng: &mut Rng) -> Shadow {
        let (sw, sh) = (photo_w.div_ceil(Self::STEP), photo_h.div_ceil(Self::STEP));
        let mut small = GrayImage::new(sw, sh);
        let (ox, oy) = layer.origin;
        for (sx, sy, pixel) in small.enumerate_pixels_mut() {
            let (x, y) = (sx * Self::STEP + Self::STEP / 2, sy * Self::STEP + Self::STEP / 2);
            if x >= ox && y >= oy && x - ox < layer.image.width() && y - oy < layer.image.height() {
                *pixel = Luma([layer.image.get_pixel(x - ox, y - oy).0[3]]);
            }
        }
        let (sw, sh) = small.dimensions();
        blur(&mut small, 1, (sw, sh), (0, 0, sw, sh), rng.range(1.5, 4.0));
        Shadow { small, offset: (rng.signed(10.0), rng.range(2.0, 12.0)), strength: rng.range(0.15, 0.4) }
    }

    /// The fraction of light the shadow takes away at (x, y).
    fn at(&self, x: u32, y: u32) -> f32 {
        let sx = (x as f32 - self.offset.0) / Self::STEP as f32;
        let sy = (y as f32 - self.offset.1) / Self::STEP as f32;
        if sx < 0.0 || sy < 0.0 || sx >= self.small.width() as f32 || sy >= self.small.height() as f32 {
            return 0.0;
        }
        f32::from(self.small.get_pixel(sx as u32, sy as u32).0[0]) / 255.0 * self.strength
    }
}

/// Draws the surface the card lies on: a desk colour, a gradient, soft blotches, for wood grain,
/// and the card's shadow.
fn desk(rng: &mut Rng, width: u32, height: u32, shadow: &Shadow) -> RgbImage {
    const SURFACES: [[u8; 3]; 7] = [
        [150, 106, 66],  // wood
        [118, 118, 116], // grey laminate
        [214, 210, 202], // white desk
        [46, 46, 52],    // dark mat
        [64, 108, 82],   // green cutting mat
        [72, 90, 128],   // blue fabric
        [186, 160, 128], // light wood
    ];
    let kind = rng.below(SURFACES.len() as u64) as usize;
    let base = SURFACES[kind].map(|c| (f32::from(c) * rng.range(0.85, 1.12)).clamp(0.0, 255.0));
    let grain = kind == 0 || kind == 6;
    let angle = rng.range(0.0, std::f32::consts::TAU);
    let gradient = rng.range(0.1, 0.3);
    // A coarse grid of brightness factors, interpolated: soft blotches.
    const GRID: usize = 6;
    let blotches: Vec<f32> = (0..GRID * GRID).map(|_| rng.range(0.92, 1.08)).collect();
    let grain_phase = rng.range(0.0, 100.0);
    let (wf, hf) = (width as f32, height as f32);
    let diagonal = (wf * wf + hf * hf).sqrt();
    let (gx, gy) = (angle.cos() * 2.0 * gradient / diagonal, angle.sin() * 2.0 * gradient / diagonal);
    let mut image = RgbImage::new(width, height);
    let buffer: &mut [u8] = &mut image;
    let mut i = 0;
    for y in 0..height {
        let yf = y as f32;
        let v = yf / hf * (GRID - 1) as f32;
        let j = (v as usize).min(GRID - 2);
        let fv = v - j as f32;
        for x in 0..width {
            let xf = x as f32;
            let mut factor = 1.0 + (xf - wf / 2.0) * gx + (yf - hf / 2.0) * gy;
            let u = xf / wf * (GRID - 1) as f32;
            let k = (u as usize).min(GRID - 2);
            let fu = u - k as f32;
            let top = blotches[j * GRID + k] * (1.0 - fu) + blotches[j * GRID + k + 1] * fu;
            let bottom = blotches[(j + 1) * GRID + k] * (1.0 - fu) + blotches[(j + 1) * GRID + k + 1] * fu;
            factor *= top + (bottom - top) * fv;
            if grain {
                let wave = (yf * 0.09 + 3.0 * (xf * 0.004 + grain_phase).sin() + 0.6 * (xf * 0.05).sin()).sin();
                factor *= 1.0 + 0.06 * wave;
            }
            factor *= 1.0 - shadow.at(x, y);
            buffer[i] = (base[0] * factor).clamp(0.0, 255.0) as u8;
            buffer[i + 1] = (base[1] * factor).clamp(0.0, 255.0) as u8;
            buffer[i + 2] = (base[2] * factor).clamp(0.0, 255.0) as u8;
            i += 3;
        }
    }
    image
}

/// Lays the premultiplied card layer over the photo.
fn composite(photo: &mut RgbImage, layer: &Layer) {
    let (ox, oy) = (layer.origin.0 as usize, layer.origin.1 as usize);
    let (pw, ph) = (photo.width() as usize, photo.height() as usize);
    let (lw, lh) = (layer.image.width() as usize, layer.image.height() as usize);
    let (w, h) = (lw.min(pw.saturating_sub(ox)), lh.min(ph.saturating_sub(oy)));
    let (source, target): (&[u8], &mut [u8]) = (&layer.image, photo);
    let mut y = 0;
    while y < h {
        let mut x = 0;
        while x < w {
            let (i, o) = ((y * lw + x) * 4, ((oy + y) * pw + ox + x) * 3);
            let a = source[i + 3];
            if a == 255 {
                target[o] = source[i];
                target[o + 1] = source[i + 1];
                target[o + 2] = source[i + 2];
            } else if a > 0 {
                let keep = 1.0 - a as f32 / 255.0;
                target[o] = byte(source[i] as f32 + target[o] as f32 * keep);
                target[o + 1] = byte(source[i + 1] as f32 + target[o + 1] as f32 * keep);
                target[o + 2] = byte(source[i + 2] as f32 + target[o + 2] as f32 * keep);
            }
            x += 1;
        }
        y += 1;
    }
}

/// A specular highlight: a soft bright ellipse over part of the card.
struct Glare {
    centre: (f32, f32),
    /// Unit vectors along the ellipse's axes, divided by the radii.
    axes: [(f32, f32); 2],
    peak: f32,
}

/// The brightness changes applied to the whole photo in one pass: uneven lighting (a linear
/// change of up to ±25% across the photo), the photocopy's grey, and glare.
struct Tone {
    light: f32,
    direction: (f32, f32),
    grey: bool,
    glare: Option<Glare>,
}

impl Tone {
    fn draw(rng: &mut Rng, settings: &PhotoSettings, corners: &[[f32; 2]; 4]) -> Tone {
        let light = rng.range(0.05, 0.25);
        let angle = rng.range(0.0, std::f32::consts::TAU);
        let glare = settings.glare.then(|| {
            let centre = corners.iter().fold([0.0, 0.0], |s, c| [s[0] + c[0] / 4.0, s[1] + c[1] / 4.0]);
            let size = ((corners[1][0] - corners[0][0]).powi(2) + (corners[1][1] - corners[0][1]).powi(2)).sqrt();
            // Somewhere over the card (its shorter side is about 0.63 of `size`).
            let (cx, cy) = (centre[0] + rng.signed(0.22) * size, centre[1] + rng.signed(0.22) * size);
            let rx = rng.range(0.12, 0.3) * size;
            let ry = rx * rng.range(0.35, 0.9);
            let (sin, cos) = rng.range(0.0, std::f32::consts::PI).sin_cos();
            Glare { centre: (cx, cy), axes: [(cos / rx, sin / rx), (-sin / ry, cos / ry)], peak: rng.range(0.55, 0.85) }
        });
        Tone { light, direction: (angle.cos(), angle.sin()), grey: settings.variant == Variant::GreyscaleCopy, glare }
    }

    fn apply(&self, photo: &mut RgbImage) {
        let (w, h) = photo.dimensions();
        let (wf, hf) = (w as f32, h as f32);
        let (dx, dy) = self.direction;
        let half_span = ((wf * dx).abs() + (hf * dy).abs()) / 2.0;
        let (lx, ly) = (self.light * dx / half_span.max(1.0), self.light * dy / half_span.max(1.0));
        let (w, h) = (w as usize, h as usize);
        let buffer: &mut [u8] = photo;
        let mut i = 0;
        let mut y = 0;
        while y < h {
            let yc = y as f32 - hf / 2.0;
            let mut x = 0;
            while x < w {
                let factor = 1.0 + (x as f32 - wf / 2.0) * lx + yc * ly;
                let (mut r, mut g, mut b) =
                    (buffer[i] as f32 * factor, buffer[i + 1] as f32 * factor, buffer[i + 2] as f32 * factor);
                if self.grey {
                    // A photocopy: grey, contrast raised, on slightly warm grey paper.
                    let luma = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0;
                    let copy = ((luma - 0.5) * 1.45 + 0.53) * 255.0;
                    let copy = copy.clamp(0.0, 255.0);
                    (r, g, b) = (copy, copy * 0.99, copy * 0.97);
                }
                if let Some(glare) = &self.glare {
                    let (ex, ey) = (x as f32 - glare.centre.0, y as f32 - glare.centre.1);
                    let u = ex * glare.axes[0].0 + ey * glare.axes[0].1;
                    let v = ex * glare.axes[1].0 + ey * glare.axes[1].1;
                    let d2 = u * u + v * v;
                    if d2 < 4.0 {
                        let intensity = glare.peak * (-2.5 * d2).exp();
                        let lift = |c: f32| c + (255.0 - if c > 255.0 { 255.0 } else { c }) * intensity;
                        (r, g, b) = (lift(r), lift(g), lift(b));
                    }
                }
                buffer[i] = byte(r);
                buffer[i + 1] = byte(g);
                buffer[i + 2] = byte(b);
                i += 3;
                x += 1;
            }
            y += 1;
        }
    }
}

/// A screen seen by a camera: the RGB subpixel stripes and the dark gaps between pixels, as a
/// grid of period 3 to 6 px at a small angle that multiplies the image by 6–15%, deepened and
/// eased by a slow moiré beat; and the screen's blue cast, raised blacks and lower contrast.
struct Screen {
    period: f32,
    angle: f32,
    contrast: f32,
    beat_period: f32,
    beat_phase: f32,
}

/// Samples per period in the tables of the grid's periodic functions.
const TABLE: usize = 256;

impl Screen {
    fn draw(rng: &mut Rng) -> Screen {
        let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
        Screen {
            period: rng.range(3.0, 6.0),
            angle: (rng.range(1.5, 8.0) * sign).to_radians(),
            contrast: rng.range(0.06, 0.15),
            beat_period: rng.range(40.0, 90.0),
            beat_phase: rng.range(0.0, 1.0),
        }
    }

    /// Tables over one period: the dark gap between pixels (peaked at the period's start) and
    /// each channel's subpixel stripe (brightest over its own third).
    fn tables() -> (Vec<f32>, [Vec<f32>; 3]) {
        let tau = std::f32::consts::TAU;
        let gap = (0..TABLE)
            .map(|i| {
                let c = 0.5 + 0.5 * (tau * i as f32 / TABLE as f32).cos();
                c * c * c
            })
            .collect();
        let stripe = |k: usize| -> Vec<f32> {
            (0..TABLE).map(|i| 0.5 - 0.5 * (tau * (i as f32 / TABLE as f32 - k as f32 / 3.0)).cos()).collect()
        };
        (gap, [stripe(0), stripe(1), stripe(2)])
    }
}

#[inline(always)]
fn lookup(table: &[f32], t: f32) -> f32 {
    // The fractional part without a libm call; TABLE is a power of two.
    let whole = t as i64 as f32;
    let fraction = if t < whole { t - whole + 1.0 } else { t - whole };
    table[(fraction * TABLE as f32) as usize & (TABLE - 1)]
}

/// The last pass: the screen grid (for recaptures) and sensor noise, mostly in brightness and a
/// little in colour (none for a photocopy, which must stay grey).
fn finish(photo: &mut RgbImage, rng: &mut Rng, screen: Option<&Screen>, sigma: f32, grey: bool) {
    let chroma = if grey { 0.0 } else { sigma * 0.35 };
    let (gap, stripes) = Screen::tables();
    let (sin, cos) = screen.map_or((0.0, 1.0), |s| s.angle.sin_cos());
    // A bluish white point.
    let cast = [0.93, 0.98, 1.05];
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let buffer: &mut [u8] = photo;
    let mut i = 0;
    let mut y = 0;
    while y < h {
        let mut x = 0;
        while x < w {
            let mut rgb = [buffer[i] as f32, buffer[i + 1] as f32, buffer[i + 2] as f32];
            if let Some(screen) = screen {
                let (xf, yf) = (x as f32, y as f32);
                let u = (xf * cos + yf * sin) / screen.period;
                let v = (-xf * sin + yf * cos) / screen.period;
                let beat = lookup(&stripes[0], (xf + 0.6 * yf) / screen.beat_period + screen.beat_phase);
                let depth = screen.contrast * (0.65 + 0.7 * beat);
                let grid = 1.0 - depth * 0.9 * (lookup(&gap, u) + lookup(&gap, v)) / 2.0;
                let mut k = 0;
                while k < 3 {
                    let stripe = 1.0 - depth * 0.6 * lookup(&stripes[k], u);
                    // The screen's raised black level and lower contrast.
                    rgb[k] = 24.0 + rgb[k] * grid * stripe * cast[k] * 0.84;
                    k += 1;
                }
            }
            // One draw gives eight bytes: four summed make a near-gaussian brightness noise
            // (mean 510, deviation 147.8), the others a uniform colour noise per channel.
            let bits = rng.next_u64();
            let b = |n: u32| ((bits >> (8 * n)) & 0xFF) as f32;
            let luma = (b(0) + b(1) + b(2) + b(3) - 510.0) / 147.8 * sigma;
            buffer[i] = byte(rgb[0] + luma + (b(4) - 127.5) / 73.9 * chroma);
            buffer[i + 1] = byte(rgb[1] + luma + (b(5) - 127.5) / 73.9 * chroma);
            buffer[i + 2] = byte(rgb[2] + luma + (b(6) - 127.5) / 73.9 * chroma);
            i += 3;
            x += 1;
        }
        y += 1;
    }
}

/// Rounds and saturates to a byte (`as` saturates, NaN gives 0).
#[inline(always)]
fn byte(value: f32) -> u8 {
    (value + 0.5) as u8
}

/// A gaussian blur of the pixels inside `rect` (x0, y0, x1, y1; exclusive ends) of an
/// interleaved 8-bit image with `channels` channels, reading clamped at the rectangle's edges.
///
/// Written here rather than taken from imageproc because that generic filter, instantiated in
/// this crate and so compiled without optimisation in its tests, takes over a second per photo.
/// For the same reason the loops are `while` loops over precomputed offsets with `as` casts:
/// unoptimised, every iterator step and trait conversion is a function call.
fn blur(buffer: &mut [u8], channels: usize, (width, height): (u32, u32), rect: (u32, u32, u32, u32), sigma: f32) {
    let (x0, y0) = (rect.0 as usize, rect.1 as usize);
    let (x1, y1) = ((rect.2.min(width)) as usize, (rect.3.min(height)) as usize);
    if x1 <= x0 || y1 <= y0 || sigma <= 0.0 || buffer.len() < width as usize * height as usize * channels {
        return;
    }
    let radius = (3.0 * sigma).ceil() as usize;
    let taps = 2 * radius + 1;
    let mut kernel: Vec<f32> = (0..taps)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let (w, rw, rh) = (width as usize, x1 - x0, y1 - y0);
    let row_len = rw * channels;
    let pad = radius * channels;
    // Each pass adds whole rows scaled by one tap at a time: the inner loop is one multiply-add.
    let mut padded = vec![0.0f32; row_len + 2 * pad];
    let mut rows = vec![0.0f32; row_len * rh];
    let mut y = 0;
    while y < rh {
        // The row, widened by `radius` pixels repeating its first and last pixel.
        let line = ((y0 + y) * w + x0) * channels;
        let mut i = 0;
        while i < padded.len() {
            let pixel = (i / channels).saturating_sub(radius).min(rw - 1);
            padded[i] = buffer[line + pixel * channels + i % channels] as f32;
            i += 1;
        }
        let out = &mut rows[y * row_len..(y + 1) * row_len];
        let mut k = 0;
        while k < taps {
            let (weight, offset) = (kernel[k], k * channels);
            let mut i = 0;
            while i < row_len {
                out[i] += weight * padded[offset + i];
                i += 1;
            }
            k += 1;
        }
        y += 1;
    }
    let mut sum = vec![0.0f32; row_len];
    let mut y = 0;
    while y < rh {
        sum.fill(0.0);
        let mut k = 0;
        while k < taps {
            let source = (y + k).saturating_sub(radius).min(rh - 1);
            let (weight, row) = (kernel[k], &rows[source * row_len..(source + 1) * row_len]);
            let mut i = 0;
            while i < row_len {
                sum[i] += weight * row[i];
                i += 1;
            }
            k += 1;
        }
        let line = ((y0 + y) * w + x0) * channels;
        let mut i = 0;
        while i < row_len {
            buffer[line + i] = byte(sum[i]);
            i += 1;
        }
        y += 1;
    }
}
