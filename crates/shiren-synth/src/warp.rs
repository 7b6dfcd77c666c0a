//! The rig: geometry built once from an actor's landmarks (eyelid and lip curves, jaw, head
//! ellipsoid) and the inverse mappings it gives for one expression. Every mapping answers
//! "which point of the photo does this output point show", so the renderer can sample the photo
//! once per output pixel with no holes and no tearing.
//!
//! Coordinates are photo pixels (the upright image the engine located the face on). Features
//! are rigged in frames of their own (eye, mouth, head), aligned with the face's roll, so a
//! tilted head closes its eyes along its own eye line.

use crate::noise::SplitMix64;

/// Cubic Hermite step from 0 at `e0` to 1 at `e1`.
#[inline]
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A rigid 2-D frame: an origin and a unit x axis. Its y axis is x turned a quarter turn
/// clockwise on screen, so for an upright face x points to the image's right and y down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    origin: [f32; 2],
    ex: [f32; 2],
}

impl Frame {
    /// The frame centred between `left` and `right` with its x axis from one to the other, and
    /// half their distance. `None` when they coincide.
    pub(crate) fn between(left: [f32; 2], right: [f32; 2]) -> Option<(Frame, f32)> {
        let (dx, dy) = (right[0] - left[0], right[1] - left[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len.is_nan() || len <= 1e-3 {
            return None;
        }
        let origin = [(left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0];
        Some((Frame { origin, ex: [dx / len, dy / len] }, len / 2.0))
    }

    pub(crate) fn with_origin(origin: [f32; 2], ex: [f32; 2]) -> Frame {
        Frame { origin, ex }
    }

    #[inline]
    pub(crate) fn to_local(self, p: [f32; 2]) -> [f32; 2] {
        let (dx, dy) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        [dx * self.ex[0] + dy * self.ex[1], -dx * self.ex[1] + dy * self.ex[0]]
    }

    #[inline]
    pub(crate) fn to_world(self, l: [f32; 2]) -> [f32; 2] {
        [self.origin[0] + l[0] * self.ex[0] - l[1] * self.ex[1], self.origin[1] + l[0] * self.ex[1] + l[1] * self.ex[0]]
    }

    /// Axis-aligned bounds (x0, y0, x1, y1) in the photo of a local rectangle.
    pub(crate) fn bounds(&self, s: [f32; 2], r: [f32; 2]) -> [f32; 4] {
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for (a, c) in [(s[0], r[0]), (s[0], r[1]), (s[1], r[0]), (s[1], r[1])] {
            let w = self.to_world([a, c]);
            b = [b[0].min(w[0]), b[1].min(w[1]), b[2].max(w[0]), b[3].max(w[1])];
        }
        b
    }
}

#[inline]
fn inside(b: &[f32; 4], u: f32, v: f32) -> bool {
    u >= b[0] && u <= b[2] && v >= b[1] && v <= b[3]
}

/// A lid or lip line between two corners, in the frame centred between them: the offset
/// across the line `r(s) = (hw² - s²)(α + βs)`, zero at both corners (`s = ±hw`) and beyond.
/// Fitted by least squares to the landmarks between the corners; the skew term follows a lid
/// whose highest point is off-centre.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Curve {
    hw: f32,
    alpha: f32,
    beta: f32,
}

impl Curve {
    pub(crate) fn fit(hw: f32, points: &[[f32; 2]]) -> Curve {
        // Normal equations of the two basis functions f1 = hw² - s², f2 = (hw² - s²)s.
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0f32, 0.0, 0.0, 0.0, 0.0);
        for p in points {
            let f1 = hw * hw - p[0] * p[0];
            let f2 = f1 * p[0];
            a11 += f1 * f1;
            a12 += f1 * f2;
            a22 += f2 * f2;
            b1 += f1 * p[1];
            b2 += f2 * p[1];
        }
        let det = a11 * a22 - a12 * a12;
        if det.abs() > 1e-6 * (a11 * a22).max(1e-12) {
            Curve { hw, alpha: (b1 * a22 - b2 * a12) / det, beta: (a11 * b2 - a12 * b1) / det }
        } else if a11 > 0.0 {
            Curve { hw, alpha: b1 / a11, beta: 0.0 }
        } else {
            Curve { hw, alpha: 0.0, beta: 0.0 }
        }
    }

    #[inline]
    pub(crate) fn at(&self, s: f32) -> f32 {
        let f = self.hw * self.hw - s * s;
        if f <= 0.0 { 0.0 } else { f * (self.alpha + self.beta * s) }
    }
}

/// One eye: its frame (between the corners), the two lid lines, and the skin around it that
/// a closed lid is made of.
#[derive(Clone, Debug)]
pub(crate) struct EyeRig {
    frame: Frame,
    hw: f32,
    upper: Curve,
    lower: Curve,
    /// Half-length of the closed lid along the eye line ([`LID_REACH`] half-widths).
    reach: f32,
    /// The brow's lower edge as a line `r = brow.0 + brow.1 * s`: the closed lid's skin
    /// reaches most of the way up to it (so the lid's crease and lash line vanish under it).
    brow: (f32, f32),
    /// How far below the lower lid (at the middle) the closed lid's skin extends.
    below: f32,
    /// Skin colour just beyond the closed lid's upper and lower edge, per column across
    /// `-reach..=reach` (linear RGB).
    skin_above: Vec<[f32; 3]>,
    skin_below: Vec<[f32; 3]>,
    /// Lit skin just below the eye (averaged over its middle): a closed lid bulges forward and
    /// catches the light like it, rather than lying in the eye socket's shade.
    lit: [f32; 3],
    bounds: [f32; 4],
}

/// What an expression does at one photo point: where to sample, how much to darken (lash line),
/// and how much of a painted surface (the closed lid's skin, the mouth's inside) covers it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Warped {
    pub u: f32,
    pub v: f32,
    pub shade: f32,
    pub cover: f32,
    pub cover_colour: [f32; 3],
}

