//! 106-point landmarks (InsightFace 2d106det) and what is read off them: head pose, eye and
//! mouth openness.

use serde::{Deserialize, Serialize};

use crate::detect::Detection;
use crate::error::FaceError;
use crate::imageops::{Affine, RgbImage, apply_affine, invert_affine, to_planar, warp_affine};
use crate::runtime::ModelPool;

const INPUT: usize = 192;

/// Indices into the 106 points (found on the model's own output, see the module tests).
pub(crate) mod idx {
    /// Image-left eye: outer corner, inner corner, upper lid, lower lid (paired).
    pub const LEFT_EYE_CORNERS: (usize, usize) = (35, 39);
    pub const LEFT_EYE_LIDS: [(usize, usize); 3] = [(41, 36), (40, 33), (42, 37)];
    pub const RIGHT_EYE_CORNERS: (usize, usize) = (93, 89);
    pub const RIGHT_EYE_LIDS: [(usize, usize); 3] = [(95, 90), (94, 87), (96, 91)];
    pub const MOUTH_CORNERS: (usize, usize) = (52, 61);
    /// Inner upper lip centre, inner lower lip centre.
    pub const INNER_LIPS: (usize, usize) = (62, 60);
    pub const NOSE_TIP: usize = 86;
    /// Nose base (subnasale).
    pub const NOSE_BASE: usize = 80;
}

/// Head pose in degrees. Yaw is positive when the face turns toward the image's right, pitch
/// positive when it tilts up, roll positive when it leans clockwise in the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// What the 106 points say about one face.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandmarkReading {
    pub points: Vec<[f32; 2]>,
    pub pose: Pose,
    /// Eyelid gap over eye width, per eye (image left, image right): about 0.25-0.35 open,
    /// below 0.12 closed.
    pub eye_openness: [f32; 2],
    /// Inner-lip gap over mouth width: about 0 closed, above 0.25 clearly open.
    pub mouth_openness: f32,
}

#[derive(Debug)]
pub struct LandmarkModel {
    model: ModelPool,
}

impl LandmarkModel {
    pub fn new(model: ModelPool) -> Self {
        Self { model }
    }

    /// The crop InsightFace feeds the model: the box centre, scaled so 1.5× its longer side
    /// fills 192 pixels.
    fn crop_transform(face: &Detection) -> Affine {
        let (w, h) = (face.width() as f64, face.height() as f64);
        let cx = (face.bbox[0] as f64 + face.bbox[2] as f64) / 2.0;
        let cy = (face.bbox[1] as f64 + face.bbox[3] as f64) / 2.0;
        let s = INPUT as f64 / (w.max(h) * 1.5);
        let half = INPUT as f64 / 2.0;
        [[s, 0.0, half - cx * s], [0.0, s, half - cy * s]]
    }

