//! Behaviour-cloning fine-tuning of the small VPT on a dataset it generates on first run.
//!
//! `cargo run --release --example vpt_bc -- [--config FILE] [--resume RUN_DIR] [key.path=value ...]`
//!
//! Reads `examples/configs/vpt_bc.toml`, generates the synthetic dataset if it is not there
//! yet, wires `VptPolicy` to the objectives named in the config (checked against the keys VPT
//! produces before any data is read), trains with validation and checkpoints, and prints the
//! loss as it falls and a summary line.

use std::path::PathBuf;

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec};
use mine_runtime::config::TrainerConfig;
use mine_runtime::config_file;
use mine_runtime::data::config::{DatasetConfig, Split};
use mine_runtime::data::dataset::RawDataset;
use mine_runtime::data::loader::DataLoader;
use mine_runtime::data::synthetic::{SyntheticConfig, generate};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::{LoaderSource, Trainer};
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

struct Args {
    config: PathBuf,
    resume: Option<PathBuf>,
    overrides: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        config: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/configs/vpt_bc.toml"
        )),
        resume: None,
        overrides: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--config" => out.config = it.next().ok_or("--config needs a file")?.into(),
            "--resume" => {
                out.resume = Some(
                    it.next()
                        .ok_or("--resume needs a run directory or checkpoint")?
                        .into(),
                )
            }
            "-h" | "--help" => {
                return Err(
                    "usage: vpt_bc [--config FILE] [--resume RUN_DIR] [key.path=value ...]".into(),
                );
            }
            _ if arg.contains('=') => out.overrides.push(arg),
            _ => {
                return Err(format!(
                    "unexpected argument `{arg}`; overrides look like `trainer.max_steps=20`"
                ));
            }
        }
    }
    Ok(out)
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let config: Config = config_file::load(&args.config, &Config::default(), &args.overrides)?;

    // The policy and its objectives first: a wiring error stops the run before any data is read.
    // (The trainer moves the policy onto its training device.)
    let policy = VptPolicy::new(&config.policy, &burn::tensor::Device::flex())?;
    let experiment =
        Experiment::from_specs(policy, &config.objectives, &ObjectiveRegistry::builtin())?;

    let data_dir = config
        .data
        .dataset_dirs
        .first()
        .cloned()
        .ok_or("data.dataset_dirs is empty")?;
    let generated = generate(&config.generate, &data_dir)?;
    println!(
        "dataset {}: {} episodes, {} frames ({})",
        generated.path.display(),
        generated.episodes,
        generated.frames,
        if generated.reused {
            "reused"
        } else {
            "generated"
        }
    );
    let hyperparameters = serde_json::to_value(&config)?;
    let trainer =
        Trainer::new(config.trainer.clone(), experiment)?.with_hyperparameters(hyperparameters);
    let mut trainer = match &args.resume {
        Some(from) => trainer.resume_from(from)?,
        None => trainer,
    };
    let loader = |split: Split| -> Result<DataLoader, Box<dyn std::error::Error>> {
        let data = DatasetConfig {
            split,
            ..config.data.clone()
        };
        Ok(DataLoader::new(RawDataset::open(data)?))
    };
    let mut train = LoaderSource::new(loader(Split::Train)?, trainer.train_device().clone());
    let mut val = LoaderSource::new(loader(Split::Val)?, trainer.device().clone());
    let summary = trainer.fit(&mut train, Some(&mut val))?;
    let metric = |m: Option<&std::collections::BTreeMap<String, f64>>, k: &str| {
        m.and_then(|m| m.get(k))
            .map_or("-".to_owned(), |v| format!("{v:.3}"))
    };
    println!(
        "done: {} steps in {:.1}s ({:.2}s/step), {:.1} frames/s, train loss {}, val loss {}; run directory {}",
        summary.steps,
        summary.wall_time.as_secs_f64(),
        summary.step_time.as_secs_f64(),
        summary.frames_per_sec,
        metric(Some(&summary.final_train), "loss"),
        metric(summary.final_val.as_ref(), "loss"),
        config.trainer.run_dir.display()
    );
    Ok(())
}
