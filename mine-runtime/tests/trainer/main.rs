//! Trainer tests: memory carry and reset, exact resume, non-finite losses, configuration
//! errors, metric files, and an end-to-end run whose behaviour-cloning loss falls.

#[path = "../common/mod.rs"]
mod common;
mod config;
mod data_vpt;
mod e2e;
mod memory;
mod nan;
mod resume;
mod support;
mod tensorboard;
