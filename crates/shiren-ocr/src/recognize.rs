//! Reading straightened text lines: the line orientation classifier (0° or 180°) and the CTC
//! recogniser. Both take the line scaled to 48 pixels high, keeping its proportions, padded on
//! the right with zeros, normalised to [-1, 1] in BGR order as PaddleOCR trained them.

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;

use crate::error::OcrError;

/// Height of every line the classifier and recogniser take.
pub const LINE_HEIGHT: u32 = 48;
/// The classifier's fixed input width.
pub const CLASSIFIER_WIDTH: u32 = 192;
/// The narrowest input the recogniser is given (a single character, with a little margin; the
/// reference pads every line to 320, which reads the same and costs up to five times more).
pub const MIN_RECOGNISER_WIDTH: u32 = 64;
/// The widest line read in one piece (40 times its height); longer lines are squeezed, which
/// bounds the memory one absurdly long box can take.
pub const MAX_RECOGNISER_WIDTH: u32 = LINE_HEIGHT * 40;

/// The recogniser's output alphabet: index 0 is CTC's blank, then the dictionary file's lines in
/// order, then a space.
#[derive(Debug, Clone)]
pub struct Charset {
    symbols: Vec<String>,
    /// Each single-character symbol's class.
    classes: HashMap<char, usize>,
}

impl Charset {
    pub fn load(path: &Path) -> Result<Self, OcrError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| OcrError::Dictionary { path: path.display().to_string(), detail: e.to_string() })?;
        Ok(Self::from_lines(text.lines()))
    }

    pub fn from_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Self {
        let mut symbols = vec![String::new()];
        symbols.extend(lines.map(|l| l.trim_end_matches('\r').to_string()));
        symbols.push(" ".to_string());
        let mut classes = HashMap::new();
        for (class, symbol) in symbols.iter().enumerate().skip(1) {
            let mut chars = symbol.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                // The first class of a symbol listed twice, as greedy decoding would print it.
                classes.entry(c).or_insert(class);
            }
        }
        Self { symbols, classes }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// The classes spelling `text`, one per character; `None` when a character is not in the
    /// dictionary.
    pub fn labels_of(&self, text: &str) -> Option<Vec<usize>> {
        text.chars().map(|c| self.classes.get(&c).copied()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.len() <= 1
    }

    /// Greedy CTC decoding of one line's `steps`×`classes` probabilities: the most likely class
    /// at each step, repeats merged, blanks dropped. The confidence is the mean probability of
    /// the characters kept (0 for an empty line).
    pub fn decode(&self, probs: &[f32], steps: usize, classes: usize) -> (String, f32) {
        let mut text = String::new();
        let mut kept = Vec::new();
        let mut previous = usize::MAX;
        for step in probs.chunks_exact(classes).take(steps) {
            let (best, p) = step
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::MIN), |(bi, bp), (i, p)| if p > bp { (i, p) } else { (bi, bp) });
            if best != 0
                && best != previous
                && let Some(symbol) = self.symbols.get(best)
            {
                text.push_str(symbol);
                kept.push(p);
            }
            previous = best;
        }
        let confidence = if kept.is_empty() { 0.0 } else { kept.iter().sum::<f32>() / kept.len() as f32 };
        (text, confidence)
    }
}

