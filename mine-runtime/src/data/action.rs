//! Action chunks: a dict of numpy arrays (20 buttons as `int64 (32,)`, `camera` as `float64 (32, 2)`).

use super::error::{DataError, DataResult, Location};
use super::pickle::{self, PyValue};

/// Button names in VPT's `Buttons.ALL` order, the order of [`EnvAction::buttons`].
pub const ENV_BUTTONS: [&str; 20] = [
    "attack",
    "back",
    "forward",
    "jump",
    "left",
    "right",
    "sneak",
    "sprint",
    "use",
    "drop",
    "inventory",
    "hotbar.1",
    "hotbar.2",
    "hotbar.3",
    "hotbar.4",
    "hotbar.5",
    "hotbar.6",
    "hotbar.7",
    "hotbar.8",
    "hotbar.9",
];

/// One frame's environment action.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EnvAction {
    /// Button states in [`ENV_BUTTONS`] order (0 or 1; padding is 0).
    pub buttons: [i64; 20],
    /// Camera move `[pitch, yaw]` in degrees.
    pub camera: [f64; 2],
}

impl EnvAction {
    /// The value of a button by its MineStudio name.
    pub fn button(&self, name: &str) -> Option<i64> {
        ENV_BUTTONS
            .iter()
            .position(|b| *b == name)
            .map(|i| self.buttons[i])
    }
}

/// Decodes one action chunk into per-frame actions.
pub fn decode_action_chunk(bytes: &[u8], at: &Location) -> DataResult<Vec<EnvAction>> {
    let bad = |message: String| DataError::Pickle {
        at: at.clone(),
        message,
    };
    let value = pickle::loads(bytes).map_err(|e| bad(e.to_string()))?;
    if !matches!(value, PyValue::Dict(_)) {
        return Err(bad(format!(
            "action chunk is a {}, expected a dict",
            value.type_name()
        )));
    }
    let array = |key: &str| match value.get(key) {
        Some(PyValue::Array(a)) => Ok(a),
        Some(other) => Err(bad(format!(
            "`{key}` is a {}, expected an array",
            other.type_name()
        ))),
        None => Err(bad(format!("action chunk has no `{key}`"))),
    };
    let camera = array("camera")?;
    if camera.shape.len() != 2 || camera.shape[1] != 2 {
        return Err(bad(format!(
            "`camera` has shape {:?}, expected (n, 2)",
            camera.shape
        )));
    }
    let n = camera.shape[0];
    let cam = camera.to_f64();
    let mut frames: Vec<EnvAction> = (0..n)
        .map(|i| EnvAction {
            buttons: [0; 20],
            camera: [cam[2 * i], cam[2 * i + 1]],
        })
        .collect();
    for (b, name) in ENV_BUTTONS.iter().enumerate() {
        let a = array(name)?;
        if a.shape.first() != Some(&n) || a.len() != n {
            return Err(bad(format!(
                "`{name}` has shape {:?}, `camera` has {n} frames",
                a.shape
            )));
        }
        for (f, v) in frames.iter_mut().zip(a.to_i64()) {
            f.buttons[b] = v;
        }
    }
    Ok(frames)
}
