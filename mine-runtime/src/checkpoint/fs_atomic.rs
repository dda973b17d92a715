//! Files that are either absent, the previous version, or complete: never half-written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to a hidden temporary file beside `path`, flushes it to disk, renames it
/// over `path` and flushes the directory (so the rename itself survives a crash). A crash
/// leaves `path` as it was (plus, at worst, the temporary file).
///
/// Every call writes its own temporary file, so threads (or processes) writing the same path
/// at once each publish a complete file: the last rename wins.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_beside(path);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
    match written.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => {
            sync_dir(parent_of(path));
            Ok(())
        }
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            Err(error)
        }
    }
}

/// Flushes a directory's entries to disk (best effort: not every platform can open a
/// directory), which makes a rename or creation inside it durable.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `dir/.name.tmp-<pid>-<n>` for `dir/name`, `n` counting this process's writes.
fn temporary_beside(path: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Whether `name` is that of a temporary file [`write_atomic`] writes for a file named
/// `target` (one a crash can leave behind): `.target.tmp-<pid>-<n>`, or `.target.tmp-<pid>`
/// as earlier versions named them.
pub fn is_temporary_of(name: &str, target: &str) -> bool {
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(target))
        .and_then(|rest| rest.strip_prefix(".tmp-"))
        .is_some_and(|rest| match rest.split_once('-') {
            Some((pid, n)) => is_number(pid) && is_number(n),
            None => is_number(rest),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two threads writing the same file name many times: every write succeeds, the file
    /// always holds one writer's complete content, and no temporary file is left.
    #[test]
    fn concurrent_writers_of_one_name_each_publish_a_whole_file() {
        const WRITES: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // Different lengths, so a mix of the two (or a truncated file) cannot pass for either.
        let contents = [vec![b'a'; 64 * 1024], vec![b'b'; 48 * 1024 + 17]];
        let (path, contents) = (&path, &contents);
        std::thread::scope(|scope| {
            for content in contents {
                scope.spawn(move || {
                    for _ in 0..WRITES {
                        write_atomic(path, content).expect("a concurrent atomic write");
                        let read = fs::read(path).unwrap();
                        assert!(
                            contents.contains(&read),
                            "a torn file of {} bytes",
                            read.len()
                        );
                    }
                });
            }
        });
        assert!(contents.contains(&fs::read(path).unwrap()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.json"], "temporary files left behind");
    }

    #[test]
    fn a_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"max_steps = 10\n").unwrap();
        write_atomic(&path, b"max_steps = 20\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "max_steps = 20\n");
    }

    #[test]
    fn temporary_names() {
        assert!(is_temporary_of(".config.toml.tmp-4242-7", "config.toml"));
        assert!(is_temporary_of(".config.toml.tmp-4242", "config.toml"));
        assert!(!is_temporary_of("config.toml", "config.toml"));
        assert!(!is_temporary_of(".config.toml.tmp-42-", "config.toml"));
        assert!(!is_temporary_of(".config.toml.tmp-x-1", "config.toml"));
    }

    #[test]
    fn temporaries_are_recognised_and_distinct() {
        let path = Path::new("dir/plot.png");
        let (a, b) = (temporary_beside(path), temporary_beside(path));
        assert_ne!(a, b);
        for tmp in [a, b] {
            assert_eq!(tmp.parent(), path.parent());
            let name = tmp.file_name().unwrap().to_str().unwrap();
            assert!(is_temporary_of(name, "plot.png"), "{name}");
            assert!(!is_temporary_of(name, "plot"), "{name}");
        }
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(parent_of(Path::new("x.toml")), Path::new("."));
        assert_eq!(parent_of(Path::new("a/x.toml")), Path::new("a"));
    }
}
