//! Behaviour-cloning fine-tuning of the small VPT on a dataset it generates on first run.
//!
//! `cargo run --release --example vpt_bc -- [--config FILE] [--resume RUN_DIR] [key.path=value ...]`
//!
//! Reads `examples/configs/vpt_bc.toml`, generates the synthetic dataset if it is not there
//! yet, wires `VptPolicy` to the objectives named in the config (checked against the keys VPT
//! produces before any data is read), trains with validation and checkpoints, and prints the
//! loss as it falls and a summary line.

use std::path::{Path, PathBuf};

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec};
use mine_runtime::config::TrainerConfig;
use mine_runtime::data::config::DatasetConfig;
use mine_runtime::data::synthetic::{SyntheticConfig, generate};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::run::train_on_dataset;
use serde::{Deserialize, Serialize};

/// The example's configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    generate: SyntheticConfig,
    data: DatasetConfig,
    policy: VptConfig,
    trainer: TrainerConfig,
    objectives: Vec<ObjectiveSpec>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            generate: SyntheticConfig::default(),
            data: DatasetConfig::new(vec![PathBuf::from("target/mine-data/vpt-bc")]),
            policy: VptConfig::small_cpu(),
            trainer: TrainerConfig::default(),
            objectives: vec![ObjectiveSpec::new("behavior_clone")],
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match run(&RunArgs::from_env()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let default_file = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/configs/vpt_bc.toml"
    ));
    let config: Config = args.load(default_file, &Config::default())?;

    // The policy and its objectives first: a wiring error stops the run before any data is read.
    // (The trainer moves the policy onto its training device.)
    let policy = VptPolicy::new(&config.policy, &config.trainer.device()?)?;
    let experiment =
        Experiment::from_specs(policy, &config.objectives, &ObjectiveRegistry::builtin())?;

    let data_dir = config
        .data
        .dataset_dirs
        .first()
        .ok_or("data.dataset_dirs is empty")?;
    let generated = generate(&config.generate, data_dir)?;
    println!("dataset {generated}");
    let summary = train_on_dataset(
        experiment,
        &config.trainer,
        &config.data,
        args.resume.as_deref(),
        &config,
    )?;
    println!(
        "done: {summary}; run directory {}",
        config.trainer.run_dir.display()
    );
    Ok(())
}
