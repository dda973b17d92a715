//! The trainer: runs an [`Experiment`] over batch sources, with memory carried across
//! batches, validation, logging, checkpoints and exact resume.
//!
//! One training step, in order: before-step hooks, the memory prepared for the batch (rows
//! starting an episode reset), the policy's forward, every objective, total loss = sum of their
//! losses, backward, global-norm clipping, AdamW, learning-rate schedule, and the memory out
//! detached and kept. With `accumulate_grad_batches = k`, the optimizer part runs every `k`
//! batches (and on the last batch of an epoch).
//!
//! The step stays on the device: the next batch is drawn and moved to the device while the
//! step runs, clipping is computed and applied there, and the losses, metrics and gradient
//! norms stay there until they are read back in one transfer, once per `log_freq` steps and
//! before every checkpoint (see [`crate::sync`] for the count). A NaN or infinite loss or
//! gradient norm stops the run at that read, with an error naming the step where it arose and
//! the objective; the weights trained since are never checkpointed.
//!
//! With `devices = [..]` the trainer runs data parallel: one rank per entry, each with its own
//! replica, memory and shard of the data, the gradients averaged over the ranks; rank 0
//! validates, logs and checkpoints (see [`crate::parallel`]).
//!
//! The run directory is claimed before anything is written into it ([`RunDir`]): a second run
//! into a directory that holds one is refused unless it resumes it or overwrites it. A run
//! resumed in its own directory first cuts its metric files back to where the checkpoint left
//! them, so every step is logged once. A stop flag ([`Trainer::with_stop_flag`], set by a
//! Ctrl-C handler of the program) ends the run after the current optimizer step, with a
//! checkpoint.
//!
//! ```no_run
//! use mine_dsl::prelude::*;
//! use mine_dsl::objectives::BehaviorClone;
//! use mine_runtime::trainer::config::TrainerConfig;
//! use mine_runtime::data::{DataLoader, DatasetConfig, RawDataset};
//! use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
//! use mine_runtime::trainer::{LoaderSource, Trainer};
//!
//! let config = TrainerConfig::from_toml_str("max_steps = 100\nrun_dir = \"runs/demo\"")?;
//! // The CPU device: the same initial weights on every backend (the trainer moves them).
//! let policy = VptPolicy::new(&VptConfig::tiny(), &config.init_device()?)?;
//! let device = config.device()?; // the configured backend
//! let experiment = Experiment::new(policy).objective(BehaviorClone::default());
//! let mut trainer = Trainer::new(config, experiment)?;
//!
//! let mut data = DatasetConfig::new(vec!["/data/minestudio-dataset".into()]);
//! data.episode_continuous_batch = true;
//! let mut train = LoaderSource::new(DataLoader::new(RawDataset::open(data)?), device);
//! let summary = trainer.fit(&mut train, None)?;
//! println!("{} steps, {:.1} frames/s", summary.steps, summary.frames_per_sec);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backend;
mod batch_device;
pub mod config;
pub mod ema;
mod error;
mod fit;
mod init;
pub mod memory_manager;
mod persist;
pub mod precision;
mod prefetch;
mod ranks;
mod readback;
mod resume;
pub mod run_dir;
mod shard;
mod source;
mod step;
mod summary;
mod tune;
mod validation;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use burn::tensor::Device;
use mine_dsl::experiment::{Experiment, Objectives};
use mine_dsl::policy::Policy;

pub use batch_device::{batch_frames, batch_to_device};
pub use config::TrainerConfig;
pub use error::TrainError;
pub use run_dir::{
    CONFIG_FILE, Contents, EXPORT_DIR, HPARAMS_FILE, PROGRAM_FILES, RunDir, RunDirError,
    RunDirMode, TRAIN_LOG,
};
pub use source::{BatchSource, Batches, FnSource, InMemory, LoaderSource, SourceError, from_fn};
pub use tune::FlipTiming;

use crate::checkpoint::{Checkpointer, TrainingState};
use crate::optim::OptimStep;
use crate::sync::HostReads;
use backend::{Backend, BackendError};
use config::ConfigError;
use ema::Ema;
use memory_manager::MemoryManager;
use ranks::Ranks;

