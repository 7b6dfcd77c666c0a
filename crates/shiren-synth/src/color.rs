//! sRGB transfer: lookup tables between 8-bit sRGB and linear light. Lighting is multiplied
//! in linear light (that is how light adds up on skin); the tables keep that cheap per pixel.

/// Entries of the linear-to-sRGB table over 0..=1. Near black the sRGB curve is steep; at this
/// size one step is under 0.9 of an 8-bit level everywhere, below what the camera noise hides.
pub(crate) const ENCODE_STEPS: usize = 4096;

pub(crate) fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
}

pub(crate) fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 }
}

/// Linear value of each 8-bit sRGB level.
pub(crate) fn decode_table() -> [f32; 256] {
    let mut t = [0.0f32; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = srgb_to_linear(i as f32 / 255.0);
    }
    t
}

/// sRGB level (0..=255, not yet rounded, so noise can be added before quantising) of each
/// linear step `i / (ENCODE_STEPS - 1)`.
pub(crate) fn encode_table() -> Vec<f32> {
    (0..ENCODE_STEPS).map(|i| 255.0 * linear_to_srgb(i as f32 / (ENCODE_STEPS - 1) as f32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_round_trips() {
        let dec = decode_table();
        let enc = encode_table();
        for (level, &lin) in dec.iter().enumerate().take(256) {
            let i = (lin * (ENCODE_STEPS - 1) as f32).round() as usize;
            assert!((enc[i] - level as f32).abs() < 0.9, "level {level} -> {}", enc[i]);
        }
        assert!((srgb_to_linear(0.5) - 0.214).abs() < 0.001);
    }
}
