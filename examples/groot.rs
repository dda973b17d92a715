//! GROOT pre-training: behaviour cloning plus the KL divergence between the goal posterior
//! (encoded from the whole window) and the prior (from its first frame), with the decoder's
//! memory carried across episode-continuous batches.
//!
//! `cargo run --release --example groot -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! Reads `examples/configs/groot.toml` (our from-scratch GROOT, `ScratchGrootConfig::small_cpu`:
//! a 2-block ViT over 16x16 patches of 128x128 frames, hidden 256, 2 decoder blocks over 16
//! timesteps with 16 memory slots; `architecture = "minestudio"` in `[policy]` selects
//! MineStudio's architecture, in MineStudio's vocabulary), generates the synthetic `track`
//! dataset on first run, and trains. The experiment is assembled in code: `GrootPolicy`
//! produces `pi_logits`, `posterior_dist` and `prior_dist`, which `BehaviorClone` and
//! `KlDivergence` consume, so the compiler checks the wiring; the weights
//! come from the config's typed `[objectives.*]` sections.

use mine_dsl::experiment::Experiment;
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_runtime::policies::groot::{GrootConfig, GrootPolicy, ScratchGrootConfig};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;
use minestudio_rs::run::exit_code;
use serde::{Deserialize, Serialize};

/// GROOT's two objectives (MineStudio's `bc_weight` and `kl_div_weight`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GrootObjectives {
    behavior_clone: BehaviorClone,
    kl_divergence: KlDivergence,
}

impl Default for GrootObjectives {
    fn default() -> Self {
        Self {
            behavior_clone: BehaviorClone::default(),
            // MineStudio's GROOT pre-training config: `kl_div_weight: 0.001`.
            kl_divergence: KlDivergence::default().with_weight(0.001),
        }
    }
}

/// The example's configuration file.
type Config = ExperimentConfig<GrootConfig, GrootObjectives>;

/// The example's config file (`--config FILE` replaces it).
const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs/groot.toml");

fn main() -> std::process::ExitCode {
    minestudio_rs::logging::init();
    minestudio_rs::run::stop_on_ctrl_c();
    minestudio_rs::runtime::kernels::allocator::keep_freed_memory();
    exit_code(run(&RunArgs::from_env()))
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = Config::new(
        "target/mine-data/groot",
        GrootConfig::from(ScratchGrootConfig::small_cpu()),
        GrootObjectives::default(),
    );
    let config: Config = args.load(CONFIG_FILE.as_ref(), &defaults)?;

    let device = config.trainer.init_device()?;
    let experiment = Experiment::new(GrootPolicy::new(&config.policy, &device)?)
        .objective(config.objectives.behavior_clone.clone())
        .objective(config.objectives.kl_divergence.clone());
    let summary = config.train(experiment, args.run_dir_mode())?;
    println!(
        "done: {summary}; run directory {}",
        config.trainer.run_dir.display()
    );
    Ok(())
}
