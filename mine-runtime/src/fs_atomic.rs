//! Files that are either absent, the previous version, or complete: never half-written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a hidden temporary file beside `path`, flushes it to disk and renames it
/// over `path`. A crash leaves `path` as it was (plus, at worst, the temporary file).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("config.toml");
/// mine_runtime::fs_atomic::write_atomic(&path, b"max_steps = 10\n").unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "max_steps = 10\n");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_beside(path);
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            Err(error)
        }
    }
}

/// `dir/.name.tmp-<pid>` for `dir/name`.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether `name` is that of a temporary file [`write_atomic`] writes for a file named
/// `target` (one a crash can leave behind).
///
/// ```
/// use mine_runtime::fs_atomic::is_temporary_of;
/// assert!(is_temporary_of(".config.toml.tmp-4242", "config.toml"));
/// assert!(!is_temporary_of("config.toml", "config.toml"));
/// ```
pub fn is_temporary_of(name: &str, target: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(target))
        .and_then(|rest| rest.strip_prefix(".tmp-"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}
