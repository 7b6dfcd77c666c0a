//! What a stored face image keeps: its pixels and what is needed to show them as they were taken
//! (colour profile, orientation). Everything else cameras and phones write (location, device,
//! serial numbers, time, owner, thumbnails, editing history: EXIF, XMP, IPTC, comments, PNG text
//! chunks) is removed before an image is stored, so that a kept photo tells no more than the face.
//!
//! The image data itself is copied unchanged (no re-encoding, so no quality loss), and an
//! orientation other than upright is written back as a minimal EXIF block holding that one tag.

use image::ImageFormat;
use image::metadata::Orientation;
use img_parts::Bytes;
use img_parts::jpeg::{Jpeg, JpegSegment, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::{ImageEXIF, ImageICC};

use crate::error::FaceError;

/// PNG chunks that affect how the pixels look; every other ancillary chunk is dropped.
const PNG_KEPT: [&[u8; 4]; 12] =
    [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"acTL", b"fcTL"];
/// WebP chunks that carry metadata.
const WEBP_METADATA: [&[u8; 4]; 2] = [b"EXIF", b"XMP "];

fn unreadable(e: impl std::fmt::Display) -> FaceError {
    FaceError::CorruptImage(format!("the image's container cannot be rewritten without its metadata: {e}"))
}

/// `bytes` without metadata. Fails (and the caller must then not store the image) when the
/// container cannot be parsed.
pub fn strip(bytes: &[u8]) -> Result<Vec<u8>, FaceError> {
    let format = image::guess_format(bytes).map_err(unreadable)?;
    let data = Bytes::copy_from_slice(bytes);
    let out = match format {
        ImageFormat::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(data).map_err(unreadable)?;
            let orientation = orientation(jpeg.exif());
            let icc = jpeg.icc_profile();
            jpeg.segments_mut().retain(keep_jpeg_segment);
            // The colour profile is put back through the library so that its chunking stays valid.
            jpeg.set_icc_profile(icc);
            jpeg.set_exif(orientation.map(minimal_exif));
            jpeg.encoder().bytes()
        }
        ImageFormat::Png => {
            let mut png = Png::from_bytes(data).map_err(unreadable)?;
            let orientation = orientation(png.exif());
            png.chunks_mut().retain(|c| PNG_KEPT.contains(&&c.kind()) || c.kind() == *b"fdAT");
            png.set_exif(orientation.map(minimal_exif));
            png.encoder().bytes()
        }
        ImageFormat::WebP => {
            let mut webp = WebP::from_bytes(data).map_err(unreadable)?;
            let orientation = orientation(webp.exif());
            for id in WEBP_METADATA {
                webp.remove_chunks_by_id(*id);
            }
            // Also recomputes the extended header's flags for the chunks that remain.
            webp.set_exif(orientation.map(minimal_exif));
            webp.encoder().bytes()
        }
        // BMP has no metadata.
        ImageFormat::Bmp => return Ok(bytes.to_vec()),
        other => return Err(FaceError::UnsupportedFormat(format!("{other:?} images are not stored"))),
    };
    Ok(out.to_vec())
}

/// Frame and table segments, JFIF and Adobe headers stay; APP1 (EXIF, XMP), APP2 (handled
/// separately for ICC), APP3-APP13 (IPTC and vendor data), APP15 and comments go.
fn keep_jpeg_segment(segment: &JpegSegment) -> bool {
    match segment.marker() {
        markers::APP0 => segment.contents().starts_with(b"JFIF\0"),
        markers::APP14 => segment.contents().starts_with(b"Adobe"),
        0xE1..=0xED | markers::APP15 | markers::COM => false,
        _ => true,
    }
}

/// The orientation an EXIF block asks for, unless it is upright (which needs no block).
fn orientation(exif: Option<Bytes>) -> Option<Orientation> {
    exif.and_then(|e| Orientation::from_exif_chunk(&e)).filter(|o| *o != Orientation::NoTransforms)
}

/// A TIFF header and one IFD with the Orientation tag (0x0112, SHORT, 1 value), little-endian.
fn minimal_exif(orientation: Orientation) -> Bytes {
    let value = orientation.to_exif();
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&[value, 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    Bytes::from(tiff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff_with_make_and_orientation(orientation: u8) -> Vec<u8> {
        // IFD0 with Make ("SecretCam", at offset 38) and Orientation.
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&0x010Fu16.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&10u32.to_le_bytes());
        t.extend_from_slice(&38u32.to_le_bytes());
        t.extend_from_slice(&0x0112u16.to_le_bytes());
        t.extend_from_slice(&3u16.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&[orientation, 0, 0, 0]);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"SecretCam\0");
        t
    }

    fn jpeg_with_metadata(orientation: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(48, 32, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90]));
        let mut plain = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut plain), ImageFormat::Jpeg).unwrap();
        let mut jpeg = Jpeg::from_bytes(Bytes::from(plain)).unwrap();
        jpeg.set_exif(Some(Bytes::from(tiff_with_make_and_orientation(orientation))));
        jpeg.segments_mut().insert(1, JpegSegment::new_with_contents(markers::COM, Bytes::from_static(b"GPS 31.2N")));
        jpeg.encoder().bytes().to_vec()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn jpeg_metadata_goes_and_the_orientation_stays() {
        let original = jpeg_with_metadata(6);
        assert!(contains(&original, b"SecretCam") && contains(&original, b"GPS 31.2N"));
        let stripped = strip(&original).unwrap();
        assert!(!contains(&stripped, b"SecretCam") && !contains(&stripped, b"GPS 31.2N"));
        let reader = |b: &[u8]| {
            use image::ImageDecoder;
            let mut d = image::ImageReader::new(std::io::Cursor::new(b.to_vec()))
                .with_guessed_format()
                .unwrap()
                .into_decoder()
                .unwrap();
            (d.orientation().unwrap(), d.dimensions())
        };
        assert_eq!(reader(&stripped), (Orientation::Rotate90, (48, 32)));
        let a = image::load_from_memory(&original).unwrap().to_rgb8();
        let b = image::load_from_memory(&stripped).unwrap().to_rgb8();
        assert_eq!(a, b, "the pixels are untouched");
        // Upright photos keep no EXIF at all.
        let upright = strip(&jpeg_with_metadata(1)).unwrap();
        assert!(!contains(&upright, b"Exif\0\0"));
    }

    #[test]
    fn png_text_and_exif_go() {
        let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut plain = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut plain), ImageFormat::Png).unwrap();
        let mut png = Png::from_bytes(Bytes::from(plain)).unwrap();
        png.chunks_mut().insert(1, img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"Location\0Shanghai")));
        png.set_exif(Some(Bytes::from(tiff_with_make_and_orientation(3))));
        let original = png.encoder().bytes().to_vec();
        let stripped = strip(&original).unwrap();
        assert!(!contains(&stripped, b"Shanghai") && !contains(&stripped, b"SecretCam"));
        assert_eq!(image::load_from_memory(&stripped).unwrap().to_rgb8(), img);
    }

    #[test]
    fn unparseable_containers_are_an_error() {
        assert!(strip(b"\xFF\xD8\xFF\xE0garbage").is_err());
        assert!(strip(b"not an image").is_err());
    }
}
