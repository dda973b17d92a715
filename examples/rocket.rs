//! ROCKET-1 pre-training by behaviour cloning on a generated segmentation dataset: the
//! policy sees every frame with the mask of the object to interact with (a fourth input
//! channel) and the interaction type, and learns the recorded actions.
//!
//! `cargo run --release --example rocket -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! Reads `examples/configs/rocket.toml` (`RocketConfig::small_cpu`: EfficientNet-B0 at width
//! and depth 0.25 over 4 channels, hidden 128, 2 TransformerXL blocks over 16 timesteps with
//! 16 memory slots), generates the synthetic `track` dataset with its `segmentation` modality
//! on first run (every square is an interaction: its mask, Mine for red squares, Use for
//! yellow ones), reads images, actions and segmentation (`data.modalities`), and trains
//! `RocketPolicy` with the objectives named in the config (MineStudio's recipe: behaviour
//! cloning), the memory carried across episode-continuous batches.
//!
//! Measured with the defaults (flex, 2 shared cores): 200 steps in 225 s; the training loss
//! falls from 143 (step 10) to 10.6, the validation loss from 15.7 (step 100) to 8.3.

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec};
use mine_runtime::data::Modality;
use mine_runtime::policies::rocket::{RocketConfig, RocketPolicy};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;

/// The example's configuration file: objectives by name, as `[[objectives]]` tables.
type Config = ExperimentConfig<RocketConfig>;

/// The configuration file the example reads unless `--config` names another.
const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs/rocket.toml");

fn main() -> std::process::ExitCode {
    minestudio_rs::run::program_main(run)
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = Config::new(
        "target/mine-data/rocket",
        RocketConfig::small_cpu(),
        vec![ObjectiveSpec::new("behavior_clone")],
    );
    let config: Config = args.load(CONFIG_FILE.as_ref(), &defaults)?;
    if !config.data.modalities.contains(&Modality::Segmentation) {
        return Err(
            "ROCKET-1 is conditioned on object masks: add \"segmentation\" to data.modalities \
             (and, for a generated dataset, set generate.segmentation = true)"
                .into(),
        );
    }

    let policy = RocketPolicy::new(&config.policy, &config.trainer.init_device()?)?;
    let experiment =
        Experiment::from_specs(policy, &config.objectives, &ObjectiveRegistry::builtin())?;
    let summary = config.train(experiment, args.run_dir_mode())?;
    println!(
        "done: {summary}; run directory {}",
        config.trainer.run_dir.display()
    );
    Ok(())
}
