//! The trainer's settings.

use std::path::PathBuf;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::optim::OptimizerConfig;

/// Which burn backend runs the experiment. The same generic code runs on all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (cargo feature `flex`, on by default).
    #[default]
    Flex,
    /// NVIDIA GPUs through CUDA (cargo feature `cuda`).
    Cuda,
    /// Any GPU through wgpu (cargo feature `wgpu`).
    Wgpu,
}

/// Floating-point precision of the model and its gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats everywhere (the only precision on the CPU backend).
    #[default]
    F32,
    /// bfloat16 (reserved for CUDA; rejected by validation until it is implemented).
    Bf16,
}

/// Everything the trainer needs besides the experiment and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// AdamW, learning-rate schedule, clipping, accumulation.
    pub optimizer: OptimizerConfig,
    /// Stop after this many optimizer steps (`None`: run `max_epochs`).
    pub max_steps: Option<u64>,
    /// Passes over the training data.
    pub max_epochs: u64,
    /// Log metrics every this many batches (the learning rate is logged every step).
    pub log_freq: u64,
    /// Save a weights-only checkpoint every this many optimizer steps (all are kept).
    pub save_freq: Option<u64>,
    /// Save a full checkpoint (resumable) every this many optimizer steps.
    pub checkpoint_freq: Option<u64>,
    /// How many full checkpoints to keep (the newest).
    pub keep_last: usize,
    /// Run validation every this many optimizer steps.
    pub val_every_n_steps: Option<u64>,
    /// Run validation at the end of every epoch.
    pub val_at_epoch_end: bool,
    /// Where the run writes its config, metrics and checkpoints.
    pub run_dir: PathBuf,
    /// The backend to run on.
    pub backend: Backend,
    /// Floating-point precision.
    pub precision: Precision,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerConfig::default(),
            max_steps: None,
            max_epochs: 1,
            log_freq: 20,
            save_freq: None,
            checkpoint_freq: None,
            keep_last: 1,
            val_every_n_steps: None,
            val_at_epoch_end: true,
            run_dir: PathBuf::from("runs/latest"),
            backend: Backend::Flex,
            precision: Precision::F32,
        }
    }
}

/// A setting is invalid; the message names the field and what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field has a value it does not accept.
    #[error("trainer config `{field}` = {value}: {requirement}")]
    Invalid {
        /// The field, as written in the config file.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What the field accepts.
        requirement: &'static str,
    },
    /// The optimizer section is invalid.
    #[error(transparent)]
    Optimizer(#[from] crate::optim::OptimConfigError),
    /// The backend is not compiled in.
    #[error(
        "trainer config `backend` = {backend:?}: this build does not include it; rebuild with `--features {feature}`"
    )]
    BackendUnavailable {
        /// The requested backend.
        backend: Backend,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
}

fn positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            field,
            value: "0".into(),
            requirement: "must be at least 1",
        });
    }
    Ok(())
}

impl TrainerConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.optimizer.validate()?;
        positive("max_epochs", self.max_epochs)?;
        positive("log_freq", self.log_freq)?;
        positive("keep_last", self.keep_last as u64)?;
        for (field, value) in [
            ("max_steps", self.max_steps),
            ("save_freq", self.save_freq),
            ("checkpoint_freq", self.checkpoint_freq),
            ("val_every_n_steps", self.val_every_n_steps),
        ] {
            if let Some(v) = value {
                positive(field, v)?;
            }
        }
        if self.precision == Precision::Bf16 {
            return Err(ConfigError::Invalid {
                field: "precision",
                value: "bf16".into(),
                requirement: "bf16 training is not implemented yet; use \"f32\"",
            });
        }
        self.device().map(|_| ())
    }

    /// The training device (with autodiff) for the configured backend.
    pub fn device(&self) -> Result<Device, ConfigError> {
        let base = match self.backend {
            #[cfg(feature = "flex")]
            Backend::Flex => Device::flex(),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Device::wgpu(Default::default()),
            #[allow(unreachable_patterns)]
            backend => {
                let feature = match backend {
                    Backend::Flex => "flex",
                    Backend::Cuda => "cuda",
                    Backend::Wgpu => "wgpu",
                };
                return Err(ConfigError::BackendUnavailable { backend, feature });
            }
        };
        Ok(base)
    }
}
