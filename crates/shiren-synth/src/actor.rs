//! The actor: one real photo, rigged from the engine's 106 landmarks, and the renderer that
//! films it through a camera. Each output pixel is mapped back through the camera framing,
//! the head's pose and the expression to a point of the photo, sampled bilinearly in linear
//! light, lit (ambient plus the screen's light, by how much the surface faces the screen),
//! then noised and quantised like a sensor would.

use shiren_face::{Engine, LandmarkReading, RgbImage};

use crate::SynthError;
use crate::color::{ENCODE_STEPS, decode_table, encode_table};
use crate::noise::{SplitMix64, gaussian3};
use crate::scene::{Camera, Expression};
use crate::warp::{EyeRig, Frame, HeadPose, HeadRig, MouthPose, MouthRig, Warped};

/// Landmark indices of InsightFace's 2d106det, as found by `shiren_face::landmarks::idx`
/// (crates/shiren-face/src/landmarks.rs) and, for the lips and contour, on its output for the
/// test photos.
mod idx {
    /// Eye corners (image-left, image-right), upper lid and lower lid points, left to right.
    pub const LEFT_EYE_CORNERS: (usize, usize) = (35, 39);
    pub const LEFT_EYE_UPPER: [usize; 3] = [41, 40, 42];
    pub const LEFT_EYE_LOWER: [usize; 3] = [36, 33, 37];
    pub const RIGHT_EYE_CORNERS: (usize, usize) = (89, 93);
    pub const RIGHT_EYE_UPPER: [usize; 3] = [95, 94, 96];
    pub const RIGHT_EYE_LOWER: [usize; 3] = [90, 87, 91];
    pub const MOUTH_CORNERS: (usize, usize) = (52, 61);
    /// Inner upper and inner lower lip, paired left to right.
    pub const INNER_UPPER_LIP: [usize; 3] = [66, 62, 70];
    pub const INNER_LOWER_LIP: [usize; 3] = [54, 60, 57];
    pub const CHIN: usize = 0;
    /// Contour points at about mouth height (image-left, image-right).
    pub const JAW_AT_MOUTH: (usize, usize) = (16, 32);
    /// Contour points at the temples (image-left, image-right) and the brows' lower edges.
    pub const TEMPLES: (usize, usize) = (1, 17);
    pub const CONTOUR: std::ops::RangeInclusive<usize> = 0..=32;
    pub const LEFT_BROW_LOW: [usize; 5] = [43, 44, 45, 47, 46];
    pub const RIGHT_BROW_LOW: [usize; 5] = [97, 98, 99, 100, 101];
    pub const POINTS: usize = 106;
}

/// Largest side of a rendered frame; keeps every buffer size well inside `usize` arithmetic.
const MAX_SIDE: usize = 16_384;
/// Linear-light colour beyond the photo's edge (a plain grey wall).
const FILL: [f32; 3] = [0.16, 0.16, 0.17];
/// How much of the screen's light the background receives relative to skin facing the screen
/// (it is further away and mostly not facing it).
const BACKGROUND_FACING: f32 = 0.3;

/// A person made from one real photo: the photo (in linear light) and its 106 landmarks, face
/// box and the rig built from them.
#[derive(Clone, Debug)]
pub struct Actor {
    photo: RgbImage,
    reading: LandmarkReading,
    face_box: [f32; 4],
    linear: LinearPhoto,
    eyes: [EyeRig; 2],
    mouth: MouthRig,
    head: HeadRig,
    encode: Vec<f32>,
}

impl Actor {
    /// Rigs the subject (largest face) of a photo.
    pub fn from_photo(engine: &Engine, bytes: &[u8]) -> Result<Actor, SynthError> {
        let subject = engine.inspect_subject(bytes)?;
        Actor::from_parts(subject.image().clone(), subject.face().bbox, subject.landmarks.clone())
    }

