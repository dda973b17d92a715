//! # minestudio-rs
//!
//! Offline training of Minecraft agent policies (VPT, GROOT) whose wiring is checked by the
//! compiler. This facade re-exports the crates of the workspace:
//!
//! - [`dsl`] (`mine-dsl`): latent keys, `#[policy]`, `#[objective]`, the VPT action space and
//!   the built-in objectives;
//! - [`runtime`] (`mine-runtime`): optimizer, trainer, data pipeline, policies;
//! - [`cli`], [`experiment_config`] and [`run`]: the command line, the configuration file and
//!   the dataset-to-trainer wiring that experiment binaries share;
//! - [`convert_cli`]: the `mine-convert` program (contractor recordings to a dataset);
//! - [`logging`]: `tracing` output on stderr for the programs.
//!
//! Most programs start with `use minestudio_rs::prelude::*;`.

pub use mine_dsl as dsl;
pub use mine_runtime as runtime;

pub mod cli;
pub mod convert_cli;
pub mod experiment_config;
pub mod export;
pub mod logging;
pub mod run;
pub mod train;

/// The names most experiments use.
pub mod prelude {
    pub use mine_dsl::prelude::*;
    pub use mine_runtime::trainer::config::TrainerConfig;
    pub use mine_runtime::trainer::{BatchSource, InMemory, LoaderSource, Trainer, from_fn};
}

/// The README's code, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
