//! Why the training program stopped before or while training.

use mine_dsl::experiment::WiringError;
use mine_runtime::config_file::ConfigFileError;
use mine_runtime::policies::freeze::FreezeError;
use mine_runtime::policies::pretrained::PretrainedError;
use mine_runtime::trainer::config::ConfigError;

use crate::run::RunError;

/// The training program could not train.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// No configuration file was given.
    #[error("no config file: pass `--config FILE` (start from examples/configs/mine-train.toml)")]
    NoConfig,
    /// The configuration file or an override was rejected.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// `policy.kind` is missing.
    #[error("policy.kind is missing: set it to \"vpt\" or \"groot\" in [policy]")]
    NoKind,
    /// The trainer settings were rejected (backend, precision, ...).
    #[error(transparent)]
    Trainer(#[from] ConfigError),
    /// The objectives do not fit the policy.
    #[error(transparent)]
    Wiring(#[from] WiringError),
    /// The network or its pretrained weights could not be set up.
    #[error(transparent)]
    Pretrained(#[from] PretrainedError),
    /// A `policy.freeze` entry names no module.
    #[error(transparent)]
    Freeze(#[from] FreezeError),
    /// The dataset's frames are not the size the network takes.
    #[error(
        "data.frame_height x data.frame_width = {data_height}x{data_width}, but the {kind} network \
         takes {height}x{width} frames (its img_shape); set data.frame_height = {height} and \
         data.frame_width = {width} (frames are resized on loading)"
    )]
    FrameSize {
        /// The policy kind.
        kind: crate::train::PolicyKind,
        /// What the data config asks for.
        data_height: usize,
        /// What the data config asks for.
        data_width: usize,
        /// What the network takes.
        height: usize,
        /// What the network takes.
        width: usize,
    },
    /// The resolved configuration could not be recorded.
    #[error("the resolved [policy] cannot be recorded: {0}")]
    Record(String),
    /// Training failed.
    #[error(transparent)]
    Run(#[from] RunError),
}
