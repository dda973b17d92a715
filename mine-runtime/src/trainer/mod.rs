//! The trainer: MineStudio's `MineLightning` loop on burn.
//!
//! One step: before-step hooks -> memory prepared for the batch (carried per row, reset at
//! episode starts) -> policy forward -> every objective -> total loss -> backward -> global-norm
//! clipping -> AdamW -> learning-rate schedule -> memory detached and kept. Metrics go to
//! `<run dir>/metrics.jsonl` and `tracing`; validation runs on the non-autodiff form of the
//! model with its own memory; full checkpoints resume exactly.

mod checkpoint;
mod config;
mod error;
mod memory;
mod metrics;
mod run;
mod source;

pub use checkpoint::{CheckpointError, TrainerState, list_full, resolve};
pub use config::{Backend, ConfigError, Precision, TrainerConfig};
pub use error::TrainError;
pub use memory::{MemoryStream, episode_starts};
pub use metrics::{JsonlSink, MeanAccumulator, MetricRecord, read_metrics};
pub use run::{Summary, Trainer};
pub use source::{BatchSource, GeneratedBatches, SourceError};
