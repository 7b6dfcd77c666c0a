//! Fonts: finding them (`tools/fonts/ensure-cjk-fonts.sh` installs Debian's Noto CJK and DejaVu
//! packages when missing), loading the Simplified Chinese face out of a Noto CJK collection, and
//! measuring and drawing single lines of text onto an image.
//!
//! Noto Sans CJK ships as one `.ttc` holding the Japanese, Korean, Simplified and Traditional
//! Chinese faces (the first is Japanese, whose glyph shapes differ from Chinese print for many
//! characters), so the face is chosen by its family name, not by a fixed index.

use std::path::{Path, PathBuf};
use std::process::Command;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::RgbImage;

use crate::CardSynthError;
use crate::draw::blend;

/// Where each font file is. The CJK files may be collections; the Simplified Chinese face is
/// picked from them by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontPaths {
    /// A CJK sans-serif (Noto Sans CJK Regular): labels and most values.
    pub sans: PathBuf,
    /// Its bold weight: titles and bank names; `sans` is used without it.
    pub sans_bold: Option<PathBuf>,
    /// A CJK serif (Noto Serif CJK): used for variety on bank cards; `sans` without it.
    pub serif: Option<PathBuf>,
    /// A monospaced Latin font with clear digits (DejaVu Sans Mono): ID and card numbers.
    pub mono: PathBuf,
}

impl FontPaths {
    /// The script that ensures the fonts are installed and lists them, found from this crate's
    /// source directory (this is test support, run from the workspace).
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/fonts/ensure-cjk-fonts.sh")
    }

    /// Runs [`FontPaths::script`] (which may install packages with apt-get) and reads the paths
    /// it prints, telling the files apart by their names.
    pub fn discover() -> Result<FontPaths, CardSynthError> {
        let script = Self::script();
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|source| CardSynthError::FontScript { path: script.clone(), source })?;
        if !output.status.success() {
            return Err(CardSynthError::FontScriptFailed {
                path: script,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Self::from_listing(&stdout).ok_or(CardSynthError::FontScriptFailed {
            path: script,
            status: output.status.to_string(),
            stderr: format!("no sans-serif CJK font and monospaced font in its output {stdout:?}"),
        })
    }

    /// Sorts the script's lines by file name: `…Mono…` is the digit font, `…Serif…` the serif,
    /// `…Bold…` the bold sans, anything else the regular sans.
    fn from_listing(listing: &str) -> Option<FontPaths> {
        let (mut sans, mut sans_bold, mut serif, mut mono) = (None, None, None, None);
        for line in listing.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let path = PathBuf::from(line);
            let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
            let slot = if name.contains("mono") {
                &mut mono
            } else if name.contains("serif") {
                &mut serif
            } else if name.contains("bold") {
                &mut sans_bold
            } else {
                &mut sans
            };
            slot.get_or_insert(path);
        }
        Some(FontPaths { sans: sans?, sans_bold, serif, mono: mono? })
    }
}

/// Which font a piece of text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Sans,
    Bold,
    Serif,
    Mono,
}

/// The loaded fonts. Cheap to share by reference; loading reads each file once.
pub struct Fonts {
    sans: FontVec,
    sans_bold: Option<FontVec>,
    serif: Option<FontVec>,
    mono: FontVec,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("sans_bold", &self.sans_bold.is_some())
            .field("serif", &self.serif.is_some())
            .finish_non_exhaustive()
    }
}

impl Fonts {
    /// Ensures the fonts are installed ([`FontPaths::discover`]) and loads them.
    pub fn discover() -> Result<Fonts, CardSynthError> {
        Self::from_paths(&FontPaths::discover()?)
    }

