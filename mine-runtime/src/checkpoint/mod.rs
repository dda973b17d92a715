//! Checkpoints in the run directory, written atomically and checked before use.
//!
//! - `weights/step-NNNNNNNN.bpk`: the policy's weights (burnpack), every `save_freq` steps,
//!   all kept; `step-NNNNNNNN.ema.bpk` beside it when EMA is on; each with a checksum sidecar
//!   `<file>.sha256` ([`verify_file`] checks a weights file against it).
//! - `checkpoints/step-NNNNNNNN/`: a full checkpoint, the last `keep_last` (default 2) kept:
//!   `model.bpk`, `optimizer.bpk` and `lr_schedule.bpk` (AdamW moments and schedule position),
//!   `ema.bpk` (EMA weights, if on), `memory.bpk` (the training memory, see
//!   [`memory_file`]; with several data-parallel ranks, rank `r >= 1`'s in
//!   `memory-rank-<r>.bpk`), `state.json` ([`TrainingState`]: step, data position, seed,
//!   number of ranks, where the metric files stood) and, written last, `SHA256SUMS` (size and
//!   SHA-256 of every other file, in `sha256sum -c` format; see [`integrity`]).
//!
//! A full checkpoint is written into a temporary directory (`checkpoints/.tmp-*`), synced, and
//! renamed into place, so a directory named `step-*` is always complete; a crash leaves at
//! worst a temporary directory, which is ignored and removed by the next run. Weight files are
//! written to a scratch file and renamed the same way.
//!
//! Before a resume, every file of the checkpoint is checked against `SHA256SUMS`
//! ([`verify_checkpoint`]); resuming a run directory takes the newest checkpoint that verifies
//! ([`resolve_checkpoint`]), which is why two are kept. Checkpoints of state format 1
//! (written before checksums) have no `SHA256SUMS` and are read with a warning.

pub(crate) mod fs_atomic;
pub mod integrity;
mod locate;
pub mod memory_file;
mod state;

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::RecordError;

pub use integrity::{
    IntegrityProblem, MANIFEST_FILE, Verified, sidecar_path, verify_file, write_sidecar,
};
pub use locate::{Checked, list_checkpoints, resolve_checkpoint, verify_checkpoint};
pub use state::{OLDEST_STATE_FORMAT, RankMemory, STATE_FORMAT, TrainingState, TunedKernels};

use crate::checkpoint::fs_atomic::sync_dir;
use crate::optim::OptimError;

/// File of the policy's weights inside a full checkpoint.
pub const MODEL_FILE: &str = "model.bpk";
/// File of the EMA weights inside a full checkpoint.
pub const EMA_FILE: &str = "ema.bpk";
/// File of the training memory inside a full checkpoint.
pub const MEMORY_FILE: &str = "memory.bpk";
/// File of data-parallel rank `rank`'s training memory inside a full checkpoint
/// ([`MEMORY_FILE`] for rank 0).
pub fn rank_memory_file(rank: usize) -> String {
    match rank {
        0 => MEMORY_FILE.to_owned(),
        r => format!("memory-rank-{r}.bpk"),
    }
}
/// File of the counters and data position inside a full checkpoint.
pub const STATE_FILE: &str = "state.json";
/// Directory of a run directory holding the weights files.
pub const WEIGHTS_DIR: &str = "weights";
/// Directory of a run directory holding the full checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// A checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file-system operation failed.
    #[error("checkpoint: {action} {path}: {cause}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
    /// Saving or loading weights failed.
    #[error("checkpoint: weights file {path}: {cause}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Burn's error.
        cause: RecordError,
    },
    /// Saving or loading the optimizer state failed.
    #[error("checkpoint: {0}")]
    Optim(OptimError),
    /// A burnpack file could not be written or read.
    #[error("checkpoint: {path}: {reason}")]
    Pack {
        /// The file.
        path: PathBuf,
        /// The format's error.
        reason: String,
    },
    /// A file holds something else than expected.
    #[error("checkpoint: {path} is not a valid checkpoint file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No complete checkpoint where one was expected.
    #[error(
        "no checkpoint at {path}: expected a directory `checkpoints/step-*` holding {STATE_FILE} \
         and {MANIFEST_FILE} (written by the trainer), or a run directory that has one"
    )]
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file does not match the checksum recorded when it was written.
    #[error(
        "checkpoint: {path}: {problem}; do not use this file: take an earlier checkpoint \
         (resuming from the run directory falls back to the newest one that verifies)"
    )]
    Integrity {
        /// The damaged file (or the checksum file, when that is what is missing or damaged).
        path: PathBuf,
        /// What does not match.
        problem: IntegrityProblem,
    },
    /// Every checkpoint of a run directory fails verification.
    #[error(
        "no checkpoint of {run_dir} can be trusted: {}; restore the files from a copy, or start \
         again with --overwrite",
        failures.iter().map(CheckpointError::brief).collect::<Vec<_>>().join("; ")
    )]
    NoneVerifies {
        /// The run directory.
        run_dir: PathBuf,
        /// Why each checkpoint failed, newest first.
        failures: Vec<CheckpointError>,
    },
    /// The saved memory does not fit the policy's memory type.
    #[error("checkpoint: {path}: {cause}")]
    Memory {
        /// The memory file.
        path: PathBuf,
        /// The mismatch.
        cause: mine_dsl::memory::MemoryStateError,
    },
}

