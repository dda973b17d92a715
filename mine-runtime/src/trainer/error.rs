//! Why a training run stopped early.

use std::path::PathBuf;

use mine_dsl::experiment::StepError;

use super::{RunDirError, SourceError};
use crate::checkpoint::CheckpointError;
use crate::metrics::MetricsError;
use crate::optim::OptimConfigError;
use crate::trainer::config::ConfigError;

/// A training run failed. Checkpoints written before the failure stay as they are.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration was rejected at startup.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The optimizer could not be built from the configuration.
    #[error("trainer config: [optimizer] {0}")]
    Optimizer(OptimConfigError),
    /// The run directory holds another run (or files the trainer did not write, when
    /// overwriting), or is not the one configured.
    #[error(transparent)]
    RunDirClaim(#[from] RunDirError),
    /// The run directory could not be prepared.
    #[error("run directory: cannot {action} {path}: {cause}")]
    RunDir {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
    /// The data source failed.
    #[error("{stream} data, epoch {epoch}, batch {batch}: {cause}")]
    Data {
        /// `"train"` or `"val"`.
        stream: &'static str,
        /// The epoch (the validation pass for `"val"`).
        epoch: usize,
        /// The batch index within the epoch.
        batch: usize,
        /// The source's error.
        cause: SourceError,
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
    #[error("{stream} step {step} (epoch {epoch}, batch {batch}): {cause}")]
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
        cause: StepError,
    },
    /// A loss was NaN or infinite. Losses are read back from the device once per logged step
    /// and before every checkpoint, so the run stops at the first read after the step where it
    /// arose; no checkpoint was written in between.
    #[error(
        "training stopped: objective `{objective}` produced a non-finite loss ({value}) at step \
         {step} (epoch {epoch}, batch {batch}{}), found when the losses were read back after \
         step {found}; no checkpoint was written since, the checkpoints written before are \
         intact (resume from the last one, with a lower learning rate or `gradient_clip_val`)",
        rank_note(*.rank)
    )]
    NonFiniteLoss {
        /// Optimizer steps taken before the batch.
        step: u64,
        /// The epoch.
        epoch: usize,
        /// The batch index.
        batch: usize,
        /// The data-parallel rank, when there are several.
        rank: Option<usize>,
        /// The objective whose loss is not finite (`"total"` if only their sum overflowed).
        objective: String,
        /// The loss.
        value: f64,
        /// Optimizer steps taken when the loss was read back.
        found: u64,
    },
    /// The gradients' norm was NaN or infinite after a finite loss.
    #[error(
        "training stopped: the gradient norm of step {step} is {norm}, so the updated weights \
         are not finite (found when the norms were read back after step {found}); no \
         checkpoint was written since (resume from the last one, with a lower learning rate \
         or `gradient_clip_val`)"
    )]
    NonFiniteGradient {
        /// The optimizer step (0-based) whose gradients were not finite.
        step: u64,
        /// The norm.
        norm: f64,
        /// Optimizer steps taken when the norm was read back.
        found: u64,
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
    /// The checkpoint was written by a run with another number of data-parallel ranks.
    #[error(
        "cannot resume {checkpoint}: it was written by a run with {written} data-parallel \
         rank(s), and this run has {configured} (`trainer.devices`); each rank's data shard and \
         memory depend on the number: resume with {written} entries in `trainer.devices`"
    )]
    WorldSize {
        /// The checkpoint directory.
        checkpoint: PathBuf,
        /// Ranks of the run that wrote it.
        written: usize,
        /// Ranks configured now.
        configured: usize,
    },
    /// The training source could not be split among the data-parallel ranks.
    #[error("train data: cannot split it among {world} data-parallel ranks: {cause}")]
    Shard {
        /// The number of ranks.
        world: usize,
        /// Why.
        cause: SourceError,
    },
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

/// `, rank r` when the run has several data-parallel ranks.
fn rank_note(rank: Option<usize>) -> String {
    rank.map_or_else(String::new, |r| format!(", rank {r}"))
}

impl From<OptimConfigError> for TrainError {
    /// The optimizer configuration rejected (its message is part of this one).
    fn from(error: OptimConfigError) -> Self {
        Self::Optimizer(error)
    }
}
