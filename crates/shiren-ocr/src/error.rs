//! The OCR engine's typed errors.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OcrError {
    #[error("the image is {width}x{height}; OCR needs at least {min_side} pixels a side")]
    ImageTooSmall { width: u32, height: u32, min_side: u32 },
    #[error("the dictionary {path}: {detail}")]
    Dictionary { path: String, detail: String },
    #[error("model {model}: {detail}")]
    Model { model: String, detail: String },
    #[error("inference runtime: {0}")]
    Runtime(String),
}

impl From<shiren_onnx::OnnxError> for OcrError {
    fn from(e: shiren_onnx::OnnxError) -> Self {
        match e {
            shiren_onnx::OnnxError::Model { model, detail } => OcrError::Model { model, detail },
            shiren_onnx::OnnxError::Runtime(detail) => OcrError::Runtime(detail),
        }
    }
}
