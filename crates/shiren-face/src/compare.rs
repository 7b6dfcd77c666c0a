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
//! can measure their own population should measure them with `shiren calibrate` (see
//! [`crate::calibration_file`]).
//!
//! [`identification_threshold`] turns the same points into a threshold for a 1:N search.

use serde::{Deserialize, Serialize};

/// Cosine thresholds for FAR 1e-3, 1e-4 and 1e-5, in that order (increasing), and for 1e-6
/// when a calibration measured it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub far_1e3: f32,
    pub far_1e4: f32,
    pub far_1e5: f32,
    /// Not a score anchor (the score ends at 1e-5): only 1:N search, whose per-pair FAR
    /// shrinks with the gallery, reads it. No default: nothing published is close enough to
    /// our model to guess it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub far_1e6: Option<f32>,
}

impl Default for Calibration {
    fn default() -> Self {
        Self { far_1e3: 0.30, far_1e4: 0.36, far_1e5: 0.42, far_1e6: None }
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

    /// Whether the anchors increase strictly, as the map needs, and a 1e-6 threshold lies
    /// above the 1e-5 one (1:N interpolation assumes the points are ordered).
    pub fn is_valid(&self) -> bool {
        self.anchors().windows(2).all(|w| w[1].0 > w[0].0) && self.far_1e6.is_none_or(|t| t > self.far_1e5 && t <= 1.0)
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

/// The cosine threshold for a 1:N search of a gallery of `gallery_faces` faces that keeps the
/// false positive identification rate (FPIR: a search for someone not in the gallery returns
/// a match) at `fpir`.
///
/// A search against N non-mated faces accepts falsely with probability 1-(1-FAR)^N, about N·FAR
/// while that is small, so each pair must reach FAR = fpir/N (slightly stricter than the exact
/// 1-(1-fpir)^(1/N)). That assumes independent impostor scores and one face per person; real
/// galleries hold several faces per person and populations have heavier tails than a
/// calibration set, so treat the result as a lower bound on the threshold needed.
///
/// The threshold is interpolated between the known FAR points (1e-3 to 1e-5, and 1e-6 when
/// measured) linearly in log10(FAR), the scale on which impostor tails are close to straight.
/// A FAR looser than 1e-3 gets the 1e-3 threshold (stricter than needed: nothing looser is
/// known). `None` when the FAR needed is below the lowest known point, or `fpir` is not in
/// (0, 1]: the caller then uses the strictest known threshold and says so.
pub fn identification_threshold(cal: &Calibration, gallery_faces: usize, fpir: f64) -> Option<f32> {
    if !(fpir > 0.0 && fpir <= 1.0) {
        return None;
    }
    // An empty gallery cannot match falsely; one face is the least that can.
    let far = fpir / gallery_faces.max(1) as f64;
    let mut points = vec![(-3.0, cal.far_1e3), (-4.0, cal.far_1e4), (-5.0, cal.far_1e5)];
    if let Some(t) = cal.far_1e6 {
        points.push((-6.0, t));
    }
    // Decades compared with a tolerance: 0.01 / 1000 is not exactly 1e-5 in floating point,
    // and must not fall "below" the 1e-5 point because of it.
    const EPS: f64 = 1e-9;
    let x = far.log10();
    let (top, lowest) = (points[0], points[points.len() - 1]);
    if x >= top.0 - EPS {
        return Some(top.1);
    }
    if x < lowest.0 - EPS {
        return None;
    }
    for w in points.windows(2) {
        let ((x0, t0), (x1, t1)) = (w[0], w[1]);
        if x >= x1 - EPS {
            let f = ((x0 - x) / (x0 - x1)).clamp(0.0, 1.0);
            return Some(t0 + (f as f32) * (t1 - t0));
        }
    }
    Some(lowest.1)
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
    fn identification_threshold_interpolates_in_log_far() {
        let cal = Calibration { far_1e3: 0.30, far_1e4: 0.40, far_1e5: 0.50, far_1e6: None };
        let near = |a: Option<f32>, b: f32| a.is_some_and(|a| (a - b).abs() < 1e-5);
        // FPIR 0.1 over 100 faces needs FAR 1e-3; over 1000, 1e-4; over 10000, 1e-5.
        assert!(near(identification_threshold(&cal, 100, 0.1), 0.30));
        assert!(near(identification_threshold(&cal, 1000, 0.1), 0.40));
        assert!(near(identification_threshold(&cal, 1000, 0.01), 0.50));
        // Halfway in log10: FAR 10^-4.5 = 0.1 / 3162.3.
        assert!(near(identification_threshold(&cal, 3_162, 0.1), 0.45));
        // Looser than 1e-3: the 1e-3 threshold (nothing looser is known).
        assert!(near(identification_threshold(&cal, 1, 0.1), 0.30));
        assert!(near(identification_threshold(&cal, 0, 0.1), 0.30));
        // Below the lowest known point: the caller falls back to the strictest threshold.
        assert_eq!(identification_threshold(&cal, 1_000_000, 0.1), None);
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert_eq!(identification_threshold(&cal, 1000, bad), None);
        }
        // A measured 1e-6 point extends the range.
        let cal6 = Calibration { far_1e6: Some(0.60), ..cal };
        assert!(near(identification_threshold(&cal6, 10_000, 0.1), 0.50));
        assert!(near(identification_threshold(&cal6, 100_000, 0.1), 0.60));
        assert!(near(identification_threshold(&cal6, 31_623, 0.1), 0.55));
        assert_eq!(identification_threshold(&cal6, 1_000_000, 0.1), None);
    }

    #[test]
    fn calibration_without_1e6_reads_as_before() {
        let cal: Calibration = serde_json::from_str(r#"{"far_1e3":0.3,"far_1e4":0.36,"far_1e5":0.42}"#).unwrap();
        assert_eq!(cal, Calibration::default());
        assert!(!serde_json::to_string(&cal).unwrap().contains("1e6"));
    }

    #[test]
    fn far_levels_parse() {
        assert_eq!("1e-4".parse::<FarLevel>().unwrap(), FarLevel::E4);
        assert!("1e-6".parse::<FarLevel>().is_err());
    }
}
