//! The face engine's models run on the shared ONNX Runtime layer (`shiren-onnx`), re-exported
//! here so the engine's stages and benchmarks name one place.

pub use shiren_onnx::{ModelPool, OnnxError, Output, init_runtime, take_inference_time};