    /// Rigs a face from an upright image, its face box and the engine's landmark reading of it.
    pub fn from_parts(photo: RgbImage, face_box: [f32; 4], reading: LandmarkReading) -> Result<Actor, SynthError> {
        let p = &reading.points;
        if p.len() != idx::POINTS || p.iter().any(|q| !q[0].is_finite() || !q[1].is_finite()) {
            return Err(SynthError::Landmarks(format!("expected {} finite points, got {}", idx::POINTS, p.len())));
        }
        let box_width = face_box[2] - face_box[0];
        if photo.width() == 0 || photo.height() == 0 || box_width.is_nan() || box_width <= 1.0 {
            return Err(SynthError::Landmarks("empty photo or face box".into()));
        }
        let linear = LinearPhoto::around_face(&photo, face_box)
            .ok_or_else(|| SynthError::Landmarks("face box lies outside the photo".into()))?;
        let pts = |ids: &[usize]| ids.iter().map(|&i| p[i]).collect::<Vec<_>>();
        let degenerate = |what: &str| SynthError::Landmarks(format!("{what} corners coincide"));
        let skin = |q: [f32; 2]| linear.sample(q[0], q[1]);
        let eye = |corners: (usize, usize), upper: &[usize], lower: &[usize], brow: &[usize], what: &str| {
            EyeRig::new((p[corners.0], p[corners.1]), &pts(upper), &pts(lower), &pts(brow), &skin)
                .ok_or_else(|| degenerate(what))
        };
        let eyes = [
            eye(idx::LEFT_EYE_CORNERS, &idx::LEFT_EYE_UPPER, &idx::LEFT_EYE_LOWER, &idx::LEFT_BROW_LOW, "left eye")?,
            eye(
                idx::RIGHT_EYE_CORNERS,
                &idx::RIGHT_EYE_UPPER,
                &idx::RIGHT_EYE_LOWER,
                &idx::RIGHT_BROW_LOW,
                "right eye",
            )?,
        ];
        let mouth = MouthRig::new(
            (p[idx::MOUTH_CORNERS.0], p[idx::MOUTH_CORNERS.1]),
            &pts(&idx::INNER_UPPER_LIP),
            &pts(&idx::INNER_LOWER_LIP),
            p[idx::CHIN],
            (p[idx::JAW_AT_MOUTH.0], p[idx::JAW_AT_MOUTH.1]),
        )
        .ok_or_else(|| degenerate("mouth"))?;
        let head = head_rig(p).ok_or_else(|| degenerate("eye line"))?;
        Ok(Actor { photo, reading, face_box, linear, eyes, mouth, head, encode: encode_table() })
    }

    /// The upright photo the actor was made from.
    pub fn photo(&self) -> &RgbImage {
        &self.photo
    }

    /// The engine's landmarks on the photo.
    pub fn landmarks(&self) -> &LandmarkReading {
        &self.reading
    }

    /// The engine's face box on the photo (x0, y0, x1, y1).
    pub fn face_box(&self) -> [f32; 4] {
        self.face_box
    }

    /// Where the centre of the face box lands in a frame of `camera`, and the scale from
    /// photo to frame pixels.
    pub fn framing(&self, camera: &Camera) -> ([f32; 2], f32) {
        let (w, h) = (camera.width.clamp(1, MAX_SIDE) as f32, camera.height.clamp(1, MAX_SIDE) as f32);
        let box_w = self.face_box[2] - self.face_box[0];
        let scale = (camera.face_width_fraction * w / box_w).max(1e-3);
        let centre = [(w - 1.0) / 2.0 + camera.offset[0] * w, (h - 1.0) / 2.0 + camera.offset[1] * h];
        (centre, scale)
    }

