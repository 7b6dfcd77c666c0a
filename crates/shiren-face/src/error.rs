//! The engine's typed errors. Each input problem has its own variant so callers (CLI exit
//! codes, the verification core's error codes, vendor result codes) can tell them apart.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FaceError {
    #[error("the image is empty (0 bytes)")]
    EmptyImage,
    #[error("the image is {bytes} bytes, more than the limit of {limit} bytes")]
    ImageBytesTooLarge { bytes: usize, limit: usize },
    #[error("not a supported image (JPEG, PNG, WebP or BMP expected): {0}")]
    UnsupportedFormat(String),
    #[error("the image is truncated: {0}")]
    TruncatedImage(String),
    #[error("the image is corrupt: {0}")]
    CorruptImage(String),
    #[error("the image is {width}x{height}; the limit is {max_side} pixels a side and {max_pixels} pixels in all")]
    ImageTooLarge { width: u64, height: u64, max_side: u32, max_pixels: u64 },
    #[error("decoding the image would exceed the memory limit: {0}")]
    DecodeLimit(String),
    #[error("the image is {width}x{height}; at least {min_side} pixels a side are needed")]
    ImageTooSmall { width: u32, height: u32, min_side: u32 },
    #[error("no face was found in the image")]
    NoFace,
    #[error("model {model}: {detail}")]
    Model { model: String, detail: String },
    #[error("inference runtime: {0}")]
    Runtime(String),
}

impl From<shiren_onnx::OnnxError> for FaceError {
    fn from(e: shiren_onnx::OnnxError) -> Self {
        match e {
            shiren_onnx::OnnxError::Model { model, detail } => FaceError::Model { model, detail },
            shiren_onnx::OnnxError::Runtime(detail) => FaceError::Runtime(detail),
        }
    }
}

impl FaceError {
    /// Whether the caller's input is at fault (as opposed to the engine or its models).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FaceError::EmptyImage
                | FaceError::ImageBytesTooLarge { .. }
                | FaceError::UnsupportedFormat(_)
                | FaceError::TruncatedImage(_)
                | FaceError::CorruptImage(_)
                | FaceError::ImageTooLarge { .. }
                | FaceError::DecodeLimit(_)
                | FaceError::ImageTooSmall { .. }
        )
    }
}
