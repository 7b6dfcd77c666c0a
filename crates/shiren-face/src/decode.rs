//! Image decoding: JPEG, PNG, WebP and BMP to RGB with EXIF orientation applied, in two steps.
//!
//! [`plan`] reads only the header: it refuses what is over the limits before any pixel buffer
//! exists (a small file declaring a huge image costs nothing), picks a DCT scale for large JPEGs
//! and prices the memory the decode will take, so a server can admit work by its memory rather
//! than by its byte size (a 125 KB PNG can decode to 120 MB). [`decode`] then checks that a JPEG's
//! coded data is complete ([`crate::jpeg_scan`]) and decodes.
//!
//! Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale when the result still has
//! `reduce_to_side` pixels on its longer side: the inverse DCT then produces the small image
//! directly and the full-size one never exists. The engine's detector works on a 640 canvas and
//! its recogniser on a 112 crop, so 1920 pixels leave every face the vendors' photo sizes can
//! hold at full detail; `tests/engine.rs` measures that embeddings and verdicts hold.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

use crate::error::FaceError;
use crate::imageops::RgbImage;
use crate::jpeg_scan;

/// Bounds on what the engine will decode.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: usize,
    /// Longest side the file may declare, in pixels.
    pub max_side: u32,
    /// Width × height of the decoded image. 16.7 MP covers 4096×4096, and every phone photo up to
    /// 12 MP at full size; the vendors' own range ends at 1920×1080.
    pub max_pixels: u64,
    /// Width × height a JPEG may declare when it is decoded at a reduced scale (a 48 MP phone
    /// photo decodes at 1/4 to 2000×1500).
    pub max_source_pixels: u64,
    /// Shortest side; smaller images cannot hold a usable face.
    pub min_side: u32,
    /// Decode JPEGs at the smallest DCT scale that keeps at least this many pixels on the longer
    /// side; 0 always decodes at full size.
    pub reduce_to_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 << 20,
            max_side: 8192,
            max_pixels: 1 << 24,
            max_source_pixels: 50_000_000,
            min_side: 32,
            reduce_to_side: 1920,
        }
    }
}

/// How an image will be decoded, known from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodePlan {
    pub format: ImageFormat,
    /// What the file declares.
    pub width: u32,
    pub height: u32,
    /// 1, 2, 4 or 8: the JPEG DCT scale's denominator.
    pub scale: u32,
    /// The decoded size (before EXIF orientation).
    pub decoded_width: u32,
    pub decoded_height: u32,
    /// Memory the decode and the engine's work on the image take at their peak, in bytes: the
    /// decoder's own buffers, the RGB image and one rotated copy of it.
    pub memory_bytes: u64,
}

/// Reads the header of `bytes` and decides how to decode it.
pub fn plan(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodePlan, FaceError> {
    let format = format_of(bytes, limits)?;
    if format == ImageFormat::Jpeg {
        let frame = jpeg_scan::read_frame(bytes, |w, h| check_source(w, h, limits))?;
        let scale = jpeg_scale(frame.width, frame.height, limits);
        let (dw, dh) = (frame.width.div_ceil(scale), frame.height.div_ceil(scale));
        check_decoded(dw, dh, limits)?;
        let decoded = u64::from(dw) * u64::from(dh);
        // Grey JPEGs decode to one byte a pixel and are then expanded to RGB; progressive ones
        // keep every coefficient (two bytes each) until the last scan.
        let expand = if frame.components == 1 { decoded } else { 0 };
        let coefficients = if frame.progressive { frame.coefficients * 2 } else { 0 };
        return Ok(DecodePlan {
            format,
            width: frame.width,
            height: frame.height,
            scale,
            decoded_width: dw,
            decoded_height: dh,
            memory_bytes: decoded * 6 + expand + coefficients,
        });
    }
    let decoder = reader(bytes, format, limits).into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_decoded(width, height, limits)?;
    let color = decoder.color_type();
    let native = u64::from(color.bytes_per_pixel());
    let converted = if color == ColorType::Rgb8 { 0 } else { 3 };
    Ok(DecodePlan {
        format,
        width,
        height,
        scale: 1,
        decoded_width: width,
        decoded_height: height,
        memory_bytes: u64::from(width) * u64::from(height) * (native + converted + 3),
    })
}

/// Decodes `bytes` into upright RGB.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, FaceError> {
    let plan = plan(bytes, limits)?;
    let image = if plan.format == ImageFormat::Jpeg {
        // The walk also re-reads the header, so what is checked is what is decoded.
        jpeg_scan::check_complete(bytes, |w, h| check_source(w, h, limits))?;
        if plan.scale > 1 {
            decode_jpeg_scaled(bytes, &plan, limits)?
        } else {
            decode_full(bytes, plan.format, limits)?
        }
    } else {
        decode_full(bytes, plan.format, limits)?
    };
    let rgb = image.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    RgbImage::from_raw(w, h, rgb.into_raw())
        .ok_or_else(|| FaceError::CorruptImage("decoded size does not match its dimensions".into()))
}

fn format_of(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageFormat, FaceError> {
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
    Ok(format)
}

fn reader<'a>(bytes: &'a [u8], format: ImageFormat, limits: &DecodeLimits) -> ImageReader<Cursor<&'a [u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Dimensions are checked from the header with an error that names them; the decoder's own
    // cap only bounds its allocations: 8 bytes a pixel (16-bit RGBA) plus its working buffers.
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(max_alloc(limits));
    reader.limits(decoder_limits);
    reader
}

