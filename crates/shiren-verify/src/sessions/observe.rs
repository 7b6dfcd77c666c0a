//! What the engine sees in a capture: each frame decoded (within the engine's limits), the face
//! tracked from frame to frame, and its landmarks read (eye and mouth openness, yaw, pitch) with
//! the mean colour of its skin. The full detector runs only every `DETECT_EVERY` frames — there
//! it also counts the faces and embeds the subject for the identity check and the best frame —
//! and in between the face box is predicted from the previous frame's landmarks, which costs a
//! landmark pass (about 6 ms) instead of a detection (about 11 ms) plus one.
//!
//! Frames are split into contiguous chunks, one per worker thread, each starting with a
//! detection, so that a capture is measured on every core the pool has.

use shiren_face::{Detection, Engine, FaceError, LandmarkReading, RgbImage};

use super::judge::FrameReading;

/// Frames between two full detections.
pub const DETECT_EVERY: usize = 8;

/// A frame the detector ran on, with the subject embedded.
#[derive(Debug, Clone)]
pub struct Sample {
    pub index: usize,
    pub embedding: Vec<f32>,
    pub quality: f32,
    /// Eyes open and face near frontal: fit to be the best frame.
    pub presentable: bool,
    /// The strongest periodic peak on the face (`screen::screen_pattern`), when measurable.
    pub screen_pattern: Option<f32>,
}

#[derive(Debug, Default)]
pub struct Observed {
    pub readings: Vec<FrameReading>,
    pub samples: Vec<Sample>,
}

/// Why a frame could not be measured at all (as opposed to showing no face).
#[derive(Debug)]
pub struct FrameError {
    pub index: usize,
    pub error: FaceError,
}

/// sRGB 8-bit to linear light.
fn linear_table() -> [f32; 256] {
    let mut t = [0.0; 256];
    for (i, v) in t.iter_mut().enumerate() {
        let c = i as f32 / 255.0;
        *v = if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    }
    t
}

/// Mean linear RGB over three skin patches placed from the landmarks: the forehead above the
/// eyes and each cheek below them. Brows, eyes, nostrils and lips, which do not reflect the
/// screen like skin does, stay outside.
fn skin_colour(image: &RgbImage, lm: &LandmarkReading, table: &[f32; 256]) -> [f32; 3] {
    let p = &lm.points;
    if p.len() < 106 {
        return [f32::NAN; 3];
    }
    let mid = |a: usize, b: usize| [(p[a][0] + p[b][0]) / 2.0, (p[a][1] + p[b][1]) / 2.0];
    // Eye centres and the mouth centre (indices as in the engine's landmark module).
    let (le, re) = (mid(35, 39), mid(93, 89));
    let mouth = mid(52, 61);
    let eyes = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let d = ((re[0] - le[0]).powi(2) + (re[1] - le[1]).powi(2)).sqrt().max(4.0);
    let down = [mouth[0] - eyes[0], mouth[1] - eyes[1]];
    let half = 0.14 * d;
    let patches = [
        // Forehead: above the eye line by 0.55 of the eye-to-mouth distance.
        ([eyes[0] - 0.55 * down[0], eyes[1] - 0.55 * down[1]], 0.3 * d, half),
        // Cheeks: below each eye, halfway to the mouth line.
        ([le[0] + 0.5 * down[0], le[1] + 0.5 * down[1]], half, half),
        ([re[0] + 0.5 * down[0], re[1] + 0.5 * down[1]], half, half),
    ];
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let mut sum = [0.0f64; 3];
    let mut n = 0u32;
    for (centre, half_w, half_h) in patches {
        let (x0, x1) = ((centre[0] - half_w) as i64, (centre[0] + half_w) as i64);
        let (y0, y1) = ((centre[1] - half_h) as i64, (centre[1] + half_h) as i64);
        for y in y0.max(0)..=y1.min(h - 1) {
            for x in x0.max(0)..=x1.min(w - 1) {
                let i = ((y * w + x) * 3) as usize;
                for k in 0..3 {
                    sum[k] += f64::from(table[raw[i + k] as usize]);
                }
                n += 1;
            }
        }
    }
    if n == 0 {
        return [f32::NAN; 3];
    }
    [(sum[0] / f64::from(n)) as f32, (sum[1] / f64::from(n)) as f32, (sum[2] / f64::from(n)) as f32]
}

/// How the detector's box relates to the extent of the landmarks, measured where both are
/// known, to predict the box on frames where only the previous landmarks are.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// Box centre minus extent centre, in extent widths.
    offset: [f32; 2],
    /// Box size over extent size.
    scale: [f32; 2],
    extent: [f32; 4],
}

fn extent(points: &[[f32; 2]]) -> [f32; 4] {
    points.iter().fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |e, p| {
        [e[0].min(p[0]), e[1].min(p[1]), e[2].max(p[0]), e[3].max(p[1])]
    })
}

impl Track {
    fn new(face: &Detection, points: &[[f32; 2]]) -> Option<Self> {
        let e = extent(points);
        let (ew, eh) = (e[2] - e[0], e[3] - e[1]);
        if ew < 4.0 || eh < 4.0 {
            return None;
        }
        let (bw, bh) = (face.width(), face.height());
        let bc = [(face.bbox[0] + face.bbox[2]) / 2.0, (face.bbox[1] + face.bbox[3]) / 2.0];
        let ec = [(e[0] + e[2]) / 2.0, (e[1] + e[3]) / 2.0];
        Some(Track { offset: [(bc[0] - ec[0]) / ew, (bc[1] - ec[1]) / eh], scale: [bw / ew, bh / eh], extent: e })
    }

