//! Action chunks: a dict of numpy arrays (20 buttons as `int64 (32,)`, `camera` as `float64 (32, 2)`).

use mine_dsl::action::{BUTTONS_ALL, CameraDType, EnvActionFrame};

use super::error::{DataError, DataResult, Location};
use super::pickle::{self, DType, PyValue};

/// Decodes one action chunk into per-frame env actions (a non-zero button value is pressed).
pub fn decode_action_chunk(bytes: &[u8], at: &Location) -> DataResult<Vec<EnvActionFrame>> {
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
    // MineStudio quantizes the array in its own dtype (see `CameraDType`).
    let camera_dtype = match camera.dtype {
        DType::Float(4) => CameraDType::F32,
        _ => CameraDType::F64,
    };
    let mut frames: Vec<EnvActionFrame> = (0..n)
        .map(|i| EnvActionFrame {
            camera: [cam[2 * i], cam[2 * i + 1]],
            buttons: [false; 20],
            camera_dtype,
        })
        .collect();
    for (b, name) in BUTTONS_ALL.iter().enumerate() {
        let a = array(name)?;
        if a.shape.first() != Some(&n) || a.len() != n {
            return Err(bad(format!(
                "`{name}` has shape {:?}, `camera` has {n} frames",
                a.shape
            )));
        }
        for (f, v) in frames.iter_mut().zip(a.to_i64()) {
            f.buttons[b] = v != 0;
        }
    }
    Ok(frames)
}
