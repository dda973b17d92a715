//! [`TrainerConfig`]: every setting of a training run, validated before any data is read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kernels::KernelChoices;
use crate::optim::{OptimConfigError, OptimizerConfig};
use crate::parallel::RankLayout;
use crate::trainer::backend::{Backend, BackendError, Precision};

/// Settings of a training run. Deserializes from TOML (unknown fields are rejected) and is
/// validated by [`TrainerConfig::validate`] (the trainer calls it at startup).
///
/// Steps are optimizer steps: with `optimizer.accumulate_grad_batches = k`, one step consumes
/// `k` batches.
///
/// ```
/// use mine_runtime::trainer::config::TrainerConfig;
///
/// let config = TrainerConfig::from_toml_str(r#"
///     max_steps = 1000
///     log_freq = 20
///     save_freq = 200
///     val_every_n_steps = 100
///     run_dir = "runs/vpt-bc"
///
///     [optimizer]
///     learning_rate = 1e-4
///     warmup_steps = 100
///
///     [ema]
///     decay = 0.999
/// "#).unwrap();
/// assert_eq!(config.keep_last, 2);
///
/// let err = TrainerConfig::from_toml_str("max_steps = 10\n[optimizer]\nwarmup_steps = 0").unwrap_err();
/// assert!(err.to_string().contains("warmup_steps"));
/// let err = TrainerConfig::from_toml_str("max_steps = 10\nbackend = \"tpu\"").unwrap_err();
/// assert!(err.to_string().contains("`backend` = \"tpu\" is not known"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// AdamW, learning-rate schedule, clipping and gradient accumulation. A decay without
    /// `decay.decay_steps` lasts from the end of warmup to `max_steps`.
    pub optimizer: OptimizerConfig,
    /// Log metrics every this many steps and at `max_steps` (MineStudio's `log_freq`, default
    /// 20). The learning rate is logged at every step regardless.
    pub log_freq: usize,
    /// Save weights every this many steps (every file is kept) and a full checkpoint (the last
    /// `keep_last` are kept). `None` saves only at the end of the run.
    pub save_freq: Option<usize>,
    /// Number of full checkpoints kept (default 2: resuming falls back to the previous one
    /// when the newest fails its checksums).
    pub keep_last: usize,
    /// Run a validation pass every this many steps (`None`: never by step count).
    pub val_every_n_steps: Option<usize>,
    /// Run a validation pass at the end of every epoch (default true).
    pub val_at_epoch_end: bool,
    /// Use at most this many batches per validation pass (`None`: the whole source).
    pub max_val_batches: Option<usize>,
    /// Stop after this many steps. At least one of `max_steps` and `max_epochs` is required.
    pub max_steps: Option<usize>,
    /// Stop after this many epochs.
    pub max_epochs: Option<usize>,
    /// Exponential moving average of the weights (`None`: off).
    pub ema: Option<EmaConfig>,
    /// The burn backend: `"flex"` (CPU, default), `"cuda"` or `"wgpu"`.
    pub backend: Backend,
    /// Which GPU (`cuda`: the CUDA index; `wgpu`: 0 is the default adapter, `i > 0` the
    /// discrete GPU `i - 1`), checked at startup against the devices the backend finds on this
    /// machine. Ignored on `flex`, and when `devices` is set.
    pub device_index: usize,
    /// Data parallel: one rank per entry, each with its own replica of the policy, its own
    /// memory and its own shard of the training data, the gradients averaged over the ranks
    /// (see [`crate::parallel`]). An index may repeat: those ranks share the device and run
    /// one after the other. `None` (the default): one rank on `device_index`. Checked at
    /// startup against the devices the backend has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<usize>>,
    /// Float precision, as Lightning's `precision`: `"f32"` (default); `"bf16-mixed"` (or
    /// `"bf16"`), f32 weights, gradients and AdamW state with bf16 matrix inputs and activations
    /// in the forward, normalizations, softmax and losses in f32; `"bf16-pure"`, everything bf16,
    /// optimizer state included. bf16 needs a device with bf16 arithmetic (`flex`, CUDA; not
    /// wgpu's WGSL shaders): refused at startup otherwise. See [`Precision`].
    pub precision: Precision,
    /// On the CPU under `bf16-mixed` (flex with AVX512_BF16), the Winograd `vdpbf16ps` kernels
    /// for the 3x3 convolutions with 64 input and output channels and more, the published VPT
    /// widths (default true): their forward, input and weight gradients 15-45% faster each,
    /// but they round the Winograd transforms of the operands to bf16 instead of the operands
    /// (1.35-1.6x the direct form's rounding error). `false`: every convolution rounds as
    /// PyTorch's CPU autocast does. No effect in f32, in `bf16-pure` or on a GPU.
    pub bf16_winograd: bool,
    /// On the CPU (flex), the run's choices among the kernels (`[trainer.kernels]`, e.g.
    /// `winograd = false`), each unset one the process's default: what `bench --tune` finds
    /// fastest on a machine (see [`KernelChoices`]). No effect on a GPU.
    #[serde(skip_serializing_if = "KernelChoices::is_empty")]
    pub kernels: KernelChoices,
    /// On the CPU (flex), time the kernel choices on the run's own policy and first batch
    /// before training (default false): each one-option flip of [`kernels`](Self::kernels)
    /// that can matter on this CPU runs forward and backward passes against the current
    /// choice in alternating rounds, and one that is at least 3% faster (median) and faster
    /// in every round becomes the choice, as in `bench --tune`; the next pass flips from it.
    /// The timings are logged and in [`TrainSummary::kernel_tuning`]; the choice is kept in
    /// the checkpoints, so that a run resumed with this setting on the same kind of machine
    /// (CPU family, instruction set, threads) computes with the same kernels without tuning
    /// again. Costs 6 forward and backward passes per flip that loses its first round, 14 per
    /// winner (2-3 flips a pass, one pass when nothing wins), once per run; the weights,
    /// memory and random numbers of the run are left as they were.
    ///
    /// [`TrainSummary::kernel_tuning`]: crate::trainer::TrainSummary::kernel_tuning
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tune_kernels: bool,
    /// Directory of the run: resolved config, hyperparameters, metrics, checkpoints.
    pub run_dir: PathBuf,
    /// Seed of the device's random numbers (dropout, sampling); reseeded from it every step so
    /// that a resumed run draws the same numbers.
    pub seed: u64,
    /// Write TensorBoard event files under `run_dir/tensorboard` (default true).
    pub tensorboard: bool,
    /// Draw `run_dir/plots/loss.png` and `lr.png` at every save and at the end (default true).
    pub plots: bool,
    /// How progress shows on the terminal.
    pub progress: ProgressMode,
    /// What happens to a memory policy's memory between batches (default `carry`).
    pub memory: MemoryMode,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerConfig::default(),
            log_freq: 20,
            save_freq: None,
            keep_last: 2,
            val_every_n_steps: None,
            val_at_epoch_end: true,
            max_val_batches: None,
            max_steps: None,
            max_epochs: None,
            ema: None,
            backend: Backend::Flex,
            device_index: 0,
            devices: None,
            precision: Precision::F32,
            bf16_winograd: true,
            kernels: KernelChoices::default(),
            tune_kernels: false,
            run_dir: PathBuf::from("runs/run"),
            seed: 0,
            tensorboard: true,
            plots: true,
            progress: ProgressMode::Auto,
            memory: MemoryMode::Carry,
        }
    }
}

