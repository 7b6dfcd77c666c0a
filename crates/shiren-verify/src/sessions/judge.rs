//! The liveness judgement of one capture, from what the engine measured on each frame: pure
//! functions, no engine, no I/O, so that every rule is tested on series made to break it.
//!
//! Every check reports its measured numbers and its threshold (the `material` a caller sees);
//! the capture passes only when all of them pass. Signals are judged against the session's own
//! neutral baseline (the still lead-in), because absolute landmark readings vary by person and
//! by model (LIVENESS.md: a smiling subject's eye openness starts near the textbook blink
//! threshold).

use serde::{Deserialize, Serialize};

use super::challenge::{Action, Challenge, Colour};
use super::settings::InteractiveSettings;

/// What was measured on one frame.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FrameReading {
    /// The page's timestamp, milliseconds from the start of the capture.
    pub t_ms: f64,
    /// Whether a face was tracked in this frame.
    pub face: bool,
    /// Faces the detector found, on frames where it ran.
    pub detected_faces: Option<usize>,
    /// Mean of both eyes' openness.
    pub eye_openness: f32,
    pub mouth_openness: f32,
    pub yaw: f32,
    pub pitch: f32,
    /// Mean linear RGB of forehead and cheek skin.
    pub skin_rgb: [f32; 3],
    /// Face box width over frame width.
    pub face_width_fraction: f32,
}

/// One check of the judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Check {
    /// `timing`, `one_face`, `face_size`, `same_person`, `action:blink`, ..., `colour_response`,
    /// `replay`, `pad`.
    pub name: String,
    pub passed: bool,
    /// The measured value the threshold applies to.
    pub value: f64,
    pub threshold: f64,
    /// What else was measured, by name.
    #[schema(value_type = Object)]
    pub measured: serde_json::Map<String, serde_json::Value>,
}

impl Check {
    pub(crate) fn new(name: impl Into<String>, passed: bool, value: f64, threshold: f64) -> Self {
        let value = if value.is_finite() { (value * 1000.0).round() / 1000.0 } else { value };
        // A check whose measure is not a number never passes (fail closed).
        Self { name: name.into(), passed: passed && value.is_finite(), value, threshold, measured: Default::default() }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.measured.insert(key.into(), value.into());
        self
    }
}

pub(crate) fn median(mut v: Vec<f32>) -> f32 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The timing rules: timestamps strictly increasing, a frame rate within bounds and no long
/// gap, a capture that covers the challenge, and not longer than the time that passed on the
/// server between issuing the challenge and receiving the upload (frames made faster than real
/// time cannot fit).
pub fn timing(frames: &[FrameReading], challenge: &Challenge, elapsed_ms: f64, s: &InteractiveSettings) -> Check {
    let times: Vec<f64> = frames.iter().map(|f| f.t_ms).collect();
    let increasing = times.windows(2).all(|w| w[1] > w[0]) && times.iter().all(|t| t.is_finite() && *t >= 0.0);
    let span = match (times.first(), times.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let fps = if span > 0.0 { (times.len() - 1) as f64 * 1000.0 / span } else { 0.0 };
    let max_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let covers = times.first().is_some_and(|t| *t <= f64::from(challenge.lead_in_ms) / 2.0)
        && times.last().is_some_and(|t| *t >= f64::from(challenge.duration_ms) - 250.0);
    let end = times.last().copied().unwrap_or(0.0);
    let real_time = end <= elapsed_ms + s.clock_slack_ms;
    let fps_ok = fps >= f64::from(s.min_frame_rate) && fps <= f64::from(s.max_frame_rate);
    let gap_ok = max_gap <= f64::from(s.max_frame_gap_ms);
    Check::new("timing", increasing && fps_ok && gap_ok && covers && real_time, fps, f64::from(s.min_frame_rate))
        .with("frames", times.len())
        .with("increasing", increasing)
        .with("span_ms", span.round())
        .with("max_gap_ms", max_gap.round())
        .with("max_frame_gap_ms", s.max_frame_gap_ms)
        .with("covers_challenge", covers)
        .with("challenge_ms", challenge.duration_ms)
        .with("server_elapsed_ms", elapsed_ms.round())
        .with("within_real_time", real_time)
}

/// A face in (nearly) every frame, and never a second one where the detector looked.
pub fn one_face(frames: &[FrameReading], s: &InteractiveSettings) -> Check {
    let with_face = frames.iter().filter(|f| f.face).count();
    let share = if frames.is_empty() { 0.0 } else { with_face as f64 / frames.len() as f64 };
    let most = frames.iter().filter_map(|f| f.detected_faces).max().unwrap_or(0);
    Check::new("one_face", share >= f64::from(s.min_face_share) && most <= 1, share, f64::from(s.min_face_share))
        .with("most_faces_in_a_frame", most)
}

/// The face is large enough for its signals to mean something.
pub fn face_size(frames: &[FrameReading], s: &InteractiveSettings) -> Check {
    let m = median(frames.iter().filter(|f| f.face).map(|f| f.face_width_fraction).collect());
    Check::new("face_size", m >= s.min_face_width, f64::from(m), f64::from(s.min_face_width))
}

/// The neutral baseline: medians over the lead-in.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    pub eye: f32,
    pub mouth: f32,
    pub yaw: f32,
    pub pitch: f32,
}

