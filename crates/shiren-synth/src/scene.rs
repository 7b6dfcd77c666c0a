//! What a frame shows: the actor's expression and pose, the light the screen casts, and the
//! camera (framing, exposure, white balance, noise).

/// The actor's state in one frame. `Default` is the photo as it is: eyes and mouth as
/// photographed, facing as photographed, no screen light.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Expression {
    /// 0 as photographed .. 1 fully closed (both eyes): the upper lid meets the lower lid.
    pub eye_closure: f32,
    /// 0 as photographed .. 1 wide open: the jaw drops by half the mouth's width.
    pub mouth_open: f32,
    /// Head turn in degrees; positive turns the face toward the image's right, the engine's
    /// yaw convention (`shiren_face::Pose`).
    pub yaw_deg: f32,
    /// Head nod in degrees; positive tilts the chin up, the engine's pitch convention.
    pub pitch_deg: f32,
    /// Light the screen casts on the face: linear RGB of the screen colour (each 0..1) times
    /// strength, i.e. how much the screen adds relative to the ambient light (e.g. 0.25).
    /// Zero is no flash.
    pub screen_light: [f32; 3],
}

impl Expression {
    /// The expression `u` of the way from `self` to `other` (0 = self, 1 = other).
    pub fn lerp(&self, other: &Expression, u: f32) -> Expression {
        let mix = |a: f32, b: f32| a + (b - a) * u;
        Expression {
            eye_closure: mix(self.eye_closure, other.eye_closure),
            mouth_open: mix(self.mouth_open, other.mouth_open),
            yaw_deg: mix(self.yaw_deg, other.yaw_deg),
            pitch_deg: mix(self.pitch_deg, other.pitch_deg),
            screen_light: [
                mix(self.screen_light[0], other.screen_light[0]),
                mix(self.screen_light[1], other.screen_light[1]),
                mix(self.screen_light[2], other.screen_light[2]),
            ],
        }
    }
}

/// The camera that films the actor.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// Output frame size in pixels, e.g. 640×480.
    pub width: usize,
    pub height: usize,
    /// Width of the engine's face box as a fraction of the frame width (0.3..0.6 is typical of
    /// a phone or laptop held at arm's length).
    pub face_width_fraction: f32,
    /// Face-box centre offset from the frame centre, as a fraction of the frame size (x of the
    /// width, y of the height).
    pub offset: [f32; 2],
    /// Ambient gain (exposure), 0.6..1.3.
    pub brightness: f32,
    /// Ambient white balance: a multiplier per linear RGB channel.
    pub tint: [f32; 3],
    /// Sensor noise standard deviation in 8-bit levels; deterministic per (seed, frame index).
    pub noise_sigma: f32,
    pub seed: u64,
}

impl Default for Camera {
    /// A 640×480 webcam with the face filling 45% of the width, neutral exposure and white
    /// balance, and light sensor noise.
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            face_width_fraction: 0.45,
            offset: [0.0, 0.0],
            brightness: 1.0,
            tint: [1.0, 1.0, 1.0],
            noise_sigma: 1.5,
            seed: 1,
        }
    }
}
