//! The command line every experiment binary shares: a TOML config, dotted overrides,
//! `--resume` and `--overwrite`.
//!
//! ```
//! use minestudio_rs::cli::RunArgs;
//! use minestudio_rs::runtime::trainer::RunDirMode;
//!
//! let argv = ["vpt_bc", "--resume", "runs/vpt_bc", "trainer.max_steps=20"];
//! let args = RunArgs::from_args(argv).unwrap();
//! assert!(RunArgs::from_args(["vpt_bc", "--resum", "x"]).is_err());
//! assert_eq!(args.overrides, ["trainer.max_steps=20"]);
//! assert_eq!(args.resume.as_deref(), Some(std::path::Path::new("runs/vpt_bc")));
//! assert_eq!(args.run_dir_mode(), RunDirMode::Resume("runs/vpt_bc".into()));
//!
//! let args = RunArgs::from_args(["vpt_bc", "--overwrite"]).unwrap();
//! assert_eq!(args.run_dir_mode(), RunDirMode::Overwrite);
//! assert!(RunArgs::from_args(["vpt_bc", "--overwrite", "--resume", "x"]).is_err());
//! ```

use std::path::{Path, PathBuf};

use clap::Parser;
use mine_runtime::config_file::{self, ConfigFileError};
use mine_runtime::trainer::RunDirMode;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Arguments of an experiment binary.
#[derive(Debug, Clone, Default, Parser)]
#[command(about = "Train an experiment from a TOML config", long_about = None)]
pub struct RunArgs {
    /// The TOML config file (default: the experiment's own file under examples/configs).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Resume from a run directory (its newest checkpoint that verifies) or a checkpoint
    /// directory.
    #[arg(long, value_name = "RUN_DIR|CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Start again in a run directory that holds an earlier run: remove what the trainer wrote
    /// there (refused if it holds anything else).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Settings over the file, like Hydra: `trainer.optimizer.learning_rate=4e-5 data.win_len=64`.
    #[arg(value_name = "KEY.PATH=VALUE")]
    pub overrides: Vec<String>,
}

impl RunArgs {
    /// The program's arguments; prints usage and exits on `--help` or a malformed command line.
    pub fn from_env() -> Self {
        Self::parse()
    }

    /// Arguments from `args` (the first is the program name); an error (with usage) on a
    /// malformed command line.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args)
    }

    /// What `--resume` and `--overwrite` ask of the run directory.
    pub fn run_dir_mode(&self) -> RunDirMode {
        if self.overwrite {
            RunDirMode::Overwrite
        } else {
            self.resume.as_deref().into()
        }
    }

    /// The configuration: `--config` (else `default_file`) over `defaults`, then the overrides.
    /// A wrong key or type is rejected naming the key and the file (or the override).
    pub fn load<T: Serialize + DeserializeOwned>(
        &self,
        default_file: &Path,
        defaults: &T,
    ) -> Result<T, ConfigFileError> {
        let file = self.config.as_deref().unwrap_or(default_file);
        config_file::load(file, defaults, &self.overrides)
    }
}
