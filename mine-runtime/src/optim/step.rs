//! The optimizer step the trainer calls: accumulation, clipping, AdamW, schedule.

use std::path::{Path, PathBuf};

use burn::lr_scheduler::LrSchedulerRecord;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::store::RecordError;
use burn::tensor::{Gradients, Tensor};
use thiserror::Error;

use super::adamw::TorchAdamW;
use super::clip::{DeviceClip, clip_grad_norm_on_device, grad_norm_on_device};
use super::config::{OptimConfigError, OptimizerConfig};
use super::schedule::LrSchedule;
use crate::sync::{self, ReadReason};

/// File (inside a checkpoint directory) holding the AdamW moments, in burnpack format.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// File (inside a checkpoint directory) holding the schedule's step counter, in burnpack format.
pub const SCHEDULE_FILE: &str = "lr_schedule.bpk";

/// What one optimizer step did, read back to the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// 0-based index of this optimizer step (the global step before it).
    pub step: usize,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global L2 norm of the (accumulated) gradients before clipping.
    pub grad_norm_before_clip: f64,
    /// Whether clipping scaled the gradients down.
    pub clipped: bool,
    /// Number of batches whose gradients this step applied.
    pub batches: usize,
}

/// What one optimizer step did, with its gradient norm still on the device: taking the step
/// read nothing back. The trainer keeps the norm on the device until its logging window is
/// read; [`read`](Self::read) gives the host [`StepReport`].
#[derive(Debug, Clone)]
pub struct DeviceStepReport {
    /// 0-based index of this optimizer step (the global step before it).
    pub step: usize,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Number of batches whose gradients this step applied.
    pub batches: usize,
    /// Global L2 norm of the (accumulated) gradients before clipping, a one-element tensor;
    /// `None` when no parameter had a gradient.
    pub grad_norm: Option<Tensor<1>>,
    /// The clipping coefficient the gradients were multiplied by (when clipping is on and
    /// there were gradients), a one-element tensor.
    pub clip_coef: Option<Tensor<1>>,
}

impl DeviceStepReport {
    /// Reads the norm (and the clipping coefficient) back: one host read, or none when there
    /// was no gradient.
    pub fn read(self) -> StepReport {
        let (grad_norm_before_clip, clipped) = match (self.grad_norm, self.clip_coef) {
            (Some(total_norm), Some(coef)) => {
                let report = DeviceClip { total_norm, coef }.read();
                (report.total_norm, report.clipped)
            }
            (Some(norm), None) => (
                f64::from(sync::read_f32(norm, ReadReason::Optimizer)[0]),
                false,
            ),
            (None, _) => (0.0, false),
        };
        StepReport {
            step: self.step,
            lr: self.lr,
            grad_norm_before_clip,
            clipped,
            batches: self.batches,
        }
    }
}

/// A failure of the optimizer step or of saving/loading its state.
#[derive(Debug, Error)]
pub enum OptimError {
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] OptimConfigError),
    /// `backward_step` got a loss with no autodiff graph.
    #[error(
        "the loss passed to the optimizer is not tracked by autodiff: build the module and \
         inputs on an autodiff device (`Device::flex().autodiff()`) and do not detach the loss"
    )]
    UntrackedLoss,
    /// Saving in the middle of an accumulation window would lose the pending gradients.
    #[error(
        "cannot save the optimizer state with {pending} batch(es) of accumulated gradients not \
         yet applied: save after an optimizer step (or call `flush` first)"
    )]
    PendingAccumulation {
        /// Batches waiting to be applied.
        pending: usize,
    },
    /// Writing a state file failed.
    #[error("cannot write optimizer state file {path}: {cause}")]
    Save {
        /// The file.
        path: PathBuf,
        /// Burn's error.
        cause: RecordError,
    },
    /// Reading a state file failed.
    #[error(
        "cannot read optimizer state file {path}: {cause}; is it a checkpoint written by `OptimStep::save`?"
    )]
    Load {
        /// The file.
        path: PathBuf,
        /// Burn's error.
        cause: RecordError,
    },
    /// The schedule file holds no step counter.
    #[error(
        "{path} holds no optimizer step counter; it is not a schedule written by `OptimStep::save`"
    )]
    MissingStepCounter {
        /// The file.
        path: PathBuf,
    },
}

