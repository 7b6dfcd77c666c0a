//! Each rule on series made to pass it and made to break it.

use super::*;
use crate::sessions::challenge::{ACTION_WINDOW_MS, FLASH_MS, Flash, LEAD_IN_MS, LivenessModel, Step};

fn challenge(actions: &[Action], colours: &[Colour]) -> Challenge {
    let mut t = LEAD_IN_MS;
    let steps = actions
        .iter()
        .map(|&action| {
            let s = Step { action, at_ms: t, window_ms: ACTION_WINDOW_MS };
            t += ACTION_WINDOW_MS;
            s
        })
        .collect();
    let flashes: Vec<Flash> = colours
        .iter()
        .map(|&colour| {
            let f = Flash { colour, at_ms: t, duration_ms: FLASH_MS };
            t += FLASH_MS;
            f
        })
        .collect();
    if !flashes.is_empty() {
        t += 500;
    }
    Challenge {
        liveness: LivenessModel::MultiPhotinus,
        lead_in_ms: LEAD_IN_MS,
        steps,
        flashes,
        duration_ms: t,
        frame_rate: 15,
    }
}

/// A person performing `performed` (action, start ms) and reflecting `reflected` colours with a
/// 120 ms delay, filmed at 15 fps.
fn film(c: &Challenge, performed: &[(Action, f64)], reflected: &[Flash]) -> Vec<FrameReading> {
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= f64::from(c.duration_ms) + 30.0 {
        let mut f = FrameReading {
            t_ms: t,
            face: true,
            detected_faces: Some(1),
            eye_openness: 0.3,
            mouth_openness: 0.05,
            yaw: 1.0,
            pitch: -2.0,
            skin_rgb: [0.30, 0.22, 0.18],
            face_width_fraction: 0.4,
        };
        for &(action, at) in performed {
            // A bump lasting 600 ms (a blink 200 ms), smooth in and out.
            let length = if action == Action::Blink { 200.0 } else { 700.0 };
            let phase = (t - at) / length;
            if (0.0..1.0).contains(&phase) {
                let amount = (std::f64::consts::PI * phase).sin() as f32;
                match action {
                    Action::Blink => f.eye_openness *= 1.0 - 0.8 * amount,
                    Action::OpenMouth => f.mouth_openness += 0.3 * amount,
                    Action::TurnLeft => f.yaw += 15.0 * amount,
                    Action::TurnRight => f.yaw -= 15.0 * amount,
                    Action::Nod => f.pitch -= 10.0 * amount,
                }
            }
        }
        let seen = t - 120.0;
        if let Some(flash) =
            reflected.iter().find(|fl| seen >= f64::from(fl.at_ms) && seen < f64::from(fl.at_ms + fl.duration_ms))
        {
            for (skin, light) in f.skin_rgb.iter_mut().zip(flash.colour.linear_rgb()) {
                *skin += 0.06 * light;
            }
        }
        // Sensor noise, deterministic.
        let n = ((t * 12.9898).sin() * 43758.5453).fract() as f32 - 0.5;
        f.skin_rgb[1] += 0.002 * n;
        out.push(f);
        t += 66.7;
    }
    out
}

fn genuine(c: &Challenge) -> Vec<FrameReading> {
    let performed: Vec<(Action, f64)> = c.steps.iter().map(|s| (s.action, f64::from(s.at_ms) + 600.0)).collect();
    film(c, &performed, &c.flashes)
}

fn settings() -> InteractiveSettings {
    InteractiveSettings::default()
}

fn all_pass(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.passed)
}

const SEQUENCE: [Colour; 8] = [
    Colour::Red,
    Colour::Cyan,
    Colour::Blue,
    Colour::Yellow,
    Colour::Green,
    Colour::Magenta,
    Colour::Red,
    Colour::Blue,
];

#[test]
fn a_genuine_performance_passes_every_check() {
    let c = challenge(&[Action::TurnLeft, Action::Blink, Action::OpenMouth], &SEQUENCE);
    let frames = genuine(&c);
    let s = settings();
    let b = baseline(&frames, &c);
    let checks = actions(&frames, &c, &b, &s);
    assert!(all_pass(&checks), "{checks:#?}");
    let colour = colour_response(&frames, &c, &s).unwrap();
    assert!(colour.passed, "{colour:#?}");
    assert!(timing(&frames, &c, f64::from(c.duration_ms) + 800.0, &s).passed);
    assert!(one_face(&frames, &s).passed && face_size(&frames, &s).passed);
}

#[test]
fn every_action_is_recognised_from_neutral() {
    for action in Action::ALL {
        let c = challenge(&[action], &[]);
        let frames = genuine(&c);
        let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
        assert!(all_pass(&checks), "{action:?}: {checks:#?}");
    }
}

#[test]
fn a_still_face_fails_every_action() {
    let c = challenge(&[Action::Blink, Action::Nod], &[]);
    let frames = film(&c, &[], &[]);
    let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
    assert!(checks.iter().all(|c| !c.passed), "{checks:#?}");
}

