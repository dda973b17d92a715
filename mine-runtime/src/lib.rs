//! # mine-runtime
//!
//! Everything that runs a mine-dsl experiment: the optimizer (PyTorch-exact AdamW, learning-rate
//! schedule, global-norm clipping), the data pipeline (MineStudio LMDB datasets, VPT contractor
//! recordings, samplers, a prefetching loader) and the built-in policies (VPT).

pub mod config_file;
pub mod data;
pub mod optim;
pub mod policies;
pub mod trainer;
