//! The slot for a licensed presentation-attack-detection (PAD) model in ONNX. No package on
//! the registries ships a PAD model strong enough to rely on, so Shiren ships none; an
//! operator who licenses one configures it here and single-photo liveness uses its score.
//!
//! Contract: input `1×3×S×S` float (S read from the model's input shape, default 80 when it is
//! dynamic), made from a square crop centred on the face box and `crop_scale` times its longer
//! side, in `channel_order`, normalised as `(pixel - mean) / std`; output one vector whose
//! `live_index` entry is the live probability (a softmax is applied when the outputs are not
//! already probabilities).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::detect::Detection;
use crate::error::FaceError;
use crate::imageops::{RgbImage, to_planar, warp_affine};
use crate::runtime::ModelPool;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PadSettings {
    pub model: PathBuf,
    #[serde(default = "default_size")]
    pub input_size: usize,
    #[serde(default = "default_crop_scale")]
    pub crop_scale: f32,
    /// `rgb` or `bgr`.
    #[serde(default = "default_channel_order")]
    pub channel_order: String,
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    #[serde(default = "default_live_index")]
    pub live_index: usize,
}

fn default_size() -> usize {
    80
}
fn default_crop_scale() -> f32 {
    2.0
}
fn default_channel_order() -> String {
    "rgb".into()
}
fn default_std() -> [f32; 3] {
    [255.0; 3]
}
fn default_live_index() -> usize {
    1
}

#[derive(Debug)]
pub struct PadModel {
    model: ModelPool,
    settings: PadSettings,
}

impl PadModel {
    pub fn load(settings: PadSettings, sessions: usize) -> Result<Self, FaceError> {
        if settings.channel_order != "rgb" && settings.channel_order != "bgr" {
            return Err(FaceError::Model { model: "pad".into(), detail: "channel_order must be rgb or bgr".into() });
        }
        if settings.std.contains(&0.0) || settings.input_size == 0 {
            return Err(FaceError::Model {
                model: "pad".into(),
                detail: "std must be non-zero and input_size positive".into(),
            });
        }
        let model = ModelPool::load("pad", &settings.model, sessions)?;
        Ok(Self { model, settings })
    }

    /// Probability that the face is live, 0..1.
    pub fn live_probability(&self, image: &RgbImage, face: &Detection) -> Result<f32, FaceError> {
        let s = &self.settings;
        let size = s.input_size;
        let side = face.width().max(face.height()) * s.crop_scale;
        let cx = (face.bbox[0] + face.bbox[2]) / 2.0;
        let cy = (face.bbox[1] + face.bbox[3]) / 2.0;
        let scale = size as f64 / side.max(1.0) as f64;
        let forward =
            [[scale, 0.0, size as f64 / 2.0 - cx as f64 * scale], [0.0, scale, size as f64 / 2.0 - cy as f64 * scale]];
        let crop = warp_affine(image, &forward, size)
            .ok_or_else(|| FaceError::Model { model: "pad".into(), detail: "degenerate face box".into() })?;
        let mut tensor = to_planar(&crop, [0.0; 3], 1.0);
        let plane = size * size;
        if s.channel_order == "bgr" {
            let (r, rest) = tensor.split_at_mut(plane);
            r.swap_with_slice(&mut rest[plane..]);
        }
        for c in 0..3 {
            for v in &mut tensor[c * plane..(c + 1) * plane] {
                *v = (*v - s.mean[c]) / s.std[c];
            }
        }
        let out = self.model.run(&[1, 3, size, size], &tensor)?;
        let raw = out.into_iter().next().map(|o| o.data).unwrap_or_default();
        let probs = as_probabilities(&raw);
        probs.get(s.live_index).copied().ok_or_else(|| FaceError::Model {
            model: "pad".into(),
            detail: format!("live_index {} but the model gives {} outputs", s.live_index, raw.len()),
        })
    }
}

fn as_probabilities(raw: &[f32]) -> Vec<f32> {
    let sum: f32 = raw.iter().sum();
    if raw.iter().all(|v| (0.0..=1.0).contains(v)) && (sum - 1.0).abs() < 1e-3 {
        return raw.to_vec();
    }
    let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = raw.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn logits_become_probabilities() {
        let p = super::as_probabilities(&[2.0, 0.0]);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[0] > p[1]);
        assert_eq!(super::as_probabilities(&[0.25, 0.75]), vec![0.25, 0.75]);
    }
}
