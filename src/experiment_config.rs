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
use mine_runtime::data::config::DatasetConfig;
use mine_runtime::data::synthetic::{GeneratedDataset, SyntheticConfig, generate};
use mine_runtime::policies::pretrained::PretrainedPolicy;
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{
    CheckpointHook, EXPORT_DIR, RunDir, RunDirMode, TRAIN_LOG, TrainSummary,
};
use serde::{Deserialize, Serialize};

use crate::run::{Datasets, RunError, train_on_dataset};

/// An experiment's whole configuration. `P` is the policy's config; `O` the objectives (a
/// list of [`ObjectiveSpec`] for experiments assembled by name, or a struct of typed objective
/// configs for experiments assembled in code).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig<P, O = Vec<ObjectiveSpec>> {
    /// When present, a synthetic dataset is generated (or reused) in the first of
    /// `data.dataset_dirs` before training; omit it (or write `generate = false`, e.g. as an
    /// override of a file that has the table) to train on the datasets as they are.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "generate_table_or_false"
    )]
    pub generate: Option<SyntheticConfig>,
    /// The datasets and MineStudio's data-module knobs.
    pub data: DatasetConfig,
    /// The policy's sizes.
    pub policy: P,
    /// The training run.
    pub trainer: TrainerConfig,
    /// The objectives and their weights.
    pub objectives: O,
    /// Exports written beside every checkpoint (the training program).
    #[serde(default, skip_serializing_if = "ExportSettings::is_off")]
    pub export: ExportSettings,
}

/// `[export]`: weights written for MineStudio beside every checkpoint, into
/// `run_dir/export/step-NNNNNNNN/` (`config.json` + `model.safetensors`, what
/// `mine-export` writes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSettings {
    /// Export for MineStudio at every checkpoint.
    pub minestudio: bool,
    /// Export the EMA weights instead of the trained ones (needs `[trainer.ema]`).
    pub ema: bool,
}

impl ExportSettings {
    fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

impl<P, O> ExperimentConfig<P, O> {
    /// Defaults: the dataset in `data_dir` (used as it is: a `[generate]` table in the
    /// config file generates it first), and the trainer's defaults.
    pub fn new(data_dir: impl Into<PathBuf>, policy: P, objectives: O) -> Self {
        Self {
            generate: None,
            data: DatasetConfig::new(vec![data_dir.into()]),
            policy,
            trainer: TrainerConfig::default(),
            objectives,
            export: ExportSettings::default(),
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
            .map_err(|cause| RunError::Generate {
                dir: dir.clone(),
                cause,
            })
    }
}

/// `[generate]` as a table, or `generate = false` (nothing to generate; `true`: the defaults).
fn generate_table_or_false<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SyntheticConfig>, D::Error> {
    use serde::de::Error;
    match toml::Value::deserialize(deserializer)? {
        toml::Value::Boolean(false) => Ok(None),
        toml::Value::Boolean(true) => Ok(Some(SyntheticConfig::default())),
        table => table
            .try_into()
            .map(Some)
            .map_err(|e: toml::de::Error| D::Error::custom(format!("generate: {}", e.message()))),
    }
}

impl<P: Serialize, O: Serialize> ExperimentConfig<P, O> {
    /// Trains `experiment` on the configured data (generated first if `[generate]` is set);
    /// the run directory records this whole config. `run_dir` says what may be in the run
    /// directory: an optional checkpoint to resume from (`args.resume.as_deref()`: a new run
    /// without), or a [`RunDirMode`] (`args.run_dir_mode()`, which also knows `--overwrite`).
    /// The datasets are opened (checked) first, then the directory is claimed, and the logs
    /// go to its `train.log` too (when [`logging::init`](crate::logging::init) set them up).
    pub fn train<Pol: Policy>(
        &self,
        experiment: Experiment<Pol>,
        run_dir: impl Into<RunDirMode>,
    ) -> Result<TrainSummary, RunError> {
        if self.export.minestudio {
            return Err(RunError::Export(
                "exports at every checkpoint need a policy of the training program \
                 (mine-train, `minestudio_rs::train`)"
                    .into(),
            ));
        }
        self.train_with_hooks(experiment, run_dir.into(), Vec::new())
    }

    /// [`train`](Self::train) with `[export]` honoured: MineStudio exports beside every
    /// checkpoint when `export.minestudio` is set.
    pub fn train_exporting<Pol: PretrainedPolicy>(
        &self,
        experiment: Experiment<Pol>,
        run_dir: impl Into<RunDirMode>,
    ) -> Result<TrainSummary, RunError> {
        let mut hooks = Vec::new();
        if self.export.minestudio {
            if self.export.ema && self.trainer.ema.is_none() {
                return Err(RunError::Export(
                    "`ema = true` exports the EMA weights, but [trainer.ema] is not set".into(),
                ));
            }
            hooks.push(minestudio_export_hook::<Pol>(
                self.trainer.run_dir.join(EXPORT_DIR),
                self.export.ema,
            ));
        }
        self.train_with_hooks(experiment, run_dir.into(), hooks)
    }

    fn train_with_hooks<Pol: Policy>(
        &self,
        experiment: Experiment<Pol>,
        mode: RunDirMode,
        hooks: Vec<CheckpointHook<Pol>>,
    ) -> Result<TrainSummary, RunError> {
        if let Some(dataset) = self.prepare_data()? {
            tracing::info!("dataset {dataset}");
        }
        let datasets = Datasets::open(&self.data)?;
        let run_dir = RunDir::claim(&self.trainer.run_dir, mode)?;
        let log = self.trainer.run_dir.join(TRAIN_LOG);
        crate::logging::log_to_file(&log).map_err(|cause| RunError::Log { path: log, cause })?;
        train_on_dataset(experiment, &self.trainer, datasets, run_dir, self, hooks)
    }
}

/// Writes `dir/step-NNNNNNNN/` for MineStudio at every checkpoint (the EMA weights with `ema`).
fn minestudio_export_hook<P: PretrainedPolicy>(dir: PathBuf, ema: bool) -> CheckpointHook<P> {
    Box::new(move |saved| {
        let policy = match (ema, saved.ema) {
            (true, Some(ema)) => ema,
            _ => saved.policy,
        };
        let target = dir.join(format!("step-{:08}", saved.step));
        policy
            .export_minestudio(&target)
            .map_err(|e| e.to_string())?;
        tracing::info!(step = saved.step, path = %target.display(), "exported for MineStudio");
        Ok(())
    })
}