impl Warped {
    #[inline]
    pub(crate) fn plain(u: f32, v: f32) -> Warped {
        Warped { u, v, shade: 1.0, cover: 0.0, cover_colour: [0.0; 3] }
    }
}

/// Columns of skin colour sampled along each eye.
const SKIN_COLUMNS: usize = 33;
/// Half-length of a closed lid in half eye-widths: well past the corners, whose dark tips
/// and the lash lines running out of them otherwise keep the eye's open outline.
const LID_REACH: f32 = 1.6;

impl EyeRig {
    /// `corners` (image-left, image-right), `upper` and `lower` lid points, the brow's lower
    /// edge above this eye, and the photo to take skin colours from.
    pub(crate) fn new(
        corners: ([f32; 2], [f32; 2]),
        upper: &[[f32; 2]],
        lower: &[[f32; 2]],
        brow: &[[f32; 2]],
        photo: &dyn Fn([f32; 2]) -> [f32; 3],
    ) -> Option<EyeRig> {
        let (frame, hw) = Frame::between(corners.0, corners.1)?;
        let local = |pts: &[[f32; 2]]| pts.iter().map(|&p| frame.to_local(p)).collect::<Vec<_>>();
        let mut upper = Curve::fit(hw, &local(upper));
        let mut lower = Curve::fit(hw, &local(lower));
        // The upper lid is above (negative r); a model that swapped them still gets a rig.
        if upper.at(0.0) > lower.at(0.0) {
            std::mem::swap(&mut upper, &mut lower);
        }
        // The brow's lower edge, fitted as a line; without one, a brow at 0.6 eye widths.
        let brow_pts: Vec<[f32; 2]> = local(brow).into_iter().filter(|p| p[0].abs() < 1.6 * hw).collect();
        let fallback = (upper.at(0.0) - 1.2 * hw, 0.0);
        let brow = fit_line(&brow_pts).filter(|b| b.0 < upper.at(0.0)).unwrap_or(fallback);
        let below = 0.25 * hw;
        let mut rig = EyeRig {
            frame,
            hw,
            upper,
            lower,
            reach: LID_REACH * hw,
            brow,
            below,
            skin_above: Vec::new(),
            skin_below: Vec::new(),
            lit: [0.0; 3],
            bounds: [0.0; 4],
        };
        // The painted lid meets the photo at its edges: take the photo's colour just outside
        // them, averaged along the eye and smoothed so no column stands out as a streak.
        let along = 0.05 * hw;
        let edge_colours = |r_of: &dyn Fn(f32) -> f32, out: &mut Vec<[f32; 3]>| {
            for j in 0..SKIN_COLUMNS {
                let s = rig.reach * (2.0 * j as f32 / (SKIN_COLUMNS - 1) as f32 - 1.0);
                let c = [-along, 0.0, along].map(|ds| photo(frame.to_world([s + ds, r_of(s + ds)])));
                out.push([0, 1, 2].map(|i| (c[0][i] + c[1][i] + c[2][i]) / 3.0));
            }
            for _ in 0..2 {
                let copy = out.clone();
                for j in 1..SKIN_COLUMNS - 1 {
                    out[j] = [0, 1, 2].map(|i| (copy[j - 1][i] + 2.0 * copy[j][i] + copy[j + 1][i]) / 4.0);
                }
            }
        };
        let (mut above_c, mut below_c) = (Vec::new(), Vec::new());
        edge_colours(&|s| rig.span(s).0 - 0.5, &mut above_c);
        edge_colours(&|s| rig.span(s).1 + 0.5, &mut below_c);
        let middle = &below_c[SKIN_COLUMNS / 4..SKIN_COLUMNS - SKIN_COLUMNS / 4];
        rig.lit = [0, 1, 2].map(|i| middle.iter().map(|c| c[i]).sum::<f32>() / middle.len() as f32);
        rig.skin_above = above_c;
        rig.skin_below = below_c;
        let highest = (0..=8).map(|i| rig.span(rig.reach * (i as f32 / 4.0 - 1.0)).0).fold(0.0f32, f32::min);
        rig.bounds = frame.bounds([-rig.reach, rig.reach], [highest - 2.0, lower.at(0.0).max(0.0) + below + 2.0]);
        Some(rig)
    }

