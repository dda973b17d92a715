//! Behaviour-cloning fine-tuning of the small VPT on a dataset it generates on first run.
//!
//! `cargo run --release --example vpt_bc -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! Reads `examples/configs/vpt_bc.toml`, generates the synthetic dataset if it is not there
//! yet, wires `VptPolicy` to the objectives named in the config (checked against the keys VPT
//! produces before any data is read), trains with validation and checkpoints, and prints the
//! loss as it falls and a summary line.

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;

/// The example's configuration file: objectives by name, as `[[objectives]]` tables.
type Config = ExperimentConfig<VptConfig>;

/// The example's config file (`--config FILE` replaces it).
const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs/vpt_bc.toml");

fn main() -> std::process::ExitCode {
    minestudio_rs::run::program_main(run)
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = Config::new(
        "target/mine-data/vpt-bc",
        VptConfig::small_cpu(),
        vec![ObjectiveSpec::new("behavior_clone")],
    );
    let config: Config = args.load(CONFIG_FILE.as_ref(), &defaults)?;

    // The policy and its objectives first: a wiring error stops the run before any data is read.
    // (Built on the CPU, the same weights for every backend; the trainer moves the policy onto
    // its training device.)
    let policy = VptPolicy::new(&config.policy, &config.trainer.init_device()?)?;
    let experiment =
        Experiment::from_specs(policy, &config.objectives, &ObjectiveRegistry::builtin())?;
    let summary = config.train(experiment, args.run_dir_mode())?;
    println!(
        "done: {summary}; run directory {}",
        config.trainer.run_dir.display()
    );
    Ok(())
}
