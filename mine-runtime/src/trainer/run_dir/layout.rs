//! What the trainer, and the programs around it, write into a run directory, told apart from
//! anything else: `--overwrite` removes the former and refuses to touch the latter.

use std::fs;
use std::path::{Path, PathBuf};

use super::RunDirError;
use crate::checkpoint::fs_atomic::is_temporary_of;
use crate::checkpoint::{
    CHECKPOINTS_DIR, WEIGHTS_DIR, is_checkpoint_entry_name, is_weights_file_name,
};
use crate::metrics::plot::{PLOT_FILES, PLOTS_DIR};
use crate::metrics::tensorboard::is_event_file_name;
use crate::metrics::{METRICS_FILE, TENSORBOARD_DIR};

/// File of the run directory holding the resolved configuration (TOML).
pub const CONFIG_FILE: &str = "config.toml";
/// File of the run directory holding every hyperparameter (JSON).
pub const HPARAMS_FILE: &str = "hparams.json";
/// The log file an experiment program writes into its run directory.
pub const TRAIN_LOG: &str = "train.log";
/// Directory of the run directory holding exported policies.
pub const EXPORT_DIR: &str = "export";

/// Files a program writes itself into its run directory (after claiming it): they do not make
/// the directory hold a run.
pub const PROGRAM_FILES: [&str; 1] = [TRAIN_LOG];

/// Top-level files written by the trainer or its program.
const FILES: [&str; 4] = [CONFIG_FILE, HPARAMS_FILE, METRICS_FILE, TRAIN_LOG];

/// Whether a name is one the trainer gives the entries of one of its directories.
type EntryNames = fn(&str) -> bool;

/// Top-level directories written by the trainer, each with the names it gives their entries.
const DIRS: [(&str, EntryNames); 5] = [
    (TENSORBOARD_DIR, is_event_file_name),
    (PLOTS_DIR, is_plot_file_name),
    (WEIGHTS_DIR, is_weights_file_name),
    (CHECKPOINTS_DIR, is_checkpoint_entry_name),
    // Written by the exporter as it sees fit: the whole directory is its own.
    (EXPORT_DIR, |_| true),
];

fn is_plot_file_name(name: &str) -> bool {
    PLOT_FILES
        .iter()
        .any(|plot| name == *plot || is_temporary_of(name, plot))
}

/// One entry of a directory.
pub(super) struct Entry {
    pub name: String,
    /// A directory (not a symbolic link to one).
    pub is_dir: bool,
}

impl Entry {
    /// The name as shown to a user: directories with a trailing `/`.
    pub fn shown(&self) -> String {
        if self.is_dir {
            format!("{}/", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The entries of `dir`, by name; none if it does not exist.
pub(super) fn entries(dir: &Path) -> Result<Vec<Entry>, RunDirError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RunDirError::io("list", dir, e)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| RunDirError::io("list", dir, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| RunDirError::io("inspect", &entry.path(), e))?;
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            is_dir: kind.is_dir(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// What an earlier run left in `dir`: the paths the trainer (or its program) wrote, and the
/// entries it did not (shown relative to `dir`). A trainer directory counts as written by the
/// trainer only if every entry in it has a name the trainer gives.
pub(super) fn earlier_run(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>), RunDirError> {
    let (mut written, mut foreign) = (Vec::new(), Vec::new());
    for entry in entries(dir)? {
        let path = dir.join(&entry.name);
        let is_file_of_ours = !entry.is_dir
            && FILES
                .iter()
                .any(|f| entry.name == *f || is_temporary_of(&entry.name, f));
        let names = DIRS
            .iter()
            .find(|(name, _)| entry.is_dir && entry.name == *name)
            .map(|(_, names)| names);
        if is_file_of_ours {
            written.push(path);
        } else if let Some(ours) = names {
            let strangers: Vec<String> = entries(&path)?
                .into_iter()
                .filter(|inner| !ours(&inner.name))
                .map(|inner| format!("{}/{}", entry.name, inner.shown()))
                .collect();
            if strangers.is_empty() {
                written.push(path);
            } else {
                foreign.extend(strangers);
            }
        } else {
            foreign.push(entry.shown());
        }
    }
    Ok((written, foreign))
}

/// Removes what [`earlier_run`] found written by the trainer.
pub(super) fn remove(paths: &[PathBuf]) -> Result<(), RunDirError> {
    for path in paths {
        let removed = if path.is_dir() {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        removed.map_err(|e| RunDirError::io("remove", path, e))?;
    }
    Ok(())
}
