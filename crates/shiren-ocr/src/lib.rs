//! The OCR engine: finds text lines in a photo (PP-OCRv6 detection with DB post-processing),
//! turns upside-down lines the right way (the line orientation classifier) and reads them (CTC
//! recognition over the model's 18,708-character dictionary). It knows nothing about documents:
//! reading an ID card or a bank card by its layout is done above it, from the lines it returns.

pub mod detect;
pub mod engine;
pub mod error;
pub mod geometry;
pub mod recognize;

pub use engine::{Detector, OcrEngine, OcrModelPaths, OcrSettings, TextLine, TextScores};
pub use error::OcrError;
pub use geometry::Quad;
