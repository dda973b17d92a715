//! Optimization with PyTorch/Lightning semantics: AdamW, warmup (and optional decay) learning
//! rate, global-norm gradient clipping and gradient accumulation.
//!
//! Build an [`OptimStep`] from an [`OptimizerConfig`] and call [`OptimStep::backward_step`]
//! (or [`OptimStep::step`]) once per batch: it returns the updated module and, on each
//! optimizer step, a [`StepReport`] read back to the host. The trainer uses the `_on_device`
//! forms ([`OptimStep::step_params_on_device`], [`clip_grad_norm_on_device`]): clipping runs on
//! the device, the gradient norm stays there in a [`DeviceStepReport`], and a step reads
//! nothing back. Every host read goes through [`crate::sync`].

mod adamw;
mod clip;
mod config;
mod schedule;
mod step;

pub use adamw::TorchAdamW;
pub use clip::{
    ClipReport, DeviceClip, clip_grad_norm, clip_grad_norm_on_device, grad_norm,
    grad_norm_on_device,
};
pub use config::{DecayConfig, DecayKind, OptimConfigError, OptimizerConfig};
pub use schedule::LrSchedule;
pub use step::{
    DeviceStepReport, OPTIMIZER_FILE, OptimError, OptimStep, SCHEDULE_FILE, StepReport,
};