impl TrainerConfig {
    /// The configured device (without autodiff), with its precision set and its random
    /// generator seeded with `seed`. The trainer trains on its autodiff form and validates on
    /// it. A policy built on it starts from the same weights on every run of this backend;
    /// build the policy on [`init_device`](Self::init_device) to start from the same weights
    /// on every backend.
    pub fn device(&self) -> Result<Device, ConfigError> {
        self.validate()?;
        let device: Result<Device, BackendError> = self
            .backend
            .device(self.rank_layout()?.devices[0], self.precision);
        let device = device?;
        device.seed(self.seed);
        Ok(device)
    }

    /// The device to build the policy on, its random generator seeded with `seed`: the CPU
    /// device whatever the backend (see [`Backend::init_device`]), so that a run on `wgpu` or
    /// `cuda` starts from the weights of the same run on `flex`. [`Trainer::new`] moves the
    /// policy to [`device`](Self::device).
    ///
    /// Without the `flex` feature (or with bf16), this is the configured device, and the
    /// initial weights depend on the backend (a warning says so).
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use mine_runtime::trainer::config::TrainerConfig;
    ///
    /// let config = TrainerConfig::from_toml_str("max_steps = 10\nbackend = \"flex\"").unwrap();
    /// assert_eq!(config.init_device().unwrap(), Device::flex());
    /// ```
    ///
    /// [`Backend::init_device`]: crate::trainer::backend::Backend::init_device
    pub fn init_device(&self) -> Result<Device, ConfigError> {
        let init = self.seeded_init_device()?;
        if !self.backend.initializes_on_host(self.precision) {
            tracing::warn!(
                backend = %self.backend,
                precision = %self.precision,
                "the initial weights are drawn on the {} device: they differ from a `flex` run \
                 with the same seed (enable the `flex` feature and use `precision = \"f32\"` \
                 to draw them on the CPU)",
                self.backend
            );
        }
        Ok(init)
    }

    /// [`init_device`](Self::init_device) without its warning; the configured device and the
    /// initialization device both seeded.
    fn seeded_init_device(&self) -> Result<Device, ConfigError> {
        let device = self.device()?;
        let init: Result<Device, BackendError> = self
            .backend
            .init_device(self.rank_layout()?.devices[0], self.precision);
        let init = init?;
        if init != device {
            init.seed(self.seed);
        }
        Ok(init)
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Optimizer steps taken in total (including those before a resume).
    pub steps: u64,
    /// Optimizer steps taken by this call.
    pub steps_this_run: u64,
    /// Epochs completed.
    pub epochs: usize,
    /// Batches trained on by this call (every rank's).
    pub batches: u64,
    /// Frames (`B * T`) trained on by this call.
    pub frames: u64,
    /// Wall time of this call.
    pub wall_time: Duration,
    /// Mean wall time of one optimizer step (training batches only, validation excluded).
    pub step_time: Duration,
    /// Training throughput of this call.
    pub batches_per_sec: f64,
    /// Training throughput of this call.
    pub frames_per_sec: f64,
    /// The last logged training metrics (`train/<key>` without the prefix).
    pub final_train: BTreeMap<String, f64>,
    /// The last validation pass's mean metrics, if any ran.
    pub final_val: Option<BTreeMap<String, f64>>,
    /// The full checkpoint written at the end of the run.
    pub last_checkpoint: Option<PathBuf>,
    /// Whether the run stopped early because its stop flag was set
    /// ([`Trainer::with_stop_flag`]); its last step is checkpointed: resume to continue.
    pub interrupted: bool,
    /// The host synchronisations of this call: window reads (one per logged step and before
    /// a checkpoint), validation reads (one per pass), weights files and checkpoints written.
    pub host_reads: HostReads,
    /// The kernel flips timed before the first step ([`TrainerConfig::tune_kernels`]), in
    /// order; empty when this call did not tune (not asked, or resumed with the choice).
    pub kernel_tuning: Vec<FlipTiming>,
}

/// Trains the policy of an [`Experiment`]; see the [module documentation](self).
pub struct Trainer<P: Policy> {
    config: TrainerConfig,
    /// The ranks (one without `devices`) and the policy's replicas; replica 0 is rank 0's.
    ranks: Ranks<P>,
    objectives: Objectives<P>,
    ema: Option<Ema<P>>,
    state: TrainingState,
    hyperparameters: serde_json::Value,
    config_file: Option<String>,
    checkpointer: Checkpointer,
    last_train: BTreeMap<String, f64>,
    last_val: Option<BTreeMap<String, f64>>,
    run_dir: Option<RunDir>,
    resumed: Option<resume::Resumed>,
    stop: Option<Arc<AtomicBool>>,
    checkpoint_hooks: RefCell<Vec<CheckpointHook<P>>>,
}

/// What a checkpoint hook sees: the step just checkpointed, its directory, and the weights
/// (and EMA weights) it holds.
pub struct Checkpointed<'a, P> {
    /// The optimizer steps taken.
    pub step: u64,
    /// The full checkpoint's directory.
    pub dir: &'a Path,
    /// The policy being trained (on the autodiff device).
    pub policy: &'a P,
    /// The EMA of its weights, when configured.
    pub ema: Option<&'a P>,
}

