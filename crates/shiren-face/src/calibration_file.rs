//! The calibration file: what `shiren calibrate` measures on an operator's labelled photos and
//! the service reads at start. This module owns the file's data types and TOML form, the rules
//! by which its thresholds are measured from pair similarities (binning, the smallest threshold
//! meeting a FAR, when a level counts as measurable), and the [`Calibration`] an engine takes
//! from it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compare::Calibration;

/// The file format this build writes and reads.
pub const FORMAT: u32 = 1;

/// One-to-one FAR levels the file reports; the first three are the score's anchors.
pub const FAR_LEVELS: [f64; 4] = [1e-3, 1e-4, 1e-5, 1e-6];

/// False positive identification rates reported for each gallery size.
pub const FPIR_LEVELS: [f64; 3] = [1e-1, 1e-2, 1e-3];

/// Gallery sizes reported when the operator names none.
pub const DEFAULT_GALLERY_SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// A level is measurable when, at its FAR, this many false accepts are expected among the
/// impostor pairs (i.e. at least 10/FAR pairs). False accepts above a threshold are roughly a
/// Poisson count: with 10 expected its relative error is about 1/√10 ≈ 32%, so the measured
/// threshold sits at a FAR within about a factor of two of the level. With fewer pairs the
/// threshold is fixed by the one or two highest impostor scores, i.e. by chance.
pub const MIN_EXPECTED_FALSE_ACCEPTS: f64 = 10.0;

/// Width of the similarity bins, which is also the resolution of every threshold in the file.
/// Counting into bins keeps memory constant however many pairs there are (tens of thousands of
/// photos make hundreds of millions of pairs), and 1e-4 cosine is far below what any data set
/// can resolve at these rates.
pub const RESOLUTION: f64 = 1e-4;
const STEPS: i64 = 10_000; // 1 / RESOLUTION
const BINS: usize = 2 * STEPS as usize + 1; // thresholds -1, -1 + 1e-4, ..., 1

/// When a kept default (or a tie) would not lie above the level below it, it is raised to this
/// much above that level. Anchors must increase strictly for the score map; a kept default below
/// a measured lower level only says the default was too lax for this population, and how much
/// stricter the next level should be is unknown, so the smallest step that keeps the score's
/// slope sane (10 points per 0.001 cosine) is used rather than an invented margin.
pub const MIN_ANCHOR_GAP: f32 = 1e-3;

#[derive(Debug, thiserror::Error)]
pub enum CalibrationFileError {
    // The I/O error is part of the message rather than a `source`, so that callers printing
    // either the message alone or the whole chain show it exactly once.
    #[error("cannot read the calibration file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("cannot write the calibration file {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("the calibration file {path} is not valid: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot write the calibration as TOML: {0}")]
    Serialize(String),
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationFile {
    /// [`FORMAT`]; a reader refuses any other.
    pub format: u32,
    /// Day of the measurement, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The recogniser measured (its file name): thresholds belong to one model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub counts: Counts,
    /// One-to-one thresholds, keyed `"1e-3"` to `"1e-6"`.
    pub far: FarTable,
    /// One-to-many thresholds per gallery size and FPIR.
    #[serde(default)]
    pub fpir: Vec<FpirEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub identities: u64,
    /// Photos embedded (skipped ones not included).
    pub photos: u64,
    /// Photos without a usable face, or that could not be read or decoded.
    pub skipped: u64,
    pub genuine_pairs: u64,
    pub impostor_pairs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FarTable {
    #[serde(rename = "1e-3")]
    pub e3: Measured,
    #[serde(rename = "1e-4")]
    pub e4: Measured,
    #[serde(rename = "1e-5")]
    pub e5: Measured,
    #[serde(rename = "1e-6")]
    pub e6: Measured,
}

impl FarTable {
    /// The levels with their FAR, loosest first.
    pub fn levels(&self) -> [(f64, &Measured); 4] {
        [(FAR_LEVELS[0], &self.e3), (FAR_LEVELS[1], &self.e4), (FAR_LEVELS[2], &self.e5), (FAR_LEVELS[3], &self.e6)]
    }
}

/// A threshold measured for one rate, or why it could not be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub measurable: bool,
    /// Impostor pairs the threshold was measured on.
    pub impostor_pairs: u64,
    /// Impostor pairs a measurement at this rate needs ([`MIN_EXPECTED_FALSE_ACCEPTS`] / FAR).
    pub pairs_needed: u64,
    /// The smallest cosine threshold (to [`RESOLUTION`]) at which the share of impostor pairs
    /// at or above it is at most the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Impostor pairs at or above the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_accepts: Option<u64>,
    /// Share of genuine pairs at or above the threshold (absent without genuine pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<f64>,
}

/// The threshold a 1:N search of `gallery_size` faces needs for a target FPIR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FpirEntry {
    pub gallery_size: u64,
    pub fpir: f64,
    /// fpir / gallery_size (see [`crate::compare::identification_threshold`] for the caveats).
    pub far_per_pair: f64,
    pub measurable: bool,
    pub impostor_pairs: u64,
    pub pairs_needed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<f64>,
}