impl CheckpointError {
    pub(crate) fn io(action: &'static str, path: &Path, cause: std::io::Error) -> Self {
        CheckpointError::Io {
            action,
            path: path.to_owned(),
            cause,
        }
    }

    /// The message without the advice to take an earlier checkpoint (for a list of failures).
    fn brief(&self) -> String {
        match self {
            CheckpointError::Integrity { path, problem } => {
                format!("{}: {problem}", path.display())
            }
            other => other.to_string(),
        }
    }

    pub(crate) fn pack(path: &Path, error: impl std::fmt::Debug) -> Self {
        CheckpointError::Pack {
            path: path.to_owned(),
            reason: format!("{error:?}"),
        }
    }
}

/// Names, writes and rotates the checkpoints of one run directory.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    run_dir: PathBuf,
    keep_last: usize,
}

fn step_name(step: u64) -> String {
    format!("step-{step:08}")
}

fn parse_step(name: &str) -> Option<u64> {
    name.strip_prefix("step-")?.parse().ok()
}

/// Whether `name` is one the trainer gives files of `weights/`: `step-N.bpk`,
/// `step-N.ema.bpk`, their `.sha256` sidecars, and the scratch files they are written to.
pub fn is_weights_file_name(name: &str) -> bool {
    let Some(rest) = name.trim_start_matches('.').strip_prefix("step-") else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (rest[digits..].starts_with(".bpk") || rest[digits..].starts_with(".ema.bpk"))
}

/// Whether `name` is one the trainer gives entries of `checkpoints/`: `step-N` and the
/// temporary `.tmp-step-N-*` and `.old-step-N-*` directories.
pub fn is_checkpoint_entry_name(name: &str) -> bool {
    let name = name
        .strip_prefix(".tmp-")
        .or_else(|| name.strip_prefix(".old-"))
        .and_then(|rest| rest.rsplit_once('-').map(|(step, _pid)| step))
        .unwrap_or(name);
    parse_step(name).is_some()
}

impl Checkpointer {
    /// Checkpoints under `run_dir`, keeping the last `keep_last` full ones.
    pub fn new(run_dir: &Path, keep_last: usize) -> Self {
        Self {
            run_dir: run_dir.to_owned(),
            keep_last: keep_last.max(1),
        }
    }

    /// `run_dir/weights`.
    pub fn weights_dir(&self) -> PathBuf {
        self.run_dir.join(WEIGHTS_DIR)
    }

