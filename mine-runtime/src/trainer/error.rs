//! Why a run stopped.

use mine_dsl::experiment::StepError;
use mine_dsl::memory::MemoryImportError;

use super::checkpoint::CheckpointError;
use super::config::ConfigError;
use super::source::SourceError;
use crate::optim::OptimError;

/// A run could not start or continue.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The trainer config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data source failed.
    #[error("data: {0}")]
    Data(SourceError),
    /// The policy or an objective failed on a batch.
    #[error("step {step}: {source}")]
    Step {
        /// Optimizer steps taken before the failing batch.
        step: u64,
        /// What failed.
        source: StepError,
    },
    /// An objective's loss is NaN or infinite: the run stops, the last checkpoint stays.
    #[error(
        "step {step}: objective `{objective}` returned a non-finite loss ({value}); the run stopped and the last \
         checkpoint is kept. Lower the learning rate, enable gradient clipping, or check the data of this batch"
    )]
    NonFiniteLoss {
        /// Optimizer steps taken before the failing batch.
        step: u64,
        /// The objective whose loss is not finite.
        objective: &'static str,
        /// The loss value.
        value: f64,
    },
    /// The optimizer failed.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpointed memory does not fit the policy.
    #[error("resuming: {0}")]
    Memory(#[from] MemoryImportError),
    /// The run directory could not be written.
    #[error("run directory {path}: {source}")]
    RunDir {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}
