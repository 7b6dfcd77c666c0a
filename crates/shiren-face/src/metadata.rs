//! What a stored face image keeps: its pixels and what is needed to show them as they were taken
//! (colour profile, orientation). Everything else cameras and phones write (location, device,
//! serial numbers, time, owner, thumbnails, editing history: EXIF, XMP, IPTC, comments, PNG text
//! chunks) is removed before an image is stored, so that a kept photo tells no more than the face.
//!
//! The image data itself is copied unchanged (no re-encoding, so no quality loss), and an
//! orientation other than upright is written back as a minimal EXIF block holding that one tag.
//! JPEGs are rewritten by our own walk of their markers, because metadata also hides between
//! the scans of a progressive JPEG and after its end (multi-picture secondary images with their
//! own EXIF, motion-photo videos), where container libraries keep it as opaque image data.

use image::ImageFormat;
use image::metadata::Orientation;
use img_parts::Bytes;
use img_parts::ImageEXIF;
use img_parts::png::Png;
use img_parts::webp::WebP;

use crate::error::FaceError;
use crate::jpeg_scan;

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
        ImageFormat::Jpeg => return strip_jpeg(bytes),
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

/// A JPEG with only what decodes and displays it: the frame, tables, restart interval and scans
/// (their coded data copied as it is), the JFIF and Adobe headers and the ICC profile, up to the
/// end-of-image marker. Every other APPn segment (EXIF, XMP, IPTC, vendor data) and comment goes,
/// wherever it stands, and so does anything after the end of the image.
fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, FaceError> {
    let malformed = || unreadable("the JPEG's markers cannot be followed");
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(malformed());
    }
    let mut kept = Vec::with_capacity(bytes.len());
    kept.extend_from_slice(&[0xFF, 0xD8]);
    let mut orientation = None;
    let mut pos = 2;
    while let Some((marker, after)) = jpeg_scan::next_marker(bytes, pos) {
        if marker == 0xD9 {
            kept.extend_from_slice(&[0xFF, 0xD9]);
            break;
        }
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            pos = after;
            continue;
        }
        let body = jpeg_scan::segment(bytes, after).map_err(|_| malformed())?;
        let end = after + 2 + body.len();
        let keep = match marker {
            0xE0 => body.starts_with(b"JFIF\0"),
            0xE1 => {
                if orientation.is_none() && body.starts_with(b"Exif\0\0") {
                    orientation = Orientation::from_exif_chunk(&body[6..]);
                }
                false
            }
            0xE2 => body.starts_with(b"ICC_PROFILE\0"),
            0xEE => body.starts_with(b"Adobe"),
            0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            kept.extend_from_slice(&[0xFF, marker]);
            kept.extend_from_slice(&bytes[after..end]);
        }
        pos = end;
        if marker == 0xDA {
            // The scan's coded data runs to the next marker that is not a restart marker.
            let data_end = coded_data_end(bytes, end);
            kept.extend_from_slice(&bytes[end..data_end]);
            pos = data_end;
        }
    }
    if let Some(o) = orientation.filter(|o| *o != Orientation::NoTransforms) {
        let tiff = minimal_exif(o);
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&u16::try_from(tiff.len() + 8).map_err(|_| malformed())?.to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        // After SOI and a JFIF header, where readers look for it.
        let at = if kept.get(2..4) == Some(&[0xFF, 0xE0]) {
            4 + usize::from(u16::from_be_bytes([kept[4], kept[5]]))
        } else {
            2
        };
        kept.splice(at..at, app1);
    }
    Ok(kept)
}

/// Where the coded data starting at `from` ends: the next marker other than a restart marker
/// (0xFF followed by 0x00 is a stuffed data byte).
fn coded_data_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == 0xFF && !matches!(bytes[i + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
            return i;
        }
        i += 1;
    }
    bytes.len()
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
    use img_parts::jpeg::{Jpeg, JpegSegment, markers};

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

    /// Metadata between the scans of a progressive JPEG and after its end (a secondary image with
    /// its own EXIF, a motion-photo video) goes too; the scans stay byte for byte.
    #[test]
    fn jpeg_metadata_between_scans_and_after_the_end_goes() {
        let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 77]));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
        encoder.set_progressive(true);
        encoder.encode(img.as_raw(), 48, 40, jpeg_encoder::ColorType::Rgb).unwrap();
        let second_sos = progressive.windows(2).enumerate().filter(|(_, w)| *w == [0xFF, 0xDA]).nth(1).unwrap().0;
        let mut crafted = progressive[..second_sos].to_vec();
        crafted.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x0B]);
        crafted.extend_from_slice(b"GPS 31.2N");
        crafted.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x0C]);
        crafted.extend_from_slice(b"SecretCam\0");
        crafted.extend_from_slice(&progressive[second_sos..]);
        crafted.extend_from_slice(b"\xFF\xD8 motion photo trailer: Shanghai, PhoneModel X");
        let stripped = strip(&crafted).unwrap();
        for secret in [&b"GPS 31.2N"[..], b"SecretCam", b"Shanghai", b"PhoneModel"] {
            assert!(contains(&crafted, secret) && !contains(&stripped, secret), "{}", String::from_utf8_lossy(secret));
        }
        assert_eq!(stripped, progressive, "nothing else changes");
        assert_eq!(
            image::load_from_memory(&stripped).unwrap().to_rgb8(),
            image::load_from_memory(&progressive).unwrap().to_rgb8()
        );
    }

    #[test]
    fn png_text_and_exif_go() {
        let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut plain = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut plain), ImageFormat::Png).unwrap();
        let mut png = Png::from_bytes(Bytes::from(plain)).unwrap();
        png.chunks_mut().insert(1, img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"Location\0Shanghai")));
        png.set_exif(Some(Bytes::from(tiff_with_make_and_orientation(3))));
        let mut original = png.encoder().bytes().to_vec();
        original.extend_from_slice(b"trailer after IEND: Hangzhou");
        let stripped = strip(&original).unwrap();
        assert!(!contains(&stripped, b"Shanghai") && !contains(&stripped, b"SecretCam"));
        assert!(!contains(&stripped, b"Hangzhou"), "nothing after the end of the image");
        assert_eq!(image::load_from_memory(&stripped).unwrap().to_rgb8(), img);
    }

    #[test]
    fn unparseable_containers_are_an_error() {
        assert!(strip(b"\xFF\xD8\xFF\xE0garbage").is_err());
        assert!(strip(b"not an image").is_err());
    }
}