/// The natural log of the probability that the recogniser's `steps`×`classes` output spells
/// `labels` (blank = class 0), summed over every CTC alignment: the forward algorithm over the
/// labels with blanks between and around them, in log space. An empty text is all blanks.
pub fn ctc_log_likelihood(probs: &[f32], steps: usize, classes: usize, labels: &[usize]) -> f32 {
    let ln = |p: f32| if p.is_finite() && p > 1e-30 { p.ln() } else { -69.0 };
    let at = |t: usize, class: usize| probs.get(t * classes + class).copied().unwrap_or(0.0);
    let add = |a: f32, b: f32| {
        if a == f32::NEG_INFINITY {
            b
        } else if b == f32::NEG_INFINITY {
            a
        } else {
            let m = a.max(b);
            m + ((a - m).exp() + (b - m).exp()).ln()
        }
    };
    // Extended sequence: blank, l1, blank, l2, …, blank.
    let extended: Vec<usize> = std::iter::once(0).chain(labels.iter().flat_map(|&l| [l, 0])).collect();
    let n = extended.len();
    if steps == 0 {
        return if labels.is_empty() { 0.0 } else { f32::NEG_INFINITY };
    }
    let mut alpha = vec![f32::NEG_INFINITY; n];
    alpha[0] = ln(at(0, extended[0]));
    if n > 1 {
        alpha[1] = ln(at(0, extended[1]));
    }
    for t in 1..steps {
        let mut next = vec![f32::NEG_INFINITY; n];
        for s in 0..n {
            let mut sum = alpha[s];
            if s >= 1 {
                sum = add(sum, alpha[s - 1]);
            }
            // A label may follow the label before the blank unless the two are the same.
            if s >= 2 && extended[s] != 0 && extended[s] != extended[s - 2] {
                sum = add(sum, alpha[s - 2]);
            }
            if sum != f32::NEG_INFINITY {
                next[s] = sum + ln(at(t, extended[s]));
            }
        }
        alpha = next;
    }
    if n == 1 { alpha[0] } else { add(alpha[n - 1], alpha[n - 2]) }
}

/// The log-probability of the single most likely path (the greedy decoding's).
pub fn best_path_log_probability(probs: &[f32], steps: usize, classes: usize) -> f32 {
    probs
        .chunks_exact(classes.max(1))
        .take(steps)
        .map(|step| step.iter().copied().filter(|p| p.is_finite()).fold(1e-30f32, f32::max).ln())
        .sum()
}

/// Lines packed into one NCHW tensor `LINE_HEIGHT` high and `width` wide.
pub(crate) struct LineBatch {
    pub data: Vec<f32>,
    pub width: u32,
    pub count: usize,
}

