//! Optimization with PyTorch/Lightning semantics: AdamW, warmup (and optional decay) learning
//! rate, global-norm gradient clipping and gradient accumulation.
//!
//! The trainer builds an [`OptimStep`] from an [`OptimizerConfig`] and calls
//! [`OptimStep::backward_step`] (or [`OptimStep::step`]) once per batch; it gets the updated
//! module and, on each optimizer step, a [`StepReport`] to log.

mod adamw;
mod clip;
mod config;
mod schedule;
mod step;

pub use adamw::TorchAdamW;
pub use clip::{ClipReport, clip_grad_norm, grad_norm};
pub use config::{DecayConfig, DecayKind, OptimConfigError, OptimizerConfig};
pub use schedule::LrSchedule;
pub use step::{OPTIMIZER_FILE, OptimError, OptimStep, SCHEDULE_FILE, StepReport};