    /// Renders one camera frame (sides clamped to 1..=16384).
    ///
    /// The mapping from frame to photo is evaluated exactly on a grid of nodes every
    /// [`CELL`] pixels and interpolated inside cells where it is smooth; cells that hold a
    /// discontinuity (the head's outline when it is turned, the eyelids, the parted lips) are
    /// evaluated at every pixel. That keeps a frame cheap without softening any edge.
    pub fn render(&self, expression: &Expression, camera: &Camera, frame_index: u64) -> RgbImage {
        let (w, h) = (camera.width.clamp(1, MAX_SIDE), camera.height.clamp(1, MAX_SIDE));
        let scene = self.scene(expression, camera);
        let noise = Noise {
            key: SplitMix64::for_frame(camera.seed, frame_index).next_u64(),
            sigma: finite(camera.noise_sigma).max(0.0),
        };
        let (gw, gh) = (w.div_ceil(CELL) + 1, h.div_ceil(CELL) + 1);
        let mut nodes = Vec::with_capacity(gw * gh);
        for gy in 0..gh {
            for gx in 0..gw {
                nodes.push(self.node(&scene, gx * CELL, gy * CELL));
            }
        }
        let mut out = vec![0u8; w * h * 3];
        for cy in 0..gh - 1 {
            for cx in 0..gw - 1 {
                let corners = [
                    nodes[cy * gw + cx],
                    nodes[cy * gw + cx + 1],
                    nodes[(cy + 1) * gw + cx],
                    nodes[(cy + 1) * gw + cx + 1],
                ];
                let cell =
                    Cell { x0: cx * CELL, y0: cy * CELL, x1: (cx * CELL + CELL).min(w), y1: (cy * CELL + CELL).min(h) };
                if corners.iter().all(|n| n.smooth) {
                    self.interpolate_cell(&scene, &noise, &corners, &cell, w, &mut out);
                } else {
                    self.exact_cell(&scene, &noise, &cell, w, &mut out);
                }
            }
        }
        // The buffer is exactly w×h×3 (sides clamped), so `from_raw` accepts it; the photo is a
        // placeholder that cannot be reached.
        RgbImage::from_raw(w, h, out).unwrap_or_else(|| self.photo.clone())
    }

