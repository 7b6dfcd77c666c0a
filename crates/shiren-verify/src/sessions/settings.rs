//! A scene's settings for interactive sessions: the consent text the capture page shows, and
//! every threshold of the liveness judgement, with the defaults and what each one means. The
//! action thresholds are in the engine's own units (its landmark model under-reads head turns:
//! a 25° turn reads as about 12°, see LIVENESS.md), measured against the session's neutral
//! baseline.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// The authorisation (授权) the person agrees to before the camera starts. Its version is
/// recorded with the consent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentText {
    pub version: String,
    /// What the verification is for, shown as the page's heading.
    pub purpose_zh: String,
    pub purpose_en: String,
    pub text_zh: String,
    pub text_en: String,
}

impl Default for ConsentText {
    fn default() -> Self {
        Self {
            version: "2026-12-01".into(),
            purpose_zh: "身份核验".into(),
            purpose_en: "Identity verification".into(),
            text_zh: "为确认是您本人操作，我们将开启摄像头采集您的人脸图像，仅用于本次实人认证，\
                      由本机构的服务器处理，不会发送给第三方。除非您另行授权，原始图像在认证完成后即删除。\
                      您可以拒绝，拒绝后本次认证结束。"
                .into(),
            text_en: "To confirm that it is really you, we will turn on the camera and capture images of your \
                      face, used only for this verification and processed on this organisation's own servers, \
                      never sent to third parties. Unless you agree separately, the raw images are deleted as \
                      soon as the verification ends. You may decline; the verification then ends."
                .into(),
        }
    }
}

/// The default screen-trace limit, between what was measured on generated captures: faces
/// filmed directly 5-49 (40 sessions, median 9; the tail comes from upscaling small test
/// photos, whose own JPEG blocks become periodic), the same performance with a screen's pixel
/// grid at 8% contrast 104. No real recapture was available to measure: operators should
/// calibrate on their own cameras (the value is in every session's material).
pub const SCREEN_PATTERN_DEFAULT: f32 = 70.0;

/// Thresholds of the interactive liveness judgement.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InteractiveSettings {
    /// Blink: eye openness falls by at least this share of its neutral value.
    pub blink_drop: f32,
    /// Blink: the eyes stay closed at most this long (a real blink lasts 100-400 ms).
    pub max_blink_ms: u32,
    /// Open mouth: mouth openness (inner-lip gap over mouth width) rises by at least this.
    pub mouth_rise: f32,
    /// Turns: the engine's yaw moves at least this many degrees from neutral.
    pub turn_degrees: f32,
    /// Nod: the engine's pitch moves at least this many degrees from neutral.
    pub nod_degrees: f32,
    /// An action counts only this long after its prompt appeared (human reaction time).
    pub min_reaction_ms: u32,
    /// The last part of each action's slot, in which the face must be back at neutral.
    pub settle_ms: u32,
    /// "Back at neutral": within this share of the action's threshold.
    pub neutral_fraction: f32,
    /// Colour flash: correlation of the skin's colour with the issued sequence, at the best lag.
    pub min_colour_correlation: f32,
    /// Colour flash: share of the screen's chromaticity swing the skin must show.
    pub min_colour_gain: f32,
    /// Colour flash: the most the response may lag the screen.
    pub max_colour_lag_ms: u32,
    /// Colour flash: share of colour changes that must be seen at that lag.
    pub min_transitions_seen: f32,
    /// Same person: cosine similarity of every sampled frame's face to the best frame's.
    pub min_identity_similarity: f32,
    /// Share of frames in which a face must be tracked.
    pub min_face_share: f32,
    /// Face box width over frame width (median).
    pub min_face_width: f32,
    pub min_frame_rate: f32,
    pub max_frame_rate: f32,
    /// The longest gap between two frames.
    pub max_frame_gap_ms: u32,
    /// Allowance for the page's and the server's clocks when checking that the capture was
    /// not longer than the time that passed on the server.
    pub clock_slack_ms: f64,
    /// Days the digests of accepted frames are kept for the replay check.
    pub frame_digest_days: u32,
    /// Quality (0-100) the best frame needs.
    pub min_best_frame_quality: f32,
    /// Screen or print traces: the median, over the frames the detector ran on, of the
    /// strongest periodic peak on the face, in multiples of the spectrum's level there, must
    /// stay at or below this; 0 turns the check off.
    pub max_screen_pattern: f32,
}

impl Default for InteractiveSettings {
    fn default() -> Self {
        Self {
            blink_drop: 0.25,
            max_blink_ms: 800,
            mouth_rise: 0.12,
            turn_degrees: 7.0,
            nod_degrees: 5.0,
            min_reaction_ms: 150,
            settle_ms: 400,
            neutral_fraction: 0.5,
            min_colour_correlation: 0.6,
            min_colour_gain: 0.02,
            max_colour_lag_ms: 400,
            min_transitions_seen: 0.8,
            min_identity_similarity: 0.45,
            min_face_share: 0.9,
            min_face_width: 0.2,
            min_frame_rate: 12.0,
            max_frame_rate: 61.0,
            max_frame_gap_ms: 300,
            clock_slack_ms: 500.0,
            frame_digest_days: 30,
            min_best_frame_quality: 30.0,
            max_screen_pattern: SCREEN_PATTERN_DEFAULT,
        }
    }
}

impl InteractiveSettings {
    pub fn validate(&self) -> Result<(), Error> {
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let ok = unit(self.blink_drop)
            && self.blink_drop > 0.0
            && positive(self.mouth_rise)
            && positive(self.turn_degrees)
            && self.turn_degrees <= 45.0
            && positive(self.nod_degrees)
            && self.nod_degrees <= 45.0
            && unit(self.neutral_fraction)
            && (-1.0..=1.0).contains(&self.min_colour_correlation)
            && (0.0..=1.0).contains(&self.min_colour_gain)
            && unit(self.min_transitions_seen)
            && (-1.0..=1.0).contains(&self.min_identity_similarity)
            && unit(self.min_face_share)
            && unit(self.min_face_width)
            && positive(self.min_frame_rate)
            && self.max_frame_rate >= self.min_frame_rate
            && self.max_frame_rate <= 120.0
            && self.max_frame_gap_ms >= 50
            && self.max_colour_lag_ms <= 2000
            && (0.0..=10_000.0).contains(&self.clock_slack_ms)
            && (1..=3650).contains(&self.frame_digest_days)
            && (0.0..=100.0).contains(&self.min_best_frame_quality)
            && (0.0..=1.0e6).contains(&self.max_screen_pattern);
        if ok {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::InvalidLivenessSettings, "an interactive liveness setting is out of range"))
        }
    }
}
