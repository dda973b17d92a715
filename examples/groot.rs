//! GROOT pre-training: behaviour cloning plus the KL divergence between the goal posterior
//! (encoded from the whole window) and the prior (from its first frame), with the decoder's
//! memory carried across episode-continuous batches.
//!
//! `cargo run --release --example groot -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! Reads `examples/configs/groot.toml` (MineStudio's `GrootPolicy`, in MineStudio's vocabulary,
//! `MineStudioGrootConfig::small_cpu`: timm's CLIP ViT-B/32 shrunk to 2 blocks of width 128
//! over 16x16 patches of 128x128 frames and trained, hidden 256, 2 decoder blocks over 16
//! timesteps with 16 memory slots; `architecture = "scratch"` in `[policy]` selects our own
//! GROOT), generates the synthetic `track` dataset on first run, and trains. MineStudio's
//! default backbone, EfficientNet-B0 (`backbone = "efficientnet_b0.ra_in1k"`), is built too,
//! and takes about 1.5x the shrunk ViT's step time on a CPU at this frame size (`bench --model
//! groot` times it against MineStudio's). The experiment is assembled in code: `GrootPolicy`
//! produces `pi_logits`, `posterior_dist` and `prior_dist`, which `BehaviorClone` and
//! `KlDivergence` consume, so the compiler checks the wiring; the weights
//! come from the config's typed `[objectives.*]` sections.

use mine_dsl::experiment::Experiment;
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_runtime::config_file::ConfigFileError;
use mine_runtime::policies::groot::{GrootConfig, GrootPolicy, MineStudioGrootConfig};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;
use serde::{Deserialize, Serialize};

/// GROOT's two objectives (MineStudio's `bc_weight` and `kl_div_weight`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrootObjectives {
    /// `[objectives.behavior_clone]`.
    pub behavior_clone: BehaviorClone,
    /// `[objectives.kl_divergence]`.
    pub kl_divergence: KlDivergence,
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
pub type Config = ExperimentConfig<GrootConfig, GrootObjectives>;

/// The example's config file (`--config FILE` replaces it).
const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs/groot.toml");

fn main() -> std::process::ExitCode {
    minestudio_rs::run::program_main(run)
}

/// The example's configuration: `examples/configs/groot.toml` (or `--config`) over
/// MineStudio's GROOT at `small_cpu()` sizes, then the command line's overrides.
pub fn config(args: &RunArgs) -> Result<Config, ConfigFileError> {
    let defaults = Config::new(
        "target/mine-data/groot",
        GrootConfig::from(MineStudioGrootConfig::small_cpu()),
        GrootObjectives::default(),
    );
    args.load(CONFIG_FILE.as_ref(), &defaults)
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = config(args)?;

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