/// Optimizer state of a training run: AdamW moments, learning-rate schedule, gradient clipping
/// and gradient accumulation, applied in PyTorch Lightning's order (backward of the loss
/// scaled by `1 / k`, sum over `k` batches, clip, `optimizer.step`, `scheduler.step`).
///
/// Generic over any burn [`Module`]: the methods take the module by value and return it
/// updated, like burn's optimizers.
pub struct OptimStep {
    config: OptimizerConfig,
    optimizer: ModuleOptimizer,
    schedule: LrSchedule,
    pending: Option<GradientsParams>,
    pending_batches: usize,
}

impl std::fmt::Debug for OptimStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptimStep")
            .field("config", &self.config)
            .field("schedule", &self.schedule)
            .field("pending_batches", &self.pending_batches)
            .finish_non_exhaustive()
    }
}

impl OptimStep {
    /// Validates `config` and starts at optimizer step 0 with empty moments. `total_steps`
    /// (optimizer steps of the whole run, if known) sets the decay length when the config
    /// asks for decay without `decay_steps`.
    pub fn new(
        config: OptimizerConfig,
        total_steps: Option<usize>,
    ) -> Result<Self, OptimConfigError> {
        let schedule = LrSchedule::new(&config, total_steps)?;
        let optimizer = TorchAdamW::from_config(&config).into_module_optimizer();
        Ok(Self {
            config,
            optimizer,
            schedule,
            pending: None,
            pending_batches: 0,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The learning-rate schedule and its step counter.
    pub fn schedule(&self) -> &LrSchedule {
        &self.schedule
    }

    /// Learning rate of the next optimizer step.
    pub fn lr(&self) -> f64 {
        self.schedule.lr()
    }

    /// Optimizer steps taken so far (Lightning's `global_step`).
    pub fn optimizer_steps(&self) -> usize {
        self.schedule.steps_done()
    }

    /// Batches accumulated since the last optimizer step.
    pub fn pending_batches(&self) -> usize {
        self.pending_batches
    }

    /// Factor applied to each batch loss before backward: `1 / accumulate_grad_batches`.
    pub fn loss_scale(&self) -> f64 {
        1.0 / self.config.accumulate_grad_batches as f64
    }

    /// Divides `loss` by `accumulate_grad_batches` (unchanged when 1), as Lightning does before
    /// backward. Use it when calling `backward` yourself and then [`step`](Self::step).
    pub fn scale_loss<const D: usize>(&self, loss: Tensor<D>) -> Tensor<D> {
        match self.config.accumulate_grad_batches {
            1 => loss,
            k => loss.div_scalar(k as f64),
        }
    }

    /// Scales `loss`, runs backward and feeds the gradients to [`step`](Self::step).
    ///
    /// Returns the module (updated when this batch completes an accumulation window) and the
    /// report of the optimizer step, if one was taken.
    pub fn backward_step<M: Module, const D: usize>(
        &mut self,
        module: M,
        loss: Tensor<D>,
    ) -> Result<(M, Option<StepReport>), OptimError> {
        if !loss.is_tracked() {
            return Err(OptimError::UntrackedLoss);
        }
        let grads = self.scale_loss(loss).backward();
        Ok(self.step(module, grads))
    }

    /// Adds the gradients of one batch (from `scale_loss(loss).backward()`) and, when
    /// `accumulate_grad_batches` batches are gathered, clips and applies them; the report of a
    /// step taken is read back to the host (one read, see [`DeviceStepReport::read`]).
    pub fn step<M: Module>(&mut self, module: M, grads: Gradients) -> (M, Option<StepReport>) {
        let grads = GradientsParams::from_grads(grads, &module);
        self.step_params(module, grads)
    }

    /// Like [`step`](Self::step) with gradients already converted to [`GradientsParams`].
    pub fn step_params<M: Module>(
        &mut self,
        module: M,
        grads: GradientsParams,
    ) -> (M, Option<StepReport>) {
        let (module, report) = self.step_params_on_device(module, grads);
        (module, report.map(DeviceStepReport::read))
    }

    /// Like [`step_params`](Self::step_params), reading nothing back: the report keeps the
    /// gradient norm on the device.
    pub fn step_params_on_device<M: Module>(
        &mut self,
        module: M,
        grads: GradientsParams,
    ) -> (M, Option<DeviceStepReport>) {
        let grads = match self.pending.take() {
            None => grads,
            Some(pending) => {
                let mut accumulator = GradientsAccumulator::<M>::new();
                accumulator.accumulate(&module, pending);
                accumulator.accumulate(&module, grads);
                accumulator.grads()
            }
        };
        self.pending = Some(grads);
        self.pending_batches += 1;
        if self.pending_batches >= self.config.accumulate_grad_batches {
            self.flush_on_device(module)
        } else {
            (module, None)
        }
    }

    /// Applies the gradients accumulated so far even if the window is incomplete (Lightning
    /// does this on the last batch of an epoch). Does nothing when no batch is pending. The
    /// report is read back to the host (one read).
    pub fn flush<M: Module>(&mut self, module: M) -> (M, Option<StepReport>) {
        let (module, report) = self.flush_on_device(module);
        (module, report.map(DeviceStepReport::read))
    }

    /// Like [`flush`](Self::flush), reading nothing back: clipping runs on the device.
    pub fn flush_on_device<M: Module>(&mut self, module: M) -> (M, Option<DeviceStepReport>) {
        let Some(mut grads) = self.pending.take() else {
            return (module, None);
        };
        let batches = std::mem::take(&mut self.pending_batches);
        let (grad_norm, clip_coef) = match self.config.gradient_clip_val {
            Some(max_norm) => match clip_grad_norm_on_device(&module, &mut grads, max_norm) {
                Some(clip) => (Some(clip.total_norm), Some(clip.coef)),
                None => (None, None),
            },
            None => (grad_norm_on_device(&module, &grads), None),
        };
        let step = self.schedule.steps_done();
        let lr = self.schedule.lr();
        let module = self.optimizer.step(lr, module, grads);
        self.schedule.advance();
        tracing::debug!(step, lr, batches, "optimizer step");
        let report = DeviceStepReport {
            step,
            lr,
            batches,
            grad_norm,
            clip_coef,
        };
        (module, Some(report))
    }

    /// Writes the optimizer moments to `dir/`[`OPTIMIZER_FILE`] and the step counter to
    /// `dir/`[`SCHEDULE_FILE`] (burnpack). The moments are keyed by parameter id, which
    /// burnpack module checkpoints preserve, so save the module alongside.
    pub fn save(&self, dir: &Path) -> Result<(), OptimError> {
        if self.pending_batches > 0 {
            return Err(OptimError::PendingAccumulation {
                pending: self.pending_batches,
            });
        }
        let path = dir.join(OPTIMIZER_FILE);
        self.optimizer
            .save(&path)
            .map_err(|cause| OptimError::Save { path, cause })?;
        let path = dir.join(SCHEDULE_FILE);
        self.schedule
            .record()
            .save(&path)
            .map_err(|cause| OptimError::Save { path, cause })
    }

    /// Restores the state written by [`save`](Self::save) into this optimizer (built from the
    /// same configuration), dropping any pending gradients.
    pub fn load(self, dir: &Path) -> Result<Self, OptimError> {
        let Self {
            config,
            optimizer,
            mut schedule,
            ..
        } = self;
        let path = dir.join(SCHEDULE_FILE);
        let record = LrSchedulerRecord::load(&path).map_err(|cause| OptimError::Load {
            path: path.clone(),
            cause,
        })?;
        let steps =
            LrSchedule::steps_in_record(&record).ok_or(OptimError::MissingStepCounter { path })?;
        schedule.set_steps_done(steps);
        let path = dir.join(OPTIMIZER_FILE);
        let optimizer = optimizer
            .load(&path)
            .map_err(|cause| OptimError::Load { path, cause })?;
        Ok(Self {
            config,
            optimizer,
            schedule,
            pending: None,
            pending_batches: 0,
        })
    }
}