    /// Loads the fonts at `paths`; for collections, the face whose family name says Simplified
    /// Chinese ("… SC", not the monospaced variant).
    pub fn from_paths(paths: &FontPaths) -> Result<Fonts, CardSynthError> {
        let optional = |path: &Option<PathBuf>| path.as_deref().map(load_cjk).transpose();
        Ok(Fonts {
            sans: load_cjk(&paths.sans)?,
            sans_bold: optional(&paths.sans_bold)?,
            serif: optional(&paths.serif)?,
            mono: load_face(&paths.mono, 0)?,
        })
    }

    fn font(&self, face: Face) -> &FontVec {
        match face {
            Face::Sans => &self.sans,
            Face::Bold => self.sans_bold.as_ref().unwrap_or(&self.sans),
            Face::Serif => self.serif.as_ref().unwrap_or(&self.sans),
            Face::Mono => &self.mono,
        }
    }

    /// The font that draws `c` in `face`: the face itself, else the sans, else the digit font.
    fn font_for(&self, face: Face, c: char) -> Option<&FontVec> {
        [self.font(face), &self.sans, &self.mono].into_iter().find(|font| font.glyph_id(c).0 != 0)
    }

    /// Whether every character of `text` can be drawn in the sans-serif CJK face.
    pub(crate) fn sans_covers(&self, text: &str) -> bool {
        text.chars().all(|c| self.sans.glyph_id(c).0 != 0)
    }

    /// The width `text` takes: advances plus the extra spacing between characters.
    pub(crate) fn width(&self, style: &Style, text: &str) -> f32 {
        let mut width = 0.0;
        for (i, c) in text.chars().enumerate() {
            if i > 0 {
                width += style.spacing;
            }
            if let Some(font) = self.font_for(style.face, c) {
                width += font.as_scaled(PxScale::from(style.size)).h_advance(font.glyph_id(c));
            }
        }
        width
    }

    /// The style with its size reduced (by at most 40%) so that `text` fits in `max_width`.
    pub(crate) fn fit(&self, style: Style, text: &str, max_width: f32) -> Style {
        let width = self.width(&style, text);
        if width <= max_width || width <= 0.0 {
            return style;
        }
        let factor = (max_width / width).max(0.6);
        Style { size: style.size * factor, spacing: style.spacing * factor, ..style }
    }

    /// Draws `text` starting at `x`, vertically centred on `centre_y` (the middle of a CJK
    /// character or a digit), and returns the x where it ends.
    pub(crate) fn draw(&self, image: &mut RgbImage, style: &Style, text: &str, x: f32, centre_y: f32) -> f32 {
        // Ideographs fill about -0.08..0.84 em about the baseline and digits 0..0.73 em, so the
        // middle of either sits about 0.37 em above it.
        let baseline = centre_y + 0.37 * style.size;
        let (width, height) = (image.width() as i32, image.height() as i32);
        let mut pen = x;
        for (i, c) in text.chars().enumerate() {
            if i > 0 {
                pen += style.spacing;
            }
            let Some(font) = self.font_for(style.face, c) else { continue };
            let scaled = font.as_scaled(PxScale::from(style.size));
            let glyph = font.glyph_id(c).with_scale_and_position(style.size, point(pen, baseline));
            pen += scaled.h_advance(glyph.id);
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|gx, gy, coverage| {
                let (px, py) = (left + gx as i32, top + gy as i32);
                if px >= 0 && py >= 0 && px < width && py < height {
                    let pixel = image.get_pixel_mut(px as u32, py as u32);
                    blend(pixel, style.colour, coverage * style.opacity);
                }
            });
        }
        pen
    }
}

/// How a line of text is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub face: Face,
    /// Pixels per em.
    pub size: f32,
    /// Extra pixels between characters.
    pub spacing: f32,
    pub colour: [u8; 3],
    pub opacity: f32,
}

impl Style {
    pub(crate) fn new(face: Face, size: f32, colour: [u8; 3]) -> Style {
        Style { face, size, spacing: 0.0, colour, opacity: 1.0 }
    }

