//! Shiren's face engine: decoding with input limits, SCRFD detection with five keypoints,
//! ArcFace alignment and embedding, 106-point landmarks with pose and eye/mouth openness,
//! quality, age and gender, and calibrated comparison scores. It reproduces InsightFace's
//! reference pipeline so the models' published accuracy holds (see `tools/reference`).
//!
//! One [`Engine`] is loaded per process and shared by all threads.

pub mod align;
pub mod attributes;
pub mod calibration_file;
pub mod compare;
pub mod decode;
pub mod detect;
pub mod engine;
pub mod error;
pub mod imageops;
pub mod jpeg_scan;
pub mod landmarks;
pub mod metadata;
pub mod pad;
pub mod quality;
pub mod runtime;

pub use attributes::{Attributes, Judged};
pub use calibration_file::{CalibrationFile, CalibrationFileError};
pub use compare::{Calibration, FarLevel, cosine, identification_threshold};
pub use decode::{DecodeLimits, DecodePlan};
pub use detect::{DetectMode, Detection, DetectorSettings};
pub use engine::{
    Comparison, EmbeddedFace, Engine, EngineConfig, FaceSummary, Located, ModelPaths, Subject, Threshold,
};
pub use error::FaceError;
pub use imageops::RgbImage;
pub use landmarks::{LandmarkReading, Pose};
pub use quality::Quality;
