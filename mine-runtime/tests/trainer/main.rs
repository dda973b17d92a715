//! Trainer tests: memory carry and reset, exact resume, non-finite losses, configuration
//! errors, metric files, run directories, checksums, clean stops, host synchronisations per
//! step, data parallel ranks, and an end-to-end run whose behaviour-cloning loss falls.

#[path = "../common/mod.rs"]
mod common;
mod config;
mod data_vpt;
mod e2e;
mod integrity;
mod memory;
mod nan;
mod parallel;
mod resume;
mod rewind;
mod run_dir;
mod stop;
mod support;
mod sync;
mod tensorboard;
