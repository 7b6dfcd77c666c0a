//! The OCR engine: models loaded once and shared by every thread; `read` finds and reads every
//! line of an image, `read_upright` also finds which way up the image is (0/90/180/270°).

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use shiren_onnx::{ModelPool, init_runtime};

use crate::detect::{self, DetectSettings, TextBox, reading_order};
use crate::error::OcrError;
use crate::geometry::{Quad, crop_line};
use crate::recognize::{self, CLASSIFIER_WIDTH, Charset, LINE_HEIGHT};

/// Lines go through the orientation classifier (fixed width) this many at a time.
const BATCH: usize = 6;
/// The smallest image side the detector can use.
const MIN_SIDE: u32 = 8;
/// Which way up a page is, is judged with the detector's input this many times smaller than
/// for reading, but at least `MIN_PROBE_SIDE`: measured on 21 generated ID-card photos
/// straightened to 856 pixels (the `cards` bench's speed mode), a 256-pixel look agrees with
/// the full one on every card, each line's vote far from the threshold; with PP-OCRv6's tiny
/// detector it costs 8 ms on one core against 66 for a detection at 960.
const PROBE_DIVISOR: u32 = 4;
const MIN_PROBE_SIDE: u32 = 256;

/// Files the engine loads, each replaceable by configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OcrModelPaths {
    pub runtime: PathBuf,
    /// The fast text detector (`Detector::Fast`).
    pub detector: PathBuf,
    /// The finer, slower text detector (`Detector::Fine`).
    pub fine_detector: PathBuf,
    pub classifier: PathBuf,
    pub recognizer: PathBuf,
    pub dictionary: PathBuf,
}

impl OcrModelPaths {
    /// The provisioned files under a model directory.
    pub fn in_dir(root: &Path) -> Self {
        Self {
            runtime: root.join("runtime/libonnxruntime.so.1.31.1"),
            detector: root.join("ocr/ppocrv6_tiny_det.onnx"),
            fine_detector: root.join("ocr/ppocrv6_small_det.onnx"),
            classifier: root.join("ocr/ppocrv5_cls.onnx"),
            recognizer: root.join("ocr/ppocrv6_small_rec.onnx"),
            dictionary: root.join("ocr/ppocrv6_dict.txt"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcrSettings {
    pub detect: DetectSettings,
    /// A line is turned over when the classifier says 180° with at least this probability.
    pub upside_down_threshold: f32,
    /// Lines read with a lower mean character probability are left out (a picture or a
    /// pattern the detector took for text reads as one or two unlikely characters).
    pub min_confidence: f32,
    /// Copies of each model, i.e. how many images can be read at once.
    pub sessions_per_model: usize,
}

impl Default for OcrSettings {
    fn default() -> Self {
        Self {
            detect: DetectSettings::default(),
            upside_down_threshold: 0.9,
            min_confidence: 0.5,
            sessions_per_model: 2,
        }
    }
}

/// The two text detectors (both PP-OCRv6, DB networks with the same post-processing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// The tiny model: 67 ms for a straightened ID card at 960 pixels on one core, and as many
    /// ID cards read whole on the `cards` bench as the small one (96.0% against 96.5% of 200).
    Fast,
    /// The small model: twice the time, and it finds the whole of small embossed print the tiny
    /// one cuts short or misses (bank-card expiry dates: 200/200 read against 186/200).
    Fine,
}

/// `OcrEngine::score_texts`' answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScores {
    /// The line as `recognize` reads it (text and confidence), from the same network run.
    pub reading: (String, f32),
    /// Per text, the log-probability of the text, or `None` when it cannot be written.
    pub scores: Vec<Option<f32>>,
    /// The log-probability of the recogniser's own best path: no text scores above it.
    pub best_path: f32,
}

/// One line of text as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters read, 0-1.
    pub confidence: f32,
    /// Where the line is, corners in reading order, in pixels of the image read.
    pub quad: Quad,
    /// The slope of the line in degrees (see `Quad::angle_degrees`).
    pub angle: f32,
    /// The detector's confidence that this is text, 0-1.
    pub detection_score: f32,
    /// The line was printed upside down relative to the image and was turned before reading.
    pub turned: bool,
}

/// Clockwise turns of the original image that make its text upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rotation {
    None,
    Quarter,
    Half,
    ThreeQuarters,
}

impl Rotation {
    pub fn degrees(self) -> u32 {
        match self {
            Rotation::None => 0,
            Rotation::Quarter => 90,
            Rotation::Half => 180,
            Rotation::ThreeQuarters => 270,
        }
    }

