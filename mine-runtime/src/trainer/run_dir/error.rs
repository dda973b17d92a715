//! Why a run directory cannot be claimed.

use std::fmt;
use std::path::{Path, PathBuf};

/// A run directory was refused (or could not be read or cleaned).
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A new run into a directory that holds another run.
    #[error(
        "run directory {dir} already holds a run ({contents}): pass --resume {dir} to continue \
         it, or --overwrite to start again (or set `run_dir` to a new directory)",
        dir = .dir.display()
    )]
    InUse {
        /// The run directory.
        dir: PathBuf,
        /// What is in it.
        contents: Contents,
    },
    /// Resuming a checkpoint that lies outside a run directory that holds another run.
    #[error(
        "cannot resume {from} into {dir}: the checkpoint is not in that directory, which already \
         holds another run ({contents}); resume into an empty `run_dir`, or pass --resume {dir} \
         to continue the run that is there",
        from = .from.display(),
        dir = .dir.display()
    )]
    ResumeElsewhere {
        /// The run directory.
        dir: PathBuf,
        /// The checkpoint (or run directory) resumed from.
        from: PathBuf,
        /// What is in the run directory.
        contents: Contents,
    },
    /// Overwriting a directory that holds files the trainer did not write.
    #[error(
        "--overwrite refused: {dir} holds files the trainer did not write ({foreign}); nothing \
         was removed: move them away, or set `run_dir` to a directory of its own",
        dir = .dir.display()
    )]
    Foreign {
        /// The run directory.
        dir: PathBuf,
        /// The files and directories not written by the trainer.
        foreign: Contents,
    },
    /// The checkpoint (or run directory) to resume from does not exist.
    #[error("nothing to resume at {}: no such file or directory", .from.display())]
    NothingToResume {
        /// What was to be resumed.
        from: PathBuf,
    },
    /// A claimed run directory handed to a trainer configured with another one.
    #[error(
        "the claimed run directory {} is not the trainer config's `run_dir` {}: claim the \
         configured directory",
        .claimed.display(),
        .configured.display()
    )]
    Mismatch {
        /// The claimed directory.
        claimed: PathBuf,
        /// The config's `run_dir`.
        configured: PathBuf,
    },
    /// A file-system operation failed.
    #[error("run directory: cannot {action} {}: {cause}", .path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
}

impl RunDirError {
    pub(super) fn io(action: &'static str, path: &Path, cause: std::io::Error) -> Self {
        RunDirError::Io {
            action,
            path: path.to_owned(),
            cause,
        }
    }
}

/// Entries of a directory, shown by name (directories with a trailing `/`), the first few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents(pub Vec<String>);

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 6;
        write!(
            f,
            "{}",
            self.0
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}
