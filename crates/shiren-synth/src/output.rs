//! Getting frames out: JPEG (what the capture page uploads) and YUV4MPEG2 (what Chromium's
//! `--use-file-for-fake-video-capture` plays as a camera).

use std::io::Write;

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use shiren_face::RgbImage;

use crate::SynthError;

/// Baseline JPEG of `image` at `quality` (1-100, clamped). Empty for an image JPEG cannot
/// hold (a side over 65,535 pixels); [`try_encode_jpeg`] says why instead.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    try_encode_jpeg(image, quality).unwrap_or_default()
}

pub fn try_encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, SynthError> {
    let (w, h) = (dimension(image.width())?, dimension(image.height())?);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(image.as_raw(), w, h, ExtendedColorType::Rgb8)
        .map_err(|e| SynthError::Encode(e.to_string()))?;
    Ok(out)
}

fn dimension(side: usize) -> Result<u32, SynthError> {
    u32::try_from(side)
        .ok()
        .filter(|&s| (1..=u16::MAX as u32).contains(&s))
        .ok_or_else(|| SynthError::Encode(format!("a JPEG side must be 1..=65535 pixels, not {side}")))
}

/// A YUV4MPEG2 stream: 8-bit 4:2:0 with centred chroma (`C420jpeg`), progressive, square
/// pixels. The samples are BT.601 limited range ("video" levels), which is how Chromium turns
/// I420 frames back into RGB.
#[derive(Debug)]
pub struct Y4mWriter<W: Write> {
    out: W,
    width: usize,
    height: usize,
    frames: u64,
    /// One frame's planes, reused.
    buffer: Vec<u8>,
}

impl<W: Write> Y4mWriter<W> {
    /// Writes the stream header. Chromium needs even sides for 4:2:0; other readers do not,
    /// so odd sides are accepted (the last chroma row/column covers one pixel).
    pub fn new(mut out: W, width: usize, height: usize, fps: u32) -> Result<Self, SynthError> {
        if width == 0 || height == 0 || fps == 0 {
            return Err(SynthError::Video(format!("{width}x{height} at {fps} fps")));
        }
        writeln!(out, "YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg")?;
        Ok(Self { out, width, height, frames: 0, buffer: Vec::new() })
    }

    /// Bytes of one frame's planes (without the `FRAME\n` marker).
    pub fn frame_bytes(width: usize, height: usize) -> usize {
        width * height + 2 * width.div_ceil(2) * height.div_ceil(2)
    }

    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    pub fn write_frame(&mut self, frame: &RgbImage) -> Result<(), SynthError> {
        let (w, h) = (self.width, self.height);
        if frame.width() != w || frame.height() != h {
            return Err(SynthError::Video(format!(
                "frame is {}x{}, the stream {w}x{h}",
                frame.width(),
                frame.height()
            )));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        self.buffer.clear();
        self.buffer.resize(Self::frame_bytes(w, h), 0);
        let (luma, chroma) = self.buffer.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        let rgb = frame.as_raw();
        for (y, row) in luma.chunks_exact_mut(w).enumerate() {
            for (x, out) in row.iter_mut().enumerate() {
                let p = (y * w + x) * 3;
                let (r, g, b) = (rgb[p] as f32, rgb[p + 1] as f32, rgb[p + 2] as f32);
                *out = studio_luma(r, g, b);
            }
        }
        // Chroma from the average of each 2×2 block (fewer at odd edges).
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut r, mut g, mut b, mut n) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                for y in 2 * cy..(2 * cy + 2).min(h) {
                    for x in 2 * cx..(2 * cx + 2).min(w) {
                        let p = (y * w + x) * 3;
                        r += rgb[p] as f32;
                        g += rgb[p + 1] as f32;
                        b += rgb[p + 2] as f32;
                        n += 1.0;
                    }
                }
                let (u, v) = studio_chroma(r / n, g / n, b / n);
                u_plane[cy * cw + cx] = u;
                v_plane[cy * cw + cx] = v;
            }
        }
        self.out.write_all(b"FRAME\n")?;
        self.out.write_all(&self.buffer)?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> Result<W, SynthError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// BT.601 luma in limited range (16..235) from 8-bit R'G'B'.
fn studio_luma(r: f32, g: f32, b: f32) -> u8 {
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    y.round().clamp(0.0, 255.0) as u8
}

/// BT.601 Cb, Cr in limited range (16..240).
fn studio_chroma(r: f32, g: f32, b: f32) -> (u8, u8) {
    let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    (cb.round().clamp(0.0, 255.0) as u8, cr.round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: usize, h: usize, rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_raw(w, h, rgb.repeat(w * h)).expect("size matches")
    }

    #[test]
    fn y4m_header_and_frame_sizes() {
        let mut writer = Y4mWriter::new(Vec::new(), 6, 4, 15).expect("valid");
        writer.write_frame(&flat(6, 4, [255, 255, 255])).expect("frame");
        writer.write_frame(&flat(6, 4, [255, 0, 0])).expect("frame");
        assert!(writer.write_frame(&flat(4, 4, [0, 0, 0])).is_err());
        assert_eq!(writer.frames_written(), 2);
        let bytes = writer.finish().expect("flush");
        let header = b"YUV4MPEG2 W6 H4 F15:1 Ip A1:1 C420jpeg\n";
        assert!(bytes.starts_with(header));
        let frame = Y4mWriter::<Vec<u8>>::frame_bytes(6, 4);
        assert_eq!(frame, 24 + 2 * 6);
        assert_eq!(bytes.len(), header.len() + 2 * (6 + frame));
        let first = &bytes[header.len()..header.len() + 6 + frame];
        assert_eq!(&first[..6], b"FRAME\n");
        // White is Y 235, neutral chroma.
        assert!(first[6..30].iter().all(|&y| y == 235));
        assert!(first[30..].iter().all(|&c| c == 128));
        // Red: Y 81, Cb 90, Cr 240 (BT.601 limited range).
        let second = &bytes[header.len() + 6 + frame + 6..];
        assert_eq!((second[0], second[24], second[30]), (81, 90, 240));
    }

    #[test]
    fn odd_sides_round_chroma_up() {
        assert_eq!(Y4mWriter::<Vec<u8>>::frame_bytes(5, 3), 15 + 2 * 3 * 2);
        let mut writer = Y4mWriter::new(Vec::new(), 5, 3, 30).expect("valid");
        writer.write_frame(&flat(5, 3, [10, 20, 30])).expect("frame");
        assert!(Y4mWriter::new(Vec::new(), 0, 3, 30).is_err());
    }

    #[test]
    fn jpeg_round_trips() {
        let jpeg = encode_jpeg(&flat(32, 16, [200, 100, 50]), 90);
        let decoded = image::load_from_memory(&jpeg).expect("decodes").to_rgb8();
        assert_eq!(decoded.dimensions(), (32, 16));
        let px = decoded.get_pixel(10, 10).0;
        assert!(px.iter().zip([200u8, 100, 50]).all(|(&a, b)| a.abs_diff(b) < 6), "{px:?}");
    }
}
