//! The challenge a session issues at `start`: what the person must do and when, chosen at random
//! by the server so that nothing recorded in advance can contain it. Times are milliseconds from
//! the moment the page shows the challenge, which is also when its capture clock starts.
//!
//! Layout: a still lead-in (the neutral baseline every signal is measured against), then each
//! action in its own slot (the prompt at the slot's start; the action must happen inside it and
//! the face be back at neutral by its end), then the colour flashes, one colour after another,
//! each held long enough for the camera's exposure and white balance to settle.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How the person proves liveness (the vendors' liveness model names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum LivenessModel {
    /// One blink.
    #[serde(rename = "LIVENESS")]
    Blink,
    /// Two or three actions in random order.
    #[serde(rename = "MULTI_ACTION")]
    MultiAction,
    /// A blink and a random colour-flash sequence.
    #[serde(rename = "PHOTINUS_LIVENESS")]
    Photinus,
    /// Actions and colours.
    #[serde(rename = "MULTI_PHOTINUS")]
    MultiPhotinus,
}

impl LivenessModel {
    pub const ALL: [LivenessModel; 4] =
        [LivenessModel::Blink, LivenessModel::MultiAction, LivenessModel::Photinus, LivenessModel::MultiPhotinus];

    pub fn code(self) -> &'static str {
        match self {
            LivenessModel::Blink => "LIVENESS",
            LivenessModel::MultiAction => "MULTI_ACTION",
            LivenessModel::Photinus => "PHOTINUS_LIVENESS",
            LivenessModel::MultiPhotinus => "MULTI_PHOTINUS",
        }
    }

    pub fn parse(code: &str) -> Option<LivenessModel> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    fn has_colours(self) -> bool {
        matches!(self, LivenessModel::Photinus | LivenessModel::MultiPhotinus)
    }
}

/// An action the person is asked to perform. Directions are the person's own: turning to their
/// left shows in the camera's (unmirrored) frames as the face turning toward the image's right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Blink,
    OpenMouth,
    TurnLeft,
    TurnRight,
    Nod,
}

impl Action {
    pub const ALL: [Action; 5] = [Action::Blink, Action::OpenMouth, Action::TurnLeft, Action::TurnRight, Action::Nod];
}

/// One prompted action and the time it has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub action: Action,
    /// When the prompt appears.
    pub at_ms: u32,
    /// How long the slot lasts: the action and the return to neutral happen inside it.
    pub window_ms: u32,
}

/// One colour the screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flash {
    /// sRGB colour, `#rrggbb`.
    pub colour: Colour,
    pub at_ms: u32,
    pub duration_ms: u32,
}

/// The screen colours a flash sequence draws from: saturated, so that each moves the skin's
/// chromaticity in its own direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Cyan,
    Magenta,
}

impl Colour {
    pub const ALL: [Colour; 6] =
        [Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow, Colour::Cyan, Colour::Magenta];

    /// The colour's light in linear RGB, each channel 0 or 1.
    pub fn linear_rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [1.0, 0.0, 0.0],
            Colour::Green => [0.0, 1.0, 0.0],
            Colour::Blue => [0.0, 0.0, 1.0],
            Colour::Yellow => [1.0, 1.0, 0.0],
            Colour::Cyan => [0.0, 1.0, 1.0],
            Colour::Magenta => [1.0, 0.0, 1.0],
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Colour::Red => "#ff0000",
            Colour::Green => "#00ff00",
            Colour::Blue => "#0000ff",
            Colour::Yellow => "#ffff00",
            Colour::Cyan => "#00ffff",
            Colour::Magenta => "#ff00ff",
        }
    }
}

/// What the page must show, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Challenge {
    pub liveness: LivenessModel,
    /// The still lead-in before the first prompt.
    pub lead_in_ms: u32,
    pub steps: Vec<Step>,
    pub flashes: Vec<Flash>,
    /// The capture ends here; frames must cover the whole challenge.
    pub duration_ms: u32,
    /// Frames per second the page should capture (at least 15).
    pub frame_rate: u32,
}

pub const LEAD_IN_MS: u32 = 1200;
pub const ACTION_WINDOW_MS: u32 = 2600;
pub const FLASH_MS: u32 = 450;
pub const FLASH_COUNT: usize = 8;
/// Stillness after the last flash, so the last colour's response is seen whole.
const TAIL_MS: u32 = 500;

