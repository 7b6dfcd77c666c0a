//! The verdict rules, as plain functions of measured numbers: a comparison against the scene's
//! threshold, and a single photo against the scene's liveness rules. Every comparison here fails
//! on NaN and infinities, so a broken model or a degenerate image refuses instead of passing.

use crate::error::SubCode;
use crate::scenes::LivenessSettings;

/// Eyelid opening below which an eye counts as closed (2d106det; see LIVENESS.md).
pub const CLOSED_EYE: f32 = 0.12;

/// Whether a score reaches its threshold (false for NaN and infinities).
pub fn reaches(value: f32, threshold: f32) -> bool {
    value.is_finite() && value >= threshold
}

/// Whether a risk score stays under its limit (false for NaN and infinities).
pub fn stays_below(value: f32, limit: f32) -> bool {
    value.is_finite() && value < limit
}

/// `200` when the comparison score reaches the threshold, `204` otherwise.
pub fn comparison(score: f32, threshold: f32) -> SubCode {
    if reaches(score, threshold) { SubCode::Pass } else { SubCode::FaceMismatch }
}

/// What a photo showed, for the single-photo rules.
#[derive(Debug, Clone, Copy)]
pub struct PhotoFindings {
    pub face_count: usize,
    pub quality: f32,
    pub eye_openness: [f32; 2],
    /// Probability of a presentation attack, when a PAD model judged the photo.
    pub attack: Option<f32>,
}

/// The scene's single-photo rules: `207` several faces, `206` low quality, `205` liveness risk
/// (attack score, closed eyes), or `None` when the photo passes them.
pub fn photo(rules: &LivenessSettings, f: &PhotoFindings) -> Option<SubCode> {
    let eyes_closed = f.eye_openness.iter().any(|&e| !reaches(e, CLOSED_EYE));
    if rules.reject_multiple_faces && f.face_count > 1 {
        Some(SubCode::MultipleFaces)
    } else if !reaches(f.quality, rules.min_quality) {
        Some(SubCode::LowQuality)
    } else if f.attack.is_some_and(|a| !stays_below(a, rules.max_attack_score))
        || (rules.require_open_eyes && eyes_closed)
    {
        Some(SubCode::LivenessRisk)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> PhotoFindings {
        PhotoFindings { face_count: 1, quality: 80.0, eye_openness: [0.25, 0.26], attack: Some(0.1) }
    }

    #[test]
    fn every_rule_fails_closed_on_nan_and_infinity() {
        let rules = LivenessSettings::default();
        assert_eq!(photo(&rules, &good()), None);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(photo(&rules, &PhotoFindings { quality: bad, ..good() }), Some(SubCode::LowQuality), "{bad}");
            assert_eq!(
                photo(&rules, &PhotoFindings { attack: Some(bad), ..good() }),
                Some(SubCode::LivenessRisk),
                "{bad}"
            );
            assert_eq!(
                photo(&rules, &PhotoFindings { eye_openness: [bad, 0.3], ..good() }),
                Some(SubCode::LivenessRisk)
            );
            assert_eq!(comparison(bad, 70.0), SubCode::FaceMismatch, "{bad}");
        }
        assert_eq!(comparison(70.0, 70.0), SubCode::Pass);
    }

    #[test]
    fn rules_in_order() {
        let rules = LivenessSettings::default();
        let all_wrong = PhotoFindings { face_count: 2, quality: 10.0, eye_openness: [0.0, 0.0], attack: Some(0.9) };
        assert_eq!(photo(&rules, &all_wrong), Some(SubCode::MultipleFaces));
        let lenient = LivenessSettings { reject_multiple_faces: false, require_open_eyes: false, ..rules };
        assert_eq!(photo(&lenient, &PhotoFindings { eye_openness: [0.0, 0.0], ..good() }), None);
        assert_eq!(photo(&lenient, &PhotoFindings { attack: Some(0.5), ..good() }), Some(SubCode::LivenessRisk));
    }
}
