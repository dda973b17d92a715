//! Why a training run stopped early.

use std::path::PathBuf;

use mine_dsl::experiment::StepError;

use super::{RunDirError, SourceError};
use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::metrics::MetricsError;
use crate::optim::OptimConfigError;

/// A training run failed. Checkpoints written before the failure stay as they are.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration was rejected at startup.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The optimizer could not be built from the configuration.
    #[error("trainer config: [optimizer] {0}")]
    Optimizer(#[from] OptimConfigError),
    /// The run directory holds another run (or files the trainer did not write, when
    /// overwriting), or is not the one configured.
    #[error(transparent)]
    RunDirClaim(#[from] RunDirError),
    /// The run directory could not be prepared.
    #[error("run directory: cannot {action} {path}: {source}")]
    RunDir {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// What the system reported.
        source: std::io::Error,
    },
    /// The data source failed.
    #[error("{stream} data, epoch {epoch}, batch {batch}: {source}")]
    Data {
        /// `"train"` or `"val"`.
        stream: &'static str,
        /// The epoch (the validation pass for `"val"`).
        epoch: usize,
        /// The batch index within the epoch.
        batch: usize,
        /// The source's error.
        source: SourceError,
    },
    /// An epoch of the training source yielded no batch (the run would never end).
    #[error(
        "train data, epoch {epoch}: the source yielded no batch; check the dataset path and \
         split, and that the batch size is not larger than the dataset"
    )]
    EmptyEpoch {
        /// The epoch.
        epoch: usize,
    },
    /// A batch has no tensor and no timestamps, so its size is unknown.
    #[error(
        "{stream} data, epoch {epoch}, batch {batch}: the batch is empty (no tensor, no timestamps)"
    )]
    EmptyBatch {
        /// `"train"` or `"val"`.
        stream: &'static str,
        /// The epoch.
        epoch: usize,
        /// The batch index.
        batch: usize,
    },
    /// The policy's forward, a before-step hook or an objective failed.
    #[error("{stream} step {step} (epoch {epoch}, batch {batch}): {source}")]
    Step {
        /// `"train"` or `"val"`.
        stream: &'static str,
        /// Optimizer steps taken before this batch.
        step: u64,
        /// The epoch.
        epoch: usize,
        /// The batch index.
        batch: usize,
        /// What failed.
        source: StepError,
    },
    /// A loss was NaN or infinite: the step was not applied.
    #[error(
        "training stopped at step {step} (epoch {epoch}, batch {batch}): objective `{objective}` \
         produced a non-finite loss ({value}); the optimizer step was not applied and the \
         checkpoints written so far are intact"
    )]
    NonFiniteLoss {
        /// Optimizer steps taken before this batch.
        step: u64,
        /// The epoch.
        epoch: usize,
        /// The batch index.
        batch: usize,
        /// The objective whose loss is not finite (`"total"` if only their sum overflowed).
        objective: String,
        /// The loss.
        value: f64,
    },
    /// The gradients' norm was NaN or infinite after a finite loss.
    #[error(
        "training stopped at step {step}: the gradient norm is {norm}, so the updated weights \
         are not finite; no checkpoint was written for this step (resume from the last one, \
         with a lower learning rate or `gradient_clip_val`)"
    )]
    NonFiniteGradient {
        /// The optimizer step (0-based) whose gradients were not finite.
        step: u64,
        /// The norm.
        norm: f64,
    },
    /// The total loss carries no autodiff graph (every parameter frozen, or the loss detached).
    #[error(
        "step {step}: the loss is not tracked by autodiff: the policy has no trainable parameter \
         on its path, or an objective detached its loss"
    )]
    UntrackedLoss {
        /// Optimizer steps taken before this batch.
        step: u64,
    },
    /// Writing or reading a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A program's checkpoint hook ([`Trainer::on_checkpoint`](super::Trainer::on_checkpoint))
    /// failed.
    #[error("after the checkpoint of step {step}: {message}")]
    CheckpointHook {
        /// The step checkpointed.
        step: u64,
        /// What the hook reported.
        message: String,
    },
    /// Writing metrics failed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}