    /// The rig posed for one frame, the light, and the framing.
    fn scene(&self, e: &Expression, camera: &Camera) -> Scene<'_> {
        let (centre, scale) = self.framing(camera);
        let inv = 1.0 / scale;
        let face_c = [(self.face_box[0] + self.face_box[2]) / 2.0, (self.face_box[1] + self.face_box[3]) / 2.0];
        let closure = finite(e.eye_closure).clamp(0.0, 1.0);
        let mouth = self.mouth.pose(finite(e.mouth_open));
        // Where the mapping jumps: each closing eye and the parted lips, widened by a cell (in
        // photo pixels) so that a cell that merely touches them is evaluated exactly too.
        let margin = 1.5 * CELL as f32 * inv;
        let mut details = Vec::with_capacity(3);
        if closure > 0.0 {
            details.extend(self.eyes.iter().map(|eye| grow(eye.bounds(), margin)));
        }
        if let Some(band) = mouth.lip_band() {
            details.push(grow(band, margin));
        }
        Scene {
            origin: [face_c[0] - centre[0] * inv, face_c[1] - centre[1] * inv],
            step: inv,
            head: self.head.pose(finite(e.yaw_deg), finite(e.pitch_deg)),
            closure,
            mouth,
            details,
            ambient: [0, 1, 2].map(|i| finite(camera.brightness).max(0.0) * finite(camera.tint[i]).max(0.0)),
            screen: [0, 1, 2].map(|i| finite(e.screen_light[i]).max(0.0)),
        }
    }

    /// The mapping at frame pixel (x, y), and whether it is smooth there.
    fn node(&self, scene: &Scene, x: usize, y: usize) -> Node {
        let (u, v) = scene.photo_point(x as f32, y as f32);
        let rough = Node { u, v, facing: BACKGROUND_FACING, smooth: false };
        let (point, facing) = match scene.head.trace(u, v) {
            None => ((u, v), BACKGROUND_FACING),
            // A head at rest maps like the background; only the light blends at its outline.
            Some(hit) if !scene.head.turned => ((u, v), head_facing(hit.facing * hit.weight)),
            Some(hit) if hit.weight >= 1.0 => ((hit.u, hit.v), head_facing(hit.facing)),
            Some(_) => return rough,
        };
        if scene.details.iter().any(|b| inside(b, point.0, point.1)) {
            return rough;
        }
        let mut warped = Warped::plain(point.0, point.1);
        scene.mouth.warp(&mut warped);
        Node { u: warped.u, v: warped.v, facing, smooth: true }
    }

    /// A cell whose mapping is smooth: the corners' photo points and light, interpolated.
    fn interpolate_cell(&self, scene: &Scene, noise: &Noise, n: &[Node; 4], cell: &Cell, w: usize, out: &mut [u8]) {
        let step = 1.0 / CELL as f32;
        for y in cell.y0..cell.y1 {
            let fy = (y - cell.y0) as f32 * step;
            let left = lerp_node(&n[0], &n[2], fy);
            let right = lerp_node(&n[1], &n[3], fy);
            let d = [(right[0] - left[0]) * step, (right[1] - left[1]) * step, (right[2] - left[2]) * step];
            let mut p = left;
            for x in cell.x0..cell.x1 {
                let albedo = self.sample(p[0], p[1]);
                let light = scene.light(p[2]);
                let i = y * w + x;
                self.put(out, i, mul(albedo, light), noise);
                p = [p[0] + d[0], p[1] + d[1], p[2] + d[2]];
            }
        }
    }

    /// A cell with an edge in it: every pixel mapped on its own.
    fn exact_cell(&self, scene: &Scene, noise: &Noise, cell: &Cell, w: usize, out: &mut [u8]) {
        for y in cell.y0..cell.y1 {
            for x in cell.x0..cell.x1 {
                let (u, v) = scene.photo_point(x as f32, y as f32);
                let i = y * w + x;
                self.put(out, i, self.shade(scene, u, v), noise);
            }
        }
    }

    /// Encodes linear light to sRGB, adds the sensor's noise and quantises, into pixel `i`.
    #[inline]
    fn put(&self, out: &mut [u8], i: usize, lin: [f32; 3], noise: &Noise) {
        let top = (ENCODE_STEPS - 1) as f32;
        let n = if noise.sigma > 0.0 { gaussian3(SplitMix64::at(noise.key, i as u64)) } else { [0.0; 3] };
        for c in 0..3 {
            let l = lin[c];
            let k = if l >= 1.0 {
                ENCODE_STEPS - 1
            } else if l > 0.0 {
                (l * top + 0.5) as usize
            } else {
                0
            };
            let level = self.encode[k] + n[c] * noise.sigma + 0.5;
            out[i * 3 + c] = if level >= 255.0 {
                255
            } else if level > 0.0 {
                level as u8
            } else {
                0
            };
        }
    }

    /// Linear light reaching the camera from photo point (u, v) of the framed scene.
    #[inline]
    fn shade(&self, scene: &Scene, u: f32, v: f32) -> [f32; 3] {
        let background_light = scene.light(BACKGROUND_FACING);
        let Some(hit) = scene.head.trace(u, v) else {
            return mul(self.sample_expression(scene, u, v), background_light);
        };
        if !scene.head.turned {
            let light = scene.light(head_facing(hit.facing * hit.weight));
            return mul(self.sample_expression(scene, u, v), light);
        }
        let head = mul(self.sample_expression(scene, hit.u, hit.v), scene.light(head_facing(hit.facing)));
        if hit.weight >= 1.0 {
            return head;
        }
        let behind = mul(self.sample_expression(scene, u, v), background_light);
        [0, 1, 2].map(|i| behind[i] + (head[i] - behind[i]) * hit.weight)
    }

    /// The photo under the expression (eyelids, jaw, mouth interior) at photo point (u, v).
    #[inline]
    fn sample_expression(&self, scene: &Scene, u: f32, v: f32) -> [f32; 3] {
        let mut w = Warped::plain(u, v);
        for eye in &self.eyes {
            eye.warp(scene.closure, &mut w);
        }
        scene.mouth.warp(&mut w);
        let c = self.sample(w.u, w.v);
        let k = w.cover;
        [0, 1, 2].map(|i| (c[i] + (w.cover_colour[i] - c[i]) * k) * w.shade)
    }

    #[inline]
    fn sample(&self, u: f32, v: f32) -> [f32; 3] {
        self.linear.sample(u, v)
    }
}