/// Plain two-tap bilinear resampling with pixel centres aligned, without the low-pass filter
/// an antialiasing resizer applies when shrinking: the recogniser was trained on lines scaled
/// this way, and the filter's blur merges thin strokes (measured on generated ID cards: a
/// character or two dropped from long address lines that the reference pipeline reads whole).
fn bilinear(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = image.dimensions();
    let mut out = RgbImage::new(width, height);
    if sw == 0 || sh == 0 {
        return out;
    }
    let (fx, fy) = (sw as f32 / width as f32, sh as f32 / height as f32);
    for y in 0..height {
        let sy = ((y as f32 + 0.5) * fy - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (sy.floor() as u32, sy.fract());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..width {
            let sx = ((x as f32 + 0.5) * fx - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (sx.floor() as u32, sx.fract());
            let x1 = (x0 + 1).min(sw - 1);
            let (a, b, c, d) = (
                image.get_pixel(x0, y0).0,
                image.get_pixel(x1, y0).0,
                image.get_pixel(x0, y1).0,
                image.get_pixel(x1, y1).0,
            );
            let mut px = [0u8; 3];
            for ch in 0..3 {
                let top = a[ch] as f32 * (1.0 - tx) + b[ch] as f32 * tx;
                let bottom = c[ch] as f32 * (1.0 - tx) + d[ch] as f32 * tx;
                px[ch] = (top * (1.0 - ty) + bottom * ty).round() as u8;
            }
            out.put_pixel(x, y, image::Rgb(px));
        }
    }
    out
}

/// The width a line takes at `LINE_HEIGHT`, rounded up as the reference does.
pub(crate) fn scaled_width(line: &RgbImage) -> u32 {
    let (w, h) = line.dimensions();
    ((LINE_HEIGHT as f32 * w as f32 / h.max(1) as f32).ceil() as u32).max(1)
}

/// Packs `lines` into a batch `width` pixels wide; a line wider than that is squeezed to fit.
pub(crate) fn pack(lines: &[&RgbImage], width: u32) -> LineBatch {
    let plane = (LINE_HEIGHT * width) as usize;
    let mut data = vec![0.0f32; lines.len() * 3 * plane];
    for (n, line) in lines.iter().enumerate() {
        let w = scaled_width(line).min(width);
        let resized = bilinear(line, w, LINE_HEIGHT);
        let base = n * 3 * plane;
        for (x, y, px) in resized.enumerate_pixels() {
            let i = (y * width + x) as usize;
            // BGR, scaled to [-1, 1].
            data[base + i] = px.0[2] as f32 / 127.5 - 1.0;
            data[base + plane + i] = px.0[1] as f32 / 127.5 - 1.0;
            data[base + 2 * plane + i] = px.0[0] as f32 / 127.5 - 1.0;
        }
    }
    LineBatch { data, width, count: lines.len() }
}

/// The width a line is read at: its own at `LINE_HEIGHT`, at least `MIN_RECOGNISER_WIDTH`, at
/// most `MAX_RECOGNISER_WIDTH`.
pub(crate) fn line_width(line: &RgbImage) -> u32 {
    scaled_width(line).clamp(MIN_RECOGNISER_WIDTH, MAX_RECOGNISER_WIDTH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ctc_sums_every_alignment_of_a_text() {
        // Two steps over blank, a, b.
        let probs = [0.1, 0.8, 0.1, 0.6, 0.2, 0.2];
        let p = |labels: &[usize]| ctc_log_likelihood(&probs, 2, 3, labels).exp();
        // a: (a, -), (a, a), (-, a).
        assert!((p(&[1]) - 0.66).abs() < 1e-5, "{}", p(&[1]));
        assert!((p(&[2]) - 0.10).abs() < 1e-5);
        assert!((p(&[]) - 0.06).abs() < 1e-5);
        assert!((p(&[1, 2]) - 0.16).abs() < 1e-5);
        assert!(p(&[1, 1]) < 1e-6, "a repeated letter needs a blank between");
        let total: f32 = [&[][..], &[1], &[2], &[1, 2], &[2, 1], &[2, 2], &[1, 1]].iter().map(|l| p(l)).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        assert!((best_path_log_probability(&probs, 2, 3) - (0.8f32 * 0.6).ln()).abs() < 1e-5);
    }

    #[test]
    fn texts_are_spelled_in_classes() {
        let charset = Charset::from_lines(["a", "b", "彝"].into_iter());
        assert_eq!(charset.labels_of("彝a"), Some(vec![3, 1]));
        assert_eq!(charset.labels_of("c"), None);
        assert_eq!(charset.labels_of(""), Some(vec![]));
    }

    use super::*;

    #[test]
    fn greedy_decoding_merges_repeats_and_drops_blanks() {
        let charset = Charset::from_lines(["a", "b"].into_iter());
        assert_eq!(charset.len(), 4);
        // Steps: a a blank a b space.
        let one_hot = |c: usize| {
            let mut v = vec![0.0; 4];
            v[c] = 0.9;
            v
        };
        let probs: Vec<f32> = [1, 1, 0, 1, 2, 3].iter().flat_map(|&c| one_hot(c)).collect();
        let (text, confidence) = charset.decode(&probs, 6, 4);
        assert_eq!(text, "aab ");
        assert!((confidence - 0.9).abs() < 1e-6);
        assert_eq!(charset.decode(&[], 0, 4), (String::new(), 0.0));
        let nan = vec![f32::NAN; 8];
        assert_eq!(charset.decode(&nan, 2, 4).0, "");
    }

    #[test]
    fn lines_are_packed_left_aligned_and_bounded() {
        let short = RgbImage::from_pixel(24, 12, image::Rgb([255, 255, 255]));
        let long = RgbImage::from_pixel(4000, 10, image::Rgb([255, 255, 255]));
        assert_eq!(line_width(&short), 96);
        assert_eq!(line_width(&long), MAX_RECOGNISER_WIDTH);
        let dot = RgbImage::new(5, 40);
        assert_eq!(line_width(&dot), MIN_RECOGNISER_WIDTH);
        let batch = pack(&[&short], 320);
        assert_eq!(batch.data.len(), 3 * 48 * 320);
        assert_eq!(batch.data[0], 1.0);
        assert_eq!(batch.data[200], 0.0, "padding after the 96-pixel line");
    }
}