    /// Photo-space box of everything the eyelid changes.
    pub(crate) fn bounds(&self) -> [f32; 4] {
        self.bounds
    }

    /// How far the closed lid extends from the eye line: 1 in the middle, 0 at its ends.
    #[inline]
    fn bump(&self, s: f32) -> f32 {
        let q = s / self.reach;
        (1.0 - q * q).max(0.0).sqrt()
    }

    /// Upper and lower edge of the closed lid's skin at `s`.
    #[inline]
    fn span(&self, s: f32) -> (f32, f32) {
        let b = self.bump(s);
        let up = self.upper.at(s);
        // Nearly up to the brow (the lid's crease and the photo's lash line vanish under the
        // closed lid), but at least a tenth of the eye's width.
        let above = (0.95 * (up - self.brow.0 - self.brow.1 * s)).clamp(0.1 * self.hw, self.hw);
        (up - above * b, self.lower.at(s) + self.below * b)
    }

    /// The skin colours just above and just below the closed lid at `s`.
    fn skin(&self, s: f32) -> ([f32; 3], [f32; 3]) {
        let x = ((s / self.reach + 1.0) / 2.0).clamp(0.0, 1.0) * (SKIN_COLUMNS - 1) as f32;
        let j = (x as usize).min(SKIN_COLUMNS - 2);
        let f = x - j as f32;
        let at = |v: &[[f32; 3]], i: usize| v.get(i).copied().unwrap_or([0.0; 3]);
        (
            mix(at(&self.skin_above, j), at(&self.skin_above, j + 1), f),
            mix(at(&self.skin_below, j), at(&self.skin_below, j + 1), f),
        )
    }

