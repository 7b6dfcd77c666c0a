//! Five-point alignment to the ArcFace 112×112 template by a least-squares similarity
//! transform (rotation, uniform scale, translation), the estimate InsightFace's `norm_crop`
//! makes with scikit-image.

use crate::imageops::Affine;

/// Where the eyes, nose tip and mouth corners sit in an aligned 112×112 ArcFace crop.
pub const ARCFACE_TEMPLATE: [[f64; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// The similarity transform mapping `src` points onto `dst` in the least-squares sense
/// (closed form of Umeyama's estimate for 2-D without reflection). `None` when the source
/// points coincide.
pub fn similarity_transform(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Affine> {
    let n = src.len().min(dst.len());
    if n < 2 {
        return None;
    }
    let mean = |pts: &[[f64; 2]]| {
        let (sx, sy) = pts[..n].iter().fold((0.0, 0.0), |(ax, ay), p| (ax + p[0], ay + p[1]));
        [sx / n as f64, sy / n as f64]
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (sx, sy) = (src[i][0] - ms[0], src[i][1] - ms[1]);
        let (dx, dy) = (dst[i][0] - md[0], dst[i][1] - md[1]);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    if den <= f64::EPSILON {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    Some([[a, -b, md[0] - (a * ms[0] - b * ms[1])], [b, a, md[1] - (b * ms[0] + a * ms[1])]])
}

/// The transform that takes a face's five keypoints to the ArcFace template.
pub fn arcface_transform(keypoints: &[[f32; 2]; 5]) -> Option<Affine> {
    let src: Vec<[f64; 2]> = keypoints.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    similarity_transform(&src, &ARCFACE_TEMPLATE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imageops::apply_affine;

    #[test]
    fn recovers_a_known_similarity() {
        let (s, t, tx, ty) = (1.7f64, 0.3f64, 12.0, -5.0);
        let src: Vec<[f64; 2]> = ARCFACE_TEMPLATE.to_vec();
        let dst: Vec<[f64; 2]> = src
            .iter()
            .map(|p| [s * (t.cos() * p[0] - t.sin() * p[1]) + tx, s * (t.sin() * p[0] + t.cos() * p[1]) + ty])
            .collect();
        let m = similarity_transform(&src, &dst).unwrap();
        for (p, q) in src.iter().zip(&dst) {
            let (x, y) = apply_affine(&m, p[0], p[1]);
            assert!((x - q[0]).abs() < 1e-9 && (y - q[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn degenerate_points_have_no_transform() {
        assert!(similarity_transform(&[[1.0, 1.0]; 5], &ARCFACE_TEMPLATE).is_none());
    }
}