pub fn baseline(frames: &[FrameReading], challenge: &Challenge) -> Baseline {
    let lead: Vec<&FrameReading> =
        frames.iter().filter(|f| f.face && f.t_ms < f64::from(challenge.lead_in_ms)).collect();
    let pick = |get: fn(&FrameReading) -> f32| median(lead.iter().map(|f| get(f)).collect());
    Baseline {
        eye: pick(|f| f.eye_openness),
        mouth: pick(|f| f.mouth_openness),
        yaw: pick(|f| f.yaw),
        pitch: pick(|f| f.pitch),
    }
}

/// How far an action's signal moved from neutral on one frame, in units of its threshold
/// (1.0 = exactly at the threshold), signed so that the requested direction is positive.
fn excursion(action: Action, f: &FrameReading, b: &Baseline, s: &InteractiveSettings) -> f32 {
    match action {
        Action::Blink => (1.0 - f.eye_openness / b.eye.max(1e-3)) / s.blink_drop,
        Action::OpenMouth => (f.mouth_openness - b.mouth) / s.mouth_rise,
        // The person's left is the image's right in an unmirrored frame: engine yaw grows.
        Action::TurnLeft => (f.yaw - b.yaw) / s.turn_degrees,
        Action::TurnRight => (b.yaw - f.yaw) / s.turn_degrees,
        // A nod reads either way (chin down first, or up): the larger excursion counts.
        Action::Nod => (f.pitch - b.pitch).abs() / s.nod_degrees,
    }
}

/// Actions that may not happen inside another action's slot (they would let one recording of
/// every action answer any challenge). Blinks are natural anywhere; mouth opening and nods are
/// not held against turns, whose landmarks move them too.
fn forbidden_during(action: Action) -> &'static [Action] {
    match action {
        Action::Blink => &[Action::OpenMouth, Action::TurnLeft, Action::TurnRight, Action::Nod],
        Action::OpenMouth => &[Action::TurnLeft, Action::TurnRight],
        Action::TurnLeft => &[Action::TurnRight],
        Action::TurnRight => &[Action::TurnLeft],
        Action::Nod => &[Action::TurnLeft, Action::TurnRight, Action::OpenMouth],
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Blink => "blink",
        Action::OpenMouth => "open_mouth",
        Action::TurnLeft => "turn_left",
        Action::TurnRight => "turn_right",
        Action::Nod => "nod",
    }
}