/// Exponential moving average of the policy's weights:
/// `ema = decay * ema + (1 - decay) * weights` every `every_n_steps` optimizer steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmaConfig {
    /// Weight of the previous average, in `[0, 1)`.
    pub decay: f64,
    /// Update every this many optimizer steps (default 1).
    #[serde(default = "one")]
    pub every_n_steps: usize,
    /// Validate the averaged weights instead of the trained ones (default false).
    #[serde(default)]
    pub use_for_validation: bool,
}

fn one() -> usize {
    1
}

/// What a memory policy sees at the start of each batch.
///
/// MineStudio carries the memory (recurrent state, TransformerXL cache) from one batch to the
/// next when a row continues its episode; `reset` starts every batch from the initial memory,
/// the ablation that shows what the carried memory is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryMode {
    /// Carry the memory across the batches of an episode; reset a row at its episode's start.
    #[default]
    Carry,
    /// Start every batch from the initial memory.
    Reset,
}

/// How training progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// A progress bar when stderr is a terminal, plain lines otherwise (CI).
    #[default]
    Auto,
    /// Always a progress bar on stderr.
    Bar,
    /// One plain line on stderr per logged step.
    Lines,
    /// Nothing on stderr (metrics still go to `tracing` and the sinks).
    Off,
}

/// A rejected training setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML does not parse or has an unknown field.
    #[error("trainer config: {0}")]
    Parse(toml::de::Error),
    /// A field holds an invalid value.
    #[error("trainer config: `{field}` = {value} is invalid: it {requirement}")]
    InvalidField {
        /// Dotted name of the field.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// Neither `max_steps` nor `max_epochs` is set.
    #[error("trainer config: set `max_steps` or `max_epochs` (or both): the run would never end")]
    NoStopCondition,
    /// An optimizer setting is invalid.
    #[error("trainer config: [optimizer] {0}")]
    Optimizer(OptimConfigError),
    /// The backend or precision cannot be used.
    #[error("trainer config: {0}")]
    Backend(BackendError),
    /// `devices` asks for devices this machine or backend does not have.
    #[error("trainer config: `devices` = {devices:?}: {problem}; {fix}")]
    Devices {
        /// The configured list.
        devices: Vec<usize>,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        fix: String,
    },
    /// `device_index` names a device this machine does not have.
    #[error("trainer config: `device_index` = {index}: {problem}; {fix}")]
    DeviceIndex {
        /// The configured index.
        index: usize,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        fix: String,
    },
}