/// The photo in linear light, cropped around the face.
#[derive(Clone, Debug)]
struct LinearPhoto {
    data: Vec<f32>,
    /// The crop's top-left in the photo, and its size.
    origin: [usize; 2],
    size: [usize; 2],
}

impl LinearPhoto {
    /// The face box's centre ±3 box sizes: every framing down to a face 1/6 of the frame wide;
    /// beyond it a frame shows the plain fill.
    fn around_face(photo: &RgbImage, face_box: [f32; 4]) -> Option<LinearPhoto> {
        let (bw, bh) = (face_box[2] - face_box[0], face_box[3] - face_box[1]);
        let (cx, cy) = ((face_box[0] + face_box[2]) / 2.0, (face_box[1] + face_box[3]) / 2.0);
        let clamp_x = |x: f32| (x.max(0.0) as usize).min(photo.width());
        let clamp_y = |y: f32| (y.max(0.0) as usize).min(photo.height());
        let (x0, x1) = (clamp_x(cx - 3.0 * bw), clamp_x(cx + 3.0 * bw + 1.0));
        let (y0, y1) = (clamp_y(cy - 3.0 * bh), clamp_y(cy + 3.0 * bh + 1.0));
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let decode = decode_table();
        let raw = photo.as_raw();
        let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
        for y in y0..y1 {
            let row = &raw[(y * photo.width() + x0) * 3..(y * photo.width() + x1) * 3];
            data.extend(row.iter().map(|&b| decode[b as usize]));
        }
        Some(LinearPhoto { data, origin: [x0, y0], size: [x1 - x0, y1 - y0] })
    }

    /// Bilinear sample at photo point (u, v); the fill colour beyond the crop's edge.
    #[inline]
    fn sample(&self, u: f32, v: f32) -> [f32; 3] {
        let x = u - self.origin[0] as f32;
        let y = v - self.origin[1] as f32;
        let (w, h) = (self.size[0], self.size[1]);
        if !(x >= -0.5 && y >= -0.5 && x <= w as f32 - 0.5 && y <= h as f32 - 0.5) {
            return FILL;
        }
        // Edge pixels repeat over the last half pixel.
        let x = if x < 0.0 { 0.0 } else { x };
        let y = if y < 0.0 { 0.0 } else { y };
        let (x0, y0) = (x as usize, y as usize);
        let (fx, dx) = if x0 + 1 < w { (x - x0 as f32, 3) } else { (0.0, 0) };
        let (fy, dy) = if y0 + 1 < h { (y - y0 as f32, w * 3) } else { (0.0, 0) };
        let a = (y0 * w + x0) * 3;
        let p = &self.data[a..a + dy + dx + 3];
        let (b, c, d) = (dx, dy, dy + dx);
        let mut out = [0.0f32; 3];
        for i in 0..3 {
            let top = p[i] + (p[b + i] - p[i]) * fx;
            let bottom = p[c + i] + (p[d + i] - p[c + i]) * fx;
            out[i] = top + (bottom - top) * fy;
        }
        out
    }
}

/// Side of the cells the mapping is interpolated over, in frame pixels.
const CELL: usize = 4;

/// The mapping at one grid node: the photo point shown there, how much the surface faces the
/// screen, and whether the mapping is smooth around it.
#[derive(Clone, Copy, Debug)]
struct Node {
    u: f32,
    v: f32,
    facing: f32,
    smooth: bool,
}