/// Each issued action, in its own slot: performed after its prompt (no earlier than a human
/// reaction time), no other action performed in the slot, and the face back at neutral at the
/// slot's end. Slots follow one another, so this also enforces the issued order.
pub fn actions(frames: &[FrameReading], challenge: &Challenge, b: &Baseline, s: &InteractiveSettings) -> Vec<Check> {
    challenge
        .steps
        .iter()
        .map(|step| {
            let start = f64::from(step.at_ms);
            let end = start + f64::from(step.window_ms);
            let slot: Vec<&FrameReading> =
                frames.iter().filter(|f| f.face && f.t_ms >= start && f.t_ms < end).collect();
            let exc = |a: Action, f: &FrameReading| excursion(a, f, b, s);
            let (peak, peak_t) = slot
                .iter()
                .map(|f| (exc(step.action, f), f.t_ms))
                .fold((f32::NEG_INFINITY, start), |acc, v| if v.0 > acc.0 { v } else { acc });
            let reaction = peak_t - start;
            let timely = reaction >= f64::from(s.min_reaction_ms);
            let settle_from = end - f64::from(s.settle_ms);
            let settled: Vec<f32> =
                slot.iter().filter(|f| f.t_ms >= settle_from).map(|f| exc(step.action, f).abs()).collect();
            let back = !settled.is_empty() && median(settled.clone()) <= s.neutral_fraction;
            let others: Vec<&str> = forbidden_during(step.action)
                .iter()
                .filter(|other| slot.iter().any(|f| exc(**other, f) >= 1.0))
                .map(|other| action_name(*other))
                .collect();
            // A blink is brief: closed for at most `max_blink_ms`.
            let closed_ms = if step.action == Action::Blink {
                slot.windows(2).filter(|w| exc(Action::Blink, w[0]) >= 1.0).map(|w| w[1].t_ms - w[0].t_ms).sum::<f64>()
            } else {
                0.0
            };
            let brief = step.action != Action::Blink || closed_ms <= f64::from(s.max_blink_ms);
            let found = peak >= 1.0;
            Check::new(
                format!("action:{}", action_name(step.action)),
                found && timely && back && others.is_empty() && brief && slot.len() >= 3,
                f64::from(peak),
                1.0,
            )
            .with("reaction_ms", reaction.round())
            .with("min_reaction_ms", s.min_reaction_ms)
            .with("back_to_neutral", back)
            .with("other_actions", others)
            .with("frames_in_slot", slot.len())
            .with("closed_ms", closed_ms.round())
        })
        .collect()
}

fn chroma(rgb: [f32; 3]) -> [f32; 3] {
    let sum = rgb[0] + rgb[1] + rgb[2];
    if sum <= 1e-6 || !sum.is_finite() { [f32::NAN; 3] } else { [rgb[0] / sum, rgb[1] / sum, rgb[2] / sum] }
}

