//! Long trajectories: the same memory policy trained twice on long episodes, once with its
//! memory carried across the batches of each episode and once with it reset every batch.
//!
//! `cargo run --release --example long_trajectory -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! The dataset (generated on first run) is the `recall` task: a coloured cue flashes for two
//! frames, then the screen stays grey for 12-24 frames while the recorded player keeps doing
//! what the cue asked for (attack, walk, use, or jump while turning). With 16-frame windows in
//! episode-continuous batches, most grey frames' cue is in an earlier batch: only the
//! TransformerXL memory VPT carries from batch to batch (32 frames) remembers it. The run with
//! `memory = "carry"` learns those frames; the run with `memory = "reset"` stays at chance on
//! them, and the table at the end shows the gap in the validation loss (measured on 2 cores, 200
//! steps each, about a minute in all: 0.015 carried, 12.0 reset).
//!
//! Both runs start from the same initial weights and see the same batches; they go to
//! `<run_dir>/carry` and `<run_dir>/reset`, and `--resume <run_dir>` resumes both
//! (`--overwrite` starts both again).

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::config::MemoryMode;
use mine_runtime::trainer::{RunDirMode, TrainSummary};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;

/// The example's configuration file (`trainer.memory` is set per run).
type Config = ExperimentConfig<VptConfig>;

/// The two runs: name (also the run directory under `run_dir`) and memory mode.
const RUNS: [(&str, MemoryMode); 2] = [("carry", MemoryMode::Carry), ("reset", MemoryMode::Reset)];

/// The example's config file (`--config FILE` replaces it).
const CONFIG_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/configs/long_trajectory.toml"
);

fn main() -> std::process::ExitCode {
    minestudio_rs::run::program_main(run)
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = Config::new(
        "target/mine-data/long-trajectory",
        VptConfig::small_cpu(),
        vec![ObjectiveSpec::new("behavior_clone")],
    );
    let config: Config = args.load(CONFIG_FILE.as_ref(), &defaults)?;

    let mut results: Vec<(&str, TrainSummary)> = Vec::new();
    for (name, memory) in RUNS {
        let mut run = config.clone();
        run.trainer.memory = memory;
        run.trainer.run_dir = config.trainer.run_dir.join(name);
        // The initialization device is seeded with `trainer.seed`: both runs start alike.
        let policy = VptPolicy::new(&run.policy, &run.trainer.init_device()?)?;
        let experiment =
            Experiment::from_specs(policy, &run.objectives, &ObjectiveRegistry::builtin())?;
        let mode = match args.run_dir_mode() {
            RunDirMode::Resume(dir) => RunDirMode::Resume(dir.join(name)),
            mode => mode,
        };
        println!("== memory {name}: {}", run.trainer.run_dir.display());
        let summary = run.train(experiment, mode)?;
        println!("done ({name}): {summary}");
        results.push((name, summary));
    }
    println!("\n{}", comparison(&results));
    println!("run directory {}", config.trainer.run_dir.display());
    Ok(())
}

/// The table the example ends with: steps, last training and validation losses per run.
fn comparison(results: &[(&str, TrainSummary)]) -> String {
    let value = |m: Option<&f64>| m.map_or("-".to_owned(), |v| format!("{v:.4}"));
    let mut table =
        String::from("memory  steps  train loss  val loss  val camera_loss  val button_loss\n");
    for (name, s) in results {
        let val = s.final_val.as_ref();
        table.push_str(&format!(
            "{name:<6}  {:>5}  {:>10}  {:>8}  {:>15}  {:>15}\n",
            s.steps,
            value(s.final_train.get("loss")),
            value(val.and_then(|v| v.get("loss"))),
            value(val.and_then(|v| v.get("camera_loss"))),
            value(val.and_then(|v| v.get("button_loss"))),
        ));
    }
    table
}