/// Uniform random integer below `n` (rejection sampling over 32-bit draws).
fn below(n: u32) -> Result<u32, Error> {
    let zone = u32::MAX - u32::MAX % n;
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        let v = u32::from_le_bytes(b);
        if v < zone {
            return Ok(v % n);
        }
    }
}

/// A fresh random challenge for `model`.
pub fn issue(model: LivenessModel) -> Result<Challenge, Error> {
    let actions = match model {
        LivenessModel::Blink | LivenessModel::Photinus => vec![Action::Blink],
        LivenessModel::MultiAction | LivenessModel::MultiPhotinus => {
            let count = 2 + below(2)? as usize;
            let mut pool = Action::ALL.to_vec();
            let mut chosen = Vec::with_capacity(count);
            while chosen.len() < count {
                let pick = pool.remove(below(pool.len() as u32)? as usize);
                // Turning left then right (or back) in consecutive slots reads as one sway; keep
                // turns apart so each is judged from neutral.
                let turn = |a: &Action| matches!(a, Action::TurnLeft | Action::TurnRight);
                if turn(&pick) && chosen.last().is_some_and(turn) {
                    pool.push(pick);
                    if pool.iter().all(turn) {
                        break;
                    }
                    continue;
                }
                chosen.push(pick);
            }
            chosen
        }
    };
    let mut t = LEAD_IN_MS;
    let steps: Vec<Step> = actions
        .into_iter()
        .map(|action| {
            let step = Step { action, at_ms: t, window_ms: ACTION_WINDOW_MS };
            t += ACTION_WINDOW_MS;
            step
        })
        .collect();
    let mut flashes = Vec::new();
    if model.has_colours() {
        let mut previous: Option<Colour> = None;
        for _ in 0..FLASH_COUNT {
            let choices: Vec<Colour> = Colour::ALL.into_iter().filter(|c| Some(*c) != previous).collect();
            let colour = choices[below(choices.len() as u32)? as usize];
            flashes.push(Flash { colour, at_ms: t, duration_ms: FLASH_MS });
            previous = Some(colour);
            t += FLASH_MS;
        }
        t += TAIL_MS;
    }
    Ok(Challenge { liveness: model, lead_in_ms: LEAD_IN_MS, steps, flashes, duration_ms: t, frame_rate: 15 })
}

impl Challenge {
    /// The colour on screen at `t_ms`, if any.
    pub fn colour_at(&self, t_ms: f64) -> Option<Colour> {
        self.flashes
            .iter()
            .find(|f| t_ms >= f64::from(f.at_ms) && t_ms < f64::from(f.at_ms + f.duration_ms))
            .map(|f| f.colour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_their_model() {
        for model in LivenessModel::ALL {
            for _ in 0..50 {
                let c = issue(model).unwrap();
                match model {
                    LivenessModel::Blink | LivenessModel::Photinus => {
                        assert_eq!(c.steps.iter().map(|s| s.action).collect::<Vec<_>>(), [Action::Blink])
                    }
                    _ => assert!((2..=3).contains(&c.steps.len()), "{c:?}"),
                }
                assert_eq!(c.flashes.len(), if model.has_colours() { FLASH_COUNT } else { 0 });
                for pair in c.flashes.windows(2) {
                    assert_ne!(pair[0].colour, pair[1].colour);
                }
                let mut seen = std::collections::HashSet::new();
                assert!(c.steps.iter().all(|s| seen.insert(s.action)), "an action twice: {c:?}");
                let last =
                    c.flashes.last().map(|f| f.at_ms + f.duration_ms).or(c.steps.last().map(|s| s.at_ms + s.window_ms));
                assert!(c.duration_ms >= last.unwrap());
            }
        }
    }

    #[test]
    fn sequences_vary() {
        let a: Vec<_> = (0..20).map(|_| issue(LivenessModel::MultiPhotinus).unwrap()).collect();
        let distinct: std::collections::HashSet<String> = a.iter().map(|c| format!("{:?}", c.flashes)).collect();
        assert!(distinct.len() > 15);
    }
}
