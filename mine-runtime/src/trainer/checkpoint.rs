//! Checkpoints: weights-only files and full, resumable directories, written atomically.
//!
//! A full checkpoint `checkpoints/step-<N>/` holds `model.bpk` (the policy, burnpack), the
//! optimizer files, `memory.json` (the training stream's carried memory) and `state.json`
//! (step, epoch, position in the epoch, timestamps). It is written under a temporary name and
//! renamed when complete, so a crash never leaves a directory that loads wrong.

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

/// Where a run is and what it carries, beside the model and optimizer files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub global_step: u64,
    /// The epoch in progress.
    pub epoch: u64,
    /// Batches of that epoch already consumed.
    pub batch_in_epoch: usize,
    /// The training stream's last timestamp per row.
    pub last_timestamps: Vec<i64>,
    /// Whether a carried memory was saved in `memory.json`.
    pub has_memory: bool,
}

/// A checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system trouble, with the path.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file of the checkpoint is not what it should be.
    #[error(
        "checkpoint {path} is unreadable: {message}; it was not written by this version, or is damaged"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No full checkpoint where one was expected.
    #[error(
        "no checkpoint at {0}: pass a run directory with `checkpoints/step-*` or a checkpoint directory"
    )]
    NotFound(PathBuf),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `step-000042`: zero-padded so names sort by step.
pub fn step_name(step: u64) -> String {
    format!("step-{step:09}")
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Serializes the state and the exported memory into `dir`.
pub fn write_state(
    dir: &Path,
    state: &TrainerState,
    memory: &[TensorData],
) -> Result<(), CheckpointError> {
    let state_json = serde_json::to_vec_pretty(state).map_err(|e| corrupt(dir, e))?;
    write_atomic(&dir.join("state.json"), &state_json)?;
    let memory_json = serde_json::to_vec(memory).map_err(|e| corrupt(dir, e))?;
    write_atomic(&dir.join("memory.json"), &memory_json)
}

/// Reads what [`write_state`] wrote.
pub fn read_state(dir: &Path) -> Result<(TrainerState, Vec<TensorData>), CheckpointError> {
    let read = |name: &str| {
        let path = dir.join(name);
        fs::read(&path)
            .map_err(io(&path))
            .map(|bytes| (path, bytes))
    };
    let (path, bytes) = read("state.json")?;
    let state: TrainerState = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
    let (path, bytes) = read("memory.json")?;
    let memory: Vec<TensorData> = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
    Ok((state, memory))
}

fn corrupt(path: &Path, error: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

/// Finishes a full checkpoint written in `tmp`: renames it to `final_dir` (replacing an older
/// one of the same step), then keeps only the newest `keep_last` in their parent.
pub fn commit(tmp: &Path, final_dir: &Path, keep_last: usize) -> Result<(), CheckpointError> {
    if final_dir.exists() {
        fs::remove_dir_all(final_dir).map_err(io(final_dir))?;
    }
    fs::rename(tmp, final_dir).map_err(io(final_dir))?;
    let parent = final_dir.parent().unwrap_or(Path::new("."));
    let mut all = list_full(parent)?;
    while all.len() > keep_last {
        let oldest = all.remove(0);
        fs::remove_dir_all(&oldest).map_err(io(&oldest))?;
    }
    Ok(())
}

/// Complete full checkpoints in `dir` (`step-*` directories), oldest first.
pub fn list_full(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The checkpoint to resume from: `path` itself if it is a checkpoint directory, else the
/// newest full checkpoint of the run directory `path`.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    if path.join("state.json").is_file() {
        return Ok(path.to_owned());
    }
    list_full(&path.join("checkpoints"))?
        .pop()
        .ok_or_else(|| CheckpointError::NotFound(path.to_owned()))
}