    /// The eyelid at closure `k` (0..1). The upper lid's edge comes down from its place in the
    /// photo to the lower lid. The closed lid is painted skin spanning from below the brow to
    /// below the lower lid and past both corners: the eye, the photo's lash lines, the lid's
    /// crease and the corners' dark tips all vanish under it, which is what the landmark model
    /// needs to see (a closed lid that still shows any of them reads as a narrowed open eye).
    /// It takes the colour of the skin just above it, turning toward the lit skin under the eye
    /// across its bulge, with a fine grain, and a dark lash line along its edge. While the lid
    /// comes down, it first stretches the photo's own lid skin and blends into the painted one.
    #[inline]
    pub(crate) fn warp(&self, k: f32, w: &mut Warped) {
        if k <= 0.0 || !inside(&self.bounds, w.u, w.v) {
            return;
        }
        let [s, r] = self.frame.to_local([w.u, w.v]);
        if s.abs() >= self.reach {
            return;
        }
        let up = self.upper.at(s);
        let lash = self.lower.at(s);
        let (top, bottom) = self.span(s);
        if r < top || r > bottom || bottom - top <= 0.0 {
            return;
        }
        let edge = up + k * (lash - up);
        if r <= edge && edge > top + 1e-3 {
            let src_r = top + (r - top) * (up - top) / (edge - top);
            let p = self.frame.to_world([s, src_r]);
            w.u = p[0];
            w.v = p[1];
        }
        let (above, below) = self.skin(s);
        let (colour, cover) = if r <= edge {
            let on_lid = ((r - top) / (lash - top).max(1e-3)).clamp(0.0, 1.0);
            let bulge = 0.5 * (std::f32::consts::PI * on_lid).sin() * self.bump(s);
            (mix(above, self.lit, bulge), smoothstep(0.0, 0.35, k))
        } else {
            // Below the lid's edge: the skin turns into the skin under the eye. The eye shows
            // there until the lid is nearly shut.
            let t = (r - lash) / (bottom - lash).max(1e-3);
            (mix(above, below, t.clamp(0.0, 1.0)), smoothstep(0.6, 1.0, k))
        };
        let ends = 1.0 - smoothstep(0.75 * self.reach, self.reach, s.abs());
        let feather = smoothstep(top, top + 1.0, r) * (1.0 - smoothstep(bottom - 1.0, bottom, r));
        let grain = 1.0 + 0.06 * grain(w.u, w.v);
        w.cover = cover * ends * feather;
        w.cover_colour = colour.map(|c| c * grain);
        let lash_width = (0.13 * self.hw).max(0.7);
        let d = (r - edge) / lash_width;
        let across = 1.0 - smoothstep(0.7 * self.hw, self.reach, s.abs());
        w.shade *= 1.0 - 0.9 * (3.0 * k).min(1.0) * across * (-d * d).exp();
    }
}

