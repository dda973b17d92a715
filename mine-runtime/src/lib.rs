//! # mine-runtime
//!
//! Trainer, data pipeline, checkpoints and the policy networks for mine-dsl experiments.

pub mod policies;
