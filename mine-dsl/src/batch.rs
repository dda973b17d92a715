//! The batch an experiment step sees: typed tensors plus host-side bookkeeping.

use burn::tensor::{Int, Tensor};

/// VPT agent actions as class indices: the policy-side form of an action.
///
/// `buttons` indexes one of 8641 joint button combinations and `camera` one of 121 camera
/// classes (60 is "no camera move"). Both have shape `[B, T, 1]`.
#[derive(Clone, Debug)]
pub struct AgentAction {
    /// Joint button class per frame, `[B, T, 1]`, values in `0..8641`.
    pub buttons: Tensor<3, Int>,
    /// Camera class per frame, `[B, T, 1]`, values in `0..121`.
    pub camera: Tensor<3, Int>,
}

/// Minecraft environment actions in their raw (factored) form.
///
/// `camera` is `[B, T, 2]` (pitch, yaw in degrees); `buttons` is `[B, T, 20]` with 0/1 values in
/// the order of [`crate::action::BUTTONS_ALL`].
#[derive(Clone, Debug)]
pub struct EnvAction {
    /// Camera movement in degrees, `[B, T, 2]` (pitch, yaw).
    pub camera: Tensor<3>,
    /// Pressed buttons, `[B, T, 20]`, 0 or 1.
    pub buttons: Tensor<3, Int>,
}

/// What MineStudio's segmentation modality gives each frame: the mask of the object the agent
/// should interact with and the kind of interaction (ROCKET-1's conditioning).
///
/// MineStudio's `SegmentationKernelCallback` delivers these as `segmentation.obj_mask` (uint8,
/// 0/1) and `segmentation.obj_id` (int64); a frame without an object has an all-zero mask and
/// `obj_id = -1`, and padded frames have `obj_id = 0`.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// The object mask, `[B, T, H, W]` floats holding 0 or 1 (the frame's height and width).
    pub obj_mask: Tensor<4>,
    /// The interaction type per frame, `[B, T]`, values in `-1..=8` (`-1`: no object).
    pub obj_id: Tensor<2, Int>,
}

/// One training or validation batch.
///
/// Every modality is optional: a dataset fills what it reads, objectives declare what they need
/// with `#[batch]` parameters, and a missing required field is reported by name.
/// Tensors have batch dimension `B` first and time dimension `T` second.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Frames as `[B, T, H, W, C]` floats holding the raw 0..=255 pixel values (RGB).
    pub image: Option<Tensor<5>>,
    /// Agent actions (class indices) for each frame.
    pub agent_action: Option<AgentAction>,
    /// Environment actions (raw form) for each frame.
    pub env_action: Option<EnvAction>,
    /// Agent actions of the previous frame (when the dataset reads previous actions).
    pub agent_prev_action: Option<AgentAction>,
    /// Environment actions of the previous frame (when the dataset reads previous actions).
    pub env_prev_action: Option<EnvAction>,
    /// 1.0 for real frames and 0.0 for padding, `[B, T]`.
    pub mask: Option<Tensor<2>>,
    /// The object to interact with in each frame (MineStudio's `segmentation` modality).
    pub segmentation: Option<Segmentation>,
    /// Host-side bookkeeping: episode names, timestamps, progress.
    pub info: BatchInfo,
}

/// Host-side facts about each row of a batch; the trainer's memory manager reads them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchInfo {
    /// Episode name of each row.
    pub episode: Vec<String>,
    /// Frame index within its episode for each row and time step, `[B][T]`.
    pub timestamp: Vec<Vec<i64>>,
    /// MineStudio's progress string per row (`"<window>/<windows>"`).
    pub progress: Vec<String>,
}

/// A batch lacks a field that a policy or objective needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the batch has no `{field}`; enable the dataset modality that provides it (image, action, segmentation, ...) in the data config"
)]
pub struct MissingField {
    /// The batch field's name.
    pub field: &'static str,
}

fn require<'a, T>(value: &'a Option<T>, field: &'static str) -> Result<&'a T, MissingField> {
    value.as_ref().ok_or(MissingField { field })
}

impl Batch {
    /// The frames, `[B, T, H, W, C]`, or an error naming the missing field.
    pub fn image(&self) -> Result<&Tensor<5>, MissingField> {
        require(&self.image, "image")
    }

    /// The agent actions, or an error naming the missing field.
    pub fn agent_action(&self) -> Result<&AgentAction, MissingField> {
        require(&self.agent_action, "agent_action")
    }

    /// The environment actions, or an error naming the missing field.
    pub fn env_action(&self) -> Result<&EnvAction, MissingField> {
        require(&self.env_action, "env_action")
    }

    /// The padding mask, `[B, T]`, or an error naming the missing field.
    pub fn mask(&self) -> Result<&Tensor<2>, MissingField> {
        require(&self.mask, "mask")
    }

    /// The object masks and interaction types, or an error naming the missing field.
    pub fn segmentation(&self) -> Result<&Segmentation, MissingField> {
        require(&self.segmentation, "segmentation")
    }

    /// The batch size `B`, taken from the first tensor present (or from the host info).
    pub fn batch_size(&self) -> Option<usize> {
        if let Some(image) = &self.image {
            return Some(image.dims()[0]);
        }
        if let Some(action) = &self.agent_action {
            return Some(action.buttons.dims()[0]);
        }
        if let Some(mask) = &self.mask {
            return Some(mask.dims()[0]);
        }
        (!self.info.timestamp.is_empty()).then_some(self.info.timestamp.len())
    }
}