/// A program's action after every full checkpoint ([`Trainer::on_checkpoint`]); an error
/// message stops the run.
pub type CheckpointHook<P> = Box<dyn FnMut(&Checkpointed<'_, P>) -> Result<(), String>>;

impl<P: Policy> Trainer<P> {
    /// Validates `config` (`devices` included), selects its devices and moves the experiment's
    /// policy onto their autodiff form (one replica per device). Parameters the policy
    /// initializes lazily (burn's `Linear`, say) are drawn first, where the policy was built,
    /// from the generator seeded with `config.seed`: a policy built on
    /// [`TrainerConfig::init_device`] starts from the same weights on every backend.
    ///
    /// It installs our kernels for `mine-dsl`'s action heads
    /// ([`install_dsl_kernels`](crate::kernels::install_dsl_kernels), once per process);
    /// nothing else of the process changes: a training program tunes the allocator itself, at
    /// start ([`keep_freed_memory`](crate::kernels::allocator::keep_freed_memory), a tenth of a
    /// small CPU step).
    pub fn new(config: TrainerConfig, experiment: Experiment<P>) -> Result<Self, TrainError> {
        crate::kernels::install_dsl_kernels();
        if config.backend != Backend::Flex {
            let backend = &config.backend;
            if !config.kernels.is_empty() {
                tracing::warn!(
                    %backend,
                    "`[trainer.kernels]` chooses among the CPU kernels: no effect on this backend"
                );
            }
            if config.tune_kernels {
                tracing::warn!(
                    %backend,
                    "`trainer.tune_kernels` times the CPU kernels: no effect on this backend"
                );
            }
        }
        // Seeds the generator the policy's lazy parameters draw from (below).
        config.seeded_init_device()?;
        let (policy, objectives) = experiment.into_parts();
        // Moving a lazy parameter would draw it on the training device's generator instead.
        init::initialize_lazy_parameters(&policy);
        let ranks = Ranks::from_config(&config, &policy)?;
        let ema = config
            .ema
            .as_ref()
            .map(|c| Ema::new(ranks.replicas[0].policy(), c));
        let checkpointer = Checkpointer::new(&config.run_dir, config.keep_last);
        Ok(Self {
            state: TrainingState::start(config.seed),
            config,
            ranks,
            objectives,
            ema,
            hyperparameters: serde_json::Value::Null,
            config_file: None,
            checkpointer,
            last_train: BTreeMap::new(),
            last_val: None,
            run_dir: None,
            resumed: None,
            stop: None,
            checkpoint_hooks: RefCell::new(Vec::new()),
        })
    }

    /// Runs `hook` after every full checkpoint the trainer writes (every `save_freq` steps,
    /// at the end and on a requested stop), for what a program keeps beside it: an export of
    /// the weights in another format, say. An error from the hook stops the run.
    pub fn on_checkpoint(self, hook: CheckpointHook<P>) -> Self {
        self.checkpoint_hooks.borrow_mut().push(hook);
        self
    }

    /// Writes into `run_dir`, claimed by the program (before it wrote its own files there or
    /// read any data), instead of claiming the config's `run_dir` at the first
    /// [`fit`](Self::fit). A claim for [`RunDirMode::Resume`] loads its checkpoint, as
    /// [`resume_from`](Self::resume_from) does. The claim must be for the config's `run_dir`.
    pub fn with_run_dir(mut self, run_dir: RunDir) -> Result<Self, TrainError> {
        run_dir.check_is(&self.config.run_dir)?;
        if let RunDirMode::Resume(from) = run_dir.mode() {
            self.load_checkpoint(from)?;
        }
        self.run_dir = Some(run_dir);
        Ok(self)
    }

    /// Stops [`fit`](Self::fit) cleanly once `stop` is set (by the program's Ctrl-C handler,
    /// say): the current optimizer step is finished (never in the middle of gradient
    /// accumulation), its weights and a full checkpoint are written, the metric files are
    /// flushed, and `fit` returns its summary with `interrupted` set.
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Adds hyperparameters of your own to those the run directory records (`hparams.json`,
    /// under `"user"`).
    pub fn with_hyperparameters(mut self, hyperparameters: serde_json::Value) -> Self {
        self.hyperparameters = hyperparameters;
        self
    }

    /// Records `text` as the run directory's `config.toml` instead of the trainer config alone:
    /// give it the whole resolved experiment config (data, policy, objectives, trainer) so that
    /// `--config run_dir/config.toml` reruns the experiment.
    pub fn with_config_file(mut self, text: String) -> Self {
        self.config_file = Some(text);
        self
    }

    /// Continues from a full checkpoint: `path` is a checkpoint directory
    /// (`run_dir/checkpoints/step-*`), which must pass its checksums, or a run directory (its
    /// newest checkpoint that passes them is used). Restores the weights, the optimizer and
    /// schedule, the EMA, the training memory, the step and the data position. Resuming in the
    /// checkpoint's own run directory, [`fit`](Self::fit) first cuts the metric files back to
    /// where the checkpoint left them.
    pub fn resume_from(mut self, path: &Path) -> Result<Self, TrainError> {
        self.load_checkpoint(path)?;
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The policy being trained (on the autodiff device; rank 0's replica).
    pub fn policy(&self) -> &P {
        self.ranks.replicas[0].policy()
    }

    /// The trained policy, for inference: without autodiff.
    pub fn into_policy(self) -> P {
        self.policy().valid()
    }

    /// The EMA of the weights, if configured.
    pub fn ema(&self) -> Option<&P> {
        self.ema.as_ref().map(Ema::module)
    }

    /// Optimizer steps taken so far.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// The run's counters and data position.
    pub fn state(&self) -> &TrainingState {
        &self.state
    }

    /// The training memory carried to rank 0's next batch.
    pub fn memory(&self) -> &MemoryManager<P::Memory> {
        self.rank_memory(0)
    }

    /// The training memory carried to rank `rank`'s next batch (panics if there is no such
    /// rank).
    pub fn rank_memory(&self, rank: usize) -> &MemoryManager<P::Memory> {
        &self.ranks.ranks[rank].memory
    }

    /// The number of data-parallel ranks (`devices` entries; 1 without).
    pub fn world_size(&self) -> usize {
        self.ranks.world_size()
    }

    /// The device training runs on (with autodiff; rank 0's).
    pub fn train_device(&self) -> &Device {
        &self.ranks.replicas[0].train_device
    }

    /// The device validation runs on (without autodiff; rank 0's).
    pub fn device(&self) -> &Device {
        &self.ranks.replicas[0].device
    }

    /// Whether the stop flag is set.
    fn stop_requested(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    fn optim(&self) -> &OptimStep {
        self.ranks.replicas[0].optim()
    }
}

/// Mixes the run's seed with a counter into the seed of one batch's random numbers
/// (SplitMix64), so that every step's randomness depends only on `(seed, step, salt)`.
pub(crate) fn step_seed(seed: u64, step: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(step.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(salt.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