/// What the file says, as comments above its data; kept beside the types it explains.
const HEADER: &str = "\
# Shiren calibration: cosine thresholds measured by `shiren calibrate` on labelled photos
# (one folder per identity). Genuine pairs: two photos of one identity; impostor pairs: photos
# of two identities. The service reads it through `calibration_file`.
#
# [far.1e-N]    1:1 comparison at false accept rate 1e-N:
#   similarity     smallest cosine threshold (to 1e-4) with impostor pairs at or above it
#                  at most 1e-N of all impostor pairs
#   false_accepts  impostor pairs at or above it;  tar: share of genuine pairs at or above it
#   measurable     false when impostor_pairs < pairs_needed = 10 / FAR (fewer than 10 false
#                  accepts expected: the threshold would rest on one or two pairs); the
#                  service then keeps its default for that level
# [[fpir]]        1:N search of gallery_size faces at false positive identification rate fpir:
#                 per-pair FAR = fpir / gallery_size (independent impostor scores and one face
#                 per person assumed; real galleries need more margin)
";

impl CalibrationFile {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<CalibrationFile, CalibrationFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CalibrationFileError::Read { path: path.to_path_buf(), error })?;
        Self::parse(&text).map_err(|detail| CalibrationFileError::Invalid { path: path.to_path_buf(), detail })
    }

    /// Parses and checks the text of a file.
    pub fn parse(text: &str) -> Result<CalibrationFile, String> {
        let file: CalibrationFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.check()?;
        Ok(file)
    }

    /// The file's text: the explanatory header, then the data.
    pub fn to_toml(&self) -> Result<String, CalibrationFileError> {
        let body = toml::to_string(self).map_err(|e| CalibrationFileError::Serialize(e.to_string()))?;
        Ok(format!("{HEADER}\n{body}"))
    }

    pub fn save(&self, path: &Path) -> Result<(), CalibrationFileError> {
        std::fs::write(path, self.to_toml()?)
            .map_err(|error| CalibrationFileError::Write { path: path.to_path_buf(), error })
    }

    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {} is not supported (this build reads format {FORMAT})", self.format));
        }
        let mut last: Option<(f64, f32)> = None;
        for (far, m) in self.far.levels() {
            match (m.measurable, m.similarity) {
                (true, None) => return Err(format!("FAR {far:e} is measurable but has no similarity")),
                (true, Some(s)) if !(-1.0..=1.0).contains(&s) => {
                    return Err(format!("FAR {far:e}: similarity {s} is not a cosine between -1 and 1"));
                }
                (true, Some(s)) => {
                    if let Some((lower, ls)) = last
                        && s < ls
                    {
                        return Err(format!(
                            "FAR {far:e}: similarity {s} is below the looser level {lower:e}'s {ls}; thresholds \
                             must not decrease as the rate falls"
                        ));
                    }
                    last = Some((far, s));
                }
                (false, _) => {}
            }
        }
        if !self.calibration(Calibration::default()).is_valid() {
            return Err("the thresholds cannot anchor the score: they must lie between 0 and 1".into());
        }
        Ok(())
    }

    /// The engine's calibration: the measured 1e-3/1e-4/1e-5 thresholds (and 1e-6 for 1:N
    /// search), with `base`'s value kept for a level that was not measurable. Anchors must
    /// increase strictly, so a kept value (or a tie) that does not lie above the level below it
    /// is raised [`MIN_ANCHOR_GAP`] above it: a population whose 1e-3 threshold is above the
    /// default 1e-4 one needs at least that much for 1e-4 too.
    pub fn calibration(&self, base: Calibration) -> Calibration {
        let pick = |m: &Measured, kept: f32| if m.measurable { m.similarity.unwrap_or(kept) } else { kept };
        let above = |value: f32, below: f32| {
            if value > below {
                value
            } else {
                tracing::warn!(value, below, "calibration: threshold raised above the looser level's");
                below + MIN_ANCHOR_GAP
            }
        };
        let far_1e3 = pick(&self.far.e3, base.far_1e3);
        let far_1e4 = above(pick(&self.far.e4, base.far_1e4), far_1e3);
        let far_1e5 = above(pick(&self.far.e5, base.far_1e5), far_1e4);
        let far_1e6 = match (self.far.e6.measurable, self.far.e6.similarity) {
            (true, Some(s)) => Some(s),
            _ => base.far_1e6,
        }
        .map(|s| above(s, far_1e5));
        Calibration { far_1e3, far_1e4, far_1e5, far_1e6 }
    }
}