    /// `run_dir/checkpoints`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.run_dir.join(CHECKPOINTS_DIR)
    }

    /// Writes the weights of `model` (and of `ema`) for step `step`, each with its checksum
    /// sidecar; returns the model's file.
    pub fn save_weights<M: Module>(
        &self,
        step: u64,
        model: &M,
        ema: Option<&M>,
    ) -> Result<PathBuf, CheckpointError> {
        let dir = self.weights_dir();
        fs::create_dir_all(&dir).map_err(|e| CheckpointError::io("create", &dir, e))?;
        let path = dir.join(format!("{}.bpk", step_name(step)));
        save_module(model, &path)?;
        write_sidecar(&path)?;
        if let Some(ema) = ema {
            let ema_path = dir.join(format!("{}.ema.bpk", step_name(step)));
            save_module(ema, &ema_path)?;
            write_sidecar(&ema_path)?;
        }
        Ok(path)
    }

    /// Writes a full checkpoint for step `step`: `write` fills a temporary directory, to which
    /// `SHA256SUMS` is added last; it is then synced and renamed to
    /// `checkpoints/step-NNNNNNNN`, and older ones beyond `keep_last` are removed. Returns the
    /// checkpoint's directory.
    pub fn write_full(
        &self,
        step: u64,
        write: impl FnOnce(&Path) -> Result<(), CheckpointError>,
    ) -> Result<PathBuf, CheckpointError> {
        let root = self.checkpoints_dir();
        fs::create_dir_all(&root).map_err(|e| CheckpointError::io("create", &root, e))?;
        let name = step_name(step);
        let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| CheckpointError::io("remove", &tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| CheckpointError::io("create", &tmp, e))?;
        let written = write(&tmp)
            .and_then(|()| integrity::write_manifest(&tmp))
            .and_then(|()| sync_dir_files(&tmp));
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let target = root.join(&name);
        if target.exists() {
            // The same step saved again (a run resumed from it): replace it.
            let old = root.join(format!(".old-{name}-{}", std::process::id()));
            fs::rename(&target, &old).map_err(|e| CheckpointError::io("move", &target, e))?;
            fs::rename(&tmp, &target).map_err(|e| CheckpointError::io("publish", &target, e))?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&tmp, &target).map_err(|e| CheckpointError::io("publish", &target, e))?;
        }
        sync_dir(&root);
        self.prune()?;
        Ok(target)
    }

    /// Removes full checkpoints beyond the last `keep_last`, and leftover temporary directories
    /// of earlier processes.
    pub fn prune(&self) -> Result<(), CheckpointError> {
        let all = list_checkpoints(&self.checkpoints_dir());
        let excess = all.len().saturating_sub(self.keep_last);
        for (_, dir) in all.into_iter().take(excess) {
            fs::remove_dir_all(&dir).map_err(|e| CheckpointError::io("remove", &dir, e))?;
        }
        Ok(())
    }

    /// Removes temporary directories left by a crashed run (never a complete checkpoint).
    pub fn clean_temporaries(&self) {
        let Ok(entries) = fs::read_dir(self.checkpoints_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".old-") {
                tracing::info!(path = %entry.path().display(), "removing an incomplete checkpoint");
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Reads `dir/state.json`.
pub fn read_state(dir: &Path) -> Result<TrainingState, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&path).map_err(|e| CheckpointError::io("read", &path, e))?;
    let state: TrainingState =
        serde_json::from_str(&text).map_err(|e| CheckpointError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if !(OLDEST_STATE_FORMAT..=STATE_FORMAT).contains(&state.format) {
        return Err(CheckpointError::Corrupt {
            path,
            reason: format!(
                "format {} is not one this version reads ({OLDEST_STATE_FORMAT} to {STATE_FORMAT})",
                state.format
            ),
        });
    }
    Ok(state)
}

/// Writes `dir/state.json`.
pub fn write_state(dir: &Path, state: &TrainingState) -> Result<(), CheckpointError> {
    let path = dir.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state).map_err(|e| CheckpointError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    fs::write(&path, text).map_err(|e| CheckpointError::io("write", &path, e))
}

/// Saves a module's weights to `path` (burnpack, written to a scratch file and renamed).
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), CheckpointError> {
    module
        .clone()
        .save_file(path)
        .map_err(|cause| CheckpointError::Record {
            path: path.to_owned(),
            cause,
        })
}

/// Loads weights saved by [`save_module`] into `module`.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, CheckpointError> {
    module
        .try_load_file(path)
        .map_err(|cause| CheckpointError::Record {
            path: path.to_owned(),
            cause,
        })
}

fn sync_dir_files(dir: &Path) -> Result<(), CheckpointError> {
    let entries = fs::read_dir(dir).map_err(|e| CheckpointError::io("list", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| CheckpointError::io("sync", &path, e))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

impl From<OptimError> for CheckpointError {
    /// The optimizer state failed (its message is part of this one).
    fn from(error: OptimError) -> Self {
        Self::Optim(error)
    }
}
