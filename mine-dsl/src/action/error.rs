//! Errors of the VPT action space and its tensor helpers.

use thiserror::Error;

/// What can go wrong when building the action space or converting actions.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ActionError {
    /// The [`ActionSpaceConfig`](super::ActionSpaceConfig) is inconsistent; the message names
    /// the field and the fix.
    #[error("invalid action space config: {0}")]
    InvalidConfig(String),
    /// A joint button class outside `0..n_buttons`.
    #[error(
        "button class {class} is out of range: the action space has {n_buttons} button classes \
         (valid classes are 0..{n_buttons})"
    )]
    ButtonClassOutOfRange {
        /// The offending class.
        class: i64,
        /// The number of button classes of the action space.
        n_buttons: usize,
    },
    /// A joint camera class outside `0..n_camera`.
    #[error(
        "camera class {class} is out of range: the action space has {n_camera} camera classes \
         (valid classes are 0..{n_camera})"
    )]
    CameraClassOutOfRange {
        /// The offending class.
        class: i64,
        /// The number of camera classes of the action space.
        n_camera: usize,
    },
    /// A class tensor holding a negative value (or one beyond `u32`).
    #[error("action tensor `{field}` holds class {class}, which is not a valid class index")]
    NegativeClass {
        /// Which tensor.
        field: &'static str,
        /// The offending value.
        class: i64,
    },
    /// A factored camera bin outside `0..n_camera_bins`.
    #[error(
        "camera bin {bin} is out of range: the action space has {n_camera_bins} bins per axis \
         (valid bins are 0..{n_camera_bins})"
    )]
    CameraBinOutOfRange {
        /// The offending bin.
        bin: u32,
        /// The number of bins per camera axis.
        n_camera_bins: u32,
    },
    /// The rows of a `[B][T]` frame slice do not all have the same length, or it is empty.
    #[error(
        "cannot build a [B, T] action tensor: row {row} has {len} frames but row 0 has \
         {expected}; pad every row to the same length T >= 1"
    )]
    RaggedFrames {
        /// Index of the first offending row.
        row: usize,
        /// Its number of frames.
        len: usize,
        /// The number of frames of row 0.
        expected: usize,
    },
    /// An action tensor whose shape is not the documented one.
    #[error("action tensor `{field}` has shape {found:?}, expected {expected}")]
    BadShape {
        /// Which tensor (e.g. `agent_action.buttons`).
        field: &'static str,
        /// Its shape.
        found: Vec<usize>,
        /// A description of the expected shape.
        expected: &'static str,
    },
    /// Reading an action tensor back to the host failed.
    #[error("could not read action tensor `{field}` back to the host: {reason}")]
    TensorRead {
        /// Which tensor.
        field: &'static str,
        /// The backend's message.
        reason: String,
    },
    /// A sampling temperature that is not a finite positive number.
    #[error(
        "sampling temperature {0} is invalid: use a finite value > 0 \
         (or Sampling::Deterministic for argmax)"
    )]
    InvalidTemperature(f64),
}