/// Pair similarities counted in bins of [`RESOLUTION`]. Bin `j` holds the similarities `s` with
/// `t(j) <= s < t(j + 1)`, where `t(j) = -1 + j·RESOLUTION` compared as `f32`, exactly as the
/// engine compares a similarity with a threshold; so the count at or above a threshold is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityCounts {
    bins: Vec<u64>,
    total: u64,
}

impl Default for SimilarityCounts {
    fn default() -> Self {
        Self { bins: vec![0; BINS], total: 0 }
    }
}

/// The threshold of bin `j`.
pub fn bin_threshold(j: usize) -> f32 {
    ((j as i64 - STEPS) as f64 / STEPS as f64) as f32
}

fn bin_of(s: f32) -> usize {
    // Not a number compares below every threshold, so it counts as the lowest similarity.
    if !s.is_finite() {
        return if s == f32::INFINITY { BINS - 1 } else { 0 };
    }
    let last = BINS - 1;
    let mut j = ((f64::from(s) * STEPS as f64).floor() as i64 + STEPS).clamp(0, last as i64) as usize;
    // The product above is rounded; settle the bin by the f32 comparison itself.
    while j < last && s >= bin_threshold(j + 1) {
        j += 1;
    }
    while j > 0 && s < bin_threshold(j) {
        j -= 1;
    }
    j
}

