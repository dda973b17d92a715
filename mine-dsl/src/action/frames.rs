//! Host-side single-frame actions in their three forms: env, factored, agent.

/// One environment action: camera movement in degrees and the 20 factored buttons.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct EnvActionFrame {
    /// Camera movement in degrees: `[pitch, yaw]`.
    pub camera: [f64; 2],
    /// Pressed buttons in [`BUTTONS_ALL`](super::BUTTONS_ALL) order.
    pub buttons: [bool; 20],
    /// The float type the camera was recorded in (it decides the bin at a bin edge, as in
    /// MineStudio); float64 unless a dataset stored float32.
    pub camera_dtype: super::CameraDType,
}

impl EnvActionFrame {
    /// Whether the named button (see [`BUTTONS_ALL`](super::BUTTONS_ALL)) is pressed; `None`
    /// for an unknown name.
    pub fn pressed(&self, name: &str) -> Option<bool> {
        super::button_index(name).map(|i| self.buttons[i])
    }
}

/// One agent action: the joint button class and the joint camera class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AgentActionFrame {
    /// Joint button class, `0..n_buttons` (8641 for VPT; 0 is "nothing", 8640 "inventory").
    pub buttons: u32,
    /// Joint camera class `pitch_bin * n_camera_bins + yaw_bin`, `0..n_camera` (121 for VPT;
    /// 60 is "no movement").
    pub camera: u32,
}

/// The intermediate (factored) form: camera bins and the 20 buttons, as MineStudio's
/// `ActionTransformer` produces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FactoredActionFrame {
    /// Camera bins `[pitch_bin, yaw_bin]`, each in `0..n_camera_bins`.
    pub camera: [u32; 2],
    /// Pressed buttons in [`BUTTONS_ALL`](super::BUTTONS_ALL) order.
    pub buttons: [bool; 20],
}