/// The skin-colour response to the flashes: per frame, the skin's chromaticity (brightness
/// divided out, so exposure changes do not count) minus its mean over the flash phase, against
/// the chromaticity of the colour on screen at that time minus its mean; Pearson correlation
/// of the two at the best lag (the camera and the page add a delay), then, at that lag, each
/// change of colour must move the skin toward the new colour. A face that does not react
/// correlates near zero; one that reacts to another sequence correlates weakly and misses
/// transitions; a screen replay emits rather than reflects.
pub fn colour_response(frames: &[FrameReading], challenge: &Challenge, s: &InteractiveSettings) -> Option<Check> {
    let first = challenge.flashes.first()?;
    let last = challenge.flashes.last()?;
    let phase_start = f64::from(first.at_ms);
    let phase_end = f64::from(last.at_ms + last.duration_ms);
    let max_lag = f64::from(s.max_colour_lag_ms);
    let observed: Vec<(f64, [f32; 3])> = frames
        .iter()
        .filter(|f| f.face && f.t_ms >= phase_start && f.t_ms < phase_end + max_lag)
        .map(|f| (f.t_ms, chroma(f.skin_rgb)))
        .filter(|(_, c)| c.iter().all(|v| v.is_finite()))
        .collect();
    let expected_at = |t: f64| challenge.colour_at(t).map(|c| chroma(c.linear_rgb()));
    let mut best = (f64::NEG_INFINITY, 0.0, 0.0);
    let mut lag = 0.0;
    while lag <= max_lag {
        let pairs: Vec<([f32; 3], [f32; 3])> =
            observed.iter().filter_map(|(t, o)| expected_at(t - lag).map(|e| (*o, e))).collect();
        let (r, gain) = correlation(&pairs);
        if r > best.0 {
            best = (r, gain, lag);
        }
        lag += 20.0;
    }
    let (r, gain, lag) = best;
    // Transitions at the best lag: mean chromaticity over each colour's settled part (its first
    // 40% skipped for exposure to settle).
    let means: Vec<Option<[f32; 3]>> = challenge
        .flashes
        .iter()
        .map(|f| {
            let from = f64::from(f.at_ms) + lag + 0.4 * f64::from(f.duration_ms);
            let to = f64::from(f.at_ms + f.duration_ms) + lag;
            let inside: Vec<[f32; 3]> =
                observed.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, c)| *c).collect();
            (!inside.is_empty()).then(|| {
                let n = inside.len() as f32;
                let mut m = [0.0; 3];
                for c in &inside {
                    (0..3).for_each(|k| m[k] += c[k] / n);
                }
                m
            })
        })
        .collect();
    let transitions = challenge.flashes.len().saturating_sub(1);
    let seen = (0..transitions)
        .filter(|&i| {
            let (Some(a), Some(b)) = (means[i], means[i + 1]) else { return false };
            let ea = chroma(challenge.flashes[i].colour.linear_rgb());
            let eb = chroma(challenge.flashes[i + 1].colour.linear_rgb());
            let d_obs = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let d_exp = [eb[0] - ea[0], eb[1] - ea[1], eb[2] - ea[2]];
            cosine3(d_obs, d_exp) >= 0.5
        })
        .count();
    let seen_share = if transitions == 0 { 0.0 } else { seen as f64 / transitions as f64 };
    let passed = r >= f64::from(s.min_colour_correlation)
        && gain >= f64::from(s.min_colour_gain)
        && seen_share >= f64::from(s.min_transitions_seen);
    let sequence: Vec<&'static str> = challenge.flashes.iter().map(|f| colour_name(f.colour)).collect();
    Some(
        Check::new("colour_response", passed, r, f64::from(s.min_colour_correlation))
            .with("gain", (gain * 1000.0).round() / 1000.0)
            .with("min_gain", s.min_colour_gain)
            .with("lag_ms", lag)
            .with("max_lag_ms", s.max_colour_lag_ms)
            .with("transitions_seen", seen)
            .with("transitions", transitions)
            .with("min_transitions_seen", s.min_transitions_seen)
            .with("frames", observed.len())
            .with("sequence", sequence),
    )
}

fn colour_name(c: Colour) -> &'static str {
    match c {
        Colour::Red => "red",
        Colour::Green => "green",
        Colour::Blue => "blue",
        Colour::Yellow => "yellow",
        Colour::Cyan => "cyan",
        Colour::Magenta => "magenta",
    }
}

fn cosine3(a: [f32; 3], b: [f32; 3]) -> f32 {
    let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let na = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let nb = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
    if na <= 1e-9 || nb <= 1e-9 { 0.0 } else { dot / (na * nb) }
}

/// Pearson correlation of observed and expected chromaticity deviations, all three channels
/// pooled, and the gain (how much of the screen's chromaticity swing the skin shows: the
/// regression slope); NaN-free (zeros when either side does not vary).
fn correlation(pairs: &[([f32; 3], [f32; 3])]) -> (f64, f64) {
    if pairs.len() < 4 {
        return (0.0, 0.0);
    }
    let n = pairs.len() as f64;
    let mut mo = [0.0f64; 3];
    let mut me = [0.0f64; 3];
    for (o, e) in pairs {
        for k in 0..3 {
            mo[k] += f64::from(o[k]) / n;
            me[k] += f64::from(e[k]) / n;
        }
    }
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (o, e) in pairs {
        for k in 0..3 {
            let x = f64::from(o[k]) - mo[k];
            let y = f64::from(e[k]) - me[k];
            sxy += x * y;
            sxx += x * x;
            syy += y * y;
        }
    }
    if sxx <= 1e-12 || syy <= 1e-12 { (0.0, 0.0) } else { (sxy / (sxx * syy).sqrt(), sxy / syy) }
}

#[cfg(test)]
mod tests;