    /// `image` turned clockwise by this rotation.
    pub fn apply(self, image: &RgbImage) -> RgbImage {
        match self {
            Rotation::None => image.clone(),
            Rotation::Quarter => image::imageops::rotate90(image),
            Rotation::Half => image::imageops::rotate180(image),
            Rotation::ThreeQuarters => image::imageops::rotate270(image),
        }
    }

    fn plus_half(self) -> Self {
        match self {
            Rotation::None => Rotation::Half,
            Rotation::Quarter => Rotation::ThreeQuarters,
            Rotation::Half => Rotation::None,
            Rotation::ThreeQuarters => Rotation::Quarter,
        }
    }
}

/// An image read after turning it upright.
#[derive(Debug, Clone)]
pub struct UprightPage {
    /// How the input was turned; `lines` are in the coordinates of `image`.
    pub rotation: Rotation,
    pub image: RgbImage,
    pub lines: Vec<TextLine>,
}

pub struct OcrEngine {
    detector: ModelPool,
    fine_detector: ModelPool,
    classifier: ModelPool,
    recognizer: ModelPool,
    charset: Charset,
    /// Where the dictionary came from, for the error when it does not fit the recogniser.
    dictionary_path: PathBuf,
    settings: OcrSettings,
}

impl std::fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OcrEngine({} symbols)", self.charset.len())
    }
}

impl OcrEngine {
    pub fn load(paths: &OcrModelPaths, settings: OcrSettings) -> Result<Self, OcrError> {
        init_runtime(&paths.runtime)?;
        let n = settings.sessions_per_model.max(1);
        let engine = Self {
            detector: ModelPool::load("text detector", &paths.detector, n)?,
            fine_detector: ModelPool::load("fine text detector", &paths.fine_detector, n)?,
            classifier: ModelPool::load("text-line orientation", &paths.classifier, n)?,
            recognizer: ModelPool::load("text recogniser", &paths.recognizer, n)?,
            charset: Charset::load(&paths.dictionary)?,
            dictionary_path: paths.dictionary.clone(),
            settings,
        };
        if engine.charset.is_empty() {
            return Err(OcrError::Dictionary {
                path: paths.dictionary.display().to_string(),
                detail: "the dictionary is empty".into(),
            });
        }
        Ok(engine)
    }

