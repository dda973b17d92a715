//! Host frames <-> batch tensors ([`AgentAction`], [`EnvAction`]).

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{ActionError, AgentActionFrame, CameraDType, EnvActionFrame};
use crate::batch::{AgentAction, EnvAction};

/// Checks that `frames` is a non-empty rectangle and returns `(B, T)`.
fn rectangle<F>(frames: &[Vec<F>]) -> Result<(usize, usize), ActionError> {
    let expected = frames.first().map_or(0, Vec::len);
    if frames.is_empty() || expected == 0 {
        return Err(ActionError::RaggedFrames {
            row: 0,
            len: expected,
            expected: 1,
        });
    }
    if let Some((row, r)) = frames.iter().enumerate().find(|(_, r)| r.len() != expected) {
        return Err(ActionError::RaggedFrames {
            row,
            len: r.len(),
            expected,
        });
    }
    Ok((frames.len(), expected))
}

/// Reads a tensor to the host as `i64` values with its shape.
fn read_ints<const D: usize>(
    tensor: Tensor<D, Int>,
    field: &'static str,
) -> Result<(Vec<usize>, Vec<i64>), ActionError> {
    let shape = tensor.dims().to_vec();
    let read_err = |reason: String| ActionError::TensorRead { field, reason };
    let data = tensor
        .try_into_data()
        .map_err(|e| read_err(e.to_string()))?;
    let values = data
        .try_into_vec_as::<i64>()
        .map_err(|e| read_err(e.to_string()))?;
    Ok((shape, values))
}

/// Splits a flat row-major `[B, T, ..]` vector into `[B][T]` frames.
fn to_rows<F>(values: Vec<F>, b: usize, t: usize) -> Vec<Vec<F>> {
    let mut it = values.into_iter();
    (0..b).map(|_| it.by_ref().take(t).collect()).collect()
}

impl AgentAction {
    /// Builds `[B, T, 1]` class tensors on `device` from `[B][T]` frames.
    ///
    /// Every row must have the same, non-zero number of frames.
    pub fn from_frames(
        frames: &[Vec<AgentActionFrame>],
        device: &Device,
    ) -> Result<Self, ActionError> {
        let (b, t) = rectangle(frames)?;
        let flat = frames.iter().flatten();
        let buttons: Vec<i64> = flat.clone().map(|f| i64::from(f.buttons)).collect();
        let camera: Vec<i64> = flat.map(|f| i64::from(f.camera)).collect();
        Ok(Self {
            buttons: Tensor::from_data(TensorData::new(buttons, [b, t, 1]), device),
            camera: Tensor::from_data(TensorData::new(camera, [b, t, 1]), device),
        })
    }

    /// Reads the classes back to the host as `[B][T]` frames.
    ///
    /// Fails on a shape other than `[B, T, 1]` or a negative (or > u32) class; it does not check the upper
    /// bound (use [`ActionSpace::agent_to_env`](super::ActionSpace::agent_to_env) for that).
    pub fn to_frames(&self) -> Result<Vec<Vec<AgentActionFrame>>, ActionError> {
        let (bs, buttons) = read_ints(self.buttons.clone(), "agent_action.buttons")?;
        let (cs, camera) = read_ints(self.camera.clone(), "agent_action.camera")?;
        if bs[2] != 1 || cs != bs {
            let (field, found) = if bs[2] != 1 {
                ("agent_action.buttons", bs)
            } else {
                ("agent_action.camera", cs)
            };
            return Err(ActionError::BadShape {
                field,
                found,
                expected: "[B, T, 1], the same for buttons and camera",
            });
        }
        let to_u32 = |class: i64, field: &'static str| {
            u32::try_from(class).map_err(|_| ActionError::NegativeClass { field, class })
        };
        let frames = buttons
            .into_iter()
            .zip(camera)
            .map(|(b, c)| {
                Ok(AgentActionFrame {
                    buttons: to_u32(b, "agent_action.buttons")?,
                    camera: to_u32(c, "agent_action.camera")?,
                })
            })
            .collect::<Result<Vec<_>, ActionError>>()?;
        Ok(to_rows(frames, bs[0], bs[1]))
    }
}

impl EnvAction {
    /// Builds the `[B, T, 2]` camera (degrees, as floats of the device's float type) and
    /// `[B, T, 20]` 0/1 button tensors on `device` from `[B][T]` frames.
    ///
    /// Every row must have the same, non-zero number of frames.
    pub fn from_frames(
        frames: &[Vec<EnvActionFrame>],
        device: &Device,
    ) -> Result<Self, ActionError> {
        let (b, t) = rectangle(frames)?;
        let flat = frames.iter().flatten();
        let camera: Vec<f64> = flat.clone().flat_map(|f| f.camera).collect();
        let buttons: Vec<i64> = flat.flat_map(|f| f.buttons.map(i64::from)).collect();
        Ok(Self {
            camera: Tensor::from_data(TensorData::new(camera, [b, t, 2]), device),
            buttons: Tensor::from_data(TensorData::new(buttons, [b, t, 20]), device),
        })
    }

    /// Reads the actions back to the host as `[B][T]` frames; any non-zero button value
    /// counts as pressed. Fails on shapes other than `[B, T, 2]` and `[B, T, 20]`.
    pub fn to_frames(&self) -> Result<Vec<Vec<EnvActionFrame>>, ActionError> {
        let cs = self.camera.dims();
        let (bs, buttons) = read_ints(self.buttons.clone(), "env_action.buttons")?;
        if cs[2] != 2 {
            return Err(ActionError::BadShape {
                field: "env_action.camera",
                found: cs.to_vec(),
                expected: "[B, T, 2]",
            });
        }
        if bs[2] != 20 || bs[..2] != cs[..2] {
            return Err(ActionError::BadShape {
                field: "env_action.buttons",
                found: bs,
                expected: "[B, T, 20] with the camera's B and T",
            });
        }
        let camera = self
            .camera
            .clone()
            .try_into_data()
            .map_err(|e| e.to_string())
            .and_then(|d| d.try_into_vec_as::<f64>().map_err(|e| e.to_string()))
            .map_err(|reason| ActionError::TensorRead {
                field: "env_action.camera",
                reason,
            })?;
        let frames = camera
            .chunks_exact(2)
            .zip(buttons.chunks_exact(20))
            .map(|(c, bt)| EnvActionFrame {
                camera: [c[0], c[1]],
                buttons: std::array::from_fn(|i| bt[i] != 0),
                camera_dtype: CameraDType::F64,
            })
            .collect();
        Ok(to_rows(frames, cs[0], cs[1]))
    }
}
