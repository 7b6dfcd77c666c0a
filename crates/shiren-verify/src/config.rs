//! What the verification core is told by whoever runs it: model location, worker and memory
//! bounds, image limits and the URL policy, image links, the authority provider and the optional
//! PAD model. Surfaces build it from their own configuration (the server from its TOML file).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shiren_face::pad::PadSettings;

use crate::authority::AuthorityConfig;

#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// The model directory; `None`: `SHIREN_MODEL_DIR` or the user's data directory.
    pub model_dir: Option<PathBuf>,
    /// Inference workers (one per core is right: each model session is single-threaded) and
    /// how many requests may wait for one.
    pub workers: usize,
    pub queue: usize,
    /// Memory images being decoded and examined may take at once, and how long work waits for
    /// room before it is refused.
    pub decode_memory_bytes: u64,
    pub decode_memory_wait: Duration,
    /// Largest decoded image, width × height.
    pub max_image_pixels: u64,
    pub images: ImageLimits,
    /// Lifetime of image links, seconds.
    pub image_link_secs: i64,
    pub authority: AuthorityConfig,
    pub pad: Option<PadSettings>,
    pub sessions: SessionLimits,
    /// The face thresholds (cosine per FAR level): the defaults, or an operator's calibration.
    pub calibration: shiren_face::Calibration,
}

/// Interactive sessions: how long they live, and how callbacks are retried.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SessionLimits {
    /// How long a capture link stays valid, seconds.
    pub lifetime_secs: i64,
    /// How long after the challenge is issued its frames may still arrive, beyond the
    /// challenge's own length, seconds.
    pub upload_grace_secs: i64,
    /// The first callback retry waits this long; each next one three times longer.
    pub callback_retry_secs: i64,
    /// Callback deliveries tried in all (with the default 15 s, 8 tries span about 2.7 hours).
    pub callback_attempts: i64,
    pub callback_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            lifetime_secs: 1800,
            upload_grace_secs: 120,
            callback_retry_secs: 15,
            callback_attempts: 8,
            callback_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            model_dir: None,
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            queue: 16,
            decode_memory_bytes: 384 << 20,
            decode_memory_wait: Duration::from_secs(10),
            max_image_pixels: shiren_face::DecodeLimits::default().max_pixels,
            images: ImageLimits::default(),
            image_link_secs: 300,
            authority: AuthorityConfig::default(),
            pad: None,
            sessions: SessionLimits::default(),
            calibration: shiren_face::Calibration::default(),
        }
    }
}

/// How images may arrive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ImageLimits {
    /// Largest single image, bytes (after base64 decoding).
    pub max_image_bytes: usize,
    /// Image URLs: time limit, and whether private and loopback addresses may be fetched.
    pub url_fetch_timeout: Duration,
    pub url_fetch_allow_private: bool,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_image_bytes: 5 << 20, url_fetch_timeout: Duration::from_secs(5), url_fetch_allow_private: false }
    }
}