#[inline]
fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Value noise in -1..1 on a lattice of 1.2 photo pixels: the fine grain of skin, so a painted
/// lid is not smoother than the skin around it.
fn grain(u: f32, v: f32) -> f32 {
    const CELL: f32 = 1.2;
    let (x, y) = (u / CELL, v / CELL);
    let (xi, yi) = (x.floor(), y.floor());
    let (fx, fy) = (x - xi, y - yi);
    let lattice = |i: f32, j: f32| {
        let key = (i as i64 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (j as i64 as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (SplitMix64::at(key, 0) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let (a, b) = (lattice(xi, yi), lattice(xi + 1.0, yi));
    let (c, d) = (lattice(xi, yi + 1.0), lattice(xi + 1.0, yi + 1.0));
    let top = a + (b - a) * fx;
    let bottom = c + (d - c) * fx;
    top + (bottom - top) * fy
}

/// Least-squares line `r = c + m s` through points (s, r); `None` for fewer than two distinct s.
fn fit_line(points: &[[f32; 2]]) -> Option<(f32, f32)> {
    let n = points.len() as f32;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
    let (mx, my) = (sx / n, sy / n);
    let (sxx, sxy) =
        points.iter().fold((0.0, 0.0), |a, p| (a.0 + (p[0] - mx).powi(2), a.1 + (p[0] - mx) * (p[1] - my)));
    (points.len() >= 2 && sxx > 1e-3).then(|| {
        let m = sxy / sxx;
        (my - m * mx, m)
    })
}

/// The mouth: its frame (between the corners), the inner lip lines, the chin and the jaw's
/// width at mouth level.
#[derive(Clone, Debug)]
pub(crate) struct MouthRig {
    frame: Frame,
    hw: f32,
    /// The line the lips part along: half-way between the inner upper and inner lower lip
    /// (a photo with parted lips keeps the upper half still and moves the lower half).
    line: Curve,
    chin: f32,
    jaw_hw: f32,
}

/// A mouth rig posed at one opening.
#[derive(Clone, Debug)]
pub(crate) struct MouthPose<'a> {
    rig: &'a MouthRig,
    drop: f32,
    /// Depth below the lip line over which the lateral lower lip catches up with the centre.
    catch_up: f32,
    fade_start: f32,
    fade_len: f32,
    bounds: [f32; 4],
}

/// Linear-light albedo of the mouth's inside.
const MOUTH_DEEP: [f32; 3] = [0.014, 0.004, 0.004];
const MOUTH_EDGE: [f32; 3] = [0.085, 0.022, 0.02];
const TONGUE: [f32; 3] = [0.16, 0.045, 0.042];
const TEETH: [f32; 3] = [0.30, 0.27, 0.22];

impl MouthRig {
    /// `corners` (image-left, image-right), inner upper lip and inner lower lip points,
    /// the chin point and the face's contour points at mouth height (left, right).
    pub(crate) fn new(
        corners: ([f32; 2], [f32; 2]),
        inner_upper: &[[f32; 2]],
        inner_lower: &[[f32; 2]],
        chin: [f32; 2],
        jaw: ([f32; 2], [f32; 2]),
    ) -> Option<MouthRig> {
        let (frame, hw) = Frame::between(corners.0, corners.1)?;
        let mid: Vec<[f32; 2]> = inner_upper
            .iter()
            .zip(inner_lower)
            .map(|(a, b)| frame.to_local([(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]))
            .collect();
        let line = Curve::fit(hw, &mid);
        let chin = frame.to_local(chin)[1].max(0.5 * hw);
        let jaw_hw = (frame.to_local(jaw.1)[0] - frame.to_local(jaw.0)[0]).abs() / 2.0;
        Some(MouthRig { frame, hw, line, chin, jaw_hw: jaw_hw.max(1.2 * hw) })
    }

    pub(crate) fn width(&self) -> f32 {
        2.0 * self.hw
    }

    /// The rig at opening `open` (0..1): the jaw drops by up to 0.45 of the mouth's width.
    pub(crate) fn pose(&self, open: f32) -> MouthPose<'_> {
        let drop = 0.45 * self.width() * open.clamp(0.0, 1.0);
        // Each fade is longer than 1.5× the drop, so the mapping never folds over (the
        // smoothstep's steepest slope is 1.5 over its length).
        let catch_up = (0.6 * self.hw).max(2.0 * drop);
        let fade_start = self.chin + 0.3 * drop;
        let fade_len = (0.5 * self.chin).max(2.0 * drop);
        let reach = 1.25 * self.jaw_hw;
        let bounds = self.frame.bounds([-reach, reach], [-2.0 * self.hw, fade_start + fade_len + 1.0]);
        MouthPose { rig: self, drop, catch_up, fade_start, fade_len, bounds }
    }
}

impl MouthPose<'_> {
    /// Photo-space box of the parted lips (where the mapping jumps from the upper lip to the
    /// lower one), if the mouth is open.
    pub(crate) fn lip_band(&self) -> Option<[f32; 4]> {
        if self.drop <= 0.0 {
            return None;
        }
        let rig = self.rig;
        let (mut lo, mut hi) = (0.0f32, 0.0f32);
        for i in 0..=16 {
            let r = rig.line.at(rig.hw * (i as f32 / 8.0 - 1.0));
            lo = lo.min(r);
            hi = hi.max(r);
        }
        Some(rig.frame.bounds([-rig.hw - 1.0, rig.hw + 1.0], [lo - 1.0, hi + self.drop + 1.0]))
    }

    #[inline]
    fn lens(&self, s: f32) -> f32 {
        let q = s / self.rig.hw;
        (1.0 - q * q).max(0.0)
    }

    /// How far the jaw has moved the point at local (s, r) of the output, given the lip line
    /// there: full at the chin, tapering to zero at the mouth corners along the lip line (a
    /// mouth opens as a lens), across the jaw's width, and below the chin into the neck.
    #[inline]
    fn displacement(&self, s: f32, below: f32, r: f32) -> f32 {
        let rig = self.rig;
        let sideways = 1.0 - smoothstep(0.9 * rig.hw, 1.25 * rig.jaw_hw, s.abs());
        let lens = self.lens(s);
        let near = lens + (1.0 - lens) * smoothstep(0.0, self.catch_up, below);
        let neck = 1.0 - smoothstep(self.fade_start, self.fade_start + self.fade_len, r);
        self.drop * sideways * near * neck
    }

    /// Inverse jaw mapping; fills the gap between the parted lips with the mouth's inside.
    #[inline]
    pub(crate) fn warp(&self, w: &mut Warped) {
        if self.drop <= 0.0 || !inside(&self.bounds, w.u, w.v) {
            return;
        }
        let rig = self.rig;
        let [s, r] = rig.frame.to_local([w.u, w.v]);
        let line = rig.line.at(s);
        let below = r - line;
        if below < -0.5 {
            return;
        }
        let d = self.displacement(s, below.max(0.0), r);
        let src_r = r - d;
        // Coverage of the gap, anti-aliased over about a pixel at both lips.
        let cover = (below + 0.5).clamp(0.0, 1.0) * (line - src_r + 0.5).clamp(0.0, 1.0);
        let p = rig.frame.to_world([s, if below < 0.5 { r } else { src_r.max(line) }]);
        w.u = p[0];
        w.v = p[1];
        if cover > 0.0 {
            let gap = (self.drop * self.lens(s)).max(1.0);
            w.cover = cover;
            w.cover_colour = self.interior(s, (below / gap).clamp(0.0, 1.0));
        }
    }

    /// Albedo inside the mouth at local x `s`, `g` of the way down the gap: dark at the back,
    /// redder near the lips, a hint of upper teeth under the upper lip and of the tongue at
    /// the bottom.
    fn interior(&self, s: f32, g: f32) -> [f32; 3] {
        let q = (s / self.rig.hw).abs();
        let edge = (1.0 - g / 0.35).max(0.0).max((g - 0.65) / 0.35);
        let teeth = (1.0 - smoothstep(0.06, 0.2, g)) * (1.0 - smoothstep(0.3, 0.65, q)) * 0.8;
        let tongue = smoothstep(0.62, 0.95, g) * (1.0 - smoothstep(0.2, 0.7, q)) * 0.7;
        let mut c = [0.0f32; 3];
        for i in 0..3 {
            let base = MOUTH_DEEP[i] + (MOUTH_EDGE[i] - MOUTH_DEEP[i]) * edge;
            let with_tongue = base + (TONGUE[i] - base) * tongue;
            c[i] = with_tongue + (TEETH[i] - with_tongue) * teeth;
        }
        // The corners are in the cheeks' shadow.
        let corner = 1.0 - 0.6 * smoothstep(0.5, 1.0, q);
        [c[0] * corner, c[1] * corner, c[2] * corner]
    }
}

/// The head as an ellipsoid in the face's frame (x along the eye line, y down, z toward the
/// camera), centred at `frame`'s origin with radii `radii`; the photo shows its front half.
#[derive(Clone, Debug)]
pub(crate) struct HeadRig {
    pub frame: Frame,
    pub radii: [f32; 3],
}

/// Result of tracing one output point onto the posed head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadHit {
    /// Where on the photo the surface point was.
    pub u: f32,
    pub v: f32,
    /// The surface normal's component toward the camera (0 at the outline, 1 facing it).
    pub facing: f32,
    /// 1 well inside the head's outline, falling to 0 at it (blend with the background).
    pub weight: f32,
}

/// The head turned by a yaw and a pitch.
#[derive(Clone, Debug)]
pub(crate) struct HeadPose<'a> {
    rig: &'a HeadRig,
    /// Rotation from the head's rest pose to the posed one (rows).
    rot: [[f32; 3]; 3],
    /// The viewing ray's direction turned back into the rest pose and divided by the radii.
    dir: [f32; 3],
    /// `dir · dir`.
    dd: f32,
    pub turned: bool,
    bounds: [f32; 4],
}

