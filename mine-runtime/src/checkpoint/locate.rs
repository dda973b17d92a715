//! Finding the checkpoint to resume from, checked against its `SHA256SUMS` first.

use std::fs;
use std::path::{Path, PathBuf};

use super::integrity::{IntegrityProblem, MANIFEST_FILE, Verified, verify_manifest};
use super::{CHECKPOINTS_DIR, CheckpointError, STATE_FILE, parse_step, read_state};

/// What checking a checkpoint's files found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Every file matches `SHA256SUMS`.
    Verified(Vec<Verified>),
    /// A checkpoint of state format 1, written before checksums existed: there is nothing to
    /// check its files against (a warning is logged).
    Unverifiable,
}

/// Whether `dir` looks like a full checkpoint (it holds `state.json` or `SHA256SUMS`).
fn is_checkpoint(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file() || dir.join(MANIFEST_FILE).is_file()
}

/// The full checkpoints in a `checkpoints` directory, oldest first: the `step-*`
/// directories holding `state.json` or `SHA256SUMS` (a crash can leave neither, never a
/// half-renamed one).
pub fn list_checkpoints(checkpoints_dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = fs::read_dir(checkpoints_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let step = parse_step(&entry.file_name().to_string_lossy())?;
            let path = entry.path();
            is_checkpoint(&path).then_some((step, path))
        })
        .collect();
    found.sort();
    found
}

/// Checks every file of the checkpoint `dir` against its `SHA256SUMS` (see
/// [`integrity`](super::integrity)). A checkpoint without `SHA256SUMS` is an error naming it,
/// unless its `state.json` says format 1 (written before checksums): that one is accepted
/// with a warning, as [`Checked::Unverifiable`].
pub fn verify_checkpoint(dir: &Path) -> Result<Checked, CheckpointError> {
    let manifest = dir.join(MANIFEST_FILE);
    if manifest.symlink_metadata().is_ok() {
        return verify_manifest(dir).map(Checked::Verified);
    }
    let state = read_state(dir)?;
    if state.format > 1 {
        return Err(CheckpointError::Integrity {
            path: manifest,
            problem: IntegrityProblem::NoChecksums,
        });
    }
    tracing::warn!(
        path = %dir.display(),
        "the checkpoint predates checksums (state format 1): its files cannot be verified"
    );
    Ok(Checked::Unverifiable)
}

/// The checkpoint directory to resume from, verified ([`verify_checkpoint`]):
///
/// - `path` itself if it is a checkpoint; one that fails verification is an error naming the
///   file;
/// - else the newest checkpoint of the run directory `path` that verifies: each newer one that
///   fails is skipped with a warning naming the bad file, and the one used is named too.
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf, CheckpointError> {
    if is_checkpoint(path) {
        verify_checkpoint(path)?;
        return Ok(path.to_owned());
    }
    let candidates = list_checkpoints(&path.join(CHECKPOINTS_DIR));
    if candidates.is_empty() {
        return Err(CheckpointError::NotFound {
            path: path.to_owned(),
        });
    }
    let mut failures = Vec::new();
    for (_, dir) in candidates.into_iter().rev() {
        match verify_checkpoint(&dir) {
            Ok(_) => {
                if let Some(newest) = failures.first() {
                    tracing::warn!(
                        using = %dir.display(),
                        newest_failure = %newest,
                        "resuming from an older checkpoint: the newer ones fail verification"
                    );
                }
                return Ok(dir);
            }
            Err(error) => {
                tracing::warn!(
                    checkpoint = %dir.display(),
                    %error,
                    "checkpoint fails verification: trying the previous one"
                );
                failures.push(error);
            }
        }
    }
    Err(CheckpointError::NoneVerifies {
        run_dir: path.to_owned(),
        failures,
    })
}