    pub fn predict(&self, image: &RgbImage, face: &Detection) -> Result<LandmarkReading, FaceError> {
        let forward = Self::crop_transform(face);
        let bad = || FaceError::Model { model: "landmarks".into(), detail: "degenerate face box".into() };
        let crop = warp_affine(image, &forward, INPUT).ok_or_else(bad)?;
        let tensor = to_planar(&crop, [0.0; 3], 1.0);
        let outputs = self.model.run(&[1, 3, INPUT, INPUT], &tensor)?;
        let raw = outputs.first().map(|o| o.data.as_slice()).unwrap_or(&[]);
        if raw.len() != 212 {
            return Err(FaceError::Model {
                model: "landmarks".into(),
                detail: format!("expected 212 outputs, got {}", raw.len()),
            });
        }
        let inverse = invert_affine(&forward).ok_or_else(bad)?;
        let half = INPUT as f64 / 2.0;
        let points: Vec<[f32; 2]> = raw
            .chunks_exact(2)
            .map(|p| {
                let (x, y) = apply_affine(&inverse, (p[0] as f64 + 1.0) * half, (p[1] as f64 + 1.0) * half);
                [x as f32, y as f32]
            })
            .collect();
        Ok(read_points(points, face))
    }
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn eye_openness(p: &[[f32; 2]], corners: (usize, usize), lids: [(usize, usize); 3]) -> f32 {
    let width = dist(p[corners.0], p[corners.1]).max(1e-3);
    lids.iter().map(|&(u, l)| dist(p[u], p[l])).sum::<f32>() / 3.0 / width
}

/// Pose from the geometry of the detector's five keypoints: roll from the eye line; yaw from
/// how far the nose tip sits off the eye-mouth midline, relative to the eye distance; pitch
/// from where the nose tip sits between the eye line and the mouth line. These are
/// approximations (about ±10 degrees near frontal), enough for quality gating and for
/// liveness actions (turn, nod), not for measurement.
pub fn pose_from_keypoints(k: &[[f32; 2]; 5]) -> Pose {
    let eye_mid = [(k[0][0] + k[1][0]) / 2.0, (k[0][1] + k[1][1]) / 2.0];
    let mouth_mid = [(k[3][0] + k[4][0]) / 2.0, (k[3][1] + k[4][1]) / 2.0];
    let roll = (k[1][1] - k[0][1]).atan2(k[1][0] - k[0][0]);
    // Undo roll around the eye midpoint.
    let (s, c) = (-roll).sin_cos();
    let rot = |p: [f32; 2]| {
        let (x, y) = (p[0] - eye_mid[0], p[1] - eye_mid[1]);
        [x * c - y * s, x * s + y * c]
    };
    let (nose, mouth, eye_r) = (rot(k[2]), rot(mouth_mid), rot(k[1]));
    let eye_dist = (2.0 * eye_r[0]).abs().max(1e-3);
    let mid_x = mouth[0] / 2.0;
    // The nose tip stands about 0.6 eye distances in front of the eye plane.
    let yaw = ((nose[0] - mid_x) / (0.6 * eye_dist)).clamp(-1.0, 1.0).asin();
    let face_h = mouth[1].max(1e-3);
    // Frontal faces put the nose tip about 55% of the way from the eyes to the mouth.
    let pitch = ((0.55 - nose[1] / face_h) * face_h / (0.6 * eye_dist)).clamp(-1.0, 1.0).asin();
    Pose { yaw: yaw.to_degrees(), pitch: pitch.to_degrees(), roll: roll.to_degrees() }
}

fn read_points(points: Vec<[f32; 2]>, face: &Detection) -> LandmarkReading {
    let p = &points;
    let eye_openness = [
        eye_openness(p, idx::LEFT_EYE_CORNERS, idx::LEFT_EYE_LIDS),
        eye_openness(p, idx::RIGHT_EYE_CORNERS, idx::RIGHT_EYE_LIDS),
    ];
    let mouth_w = dist(p[idx::MOUTH_CORNERS.0], p[idx::MOUTH_CORNERS.1]).max(1e-3);
    let mouth_openness = dist(p[idx::INNER_LIPS.0], p[idx::INNER_LIPS.1]) / mouth_w;
    // The 106 points refine the keypoint pose: eye centres and the nose tip from the dense set.
    let centre = |(a, b): (usize, usize)| [(p[a][0] + p[b][0]) / 2.0, (p[a][1] + p[b][1]) / 2.0];
    let refined = [
        centre(idx::LEFT_EYE_CORNERS),
        centre(idx::RIGHT_EYE_CORNERS),
        p[idx::NOSE_TIP],
        p[idx::MOUTH_CORNERS.0],
        p[idx::MOUTH_CORNERS.1],
    ];
    let mut pose = pose_from_keypoints(&refined);
    if !pose.yaw.is_finite() || !pose.pitch.is_finite() {
        pose = pose_from_keypoints(&face.keypoints);
    }
    LandmarkReading { points, pose, eye_openness, mouth_openness }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontal_keypoints_give_a_level_pose() {
        let k = [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]];
        let pose = pose_from_keypoints(&k);
        assert!(pose.yaw.abs() < 5.0 && pose.pitch.abs() < 8.0 && pose.roll.abs() < 2.0, "{pose:?}");
        // Nose shifted toward the image right: yaw turns positive.
        let mut turned = k;
        turned[2][0] += 10.0;
        assert!(pose_from_keypoints(&turned).yaw > 15.0);
    }
}