impl HeadRig {
    /// Yaw turns the nose toward +x (the image's right); pitch lifts the chin (the nose moves
    /// toward -y and the chin toward the camera). The turn is applied first, then the nod.
    pub(crate) fn pose(&self, yaw_deg: f32, pitch_deg: f32) -> HeadPose<'_> {
        let (sy, cy) = yaw_deg.to_radians().sin_cos();
        let (sp, cp) = pitch_deg.to_radians().sin_cos();
        // Yaw: x' = x cos + z sin, z' = -x sin + z cos. Pitch: y' = y cos - z sin,
        // z' = y sin + z cos. Posed = Pitch · Yaw.
        let yaw = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        let pitch = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
        let rot = matmul(&pitch, &yaw);
        let [a, b, c] = self.radii;
        // Rest-pose direction of the camera ray (0, 0, 1): the third column of rot, i.e. the
        // third row of its transpose.
        let dir = [rot[2][0] / a, rot[2][1] / b, rot[2][2] / c];
        let dd = dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2];
        let reach = a.max(b).max(c) + 1.0;
        let o = self.frame.to_world([0.0, 0.0]);
        let bounds = [o[0] - reach, o[1] - reach, o[0] + reach, o[1] + reach];
        HeadPose { rig: self, rot, dir, dd, turned: yaw_deg != 0.0 || pitch_deg != 0.0, bounds }
    }
}