    /// Finds text regions, in reading order.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<TextBox>, OcrError> {
        self.detect_at(image, self.settings.detect.max_side)
    }

    /// `detect` with the detector's input at most `max_side` pixels a side (a caller that
    /// knows its text is large, such as a straightened ID card, saves time with a smaller one).
    pub fn detect_at(&self, image: &RgbImage, max_side: u32) -> Result<Vec<TextBox>, OcrError> {
        self.detect_with(image, max_side, Detector::Fast)
    }

    /// `detect_at` with the given detector.
    pub fn detect_with(&self, image: &RgbImage, max_side: u32, detector: Detector) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = image.dimensions();
        if w < MIN_SIDE || h < MIN_SIDE {
            return Err(OcrError::ImageTooSmall { width: w, height: h, min_side: MIN_SIDE });
        }
        let input = detect::prepare(image, max_side.max(32));
        let pool = match detector {
            Detector::Fast => &self.detector,
            Detector::Fine => &self.fine_detector,
        };
        let outputs = pool.run(&[1, 3, input.height, input.width], &input.data)?;
        let map = outputs.first().ok_or_else(|| self.output_missing("text detector"))?;
        let (map_h, map_w) = match map.shape.as_slice() {
            [_, _, mh, mw] => (*mh as usize, *mw as usize),
            other => {
                return Err(OcrError::Model {
                    model: "text detector".into(),
                    detail: format!("unexpected output shape {other:?}"),
                });
            }
        };
        let mut boxes = detect::boxes_from_map(&map.data, map_w, map_h, w, h, &self.settings.detect);
        reading_order(&mut boxes);
        Ok(boxes)
    }

    fn output_missing(&self, model: &str) -> OcrError {
        OcrError::Model { model: model.into(), detail: "the model returned no output".into() }
    }

    /// For each line, the probability that it is upside down.
    pub fn upside_down(&self, lines: &[&RgbImage]) -> Result<Vec<f32>, OcrError> {
        let mut out = Vec::with_capacity(lines.len());
        for chunk in lines.chunks(BATCH) {
            let batch = recognize::pack(chunk, CLASSIFIER_WIDTH);
            let shape = [batch.count, 3, LINE_HEIGHT as usize, batch.width as usize];
            let outputs = self.classifier.run(&shape, &batch.data)?;
            let probs = outputs.first().ok_or_else(|| self.output_missing("text-line orientation"))?;
            // Two classes per line: 0° and 180°.
            out.extend(probs.data.chunks_exact(2).take(chunk.len()).map(|p| if p[1].is_nan() { 0.0 } else { p[1] }));
        }
        Ok(out)
    }

    /// Reads straightened lines (each upright, left to right): text and confidence per line.
    /// Each line runs alone at its own width: on one thread the network's time grows with the
    /// width it is given, so padding lines to a common batch width only adds work (measured on
    /// the specimen card: 187 ms alone against 480 ms in padded batches of six).
    pub fn recognize(&self, lines: &[&RgbImage]) -> Result<Vec<(String, f32)>, OcrError> {
        let mut results = Vec::with_capacity(lines.len());
        for line in lines {
            let (probs, steps, classes) = self.line_probabilities(line)?;
            results.push(self.charset.decode(&probs, steps, classes));
        }
        Ok(results)
    }

    /// How well each of `texts` explains a straightened line: the natural log of the
    /// probability the recogniser gives the text (over every alignment, CTC's forward sum),
    /// against the log-probability of its own best reading (the greedy path's). `None` for a
    /// text with a character outside the dictionary. For fields with a closed set of values (an
    /// ethnic group, a region), where a rare character the recogniser misreads freely is still
    /// likelier as itself than as the other values.
    pub fn score_texts(&self, line: &RgbImage, texts: &[&str]) -> Result<TextScores, OcrError> {
        let (probs, steps, classes) = self.line_probabilities(line)?;
        let reading = self.charset.decode(&probs, steps, classes);
        let best_path = recognize::best_path_log_probability(&probs, steps, classes);
        let scores = texts
            .iter()
            .map(|t| {
                let labels = self.charset.labels_of(t)?;
                Some(recognize::ctc_log_likelihood(&probs, steps, classes, &labels))
            })
            .collect();
        Ok(TextScores { reading, scores, best_path })
    }

    /// The recogniser's per-step class probabilities for one line: (probabilities, steps,
    /// classes), row-major by step.
    fn line_probabilities(&self, line: &RgbImage) -> Result<(Vec<f32>, usize, usize), OcrError> {
        let width = recognize::line_width(line);
        let batch = recognize::pack(&[line], width);
        let shape = [1, 3, LINE_HEIGHT as usize, batch.width as usize];
        let outputs = self.recognizer.run(&shape, &batch.data)?;
        let probs = outputs.into_iter().next().ok_or_else(|| self.output_missing("text recogniser"))?;
        let (steps, classes) = match probs.shape.as_slice() {
            [_, t, c] => (*t as usize, *c as usize),
            other => {
                return Err(OcrError::Model {
                    model: "text recogniser".into(),
                    detail: format!("unexpected output shape {other:?}"),
                });
            }
        };
        if classes != self.charset.len() {
            return Err(OcrError::Dictionary {
                path: self.dictionary_path.display().to_string(),
                detail: format!("{} symbols for a model with {classes} classes", self.charset.len()),
            });
        }
        let mut data = probs.data;
        data.truncate(steps * classes);
        let steps = data.len() / classes.max(1);
        Ok((data, steps, classes))
    }

    /// Detects, straightens, turns and reads every line of `image`, in reading order. Lines
    /// read as nothing or below `min_confidence` are left out.
    pub fn read(&self, image: &RgbImage) -> Result<Vec<TextLine>, OcrError> {
        self.read_at(image, self.settings.detect.max_side)
    }

    /// `read` with the detector's input at most `max_side` pixels a side.
    pub fn read_at(&self, image: &RgbImage, max_side: u32) -> Result<Vec<TextLine>, OcrError> {
        let boxes = self.detect_at(image, max_side)?;
        self.read_boxes(image, &boxes)
    }

    /// Reads the given regions of `image`.
    pub fn read_boxes(&self, image: &RgbImage, boxes: &[TextBox]) -> Result<Vec<TextLine>, OcrError> {
        let (kept, crops) = Self::crops_of(image, boxes);
        let refs: Vec<&RgbImage> = crops.iter().collect();
        let flips = self.upside_down(&refs)?;
        self.read_crops(kept, crops, &flips)
    }

    /// Recognises straightened line crops (each turned first when its upside-down probability
    /// in `flips` reaches the threshold), keeping the lines read with confidence.
    fn read_crops(
        &self,
        kept: Vec<TextBox>,
        mut crops: Vec<RgbImage>,
        flips: &[f32],
    ) -> Result<Vec<TextLine>, OcrError> {
        let mut turned = vec![false; crops.len()];
        for (i, p) in flips.iter().enumerate() {
            if *p >= self.settings.upside_down_threshold {
                crops[i] = image::imageops::rotate180(&crops[i]);
                turned[i] = true;
            }
        }
        let refs: Vec<&RgbImage> = crops.iter().collect();
        let texts = self.recognize(&refs)?;
        Ok(kept
            .iter()
            .zip(texts)
            .zip(turned)
            .filter(|((_, (text, confidence)), _)| {
                !text.trim().is_empty() && *confidence >= self.settings.min_confidence
            })
            .map(|((b, (text, confidence)), turned)| TextLine {
                text,
                confidence,
                quad: b.quad,
                angle: b.quad.angle_degrees(),
                detection_score: b.score,
                turned,
            })
            .collect())
    }

    /// The boxes whose quads can be cut out, with their straightened crops.
    fn crops_of(image: &RgbImage, boxes: &[TextBox]) -> (Vec<TextBox>, Vec<RgbImage>) {
        boxes.iter().filter_map(|b| crop_line(image, &b.quad).map(|c| (*b, c))).unzip()
    }

    /// Reads `image` after turning it so that its text is upright: a page whose lines are
    /// mostly taller than wide is turned a quarter; a page whose lines the classifier finds
    /// mostly upside down is turned half more. Which way up is judged on a quick look first (the
    /// detector at a quarter of its side, the classifier on what it finds), so that the page is
    /// detected in full once, already upright: the detector finds tighter boxes on upright text
    /// than on text turned over. A page whose text is too small for the quick look is judged on
    /// a full detection and detected again.
    pub fn read_upright(&self, image: &RgbImage) -> Result<UprightPage, OcrError> {
        self.read_upright_at(image, self.settings.detect.max_side)
    }

    /// `read_upright` with the detector's input at most `max_side` pixels a side.
    pub fn read_upright_at(&self, image: &RgbImage, max_side: u32) -> Result<UprightPage, OcrError> {
        self.read_upright_with(image, max_side, Detector::Fast)
    }

    /// `read_upright_at` with the given detector for the reading (the quick look that finds
    /// which way up the page is always uses the fast one).
    pub fn read_upright_with(
        &self,
        image: &RgbImage,
        max_side: u32,
        detector: Detector,
    ) -> Result<UprightPage, OcrError> {
        let probe_side = (max_side / PROBE_DIVISOR).max(MIN_PROBE_SIDE);
        let judged = match self.which_way_up(image, probe_side)? {
            Some(judged) => Some(judged),
            None if probe_side < max_side => self.which_way_up(image, max_side)?,
            None => None,
        };
        let (rotation, page) = judged.unwrap_or_else(|| (Rotation::None, image.clone()));
        let boxes = self.detect_with(&page, max_side, detector)?;
        let (kept, crops) = Self::crops_of(&page, &boxes);
        // The page is upright: every line is read as it stands (on one card or page the print
        // runs one way; a line the classifier alone calls upside down is its mistake).
        let lines = self.read_crops(kept, crops, &[])?;
        Ok(UprightPage { rotation, image: page, lines })
    }

    /// The turn that makes `image` upright and the turned image, judged on the lines the
    /// detector finds at `probe_side`; `None` when it finds none.
    fn which_way_up(&self, image: &RgbImage, probe_side: u32) -> Result<Option<(Rotation, RgbImage)>, OcrError> {
        let mut rotation = Rotation::None;
        let mut page = image.clone();
        let mut boxes = self.detect_at(&page, probe_side)?;
        let vertical = boxes.iter().filter(|b| b.quad.height() >= 1.5 * b.quad.width()).count();
        if vertical * 2 > boxes.len() {
            rotation = Rotation::Quarter;
            page = rotation.apply(image);
            boxes = self.detect_at(&page, probe_side)?;
        }
        let (kept, crops) = Self::crops_of(&page, &boxes);
        if kept.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RgbImage> = crops.iter().collect();
        let flips = self.upside_down(&refs)?;
        if Self::mostly_upside_down(&kept, &flips, self.settings.upside_down_threshold) {
            rotation = rotation.plus_half();
            page = image::imageops::rotate180(&page);
        }
        Ok(Some((rotation, page)))
    }

    /// Whether the lines the classifier finds upside down (`flips`, one per box) make up more
    /// than half the boxes' total length: each line's vote weighs as its length, so a stray
    /// glyph does not decide the page.
    fn mostly_upside_down(boxes: &[TextBox], flips: &[f32], threshold: f32) -> bool {
        let turned: f32 = flips.iter().zip(boxes).filter(|(p, _)| **p >= threshold).map(|(_, b)| b.quad.width()).sum();
        let total: f32 = boxes.iter().map(|b| b.quad.width()).sum();
        total > 0.0 && turned * 2.0 > total
    }
}