fn invalid(field: &'static str, value: impl ToString, requirement: &'static str) -> ConfigError {
    ConfigError::InvalidField {
        field,
        value: value.to_string(),
        requirement,
    }
}

fn at_least_one(field: &'static str, value: Option<usize>) -> Result<(), ConfigError> {
    match value {
        Some(0) => Err(invalid(field, 0, "must be >= 1 (omit it to disable)")),
        _ => Ok(()),
    }
}

impl TrainerConfig {
    /// Parses a TOML document and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// The kernel options its training and validation steps run with: the process's
    /// ([`kernels::options`](crate::kernels::options)) with [`kernels`](Self::kernels) and
    /// [`bf16_winograd`](Self::bf16_winograd) over them.
    pub fn kernel_options(&self) -> crate::kernels::KernelOptions {
        crate::kernels::KernelOptions {
            bf16_winograd: self.bf16_winograd,
            ..self.kernels.over(crate::kernels::options())
        }
    }

    /// The configuration as TOML (what the run directory stores).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# not serializable: {e}\n"))
    }

    /// Checks every field, returning the first invalid one by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.optimizer.validate()?;
        if self.log_freq == 0 {
            return Err(invalid("log_freq", 0, "must be >= 1"));
        }
        at_least_one("save_freq", self.save_freq)?;
        if self.keep_last == 0 {
            return Err(invalid(
                "keep_last",
                0,
                "must be >= 1 (the last full checkpoint is what a run resumes from)",
            ));
        }
        at_least_one("val_every_n_steps", self.val_every_n_steps)?;
        at_least_one("max_val_batches", self.max_val_batches)?;
        at_least_one("max_steps", self.max_steps)?;
        at_least_one("max_epochs", self.max_epochs)?;
        if self.max_steps.is_none() && self.max_epochs.is_none() {
            return Err(ConfigError::NoStopCondition);
        }
        if let Some(ema) = &self.ema {
            if !(ema.decay.is_finite() && (0.0..1.0).contains(&ema.decay)) {
                return Err(invalid("ema.decay", ema.decay, "must be in [0, 1)"));
            }
            if ema.every_n_steps == 0 {
                return Err(invalid("ema.every_n_steps", 0, "must be >= 1"));
            }
        }
        if self.devices.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(
                "devices",
                "[]",
                "must list at least one device index (omit it to train on `device_index`)",
            ));
        }
        if self.run_dir.as_os_str().is_empty() {
            return Err(invalid("run_dir", "\"\"", "must name a directory"));
        }
        self.backend.check()?;
        Ok(())
    }

    /// The data-parallel ranks and their devices: `devices`, or one rank on `device_index`,
    /// checked against the devices the backend has on this machine (an error names the
    /// setting and the fix).
    pub fn rank_layout(&self) -> Result<RankLayout, ConfigError> {
        match &self.devices {
            Some(devices) => RankLayout::resolve(self.backend, devices),
            None => RankLayout::resolve_index(self.backend, self.device_index),
        }
    }

    /// Total optimizer steps when known from `max_steps` (used to size a learning-rate decay).
    pub fn total_steps(&self, batches_per_epoch: Option<usize>) -> Option<usize> {
        let k = self.optimizer.accumulate_grad_batches.max(1);
        let by_epochs = match (self.max_epochs, batches_per_epoch) {
            (Some(epochs), Some(batches)) => Some(epochs * batches.div_ceil(k)),
            _ => None,
        };
        match (self.max_steps, by_epochs) {
            (Some(steps), Some(epochs)) => Some(steps.min(epochs)),
            (Some(steps), None) => Some(steps),
            (None, epochs) => epochs,
        }
    }
}

impl From<toml::de::Error> for ConfigError {
    /// The TOML rejected (its message is part of this one).
    fn from(error: toml::de::Error) -> Self {
        Self::Parse(error)
    }
}

impl From<OptimConfigError> for ConfigError {
    /// The optimizer setting rejected (its message is part of this one).
    fn from(error: OptimConfigError) -> Self {
        Self::Optimizer(error)
    }
}

impl From<BackendError> for ConfigError {
    /// The backend rejected (its message is part of this one).
    fn from(error: BackendError) -> Self {
        Self::Backend(error)
    }
}