/// Frame pixels x0..x1 × y0..y1.
struct Cell {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

struct Noise {
    key: u64,
    sigma: f32,
}

#[inline]
fn lerp_node(a: &Node, b: &Node, t: f32) -> [f32; 3] {
    [a.u + (b.u - a.u) * t, a.v + (b.v - a.v) * t, a.facing + (b.facing - a.facing) * t]
}

/// How much of the screen's light skin receives, from its normal's component toward the
/// screen: the background's share everywhere, plus the rest as the skin turns to face it.
#[inline]
fn head_facing(nz: f32) -> f32 {
    BACKGROUND_FACING + (1.0 - BACKGROUND_FACING) * nz
}

fn grow(b: [f32; 4], by: f32) -> [f32; 4] {
    [b[0] - by, b[1] - by, b[2] + by, b[3] + by]
}

#[inline]
fn inside(b: &[f32; 4], u: f32, v: f32) -> bool {
    u >= b[0] && u <= b[2] && v >= b[1] && v <= b[3]
}

/// One frame's posed rig, light and framing.
struct Scene<'a> {
    /// Photo point of frame pixel (0, 0), and photo pixels per frame pixel.
    origin: [f32; 2],
    step: f32,
    head: HeadPose<'a>,
    closure: f32,
    mouth: MouthPose<'a>,
    /// Photo-space boxes where the expression's mapping has edges.
    details: Vec<[f32; 4]>,
    ambient: [f32; 3],
    screen: [f32; 3],
}

impl Scene<'_> {
    #[inline]
    fn photo_point(&self, x: f32, y: f32) -> (f32, f32) {
        (self.origin[0] + x * self.step, self.origin[1] + y * self.step)
    }

    /// Light on a surface that receives `facing` (0..1) of the screen's light.
    #[inline]
    fn light(&self, facing: f32) -> [f32; 3] {
        [
            self.ambient[0] + self.screen[0] * facing,
            self.ambient[1] + self.screen[1] * facing,
            self.ambient[2] + self.screen[2] * facing,
        ]
    }
}

#[inline]
fn mul(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] * b[0], a[1] * b[1], a[2] * b[2]]
}

/// NaN and infinities (from a caller's arithmetic) become 0 rather than spreading through a
/// frame.
fn finite(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}

/// The head ellipsoid from the landmarks: across, the face's contour (a little wider, for the
/// hair and ears at its sides); down, from a crown estimated above the brows to below the chin
/// (so that a nod turns the chin and not the seam below it); deep, 1.25× the half-width (a
/// head is deeper front to back than it is wide). Aligned with the eye line.
fn head_rig(p: &[[f32; 2]]) -> Option<HeadRig> {
    let eye_centre = |(a, b): (usize, usize)| [(p[a][0] + p[b][0]) / 2.0, (p[a][1] + p[b][1]) / 2.0];
    let (eyes, _) = Frame::between(eye_centre(idx::LEFT_EYE_CORNERS), eye_centre(idx::RIGHT_EYE_CORNERS))?;
    let local = |q: [f32; 2]| eyes.to_local(q);
    let (mut x0, mut x1) = (f32::MAX, f32::MIN);
    for i in idx::CONTOUR {
        let l = local(p[i]);
        x0 = x0.min(l[0]);
        x1 = x1.max(l[0]);
    }
    let temples = (local(p[idx::TEMPLES.0])[0], local(p[idx::TEMPLES.1])[0]);
    x0 = x0.min(temples.0);
    x1 = x1.max(temples.1);
    let brows = idx::LEFT_BROW_LOW.iter().chain(&idx::RIGHT_BROW_LOW);
    let brow = brows.map(|&i| local(p[i])[1]).sum::<f32>() / 10.0;
    let chin = local(p[idx::CHIN])[1];
    let face_h = (chin - brow).max(1.0);
    let top = brow - 0.8 * face_h;
    let bottom = chin + 0.22 * face_h;
    let a = 0.55 * (x1 - x0);
    let b = (bottom - top) / 2.0;
    let centre = eyes.to_world([(x0 + x1) / 2.0, (top + bottom) / 2.0]);
    let axis = {
        let o = eyes.to_world([0.0, 0.0]);
        let e = eyes.to_world([1.0, 0.0]);
        [e[0] - o[0], e[1] - o[1]]
    };
    (a > 1.0 && b > 1.0).then(|| HeadRig { frame: Frame::with_origin(centre, axis), radii: [a, b, 1.25 * a] })
}
