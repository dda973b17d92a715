//! The run directory, claimed before anything is written into it, so that a run never mixes
//! its files with another run's: a new run needs a missing or empty directory, a resumed run
//! the directory its checkpoint lies in (or an empty one), and an overwriting run a directory
//! holding nothing but what the trainer writes, which it removes first.
//!
//! A program claims its directory early, before it writes its own files there (its
//! `train.log`) or reads any data, and hands the claim to the trainer; a program that does
//! not is claimed for by [`Trainer::fit`](super::Trainer::fit) (a new run, or a resumed one
//! when [`Trainer::resume_from`](super::Trainer::resume_from) was called).
//!
//! ```
//! use mine_runtime::trainer::{RunDir, RunDirMode};
//!
//! let root = tempfile::tempdir().unwrap();
//! let path = root.path().join("run");
//! let run = RunDir::claim(&path, RunDirMode::Fresh).unwrap();
//! std::fs::write(run.path().join("train.log"), "starting\n").unwrap(); // the program's own log
//! std::fs::write(run.path().join("metrics.jsonl"), "{\"step\":1}\n").unwrap(); // as a run would
//!
//! let refused = RunDir::claim(&path, RunDirMode::Fresh).unwrap_err().to_string();
//! assert!(refused.contains("metrics.jsonl") && refused.contains("--overwrite"), "{refused}");
//! RunDir::claim(&path, RunDirMode::Overwrite).unwrap();
//! assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
//! ```

mod error;
mod layout;

use std::path::{Path, PathBuf};

pub use error::{Contents, RunDirError};
pub use layout::{CONFIG_FILE, EXPORT_DIR, HPARAMS_FILE, PROGRAM_FILES, TRAIN_LOG};

/// How a run treats what its directory already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunDirMode {
    /// A new run: the directory must be missing or empty (but for [`PROGRAM_FILES`]).
    Fresh,
    /// Continue from this checkpoint, or from the newest checkpoint of this run directory that
    /// verifies. The run directory may hold a run only if the checkpoint lies inside it.
    Resume(PathBuf),
    /// Start again: remove what an earlier run wrote (config, hyperparameters, metrics,
    /// TensorBoard events, plots, weights, checkpoints, `train.log`, exports). Refused,
    /// removing nothing, if the directory holds anything else.
    Overwrite,
}

/// No checkpoint: a new run; a checkpoint or run directory: a resumed one (what an optional
/// `--resume` argument asks for).
impl From<Option<&Path>> for RunDirMode {
    fn from(resume: Option<&Path>) -> Self {
        match resume {
            Some(from) => RunDirMode::Resume(from.to_owned()),
            None => RunDirMode::Fresh,
        }
    }
}

/// A run directory claimed for one run: it exists, and holds no other run's files. Hand it to
/// [`Trainer::with_run_dir`](super::Trainer::with_run_dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
    mode: RunDirMode,
    held_a_run: bool,
}

/// Whether `inner` is `outer` or lies inside it (both existing; symbolic links resolved).
pub(crate) fn lies_inside(inner: &Path, outer: &Path) -> bool {
    match (inner.canonicalize(), outer.canonicalize()) {
        (Ok(inner), Ok(outer)) => inner.starts_with(outer),
        _ => false,
    }
}

impl RunDir {
    /// Checks `path` against `mode` (see [`RunDirMode`]), removes an earlier run's files when
    /// overwriting, and creates the directory. The errors name the directory, what is in it
    /// and the fix.
    pub fn claim(path: impl Into<PathBuf>, mode: RunDirMode) -> Result<Self, RunDirError> {
        let path = path.into();
        let run: Vec<String> = layout::entries(&path)?
            .iter()
            .filter(|entry| entry.is_dir || !PROGRAM_FILES.contains(&entry.name.as_str()))
            .map(layout::Entry::shown)
            .collect();
        let held_a_run = !run.is_empty();
        match &mode {
            RunDirMode::Fresh if held_a_run => {
                return Err(RunDirError::InUse {
                    dir: path,
                    contents: Contents(run),
                });
            }
            RunDirMode::Resume(from) => {
                if !from.exists() {
                    return Err(RunDirError::NothingToResume { from: from.clone() });
                }
                if held_a_run && !lies_inside(from, &path) {
                    return Err(RunDirError::ResumeElsewhere {
                        dir: path,
                        from: from.clone(),
                        contents: Contents(run),
                    });
                }
            }
            RunDirMode::Overwrite => {
                let (written, foreign) = layout::earlier_run(&path)?;
                if !foreign.is_empty() {
                    return Err(RunDirError::Foreign {
                        dir: path,
                        foreign: Contents(foreign),
                    });
                }
                if !written.is_empty() {
                    tracing::info!(dir = %path.display(), removed = ?written, "overwriting an earlier run");
                }
                layout::remove(&written)?;
            }
            RunDirMode::Fresh => {}
        }
        std::fs::create_dir_all(&path).map_err(|e| RunDirError::io("create", &path, e))?;
        Ok(Self {
            held_a_run: held_a_run && matches!(mode, RunDirMode::Resume(_)),
            path,
            mode,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How it was claimed.
    pub fn mode(&self) -> &RunDirMode {
        &self.mode
    }

    /// Checks that a run resumed from `checkpoint` may write here: a directory that held a run
    /// when claimed takes only a checkpoint lying inside it.
    pub(crate) fn admit_resume(&self, checkpoint: &Path) -> Result<(), RunDirError> {
        if !self.held_a_run || lies_inside(checkpoint, &self.path) {
            return Ok(());
        }
        let contents = layout::entries(&self.path)?
            .iter()
            .map(layout::Entry::shown)
            .collect();
        Err(RunDirError::ResumeElsewhere {
            dir: self.path.clone(),
            from: checkpoint.to_owned(),
            contents: Contents(contents),
        })
    }

    /// Checks that this claim is for the directory `configured`.
    pub(crate) fn check_is(&self, configured: &Path) -> Result<(), RunDirError> {
        if lies_inside(configured, &self.path) && lies_inside(&self.path, configured) {
            return Ok(());
        }
        Err(RunDirError::Mismatch {
            claimed: self.path.clone(),
            configured: configured.to_owned(),
        })
    }
}