    pub(crate) fn spaced(self, spacing: f32) -> Style {
        Style { spacing, ..self }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CardSynthError> {
    std::fs::read(path).map_err(|source| CardSynthError::FontRead { path: path.to_path_buf(), source })
}

fn load_face(path: &Path, index: u32) -> Result<FontVec, CardSynthError> {
    let data = read(path)?;
    FontVec::try_from_vec_and_index(data, index)
        .map_err(|_| CardSynthError::FontParse { path: path.to_path_buf(), index })
}

/// Loads the Simplified Chinese face of a collection, or the only face of a single font.
fn load_cjk(path: &Path) -> Result<FontVec, CardSynthError> {
    let data = read(path)?;
    let index =
        simplified_chinese_index(&data).ok_or_else(|| CardSynthError::NoChineseFace { path: path.to_path_buf() })?;
    FontVec::try_from_vec_and_index(data, index)
        .map_err(|_| CardSynthError::FontParse { path: path.to_path_buf(), index })
}

/// The face to use in a font file: 0 for a single font, else the collection's Simplified
/// Chinese face, if it has one.
fn simplified_chinese_index(data: &[u8]) -> Option<u32> {
    match ttf_parser::fonts_in_collection(data) {
        None => Some(0),
        Some(count) => {
            (0..count).find(|&index| family_names(data, index).iter().any(|family| is_simplified_chinese(family)))
        }
    }
}

fn family_names(data: &[u8], index: u32) -> Vec<String> {
    let Ok(face) = ttf_parser::Face::parse(data, index) else { return Vec::new() };
    face.names()
        .into_iter()
        .filter(|name| {
            name.name_id == ttf_parser::name_id::FAMILY || name.name_id == ttf_parser::name_id::TYPOGRAPHIC_FAMILY
        })
        .filter_map(|name| name.to_string())
        .collect()
}

/// "Noto Sans CJK SC" and "Noto Serif CJK SC", but not "Noto Sans Mono CJK SC", whose Latin
/// letters and digits are stretched to the ideograph's half width.
fn is_simplified_chinese(family: &str) -> bool {
    family.split_whitespace().last() == Some("SC") && !family.contains("Mono")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_sorted_by_file_name() {
        let listing = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc\n\
                       /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc\n\
                       /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf\n";
        let paths = FontPaths::from_listing(listing).unwrap();
        assert!(paths.sans.ends_with("NotoSansCJK-Regular.ttc"));
        assert_eq!(paths.sans_bold, None);
        assert!(paths.serif.unwrap().ends_with("NotoSerifCJK-Regular.ttc"));
        assert!(paths.mono.ends_with("DejaVuSansMono.ttf"));
        assert_eq!(FontPaths::from_listing("/x/NotoSansCJK-Regular.ttc\n"), None);
    }

    #[test]
    fn picks_the_simplified_chinese_face_of_the_installed_collection() {
        let paths = FontPaths::discover().unwrap();
        let data = std::fs::read(&paths.sans).unwrap();
        let index = simplified_chinese_index(&data).unwrap();
        assert!(family_names(&data, index).iter().any(|f| f == "Noto Sans CJK SC"), "{:?}", family_names(&data, index));
        // Debian's file has JP first and SC third (`fc-list :lang=zh-cn file index family`).
        if paths.sans.ends_with("NotoSansCJK-Regular.ttc") {
            assert_eq!(index, 2);
        }
        let mono = std::fs::read(&paths.mono).unwrap();
        assert_eq!(simplified_chinese_index(&mono), Some(0), "a single font is its own face");
    }

    #[test]
    fn simplified_chinese_family_names() {
        assert!(is_simplified_chinese("Noto Sans CJK SC"));
        assert!(is_simplified_chinese("Noto Serif CJK SC"));
        assert!(!is_simplified_chinese("Noto Sans Mono CJK SC"));
        assert!(!is_simplified_chinese("Noto Sans CJK JP"));
    }
}