fn matmul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut m = [[0.0f32; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    m
}

/// Width of the blend into the background, as the ray's half-chord through the unit sphere
/// (0 at the outline, 1 through the centre): 0.3 is the outer 4.6% of the radius.
const EDGE_BLEND: f32 = 0.3;

impl HeadPose<'_> {
    /// Casts the camera's (orthographic) ray through photo point (u, v) at the posed head: the
    /// nearest intersection, turned back into the rest pose, is the photo point it shows.
    #[inline]
    pub(crate) fn trace(&self, u: f32, v: f32) -> Option<HeadHit> {
        if !inside(&self.bounds, u, v) {
            return None;
        }
        let rig = self.rig;
        let [a, b, c] = rig.radii;
        let [x, y] = rig.frame.to_local([u, v]);
        let r = &self.rot;
        // Ray origin (x, y, 0) turned back (transpose) and scaled to the unit sphere.
        let o = [(r[0][0] * x + r[1][0] * y) / a, (r[0][1] * x + r[1][1] * y) / b, (r[0][2] * x + r[1][2] * y) / c];
        let d = &self.dir;
        let half_b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
        let oo = o[0] * o[0] + o[1] * o[1] + o[2] * o[2];
        let disc = half_b * half_b - self.dd * (oo - 1.0);
        if disc <= 0.0 {
            return None;
        }
        let root = disc.sqrt();
        let t = (root - half_b) / self.dd;
        // Rest-pose point on the unit sphere.
        let p = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
        // A point on the back half (z < 0) was not in the photo: show the outline's pixels
        // there (a turned head shows hair and ear at its edge, which the outline carries).
        let (px, py) = if p[2] >= 0.0 {
            (p[0], p[1])
        } else {
            let n = (p[0] * p[0] + p[1] * p[1]).sqrt().max(1e-6);
            (p[0] / n, p[1] / n)
        };
        let src = rig.frame.to_world([px * a, py * b]);
        // Normal of the ellipsoid at the point (gradient of the implicit function), posed.
        let n_rest = [p[0] / a, p[1] / b, p[2] / c];
        let nz = r[2][0] * n_rest[0] + r[2][1] * n_rest[1] + r[2][2] * n_rest[2];
        let len = (n_rest[0] * n_rest[0] + n_rest[1] * n_rest[1] + n_rest[2] * n_rest[2]).sqrt().max(1e-9);
        let half_chord = root / self.dd.sqrt();
        Some(HeadHit {
            u: src[0],
            v: src[1],
            facing: (nz / len).clamp(0.0, 1.0),
            weight: smoothstep(0.0, EDGE_BLEND, half_chord),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_points_y_down() {
        let (f, hw) = Frame::between([10.0, 20.0], [30.0, 20.0]).expect("distinct");
        assert_eq!(hw, 10.0);
        assert_eq!(f.to_local([20.0, 25.0]), [0.0, 5.0]);
        let (g, _) = Frame::between([0.0, 0.0], [3.0, 4.0]).expect("distinct");
        let back = g.to_world(g.to_local([7.0, -2.0]));
        assert!((back[0] - 7.0).abs() < 1e-5 && (back[1] + 2.0).abs() < 1e-5);
        assert!(Frame::between([1.0, 1.0], [1.0, 1.0]).is_none());
    }

    #[test]
    fn curve_fits_a_parabola_through_its_points() {
        let hw = 10.0;
        let truth = Curve { hw, alpha: -0.05, beta: 0.002 };
        let pts: Vec<[f32; 2]> = [-5.0f32, 0.0, 5.0].iter().map(|&s| [s, truth.at(s)]).collect();
        let fit = Curve::fit(hw, &pts);
        for s in [-9.0f32, -3.0, 0.0, 4.0, 8.0] {
            assert!((fit.at(s) - truth.at(s)).abs() < 1e-3);
        }
        assert_eq!(fit.at(11.0), 0.0);
    }

    #[test]
    fn unposed_head_is_the_identity() {
        let rig = HeadRig { frame: Frame::with_origin([100.0, 100.0], [1.0, 0.0]), radii: [40.0, 60.0, 50.0] };
        let pose = rig.pose(0.0, 0.0);
        let hit = pose.trace(110.0, 90.0).expect("inside");
        assert!((hit.u - 110.0).abs() < 1e-3 && (hit.v - 90.0).abs() < 1e-3);
        assert!(pose.trace(141.0, 100.0).is_none());
        // Turned toward +x, the centre of the view shows a point to the left of the nose.
        let turned = rig.pose(20.0, 0.0);
        assert!(turned.trace(100.0, 100.0).expect("inside").u < 100.0);
        // Chin up: the view's centre shows a point below the nose.
        let nod = rig.pose(0.0, 20.0);
        assert!(nod.trace(100.0, 100.0).expect("inside").v > 100.0);
    }
}
