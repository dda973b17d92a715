//! The output written under a temporary name beside it (`.NAME.converting`) and moved into
//! place only when complete, so that an interrupted conversion never leaves a directory that
//! looks like a dataset; the next run removes what it left.

use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::data::error::{DataError, DataResult};
use crate::data::modality::Modality;

/// Held locked by the run writing a temporary directory (removed before the move).
const LOCK_FILE: &str = ".mine-convert.lock";

fn output_error(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Output {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io_error(path: &Path, doing: &str) -> impl FnOnce(std::io::Error) -> DataError {
    move |e| output_error(path, format!("cannot {doing}: {e}"))
}

/// `.NAME.<suffix>` beside `output`.
fn sibling(output: &Path, suffix: &str) -> DataResult<PathBuf> {
    let name = output.file_name().ok_or_else(|| {
        output_error(
            output,
            "names no directory to create; pass a path such as `datasets/contractor`",
        )
    })?;
    Ok(output.with_file_name(format!(".{}.{suffix}", name.to_string_lossy())))
}

fn is_modality_folder(entry: &std::fs::DirEntry) -> bool {
    let name = entry.file_name();
    entry.path().is_dir()
        && [Modality::Image, Modality::Action, Modality::MetaInfo]
            .iter()
            .flat_map(|m| m.folder_names())
            .any(|f| name == *f)
}

/// Whether a conversion may put its result at `output`: it is absent or an empty directory,
/// or (with `overwrite`) a directory holding only modality folders.
fn check_output(output: &Path, overwrite: bool) -> DataResult<()> {
    let meta = match std::fs::symlink_metadata(output) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other.map_err(io_error(output, "inspect it"))?,
    };
    if !meta.is_dir() {
        return Err(output_error(
            output,
            "exists and is not a directory; choose another --output",
        ));
    }
    let entries: Vec<_> = std::fs::read_dir(output)
        .map_err(io_error(output, "list it"))?
        .collect::<Result<_, _>>()
        .map_err(io_error(output, "list it"))?;
    if entries.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(output_error(
            output,
            "already exists; pass --overwrite (`ConvertOptions::overwrite`) to replace it, or \
             choose another --output",
        ));
    }
    if let Some(foreign) = entries.iter().find(|e| !is_modality_folder(e)) {
        return Err(output_error(
            output,
            format!(
                "holds `{}`, which is not part of a dataset; --overwrite only replaces \
                 datasets: move it away or choose another --output",
                foreign.file_name().to_string_lossy()
            ),
        ));
    }
    Ok(())
}

/// Locks `dir`'s lock file; `Ok(false)` when another process holds it.
fn try_lock(file: &File, dir: &Path) -> DataResult<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(output_error(dir, format!("cannot lock: {e}"))),
    }
}

fn another_run(output: &Path, temp: &Path) -> DataError {
    output_error(
        output,
        format!(
            "another conversion is writing it (into `{}`); wait for it to finish or choose \
             another --output",
            temp.display()
        ),
    )
}

/// Removes the temporary directory an interrupted run left, unless a live run holds it.
fn remove_leftover(output: &Path, temp: &Path) -> DataResult<()> {
    match File::open(temp.join(LOCK_FILE)) {
        Ok(lock) if !try_lock(&lock, temp)? => return Err(another_run(output, temp)),
        _ => {}
    }
    info!(
        "removing `{}`, left by an interrupted conversion",
        temp.display()
    );
    std::fs::remove_dir_all(temp).map_err(io_error(temp, "remove it"))
}

/// A run killed while replacing `output` left the old dataset at `replaced`: the swap either
/// finished (drop the old one) or not (put it back).
fn finish_interrupted_swap(output: &Path, replaced: &Path) -> DataResult<()> {
    if !replaced.exists() {
        return Ok(());
    }
    if output.exists() {
        std::fs::remove_dir_all(replaced).map_err(io_error(replaced, "remove it"))
    } else {
        warn!(
            "restoring `{}` from `{}`: the conversion replacing it was interrupted",
            output.display(),
            replaced.display()
        );
        std::fs::rename(replaced, output).map_err(io_error(output, "restore it"))
    }
}

/// A conversion's output being written; removed when dropped before [`Staging::commit`].
pub(super) struct Staging {
    output: PathBuf,
    temp: PathBuf,
    replaced: PathBuf,
    overwrite: bool,
    committed: bool,
    /// Held for the whole run (the lock is released when the process ends, however it ends).
    _lock: Option<File>,
}

impl Staging {
    /// Checks that `output` may be written (see `check_output`), cleans up after an
    /// interrupted run and creates the temporary directory.
    pub fn begin(output: &Path, overwrite: bool) -> DataResult<Self> {
        let temp = sibling(output, "converting")?;
        let replaced = sibling(output, "replaced")?;
        finish_interrupted_swap(output, &replaced)?;
        check_output(output, overwrite)?;
        if temp.exists() {
            remove_leftover(output, &temp)?;
        }
        if let Some(parent) = temp.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_error(parent, "create it"))?;
        }
        std::fs::create_dir(&temp).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => another_run(output, &temp),
            _ => io_error(&temp, "create it")(e),
        })?;
        // From here on, dropping `staging` removes the temporary directory.
        let mut staging = Self {
            output: output.to_path_buf(),
            temp,
            replaced,
            overwrite,
            committed: false,
            _lock: None,
        };
        let lock_path = staging.temp.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io_error(&lock_path, "create it"))?;
        if !try_lock(&lock, &lock_path)? {
            return Err(another_run(output, &staging.temp));
        }
        staging._lock = Some(lock);
        Ok(staging)
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Moves the finished directory to the output (replacing what `begin` approved).
    pub fn commit(mut self) -> DataResult<()> {
        check_output(&self.output, self.overwrite)?;
        let lock = self.temp.join(LOCK_FILE);
        std::fs::remove_file(&lock).map_err(io_error(&lock, "remove it"))?;
        let old = self.output.exists();
        if old {
            std::fs::rename(&self.output, &self.replaced)
                .map_err(io_error(&self.output, "move it aside"))?;
        }
        if let Err(e) = std::fs::rename(&self.temp, &self.output) {
            if old {
                let _ = std::fs::rename(&self.replaced, &self.output);
            }
            return Err(io_error(&self.output, "move the converted dataset there")(
                e,
            ));
        }
        self.committed = true;
        if old {
            std::fs::remove_dir_all(&self.replaced)
                .map_err(io_error(&self.replaced, "remove the replaced dataset"))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        match std::fs::remove_dir_all(&self.temp) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                warn!("cannot remove `{}`: {e}", self.temp.display())
            }
            _ => {}
        }
    }
}
