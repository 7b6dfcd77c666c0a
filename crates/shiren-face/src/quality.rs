//! Image quality of one face: sharpness, lighting, size, pose, and whether the image border
//! cuts the face, combined into one 0-100 score.
//!
//! Measurements are taken on the aligned 112×112 face crop so they do not depend on the photo's
//! resolution. The overall score is `100 × sharpness × lighting × size × pose × completeness`,
//! each factor in 0..1 (1 = no problem). Reading it: 70 and above is good for comparison; 40-70
//! is usable but the photo has a visible defect (see `issues`); below 40 the photo should be
//! retaken.

use serde::{Deserialize, Serialize};

use crate::detect::Detection;
use crate::imageops::RgbImage;
use crate::landmarks::{LandmarkReading, Pose};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quality {
    /// 0 (sharp) to 1 (very blurry), from the variance of the Laplacian of the aligned crop.
    pub blur: f32,
    /// Mean luma of the face, 0-255.
    pub brightness: f32,
    /// Left/right luma difference over the mean: 0 even, above 0.35 one side in shadow.
    pub unevenness: f32,
    /// Shorter side of the face box, in pixels of the photo.
    pub face_size: f32,
    pub pose: Pose,
    /// Share of the face outside the photo: the larger of the share of the face box and the
    /// share of the 106 landmarks (which the model places beyond the border where the face
    /// continues) that fall outside.
    pub outside_fraction: f32,
    /// Overall quality, 0-100 (see the module documentation).
    pub score: f32,
    /// Problems found: `blurry`, `dark`, `bright`, `uneven_light`, `small_face`, `large_pose`,
    /// `cut_by_border`.
    pub issues: Vec<String>,
}

/// Smallest face (shorter box side, pixels) considered fully usable.
pub const GOOD_FACE_SIZE: f32 = 80.0;

fn ramp(v: f32, bad: f32, good: f32) -> f32 {
    ((v - bad) / (good - bad)).clamp(0.0, 1.0)
}

pub fn assess(image: &RgbImage, face: &Detection, aligned: &RgbImage, landmarks: &LandmarkReading) -> Quality {
    let pose = landmarks.pose;
    let n = aligned.width();
    let gray: Vec<f32> = aligned
        .as_raw()
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    // Central region of the crop: the face itself, away from the zero border a warp can leave.
    let (lo, hi) = (n / 8, n - n / 8);
    let mut sum = 0.0;
    let mut count = 0.0;
    let (mut left, mut right, mut nl, mut nr) = (0.0, 0.0, 0.0, 0.0);
    let mut lap_sum = 0.0;
    let mut lap_sq = 0.0;
    for y in lo..hi {
        for x in lo..hi {
            let v = gray[y * n + x];
            sum += v;
            count += 1.0;
            if x < n / 2 {
                left += v;
                nl += 1.0;
            } else {
                right += v;
                nr += 1.0;
            }
            let lap =
                gray[(y - 1) * n + x] + gray[(y + 1) * n + x] + gray[y * n + x - 1] + gray[y * n + x + 1] - 4.0 * v;
            lap_sum += lap;
            lap_sq += lap * lap;
        }
    }
    let brightness = sum / count;
    let lap_var = lap_sq / count - (lap_sum / count).powi(2);
    // Laplacian variance on a 112 px face: below ~15 visibly blurred, above ~150 crisp.
    let sharp_f = ramp(lap_var.max(1e-3).ln(), 15f32.ln(), 150f32.ln());
    let blur = 1.0 - sharp_f;
    let unevenness = ((left / nl) - (right / nr)).abs() / brightness.max(1.0);
    let light_f = ramp(brightness, 40.0, 80.0) * ramp(-brightness, -235.0, -200.0) * ramp(-unevenness, -0.6, -0.3);
    let face_size = face.width().min(face.height());
    let size_f = ramp(face_size, 32.0, GOOD_FACE_SIZE);
    let pose_f = ramp(-pose.yaw.abs(), -45.0, -20.0)
        * ramp(-pose.pitch.abs(), -40.0, -20.0)
        * ramp(-pose.roll.abs(), -45.0, -25.0);
    let (w, h) = (image.width() as f32, image.height() as f32);
    let clipped_w = face.bbox[2].min(w) - face.bbox[0].max(0.0);
    let clipped_h = face.bbox[3].min(h) - face.bbox[1].max(0.0);
    let inside = (clipped_w.max(0.0) * clipped_h.max(0.0)) / face.area().max(1.0);
    let points_outside = landmarks.points.iter().filter(|p| p[0] < 0.0 || p[1] < 0.0 || p[0] >= w || p[1] >= h).count();
    let points_fraction = points_outside as f32 / landmarks.points.len().max(1) as f32;
    let outside_fraction = (1.0 - inside).max(points_fraction).clamp(0.0, 1.0);
    let cut_f = ramp(-outside_fraction, -0.3, -0.05);

    let mut issues = Vec::new();
    let mut flag = |cond: bool, name: &str| {
        if cond {
            issues.push(name.to_string());
        }
    };
    flag(sharp_f < 0.5, "blurry");
    flag(brightness < 60.0, "dark");
    flag(brightness > 215.0, "bright");
    flag(unevenness > 0.45, "uneven_light");
    flag(face_size < GOOD_FACE_SIZE * 0.75, "small_face");
    flag(pose_f < 0.5, "large_pose");
    flag(outside_fraction > 0.05, "cut_by_border");
    let score = 100.0 * sharp_f * light_f * size_f * pose_f * cut_f;
    Quality {
        blur,
        brightness,
        unevenness,
        face_size,
        pose,
        outside_fraction,
        score: (score * 10.0).round() / 10.0,
        issues,
    }
}
