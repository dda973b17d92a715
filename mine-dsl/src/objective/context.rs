//! The step context an objective can read: which batch, which stage.

use std::fmt;

/// Whether a step trains or validates (MineStudio's `step_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    /// A training step: gradients flow, the optimizer steps.
    Train,
    /// A validation step: no gradients.
    Val,
}

impl StepName {
    /// `"train"` or `"val"`, the prefix of logged metric names.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Train => "train",
            StepName::Val => "val",
        }
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Facts about the current step, available to objectives through `#[ctx]` parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepContext {
    /// Index of the batch within the current epoch (train) or pass (validation).
    pub batch_idx: usize,
    /// Training or validation.
    pub step_name: StepName,
    /// Number of optimizer steps taken so far in the run.
    pub global_step: u64,
}

impl StepContext {
    /// A training step context.
    pub fn train(batch_idx: usize, global_step: u64) -> Self {
        Self {
            batch_idx,
            step_name: StepName::Train,
            global_step,
        }
    }

    /// A validation step context.
    pub fn val(batch_idx: usize, global_step: u64) -> Self {
        Self {
            batch_idx,
            step_name: StepName::Val,
            global_step,
        }
    }
}
