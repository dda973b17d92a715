//! # mine-runtime
//!
//! Trainer, data pipeline and checkpoints for mine-dsl experiments.

pub mod data;