impl SimilarityCounts {
    pub fn add(&mut self, similarity: f32) {
        self.bins[bin_of(similarity)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &SimilarityCounts) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.total += other.total;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Counts per bin; bin `j` starts at [`bin_threshold`]`(j)`.
    pub fn bins(&self) -> &[u64] {
        &self.bins
    }

    /// Similarities at or above bin `j`'s threshold.
    fn at_or_above(&self, j: usize) -> u64 {
        self.bins[j.min(BINS - 1)..].iter().sum()
    }

    /// The smallest bin whose threshold lets at most `allowed` of these similarities through.
    fn smallest_bin_allowing(&self, allowed: f64) -> usize {
        let mut above = 0u64;
        for j in (0..BINS).rev() {
            above += self.bins[j];
            if above as f64 > allowed {
                return j + 1;
            }
        }
        0
    }
}

fn pairs_needed(far: f64) -> u64 {
    // 10 / 1e-4 is 99999.99999999999 or 100000.00000000001 in floating point; either is 100000.
    let x = MIN_EXPECTED_FALSE_ACCEPTS / far;
    (x * (1.0 - 1e-12)).ceil() as u64
}

/// The threshold for a per-pair FAR, measured on the impostor similarities, with the genuine
/// pass rate there; not measurable with fewer than [`MIN_EXPECTED_FALSE_ACCEPTS`]/FAR pairs.
pub fn measure(impostors: &SimilarityCounts, genuine: &SimilarityCounts, far: f64) -> Measured {
    let n = impostors.total();
    let needed = pairs_needed(far);
    let mut m = Measured {
        measurable: false,
        impostor_pairs: n,
        pairs_needed: needed,
        similarity: None,
        false_accepts: None,
        tar: None,
    };
    if n == 0 || n < needed {
        return m;
    }
    // Past the last bin only when more than the allowed share sits at cosine 1 (the same photo
    // filed under two identities); the file then says 1 and counts those pairs honestly.
    let j = impostors.smallest_bin_allowing(far * n as f64).min(BINS - 1);
    m.measurable = true;
    m.similarity = Some(bin_threshold(j));
    m.false_accepts = Some(impostors.at_or_above(j));
    m.tar = (genuine.total() > 0).then(|| {
        let share = genuine.at_or_above(j) as f64 / genuine.total() as f64;
        // Six decimals keep the file readable and are finer than any sample can support.
        (share * 1e6).round() / 1e6
    });
    m
}

/// Every FAR level and, for each gallery size, every FPIR level.
pub fn measure_all(
    impostors: &SimilarityCounts,
    genuine: &SimilarityCounts,
    gallery_sizes: &[u64],
) -> (FarTable, Vec<FpirEntry>) {
    let at = |far| measure(impostors, genuine, far);
    let far = FarTable { e3: at(FAR_LEVELS[0]), e4: at(FAR_LEVELS[1]), e5: at(FAR_LEVELS[2]), e6: at(FAR_LEVELS[3]) };
    let mut fpir = Vec::new();
    for &size in gallery_sizes {
        for level in FPIR_LEVELS {
            let far_per_pair = level / size.max(1) as f64;
            let m = at(far_per_pair);
            fpir.push(FpirEntry {
                gallery_size: size,
                fpir: level,
                far_per_pair,
                measurable: m.measurable,
                impostor_pairs: m.impostor_pairs,
                pairs_needed: m.pairs_needed,
                similarity: m.similarity,
                tar: m.tar,
            });
        }
    }
    (far, fpir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(values: impl IntoIterator<Item = f32>) -> SimilarityCounts {
        let mut c = SimilarityCounts::default();
        for v in values {
            c.add(v);
        }
        c
    }

    /// 100 000 impostor similarities spread evenly over [-0.5, 0.5): the top 1e-3 are those
    /// from 0.499 up, the top 1e-4 from 0.4999 up.
    fn even_impostors() -> Vec<f32> {
        (0..100_000).map(|i| (-0.5 + i as f64 * 1e-5) as f32).collect()
    }

    fn brute_at_or_above(values: &[f32], t: f32) -> usize {
        values.iter().filter(|&&v| v >= t).count()
    }

    #[test]
    fn bins_agree_with_f32_comparison() {
        let values: Vec<f32> =
            (0..20_001).map(bin_threshold).chain([0.3701f32.next_down(), 0.3701, -1.0, 1.0, 0.99999]).collect();
        let c = counts(values.iter().copied());
        for j in [0, 1, 13_700, 13_701, 19_999, 20_000] {
            assert_eq!(c.at_or_above(j) as usize, brute_at_or_above(&values, bin_threshold(j)), "bin {j}");
        }
        assert_eq!(counts([f32::NAN]).bins()[0], 1);
    }

    #[test]
    fn thresholds_hit_known_quantiles_and_are_smallest() {
        let imp = even_impostors();
        let impostors = counts(imp.iter().copied());
        // Genuine pairs: 0.40, 0.41, ... 0.99 (60 of them).
        let gen_values: Vec<f32> = (40..100).map(|i| i as f32 / 100.0).collect();
        let genuine = counts(gen_values.iter().copied());
        for (far, expected) in [(1e-3, 0.499f32), (1e-4, 0.4999)] {
            let m = measure(&impostors, &genuine, far);
            assert!(m.measurable, "{far}");
            let t = m.similarity.unwrap();
            assert!((t - expected).abs() <= 1.01e-4, "FAR {far}: {t} vs {expected}");
            let allowed = (far * imp.len() as f64) as usize;
            // At most FAR of the impostors at or above, and one step lower lets too many through.
            assert!(brute_at_or_above(&imp, t) <= allowed);
            assert!(brute_at_or_above(&imp, t - 1e-4) > allowed);
            assert_eq!(m.false_accepts, Some(brute_at_or_above(&imp, t) as u64));
            let tar = brute_at_or_above(&gen_values, t) as f64 / gen_values.len() as f64;
            assert!((m.tar.unwrap() - tar).abs() < 1e-6);
        }
        // 100 000 pairs are 10/1e-4 but not 10/1e-5.
        assert!(!measure(&impostors, &genuine, 1e-5).measurable);
        assert_eq!(measure(&impostors, &genuine, 1e-5).pairs_needed, 1_000_000);
    }

    #[test]
    fn skewed_tail_quantile() {
        // 99 990 impostors at 0.1 and 10 at 0.6: FAR 1e-4 lets exactly those 10 through at 0.6,
        // FAR 1e-3 too (the smallest threshold letting at most 100 through is just above 0.1).
        let imp: Vec<f32> = std::iter::repeat_n(0.1f32, 99_990).chain(std::iter::repeat_n(0.6, 10)).collect();
        let impostors = counts(imp.iter().copied());
        let m4 = measure(&impostors, &SimilarityCounts::default(), 1e-4);
        assert_eq!(m4.false_accepts, Some(10));
        assert_eq!(m4.tar, None);
        assert!((m4.similarity.unwrap() - 0.1001).abs() < 1e-6, "{:?}", m4.similarity);
        let m3 = measure(&impostors, &SimilarityCounts::default(), 1e-3);
        assert_eq!(m3.similarity, m4.similarity);
    }

    fn file(far: FarTable) -> CalibrationFile {
        CalibrationFile {
            format: FORMAT,
            date: "2025-01-02".into(),
            model: Some("w600k_mbf.onnx".into()),
            counts: Counts { identities: 3, photos: 10, skipped: 1, genuine_pairs: 12, impostor_pairs: 33 },
            far,
            fpir: vec![],
        }
    }

    fn at(s: Option<f32>) -> Measured {
        Measured {
            measurable: s.is_some(),
            impostor_pairs: 1_000_000,
            pairs_needed: 10_000,
            similarity: s,
            false_accepts: s.map(|_| 5),
            tar: s.map(|_| 0.99),
        }
    }

    #[test]
    fn round_trips_through_toml_with_its_header() {
        let imp = even_impostors();
        let (far, fpir) = measure_all(&counts(imp.iter().copied()), &counts([0.5, 0.7]), &[10, 1000]);
        let f = CalibrationFile { fpir, ..file(far) };
        let text = f.to_toml().unwrap();
        assert!(text.starts_with("# Shiren calibration"));
        assert!(text.contains("[far.1e-3]") && text.contains("[[fpir]]"), "{text}");
        let back = CalibrationFile::parse(&text).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.fpir.len(), 6);
        // FPIR 0.1 over 10 faces is per-pair FAR 1e-2; 1e-3 over 1000 is 1e-6: not measurable.
        assert!(back.fpir[0].measurable && !back.fpir[5].measurable);
    }

    #[test]
    fn calibration_takes_measured_levels_and_keeps_defaults_increasing() {
        let base = Calibration::default();
        let all = file(FarTable { e3: at(Some(0.25)), e4: at(Some(0.31)), e5: at(Some(0.38)), e6: at(Some(0.45)) });
        assert_eq!(
            all.calibration(base),
            Calibration { far_1e3: 0.25, far_1e4: 0.31, far_1e5: 0.38, far_1e6: Some(0.45) }
        );
        // Only 1e-3 measured, below the defaults: the defaults stay.
        let low = file(FarTable { e3: at(Some(0.20)), e4: at(None), e5: at(None), e6: at(None) });
        assert_eq!(low.calibration(base), Calibration { far_1e3: 0.20, ..base });
        // Measured 1e-3 above the default 1e-4 and 1e-5: both raised just above it, in order.
        let high = file(FarTable { e3: at(Some(0.40)), e4: at(None), e5: at(None), e6: at(None) });
        let cal = high.calibration(base);
        assert!(cal.is_valid(), "{cal:?}");
        assert!((cal.far_1e4 - 0.401).abs() < 1e-6 && (cal.far_1e5 - 0.42).abs() < 1e-6, "{cal:?}");
        let higher = file(FarTable { e3: at(Some(0.45)), e4: at(None), e5: at(None), e6: at(None) });
        let cal = higher.calibration(base);
        assert!(cal.is_valid() && cal.far_1e5 > cal.far_1e4 && cal.far_1e4 > 0.45, "{cal:?}");
        assert_eq!(cal.far_1e6, None);
        // Ties between measured levels are separated too.
        let tie = file(FarTable { e3: at(Some(0.3)), e4: at(Some(0.3)), e5: at(None), e6: at(None) });
        assert!(tie.calibration(base).is_valid());
    }

    #[test]
    fn invalid_files_are_refused_with_a_reason() {
        let good = file(FarTable { e3: at(Some(0.3)), e4: at(None), e5: at(None), e6: at(None) });
        let text = good.to_toml().unwrap();
        assert!(CalibrationFile::parse(&text.replace("format = 1", "format = 2")).unwrap_err().contains("format 2"));
        assert!(CalibrationFile::parse(&text.replace("similarity = 0.3", "similarity = 1.5")).is_err());
        assert!(CalibrationFile::parse(&text.replace("similarity = 0.3", "similarity = -0.2")).is_err());
        assert!(CalibrationFile::parse("format = 1\n").is_err());
        assert!(CalibrationFile::parse(&format!("{text}\nsurprise = 1\n")).is_err());
        let falling = file(FarTable { e3: at(Some(0.3)), e4: at(Some(0.2)), e5: at(None), e6: at(None) });
        assert!(CalibrationFile::parse(&falling.to_toml().unwrap()).unwrap_err().contains("decrease"));
        let err = CalibrationFile::load(Path::new("/nonexistent/calibration.toml")).unwrap_err();
        assert!(err.to_string().contains("calibration.toml"));
    }
}
