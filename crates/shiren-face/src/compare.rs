//! From cosine similarity to a 0-100 score, and the thresholds that go with a false-accept
//! rate (FAR).
//!
//! The score is a monotone, piecewise-linear map of cosine similarity through fixed anchors:
//! cosine -1 → 0, 0 → 30, then the FAR 1e-3 / 1e-4 / 1e-5 cosine thresholds → 60 / 70 / 80,
//! and 1 → 100. A score of 70 therefore means "FAR 1e-4", as callers of the cloud vendors'
//! APIs are used to. Changing the calibration moves the cosine anchors, never the score
//! thresholds.
//!
//! Calibration source: no face data set with enough identities to measure a 1e-5 false-accept
//! rate can be installed from the package registries, so the default cosine thresholds are
//! provisional values set conservatively above the impostor tails published for ArcFace-family
//! models (InsightFace evaluations on LFW/IJB-C report FAR 1e-3 near cosine 0.28 for
//! ArcFace-ResNet; we use 0.30 / 0.36 / 0.42). They are configuration, not code: operators who
//! can measure their own population should set `far_thresholds` from it.

use serde::{Deserialize, Serialize};

/// Cosine thresholds for FAR 1e-3, 1e-4 and 1e-5, in that order (increasing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub far_1e3: f32,
    pub far_1e4: f32,
    pub far_1e5: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self { far_1e3: 0.30, far_1e4: 0.36, far_1e5: 0.42 }
    }
}

/// A false-accept-rate level a scene can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FarLevel {
    #[serde(rename = "1e-3")]
    E3,
    #[serde(rename = "1e-4")]
    E4,
    #[serde(rename = "1e-5")]
    E5,
}

impl FarLevel {
    pub const ALL: [FarLevel; 3] = [FarLevel::E3, FarLevel::E4, FarLevel::E5];

    /// The score at which this FAR is reached; fixed by the score's definition.
    pub fn score_threshold(self) -> f32 {
        match self {
            FarLevel::E3 => 60.0,
            FarLevel::E4 => 70.0,
            FarLevel::E5 => 80.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FarLevel::E3 => "1e-3",
            FarLevel::E4 => "1e-4",
            FarLevel::E5 => "1e-5",
        }
    }
}

impl std::str::FromStr for FarLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1e-3" => Ok(FarLevel::E3),
            "1e-4" => Ok(FarLevel::E4),
            "1e-5" => Ok(FarLevel::E5),
            other => Err(format!("unknown FAR level {other:?}; use 1e-3, 1e-4 or 1e-5")),
        }
    }
}

impl Calibration {
    fn anchors(&self) -> [(f32, f32); 6] {
        [(-1.0, 0.0), (0.0, 30.0), (self.far_1e3, 60.0), (self.far_1e4, 70.0), (self.far_1e5, 80.0), (1.0, 100.0)]
    }

    /// Whether the anchors increase strictly, as the map needs.
    pub fn is_valid(&self) -> bool {
        self.anchors().windows(2).all(|w| w[1].0 > w[0].0)
    }

    /// The 0-100 score of a cosine similarity.
    pub fn score(&self, cosine: f32) -> f32 {
        // A similarity that is not a number scores nothing (every threshold then fails closed);
        // left alone it would fall through every anchor to the top score.
        if !cosine.is_finite() {
            return f32::NAN;
        }
        let c = cosine.clamp(-1.0, 1.0);
        let anchors = self.anchors();
        for w in anchors.windows(2) {
            let ((c0, s0), (c1, s1)) = (w[0], w[1]);
            if c <= c1 {
                return s0 + (c - c0) / (c1 - c0) * (s1 - s0);
            }
        }
        100.0
    }

    pub fn cosine_threshold(&self, level: FarLevel) -> f32 {
        match level {
            FarLevel::E3 => self.far_1e3,
            FarLevel::E4 => self.far_1e4,
            FarLevel::E5 => self.far_1e5,
        }
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_monotone_and_hits_its_anchors() {
        let cal = Calibration::default();
        assert!(cal.is_valid());
        let mut last = -1.0;
        for i in 0..=2000 {
            let s = cal.score(-1.0 + i as f32 / 1000.0);
            assert!(s >= last, "not monotone at {i}");
            last = s;
        }
        for level in FarLevel::ALL {
            assert!((cal.score(cal.cosine_threshold(level)) - level.score_threshold()).abs() < 1e-4);
        }
        assert_eq!(cal.score(1.0), 100.0);
        assert_eq!(cal.score(-1.0), 0.0);
    }

    #[test]
    fn far_levels_parse() {
        assert_eq!("1e-4".parse::<FarLevel>().unwrap(), FarLevel::E4);
        assert!("1e-6".parse::<FarLevel>().is_err());
    }
}
