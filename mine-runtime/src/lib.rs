//! # mine-runtime
//!
//! Everything that runs a mine-dsl experiment: the [`trainer`] (memory carried across batches,
//! validation, metrics, checkpoints and exact resume), the optimizer (PyTorch-exact AdamW,
//! learning-rate schedule, global-norm clipping), the data pipeline (MineStudio LMDB datasets,
//! VPT contractor recordings, samplers, a prefetching loader) and the built-in policies (VPT,
//! GROOT).

pub mod checkpoint;
pub mod config_file;
pub mod data;
pub mod kernels;
pub mod metrics;
pub mod optim;
pub mod parallel;
pub mod policies;
pub mod sync;
pub mod trainer;