#[test]
fn the_right_actions_in_the_wrong_order_fail() {
    let c = challenge(&[Action::TurnLeft, Action::OpenMouth, Action::Nod], &[]);
    let swapped = [(Action::OpenMouth, 1800.0), (Action::TurnLeft, 4400.0), (Action::Nod, 7000.0)];
    let frames = film(&c, &swapped, &[]);
    let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
    assert!(!all_pass(&checks), "{checks:#?}");
}

#[test]
fn every_action_at_once_fails_as_other_actions() {
    // A recording that does everything in every slot cannot answer a random challenge.
    let c = challenge(&[Action::TurnLeft, Action::OpenMouth], &[]);
    let mut performed = Vec::new();
    for step in &c.steps {
        let at = f64::from(step.at_ms) + 400.0;
        performed.extend([(Action::TurnLeft, at), (Action::TurnRight, at + 800.0), (Action::OpenMouth, at + 200.0)]);
    }
    let frames = film(&c, &performed, &[]);
    let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
    assert!(!all_pass(&checks), "{checks:#?}");
}

#[test]
fn an_action_before_its_prompt_fails() {
    let c = challenge(&[Action::OpenMouth], &[]);
    // Performed 50 ms after the prompt: faster than a person can react.
    let frames = film(&c, &[(Action::OpenMouth, f64::from(LEAD_IN_MS) - 400.0)], &[]);
    let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
    assert!(!checks[0].passed, "{checks:#?}");
}

#[test]
fn a_held_action_that_never_returns_to_neutral_fails() {
    let c = challenge(&[Action::TurnLeft], &[]);
    let mut frames = genuine(&c);
    for f in frames.iter_mut().filter(|f| f.t_ms > f64::from(LEAD_IN_MS) + 600.0) {
        f.yaw = 16.0;
    }
    let checks = actions(&frames, &c, &baseline(&frames, &c), &settings());
    assert!(!checks[0].passed && checks[0].measured["back_to_neutral"] == false, "{checks:#?}");
}

#[test]
fn no_colour_response_fails() {
    let c = challenge(&[Action::Blink], &SEQUENCE);
    let performed: Vec<(Action, f64)> = c.steps.iter().map(|s| (s.action, f64::from(s.at_ms) + 600.0)).collect();
    let frames = film(&c, &performed, &[]);
    let check = colour_response(&frames, &c, &settings()).unwrap();
    assert!(!check.passed, "{check:#?}");
}

#[test]
fn the_response_to_another_sequence_fails() {
    let c = challenge(&[Action::Blink], &SEQUENCE);
    let other = challenge(
        &[Action::Blink],
        &[
            Colour::Green,
            Colour::Magenta,
            Colour::Yellow,
            Colour::Blue,
            Colour::Red,
            Colour::Cyan,
            Colour::Green,
            Colour::Yellow,
        ],
    );
    let performed: Vec<(Action, f64)> = c.steps.iter().map(|s| (s.action, f64::from(s.at_ms) + 600.0)).collect();
    let frames = film(&c, &performed, &other.flashes);
    let check = colour_response(&frames, &c, &settings()).unwrap();
    assert!(!check.passed, "{check:#?}");
}

#[test]
fn frames_faster_than_real_time_fail() {
    let c = challenge(&[Action::Blink], &[]);
    let frames = genuine(&c);
    let s = settings();
    // The upload came 1 s after the challenge was issued, carrying 3.8 s of frames.
    let check = timing(&frames, &c, 1000.0, &s);
    assert!(!check.passed && check.measured["within_real_time"] == false, "{check:#?}");
    let mut shuffled = frames.clone();
    shuffled.swap(3, 4);
    assert!(!timing(&shuffled, &c, 10_000.0, &s).passed);
    let sparse: Vec<FrameReading> = frames.iter().step_by(6).cloned().collect();
    assert!(!timing(&sparse, &c, 10_000.0, &s).passed);
    let short: Vec<FrameReading> = frames.iter().take(10).cloned().collect();
    assert!(!timing(&short, &c, 10_000.0, &s).passed);
}

#[test]
fn a_second_face_or_a_lost_face_fails() {
    let c = challenge(&[Action::Blink], &[]);
    let mut frames = genuine(&c);
    frames[16].detected_faces = Some(2);
    assert!(!one_face(&frames, &settings()).passed);
    let mut lost = genuine(&c);
    for f in lost.iter_mut().take(20) {
        f.face = false;
    }
    assert!(!one_face(&lost, &settings()).passed);
}

#[test]
fn not_a_number_never_passes() {
    let c = challenge(&[Action::Blink], &SEQUENCE);
    let mut frames = genuine(&c);
    for f in &mut frames {
        f.eye_openness = f32::NAN;
        f.skin_rgb = [f32::NAN; 3];
        f.face_width_fraction = f32::NAN;
    }
    let s = settings();
    assert!(!all_pass(&actions(&frames, &c, &baseline(&frames, &c), &s)));
    assert!(!colour_response(&frames, &c, &s).unwrap().passed);
    assert!(!face_size(&frames, &s).passed);
}
