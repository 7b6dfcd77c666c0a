//! Synthetic face videos for liveness tests. No packaged face video exists, so the tests make
//! frame sequences from real still photos: an [`Actor`] (one photo and the face engine's 106
//! landmarks on it) is rendered with an [`Expression`] (eyelids, jaw, head turn and nod, light
//! cast by the screen) through a [`Camera`] (framing, exposure, white balance, sensor noise).
//! A [`Timeline`] eases between expressions over time; frames go out as JPEG
//! ([`encode_jpeg`]) or as a YUV4MPEG2 stream ([`Y4mWriter`]) that a browser's fake camera plays.
//!
//! The motion is made to be seen by the landmark model itself (the server judges liveness from
//! its readings), so it is geometric (warps of the photo driven by the landmarks, a head
//! ellipsoid turned in 3D) rather than painted; the colour response is computed in linear
//! light. What these frames prove and what they cannot is in `shared/LIVENESS.md`.

mod actor;
mod color;
mod noise;
mod output;
pub mod perform;
mod scene;
mod timeline;
mod warp;

pub use actor::Actor;
pub use noise::SplitMix64;
pub use output::{Y4mWriter, encode_jpeg, try_encode_jpeg};
pub use scene::{Camera, Expression};
pub use timeline::Timeline;

/// Why a synthetic actor or output could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The engine could not read the photo or find a face on it.
    #[error("the photo cannot serve as an actor: {0}")]
    Face(#[from] shiren_face::FaceError),
    /// The engine's landmarks are too degenerate to drive the rig (e.g. a zero-width eye).
    #[error("the face's landmarks are unusable: {0}")]
    Landmarks(String),
    #[error("image encoding failed: {0}")]
    Encode(String),
    #[error("invalid video parameters: {0}")]
    Video(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