    /// The box predicted from the last landmarks, with keypoints from the same landmarks.
    fn predict(&self, lm: &LandmarkReading, image: &RgbImage) -> Option<Detection> {
        let e = extent(&lm.points);
        let (ew, eh) = (e[2] - e[0], e[3] - e[1]);
        // A landmark extent that collapsed or jumped means the face was lost.
        let (pw, ph) = (self.extent[2] - self.extent[0], self.extent[3] - self.extent[1]);
        if ew < 4.0 || eh < 4.0 || ew > 1.6 * pw || ew < 0.6 * pw || eh > 1.6 * ph || eh < 0.6 * ph {
            return None;
        }
        let c = [(e[0] + e[2]) / 2.0 + self.offset[0] * ew, (e[1] + e[3]) / 2.0 + self.offset[1] * eh];
        let (w, h) = (self.scale[0] * ew, self.scale[1] * eh);
        let bbox = [c[0] - w / 2.0, c[1] - h / 2.0, c[0] + w / 2.0, c[1] + h / 2.0];
        let inside =
            bbox[2] > 0.0 && bbox[3] > 0.0 && bbox[0] < image.width() as f32 && bbox[1] < image.height() as f32;
        let p = &lm.points;
        let mid = |a: usize, b: usize| [(p[a][0] + p[b][0]) / 2.0, (p[a][1] + p[b][1]) / 2.0];
        inside.then(|| Detection { bbox, score: 1.0, keypoints: [mid(35, 39), mid(93, 89), p[86], p[52], p[61]] })
    }
}

/// Measures one contiguous run of frames; `first_index` is the index of `frames[0]`.
fn observe_run(
    engine: &Engine,
    frames: &[&[u8]],
    times: &[f64],
    first_index: usize,
    frame_size: &std::sync::OnceLock<(usize, usize)>,
) -> Result<Observed, FrameError> {
    let table = linear_table();
    let mut out = Observed::default();
    let mut track: Option<(Track, LandmarkReading)> = None;
    for (offset, (bytes, t_ms)) in frames.iter().zip(times).enumerate() {
        let index = first_index + offset;
        let fail = |error| FrameError { index, error };
        let image = engine.decode(bytes).map_err(fail)?;
        let size = *frame_size.get_or_init(|| (image.width(), image.height()));
        if size != (image.width(), image.height()) {
            return Err(fail(FaceError::CorruptImage(format!(
                "frames must all have one size: {}x{} after {}x{}",
                image.width(),
                image.height(),
                size.0,
                size.1
            ))));
        }
        let mut reading = FrameReading { t_ms: *t_ms, ..Default::default() };
        let detect_now = offset % DETECT_EVERY == 0;
        let face = if detect_now {
            let faces = engine.detect_upright(&image).map_err(fail)?;
            reading.detected_faces = Some(faces.len());
            faces.into_iter().max_by(|a, b| a.area().total_cmp(&b.area()))
        } else {
            track.as_ref().and_then(|(t, lm)| t.predict(lm, &image))
        };
        let Some(face) = face else {
            track = None;
            out.readings.push(reading);
            continue;
        };
        let lm = engine.landmarks(&image, &face).map_err(fail)?;
        if detect_now {
            let embedding = engine.embed(&image, &face).map_err(fail)?;
            let quality = engine.quality(&image, &face, &lm).map_err(fail)?;
            let eyes = lm.eye_openness[0].min(lm.eye_openness[1]);
            out.samples.push(Sample {
                index,
                embedding,
                quality: quality.score,
                presentable: lm.pose.yaw.abs() < 10.0 && lm.pose.pitch.abs() < 15.0 && eyes > 0.12,
                screen_pattern: super::screen::screen_pattern(&image, &face),
            });
            track = Track::new(&face, &lm.points).map(|t| (t, lm.clone()));
        } else if let Some((t, _)) = track.take() {
            track = Some((Track { extent: extent(&lm.points), ..t }, lm.clone()));
        }
        reading.face = true;
        reading.eye_openness = (lm.eye_openness[0] + lm.eye_openness[1]) / 2.0;
        reading.mouth_openness = lm.mouth_openness;
        reading.yaw = lm.pose.yaw;
        reading.pitch = lm.pose.pitch;
        reading.skin_rgb = skin_colour(&image, &lm, &table);
        reading.face_width_fraction = face.width() / image.width() as f32;
        out.readings.push(reading);
    }
    Ok(out)
}

/// Measures every frame, on up to `threads` threads.
pub fn observe(engine: &Engine, frames: &[Vec<u8>], times: &[f64], threads: usize) -> Result<Observed, FrameError> {
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let threads = threads.clamp(1, 4);
    // Chunks of whole detection intervals, so every chunk starts with a detection on the same
    // frames a single pass would detect on.
    let per_chunk = refs.len().div_ceil(threads).div_ceil(DETECT_EVERY).max(1) * DETECT_EVERY;
    let size = std::sync::OnceLock::new();
    let results: Vec<Result<Observed, FrameError>> = if threads == 1 || refs.len() <= per_chunk {
        vec![observe_run(engine, &refs, times, 0, &size)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = refs
                .chunks(per_chunk)
                .zip(times.chunks(per_chunk))
                .enumerate()
                .map(|(i, (f, t))| {
                    let size = &size;
                    scope.spawn(move || observe_run(engine, f, t, i * per_chunk, size))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(FrameError { index: 0, error: FaceError::Runtime("a measuring thread panicked".into()) })
                    })
                })
                .collect()
        })
    };
    let mut all = Observed::default();
    for r in results {
        let part = r?;
        all.readings.extend(part.readings);
        all.samples.extend(part.samples);
    }
    Ok(all)
}
