//! The configuration file of an experiment binary: data (and how to generate it), policy,
//! trainer and objectives, in one TOML document with dotted overrides.
//!
//! ```
//! use minestudio_rs::cli::RunArgs;
//! use minestudio_rs::experiment_config::ExperimentConfig;
//! use minestudio_rs::dsl::experiment::ObjectiveSpec;
//! use minestudio_rs::runtime::policies::vpt::VptConfig;
//!
//! let defaults: ExperimentConfig<VptConfig> = ExperimentConfig::new(
//!     "target/mine-data/demo",
//!     VptConfig::tiny(),
//!     vec![ObjectiveSpec::new("behavior_clone")],
//! );
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("demo.toml");
//! std::fs::write(&file, "[trainer]\nmax_steps = 5\n[data]\nwin_len = 8\n")?;
//! let args = RunArgs::from_args(["demo", "data.batch_size=4"])?;
//! let config = args.load(&file, &defaults)?;
//! assert_eq!((config.trainer.max_steps, config.data.win_len, config.data.batch_size), (Some(5), 8, 4));
//!
//! let wrong = RunArgs::from_args(["demo", "trainer.max_step=5"])?.load(&file, &defaults);
//! let message = wrong.unwrap_err().to_string();
//! assert!(message.contains("max_step") && message.contains("demo.toml"), "{message}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

use mine_dsl::experiment::{Experiment, ObjectiveSpec};
use mine_dsl::policy::Policy;
use mine_runtime::config::TrainerConfig;
use mine_runtime::data::config::DatasetConfig;
use mine_runtime::data::synthetic::{GeneratedDataset, SyntheticConfig, generate};
use mine_runtime::trainer::{RunDir, RunDirMode, TrainSummary};
use serde::{Deserialize, Serialize};

use crate::run::{RunError, train_on_dataset};

/// An experiment's whole configuration. `P` is the policy's config; `O` the objectives (a
/// list of [`ObjectiveSpec`] for experiments assembled by name, or a struct of typed objective
/// configs for experiments assembled in code).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig<P, O = Vec<ObjectiveSpec>> {
    /// When present, a synthetic dataset is generated (or reused) in the first of
    /// `data.dataset_dirs` before training; omit it to train on recorded data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<SyntheticConfig>,
    /// The datasets and MineStudio's data-module knobs.
    pub data: DatasetConfig,
    /// The policy's sizes.
    pub policy: P,
    /// The training run.
    pub trainer: TrainerConfig,
    /// The objectives and their weights.
    pub objectives: O,
}

impl<P, O> ExperimentConfig<P, O> {
    /// Defaults: the dataset in `data_dir`, generated there with the default synthetic
    /// config, and the trainer's defaults.
    pub fn new(data_dir: impl Into<PathBuf>, policy: P, objectives: O) -> Self {
        Self {
            generate: Some(SyntheticConfig::default()),
            data: DatasetConfig::new(vec![data_dir.into()]),
            policy,
            trainer: TrainerConfig::default(),
            objectives,
        }
    }

    /// Generates the synthetic dataset if `[generate]` is set (reusing one already there).
    pub fn prepare_data(&self) -> Result<Option<GeneratedDataset>, RunError> {
        let Some(synthetic) = &self.generate else {
            return Ok(None);
        };
        let dir = self
            .data
            .dataset_dirs
            .first()
            .ok_or(RunError::NoDatasetDir)?;
        generate(synthetic, dir)
            .map(Some)
            .map_err(|source| RunError::Generate {
                dir: dir.clone(),
                source,
            })
    }
}

impl<P: Serialize, O: Serialize> ExperimentConfig<P, O> {
    /// Trains `experiment` on the configured data (generated first if `[generate]` is set);
    /// the run directory records this whole config. `run_dir` says what may be in the run
    /// directory: an optional checkpoint to resume from (`args.resume.as_deref()`: a new run
    /// without), or a [`RunDirMode`] (`args.run_dir_mode()`, which also knows `--overwrite`).
    /// The directory is claimed before any data is read or generated.
    pub fn train<Pol: Policy>(
        &self,
        experiment: Experiment<Pol>,
        run_dir: impl Into<RunDirMode>,
    ) -> Result<TrainSummary, RunError> {
        let run_dir = RunDir::claim(&self.trainer.run_dir, run_dir.into())?;
        if let Some(dataset) = self.prepare_data()? {
            tracing::info!("dataset {dataset}");
        }
        train_on_dataset(experiment, &self.trainer, &self.data, run_dir, self)
    }
}
