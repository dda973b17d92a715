//! Trainer tests: memory carry and reset, exact resume, non-finite losses, configuration
//! errors, metric files, checksums, and an end-to-end run whose behaviour-cloning loss falls.

mod config;
mod data_vpt;
mod e2e;
mod integrity;
mod memory;
mod nan;
mod resume;
mod support;
mod tensorboard;
