//! Image decoding: JPEG, PNG, WebP and BMP to RGB with EXIF orientation applied. Dimensions are
//! read from the header and checked against the limits before any pixel buffer is allocated,
//! so a small file declaring a huge image (a decompression bomb) costs nothing.

use std::io::Cursor;

use image::{ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

use crate::error::FaceError;
use crate::imageops::RgbImage;

/// Bounds on what the engine will decode.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: usize,
    /// Longest side, in pixels.
    pub max_side: u32,
    /// Width × height.
    pub max_pixels: u64,
    /// Shortest side; smaller images cannot hold a usable face.
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_bytes: 20 << 20, max_side: 8192, max_pixels: 40_000_000, min_side: 32 }
    }
}

/// Decodes `bytes` into upright RGB.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, FaceError> {
    if bytes.is_empty() {
        return Err(FaceError::EmptyImage);
    }
    if bytes.len() > limits.max_bytes {
        return Err(FaceError::ImageBytesTooLarge { bytes: bytes.len(), limit: limits.max_bytes });
    }
    let format = image::guess_format(bytes)
        .map_err(|_| FaceError::UnsupportedFormat("the data does not start like any supported image format".into()))?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Bmp) {
        return Err(FaceError::UnsupportedFormat(format!("{format:?} images are not accepted")));
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Dimensions are checked by `check_dimensions` right after the header is read, with an
    // error that names them; the decoder's own cap only bounds its allocations.
    let mut decoder_limits = Limits::default();
    // Room for the decoded image at 4 bytes a pixel plus the decoder's own buffers.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    RgbImage::from_raw(w, h, rgb.into_raw())
        .ok_or_else(|| FaceError::CorruptImage("decoded size does not match its dimensions".into()))
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), FaceError> {
    if width > limits.max_side || height > limits.max_side || u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(FaceError::ImageTooLarge {
            width: width.into(),
            height: height.into(),
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(FaceError::ImageTooSmall { width, height, min_side: limits.min_side });
    }
    Ok(())
}

/// JPEG decoders fill a cut-off scan with grey instead of failing, so a truncated upload would
/// silently be judged on a half-grey photo. A complete file has an end-of-image marker after
/// its last start-of-scan (inside entropy-coded data 0xFF is always stuffed, so the pair
/// cannot occur there by chance; an embedded thumbnail's markers come earlier).
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), FaceError> {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w[0] == 0xFF && w[1] == marker);
    match (last(0xDA), last(0xD9)) {
        (None, _) => Err(FaceError::TruncatedImage("the JPEG has no image data (no start of scan)".into())),
        (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
        _ => Err(FaceError::TruncatedImage("the JPEG ends before its end-of-image marker".into())),
    }
}

fn map_image_error(e: ImageError) -> FaceError {
    match e {
        ImageError::Limits(l) => FaceError::DecodeLimit(l.to_string()),
        ImageError::Unsupported(u) => FaceError::UnsupportedFormat(u.to_string()),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            FaceError::TruncatedImage(io.to_string())
        }
        ImageError::Decoding(d) => {
            let text = d.to_string();
            let lower = text.to_lowercase();
            if lower.contains("eof")
                || lower.contains("end of")
                || lower.contains("truncat")
                || lower.contains("unexpected end")
            {
                FaceError::TruncatedImage(text)
            } else {
                FaceError::CorruptImage(text)
            }
        }
        other => FaceError::CorruptImage(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(format: ImageFormat, w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_every_accepted_format() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Bmp] {
            let img = decode(&encode(format, 64, 48), &DecodeLimits::default()).unwrap();
            assert_eq!((img.width(), img.height()), (64, 48), "{format:?}");
        }
    }

    #[test]
    fn each_bad_input_has_its_own_error() {
        let limits = DecodeLimits::default();
        assert!(matches!(decode(b"", &limits), Err(FaceError::EmptyImage)));
        assert!(matches!(decode(b"hello, this is a text file\n", &limits), Err(FaceError::UnsupportedFormat(_))));
        let jpeg = encode(ImageFormat::Jpeg, 64, 48);
        assert!(matches!(decode(&jpeg[..jpeg.len() / 2], &limits), Err(FaceError::TruncatedImage(_))));
        let png = encode(ImageFormat::Png, 64, 48);
        let err = decode(&png[..png.len() - 30], &limits).unwrap_err();
        assert!(matches!(err, FaceError::TruncatedImage(_) | FaceError::CorruptImage(_)), "{err:?}");
        assert!(matches!(decode(&encode(ImageFormat::Png, 16, 16), &limits), Err(FaceError::ImageTooSmall { .. })));
        let tiny = DecodeLimits { max_bytes: 10, ..limits };
        assert!(matches!(decode(&jpeg, &tiny), Err(FaceError::ImageBytesTooLarge { .. })));
    }

    /// A PNG whose header claims 30000×30000 but carries almost no data: refused from the
    /// header alone, before anything is allocated.
    #[test]
    fn decompression_bomb_is_refused_from_the_header() {
        let mut png = encode(ImageFormat::Png, 64, 64);
        // IHDR width and height live at bytes 16..24, followed by the chunk CRC at 29..33.
        png[16..20].copy_from_slice(&30000u32.to_be_bytes());
        png[20..24].copy_from_slice(&30000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        match decode(&png, &DecodeLimits::default()) {
            Err(FaceError::ImageTooLarge { width, height, .. }) => assert_eq!((width, height), (30000, 30000)),
            other => panic!("{other:?}"),
        }
    }

    pub(crate) fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
