//! Training an experiment on a MineStudio-format dataset in one call: the loaders for the
//! train and validation splits, resume, and [`Trainer::fit`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Device;
use mine_dsl::experiment::Experiment;
use mine_dsl::policy::Policy;
use mine_runtime::config::TrainerConfig;
use mine_runtime::data::config::{DatasetConfig, Split};
use mine_runtime::data::dataset::RawDataset;
use mine_runtime::data::error::DataError;
use mine_runtime::data::loader::DataLoader;
use mine_runtime::trainer::{LoaderSource, TrainError, TrainSummary, Trainer};
use serde::Serialize;

/// Why [`train_on_dataset`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The dataset could not be opened (the error names the directory and the fix).
    #[error("{split} split: {source}")]
    Data {
        /// `train` or `val`.
        split: &'static str,
        /// What went wrong.
        #[source]
        source: DataError,
    },
    /// `[generate]` is set but `data.dataset_dirs` names no directory to generate into.
    #[error("data.dataset_dirs is empty: name the directory the [generate] dataset goes to")]
    NoDatasetDir,
    /// The synthetic dataset could not be generated.
    #[error("generating the dataset in {dir}: {source}")]
    Generate {
        /// Where it was to go.
        dir: PathBuf,
        /// What went wrong.
        #[source]
        source: DataError,
    },
    /// The resolved config cannot be written as TOML or JSON (a map with non-string keys, say).
    #[error("the resolved config cannot be recorded: {0}")]
    Config(String),
    /// The trainer failed (configuration, resume, data, non-finite loss...).
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// Trains `experiment` with `trainer` on the train split of `data`, validating on its val
/// split, resuming from `resume` (a run directory or checkpoint) if given. `resolved` (the
/// whole resolved experiment config) becomes the run directory's `config.toml`, so that
/// `--config <run_dir>/config.toml` reruns the experiment, and goes to `hparams.json`.
pub fn train_on_dataset<P: Policy, C: Serialize>(
    experiment: Experiment<P>,
    trainer: &TrainerConfig,
    data: &DatasetConfig,
    resume: Option<&Path>,
    resolved: &C,
) -> Result<TrainSummary, RunError> {
    let text = toml::to_string(resolved).map_err(|e| RunError::Config(e.to_string()))?;
    let json = serde_json::to_value(resolved).map_err(|e| RunError::Config(e.to_string()))?;
    let trainer = Trainer::new(trainer.clone(), experiment)?
        .with_hyperparameters(json)
        .with_config_file(text);
    let mut trainer = match resume {
        Some(from) => trainer.resume_from(from)?,
        None => trainer,
    };
    let mut train = loader(data, Split::Train, trainer.train_device())?;
    let mut val = loader(data, Split::Val, trainer.device())?;
    Ok(trainer.fit(&mut train, Some(&mut val))?)
}

fn loader(data: &DatasetConfig, split: Split, device: &Device) -> Result<LoaderSource, RunError> {
    let name = match split {
        Split::Train => "train",
        Split::Val => "val",
    };
    let config = DatasetConfig {
        split,
        ..data.clone()
    };
    let dataset = RawDataset::open(config).map_err(|source| RunError::Data {
        split: name,
        source,
    })?;
    Ok(LoaderSource::new(DataLoader::new(dataset), device.clone()))
}

/// The exit status of an experiment binary: success, or failure with the error printed plainly
/// on stderr (the errors' messages already include their causes).
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