fn max_alloc(limits: &DecodeLimits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

fn decode_full(bytes: &[u8], format: ImageFormat, limits: &DecodeLimits) -> Result<DynamicImage, FaceError> {
    let mut decoder = reader(bytes, format, limits).into_decoder().map_err(map_image_error)?;
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// A large JPEG through jpeg-decoder's reduced inverse DCT (zune-jpeg, behind `image`, always
/// decodes at full size).
fn decode_jpeg_scaled(bytes: &[u8], plan: &DecodePlan, limits: &DecodeLimits) -> Result<DynamicImage, FaceError> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc(limits)).unwrap_or(usize::MAX));
    let wanted =
        (plan.decoded_width.min(u32::from(u16::MAX)) as u16, plan.decoded_height.min(u32::from(u16::MAX)) as u16);
    let (w, h) = decoder.scale(wanted.0, wanted.1).map_err(map_jpeg_error)?;
    let pixels = decoder.decode().map_err(map_jpeg_error)?;
    let format = decoder.info().map(|i| i.pixel_format);
    let (w, h) = (u32::from(w), u32::from(h));
    let mut img = match format {
        Some(PixelFormat::RGB24) => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        Some(PixelFormat::L8) => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => {
            return Err(FaceError::UnsupportedFormat(
                "large CMYK or 12-bit JPEGs are not accepted; send an RGB photo".into(),
            ));
        }
    }
    .ok_or_else(|| FaceError::CorruptImage("decoded size does not match its dimensions".into()))?;
    if let Some(orientation) = decoder.exif_data().and_then(Orientation::from_exif_chunk) {
        img.apply_orientation(orientation);
    }
    Ok(img)
}

/// The coarsest DCT scale (a power of two up to 8) that keeps `reduce_to_side` on the longer
/// side and a usable shorter side.
fn jpeg_scale(width: u32, height: u32, limits: &DecodeLimits) -> u32 {
    if limits.reduce_to_side == 0 {
        return 1;
    }
    let (long, short) = (width.max(height), width.min(height));
    let mut scale = 1;
    while scale < 8 && long / (scale * 2) >= limits.reduce_to_side && short / (scale * 2) >= limits.min_side.max(256) {
        scale *= 2;
    }
    scale
}

fn too_large(width: u32, height: u32, max_pixels: u64, limits: &DecodeLimits) -> FaceError {
    FaceError::ImageTooLarge { width: width.into(), height: height.into(), max_side: limits.max_side, max_pixels }
}

/// What a JPEG may declare (it may be decoded smaller).
fn check_source(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), FaceError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_side || height > limits.max_side || pixels > limits.max_source_pixels.max(limits.max_pixels) {
        return Err(too_large(width, height, limits.max_source_pixels.max(limits.max_pixels), limits));
    }
    check_small(width, height, limits)
}

/// What a decoded image may be.
fn check_decoded(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), FaceError> {
    if width > limits.max_side || height > limits.max_side || u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(too_large(width, height, limits.max_pixels, limits));
    }
    check_small(width, height, limits)
}

fn check_small(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), FaceError> {
    if width < limits.min_side || height < limits.min_side {
        return Err(FaceError::ImageTooSmall { width, height, min_side: limits.min_side });
    }
    Ok(())
}

fn map_jpeg_error(e: jpeg_decoder::Error) -> FaceError {
    match e {
        jpeg_decoder::Error::Unsupported(u) => FaceError::UnsupportedFormat(format!("{u:?}")),
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            FaceError::TruncatedImage(io.to_string())
        }
        other => FaceError::CorruptImage(other.to_string()),
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

    mod fuzz {
        //! The decoder front end on hostile input: no panic, and every refusal a bad-input error.
        //! Memory stays bounded because sizes are judged from the header before any buffer.
        use proptest::prelude::*;

        use super::*;

        fn valid_images() -> Vec<Vec<u8>> {
            let mut out: Vec<Vec<u8>> = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Bmp]
                .iter()
                .map(|f| encode(*f, 40, 36))
                .collect();
            let mut progressive = Vec::new();
            let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 77]));
            let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
            encoder.set_progressive(true);
            encoder.set_restart_interval(2);
            encoder.encode(img.as_raw(), 48, 40, jpeg_encoder::ColorType::Rgb).unwrap();
            out.push(progressive);
            out
        }

        fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
            let limits = DecodeLimits { max_pixels: 1 << 20, max_source_pixels: 1 << 22, ..DecodeLimits::default() };
            if let Err(e) = plan(bytes, &limits).and_then(|_| decode(bytes, &limits)) {
                prop_assert!(e.is_bad_input(), "{e:?}");
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                check(&bytes)?;
            }

            #[test]
            fn valid_images_with_bytes_changed(which in 0usize..5, edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
                let mut bytes = valid_images()[which].clone();
                for (at, value) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
                check(&bytes)?;
            }

            #[test]
            fn valid_images_cut_and_spliced(which in 0usize..5, cut in any::<prop::sample::Index>(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
                let mut bytes = valid_images()[which].clone();
                bytes.truncate(cut.index(bytes.len()));
                bytes.extend_from_slice(&tail);
                check(&bytes)?;
            }

            #[test]
            fn declared_sizes(width in any::<u16>(), height in any::<u16>()) {
                // A JPEG frame header declaring any size, over a tiny body.
                let mut jpeg = encode(ImageFormat::Jpeg, 16, 16);
                let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
                jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
                jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
                check(&jpeg)?;
            }
        }
    }
}
