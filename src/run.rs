//! Training an experiment on a MineStudio-format dataset in one call: the loaders for the
//! train and validation splits, the claimed run directory (resume or overwrite), a clean stop
//! on Ctrl-C, and [`Trainer::fit`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use mine_dsl::experiment::Experiment;
use mine_dsl::policy::Policy;
use mine_runtime::data::config::{DatasetConfig, Split};
use mine_runtime::data::dataset::RawDataset;
use mine_runtime::data::error::DataError;
use mine_runtime::data::loader::DataLoader;
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{
    CheckpointHook, LoaderSource, RunDir, RunDirError, TrainError, TrainSummary, Trainer,
};
use serde::Serialize;

/// Why [`train_on_dataset`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The dataset could not be opened (the error names the directory and the fix).
    #[error("{split} split: {cause}")]
    Data {
        /// `train` or `val`.
        split: &'static str,
        /// What went wrong.
        cause: DataError,
    },
    /// `[generate]` is set but `data.dataset_dirs` names no directory to generate into.
    #[error("data.dataset_dirs is empty: name the directory the [generate] dataset goes to")]
    NoDatasetDir,
    /// The synthetic dataset could not be generated.
    #[error("generating the dataset in {dir}: {cause}")]
    Generate {
        /// Where it was to go.
        dir: PathBuf,
        /// What went wrong.
        cause: DataError,
    },
    /// The resolved config cannot be written as TOML or JSON (a map with non-string keys, say).
    #[error("the resolved config cannot be recorded: {0}")]
    Config(String),
    /// `[export]` asks for exports the experiment's policy cannot make.
    #[error("[export]: {0}")]
    Export(String),
    /// The run directory's log file cannot be opened.
    #[error("cannot open the log file {path}: {cause}")]
    Log {
        /// The file.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
    /// The run directory holds another run, or files the trainer did not write.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The trainer failed (configuration, resume, data, non-finite loss...).
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// The train and validation splits of a dataset configuration, opened (which checks that
/// every directory is a MineStudio dataset with the modalities asked for).
pub struct Datasets {
    train: RawDataset,
    val: RawDataset,
}

impl Datasets {
    /// Opens both splits of `data`.
    pub fn open(data: &DatasetConfig) -> Result<Self, RunError> {
        Ok(Self {
            train: open_split(data, Split::Train)?,
            val: open_split(data, Split::Val)?,
        })
    }
}

fn open_split(data: &DatasetConfig, split: Split) -> Result<RawDataset, RunError> {
    let config = DatasetConfig {
        split,
        ..data.clone()
    };
    RawDataset::open(config).map_err(|cause| RunError::Data {
        split: match split {
            Split::Train => "train",
            Split::Val => "val",
        },
        cause,
    })
}

/// Trains `experiment` with `trainer` on the train split of `datasets`, validating on its
/// val split, in the claimed `run_dir` (resuming its checkpoint when claimed for a resume),
/// until done or stopped by [`stop_flag`], running `hooks` after every checkpoint.
/// `resolved` (the whole resolved experiment config) becomes the run directory's
/// `config.toml`, so that `--config <run_dir>/config.toml` reruns the experiment, and goes to
/// `hparams.json`.
pub fn train_on_dataset<P: Policy, C: Serialize>(
    experiment: Experiment<P>,
    trainer: &TrainerConfig,
    datasets: Datasets,
    run_dir: RunDir,
    resolved: &C,
    hooks: Vec<CheckpointHook<P>>,
) -> Result<TrainSummary, RunError> {
    let text = toml::to_string(resolved).map_err(|e| RunError::Config(e.to_string()))?;
    let json = serde_json::to_value(resolved).map_err(|e| RunError::Config(e.to_string()))?;
    let mut trainer = Trainer::new(trainer.clone(), experiment)?
        .with_hyperparameters(json)
        .with_config_file(text)
        .with_stop_flag(stop_flag())
        .with_run_dir(run_dir)?;
    for hook in hooks {
        trainer = trainer.on_checkpoint(hook);
    }
    let mut train = LoaderSource::new(
        DataLoader::new(datasets.train),
        trainer.train_device().clone(),
    );
    let mut val = LoaderSource::new(DataLoader::new(datasets.val), trainer.device().clone());
    Ok(trainer.fit(&mut train, Some(&mut val))?)
}

/// The stop flag of every run [`train_on_dataset`] starts: set by the handler
/// [`stop_on_ctrl_c`] installs, never otherwise.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// For experiment binaries (call it first in `main`): the first Ctrl-C (or SIGTERM) sets
/// [`stop_flag`], so the run finishes its optimizer step, saves a checkpoint and ends; a second
/// one ends the process at once. A handler that cannot be installed is a warning.
pub fn stop_on_ctrl_c() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = stop_flag();
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so that it sees the flag as the previous signal left it.
        let installed = signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())
            .and_then(|_| signal_hook::flag::register(signal, flag.clone()));
        if let Err(error) = installed {
            tracing::warn!(signal, %error, "no clean stop on this signal");
        }
    }
}

/// The whole `main` of an experiment program that takes [`RunArgs`](crate::cli::RunArgs):
/// sets up what belongs to the process (console logging, [`stop_on_ctrl_c`], and
/// [`keep_freed_memory`](mine_runtime::kernels::allocator::keep_freed_memory), which tunes glibc's
/// allocator for the whole process), runs `run` on the command line, and gives its
/// [`exit_code`]. The examples' `main` is `program_main(run)`.
pub fn program_main(
    run: impl FnOnce(&crate::cli::RunArgs) -> Result<(), Box<dyn std::error::Error>>,
) -> ExitCode {
    crate::logging::init();
    stop_on_ctrl_c();
    mine_runtime::kernels::allocator::keep_freed_memory();
    exit_code(run(&crate::cli::RunArgs::from_env()))
}

/// The exit status of an experiment binary: success, or failure with the error [`report`]ed on
/// stderr.
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", report(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// How a program shows `error`: `error: <message>`, then a `caused by: <cause>` line for each
/// error of its [`source`](std::error::Error::source) chain whose message the lines above do not
/// already hold, so every cause appears once.
///
/// The workspace's errors put their cause in their message and do not return it from
/// `source()`; errors of other crates may do either, or both.
///
/// ```
/// use minestudio_rs::run::report;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading data.toml")]
/// struct Read(#[source] std::io::Error);
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading data.toml: {0}")]
/// struct Both(#[source] std::io::Error);
///
/// let gone = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// assert_eq!(report(&Read(gone())), "error: reading data.toml\n  caused by: no such file");
/// assert_eq!(report(&Both(gone())), "error: reading data.toml: no such file");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("error: {error}");
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str("\n  caused by: ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}
