//! A person answering a liveness challenge: the server's challenge turned into a timeline of
//! expressions (each prompted action performed after a human reaction time, at a chosen speed,
//! then back to neutral) and the screen's colour flashes turned into light on the face with a
//! camera's delay; then filmed as timestamped JPEG frames. Variations (reaction, speed, flash
//! strength and delay, framing, exposure, noise) are the caller's, so that a test can sweep them.
//!
//! It can also perform what the challenge did not ask for (another order, no colour response,
//! another colour sequence), which is how the attack tests make their frames.

use shiren_face::RgbImage;
use shiren_verify::sessions::{Action, Challenge, Flash};

use crate::actor::Actor;
use crate::output::encode_jpeg;
use crate::scene::{Camera, Expression};
use crate::timeline::Timeline;

/// How the person performs.
#[derive(Debug, Clone)]
pub struct Style {
    /// From a prompt appearing to the movement starting.
    pub reaction_ms: f64,
    /// 1.0 a typical pace; 0.7 slow, 1.4 brisk.
    pub speed: f64,
    /// How much the screen's light adds to the ambient light on the skin (0.1 weak, 0.3 strong).
    pub flash_strength: f32,
    /// From a colour appearing on screen to the camera seeing it.
    pub flash_delay_ms: f64,
    /// Head turns and nods, rendered degrees.
    pub turn_deg: f32,
    pub nod_deg: f32,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            reaction_ms: 450.0,
            speed: 1.0,
            flash_strength: 0.22,
            flash_delay_ms: 120.0,
            turn_deg: 28.0,
            nod_deg: 20.0,
        }
    }
}

/// One movement: its action, when it starts.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    pub action: Action,
    pub at_ms: f64,
}

/// The moves that answer `challenge`: each prompted action after the reaction time.
pub fn moves_for(challenge: &Challenge, style: &Style) -> Vec<Move> {
    challenge.steps.iter().map(|s| Move { action: s.action, at_ms: f64::from(s.at_ms) + style.reaction_ms }).collect()
}

/// Keyframes of one movement: (offset ms, expression) pairs, neutral at both ends.
fn movement(action: Action, style: &Style) -> Vec<(f64, Expression)> {
    let n = Expression::default();
    let k = 1.0 / style.speed;
    match action {
        Action::Blink => vec![
            (0.0, n),
            (70.0 * k, Expression { eye_closure: 1.0, ..n }),
            (170.0 * k, Expression { eye_closure: 1.0, ..n }),
            (280.0 * k, n),
        ],
        Action::OpenMouth => vec![
            (0.0, n),
            (250.0 * k, Expression { mouth_open: 1.0, ..n }),
            (600.0 * k, Expression { mouth_open: 1.0, ..n }),
            (850.0 * k, n),
        ],
        // The person's left shows as the face turning toward the image's right.
        Action::TurnLeft | Action::TurnRight => {
            let yaw = if action == Action::TurnLeft { style.turn_deg } else { -style.turn_deg };
            vec![
                (0.0, n),
                (380.0 * k, Expression { yaw_deg: yaw, ..n }),
                (580.0 * k, Expression { yaw_deg: yaw, ..n }),
                (950.0 * k, n),
            ]
        }
        Action::Nod => vec![
            (0.0, n),
            (330.0 * k, Expression { pitch_deg: -style.nod_deg, ..n }),
            (450.0 * k, Expression { pitch_deg: -style.nod_deg, ..n }),
            (800.0 * k, n),
        ],
    }
}

/// The expressions over time for `moves` (light excluded).
pub fn timeline(moves: &[Move], style: &Style, duration_ms: f64) -> Timeline {
    let mut tl = Timeline::new().key(0.0, Expression::default());
    for m in moves {
        for (offset, e) in movement(m.action, style) {
            tl = tl.key(m.at_ms + offset, e);
        }
    }
    tl.key(duration_ms + 1000.0, Expression::default())
}

/// The screen light on the face at `t_ms` for `flashes` as the camera sees them: delayed, with a
/// short rise and fall (exposure adapting), scaled by the style's strength.
pub fn light_at(flashes: &[Flash], style: &Style, t_ms: f64) -> [f32; 3] {
    const EDGE_MS: f64 = 60.0;
    let seen = t_ms - style.flash_delay_ms;
    let mut light = [0.0f32; 3];
    for f in flashes {
        let (start, end) = (f64::from(f.at_ms), f64::from(f.at_ms + f.duration_ms));
        let weight = ((seen - start) / EDGE_MS).clamp(0.0, 1.0).min(((end - seen) / EDGE_MS + 1.0).clamp(0.0, 1.0));
        if seen >= start && seen < end + EDGE_MS {
            let rgb = f.colour.linear_rgb();
            for k in 0..3 {
                light[k] += rgb[k] * style.flash_strength * weight as f32;
            }
        }
    }
    light
}

/// A filmed performance: frame times from the start of the capture and the JPEG frames.
pub struct Film {
    pub times_ms: Vec<f64>,
    pub frames: Vec<Vec<u8>>,
}

/// Films `moves` and the light of `flashes` for `duration_ms` at `fps`, each frame rendered by
/// `actor_at(t)` (one actor, or another one from some time on for a swap), JPEG quality 85.
pub fn film<'a>(
    actor_at: impl Fn(f64) -> &'a Actor,
    camera: &Camera,
    moves: &[Move],
    flashes: &[Flash],
    style: &Style,
    duration_ms: f64,
    fps: f64,
) -> Film {
    let tl = timeline(moves, style, duration_ms);
    let mut film = Film { times_ms: Vec::new(), frames: Vec::new() };
    let step = 1000.0 / fps;
    let mut i = 0u64;
    loop {
        let t = (i as f64 * step * 10.0).round() / 10.0;
        if t > duration_ms + step {
            break;
        }
        let mut e = tl.at(t);
        e.screen_light = light_at(flashes, style, t);
        let frame: RgbImage = actor_at(t).render(&e, camera, i);
        film.frames.push(encode_jpeg(&frame, 85));
        film.times_ms.push(t);
        i += 1;
    }
    film
}
