//! SHA-256 checksums that let checkpoints and weights files detect their own corruption.
//!
//! Every full checkpoint ends with [`MANIFEST_FILE`] (`SHA256SUMS`), written last, inside the
//! temporary directory before it is renamed into place; every weights file has a sidecar
//! `<file>.sha256` beside it. Both use the text format of `sha256sum`, so
//! `sha256sum -c SHA256SUMS` (in the checkpoint) and `sha256sum -c step-00000030.bpk.sha256`
//! (in `weights/`) check them too; the comment lines, which `sha256sum` skips, record each
//! file's size and, last, the SHA-256 of the checksum file itself (all bytes before that line):
//!
//! ```text
//! # SHA-256 of every file of this checkpoint; check with `sha256sum -c SHA256SUMS`
//! 5f1c...e2  lr_schedule.bpk
//! 09ab...7d  model.bpk
//! # size 412 lr_schedule.bpk
//! # size 1870020 model.bpk
//! # self-sha256 c4d1...90
//! ```
//!
//! Verification checks the checksum file's own line first (a damaged checksum file is named as
//! such), then that every listed file exists with its size and hash, and that the directory
//! holds no file the checkpoint did not list.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::CheckpointError;

/// The checksum file of a full checkpoint.
pub const MANIFEST_FILE: &str = "SHA256SUMS";
/// Extension added to a weights file's name for its checksum sidecar (`step-*.bpk.sha256`).
pub const SIDECAR_EXTENSION: &str = "sha256";

const SIZE_PREFIX: &str = "# size ";
const SELF_PREFIX: &str = "# self-sha256 ";

/// What is wrong with a file that does not match its recorded checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityProblem {
    /// A listed file is not there.
    #[error("the file is missing (its checksum file lists it)")]
    Missing,
    /// The file's size is not the recorded one.
    #[error("it has {actual} bytes where {recorded} were written (truncated or overwritten)")]
    Size {
        /// Bytes when written.
        recorded: u64,
        /// Bytes now.
        actual: u64,
    },
    /// The file's content changed.
    #[error("its SHA-256 is {actual}, not the {recorded} recorded when it was written")]
    Hash {
        /// SHA-256 when written (hex).
        recorded: String,
        /// SHA-256 now (hex).
        actual: String,
    },
    /// A file the checkpoint's manifest does not list.
    #[error(
        "the file is not listed in {MANIFEST_FILE} (it was added after the checkpoint was written)"
    )]
    Unlisted,
    /// The checksum file itself is absent.
    #[error("the checksum file is missing")]
    NoChecksums,
    /// The checksum file is damaged or not one the trainer wrote.
    #[error("the checksum file is damaged: {0}")]
    BadChecksums(String),
}

/// A file whose size and SHA-256 match the ones recorded when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// Its SHA-256 (lowercase hex).
    pub sha256: String,
}

/// One line of a checksum file: a file name, its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    len: u64,
    sha256: String,
}

fn integrity(path: &Path, problem: IntegrityProblem) -> CheckpointError {
    CheckpointError::Integrity {
        path: path.to_owned(),
        problem,
    }
}

/// The size and SHA-256 (lowercase hex) of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<(u64, String), CheckpointError> {
    let mut file = fs::File::open(path).map_err(|e| CheckpointError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| CheckpointError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        len += n as u64;
    }
    Ok((len, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of a checksum file listing `entries`, with `header` as its first comment.
fn render(header: &str, entries: &[Entry]) -> String {
    let mut text = format!("# {header}\n");
    for entry in entries {
        text.push_str(&format!("{}  {}\n", entry.sha256, entry.name));
    }
    for entry in entries {
        text.push_str(&format!("{SIZE_PREFIX}{} {}\n", entry.len, entry.name));
    }
    let own = hex(&Sha256::digest(text.as_bytes()));
    text.push_str(&format!("{SELF_PREFIX}{own}\n"));
    text
}

/// Parses a checksum file written by [`render`]; `path` names it in errors.
fn parse(text: &str, path: &Path) -> Result<Vec<Entry>, CheckpointError> {
    let bad = |why: String| integrity(path, IntegrityProblem::BadChecksums(why));
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let (body, last) = text.split_at(body_end);
    let own = last
        .strip_prefix(SELF_PREFIX)
        .and_then(|rest| rest.strip_suffix('\n'))
        .ok_or_else(|| {
            bad(format!(
                "it does not end with its own `{}` line (truncated?)",
                SELF_PREFIX.trim()
            ))
        })?;
    let actual = hex(&Sha256::digest(body.as_bytes()));
    if own != actual {
        return Err(bad(format!(
            "its own SHA-256 is {actual}, not the {own} it records"
        )));
    }
    let mut hashes: Vec<(String, String)> = Vec::new();
    let mut sizes: Vec<(String, u64)> = Vec::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix(SIZE_PREFIX) {
            let (len, name) = rest
                .split_once(' ')
                .and_then(|(len, name)| Some((len.parse::<u64>().ok()?, name)))
                .ok_or_else(|| bad(format!("unreadable size line `{line}`")))?;
            sizes.push((name.to_owned(), len));
        } else if !line.starts_with('#') {
            let (hash, name) = line
                .split_once("  ")
                .filter(|(hash, _)| hash.len() == 64)
                .ok_or_else(|| bad(format!("unreadable checksum line `{line}`")))?;
            hashes.push((name.to_owned(), hash.to_owned()));
        }
    }
    hashes
        .into_iter()
        .map(|(name, sha256)| {
            let len = sizes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, len)| *len)
                .ok_or_else(|| bad(format!("no size recorded for {name}")))?;
            Ok(Entry { name, len, sha256 })
        })
        .collect()
}

/// Checks one listed file of `dir` against its entry.
fn check(dir: &Path, entry: &Entry) -> Result<Verified, CheckpointError> {
    let path = dir.join(&entry.name);
    let actual_len = match fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(integrity(&path, IntegrityProblem::Missing));
        }
        Err(e) => return Err(CheckpointError::io("read", &path, e)),
    };
    if actual_len != entry.len {
        return Err(integrity(
            &path,
            IntegrityProblem::Size {
                recorded: entry.len,
                actual: actual_len,
            },
        ));
    }
    let (len, sha256) = sha256_file(&path)?;
    if sha256 != entry.sha256 {
        return Err(integrity(
            &path,
            IntegrityProblem::Hash {
                recorded: entry.sha256.clone(),
                actual: sha256,
            },
        ));
    }
    Ok(Verified { path, len, sha256 })
}

fn read_checksums(path: &Path) -> Result<Vec<Entry>, CheckpointError> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            integrity(
                path,
                IntegrityProblem::BadChecksums("it is not UTF-8 text".into()),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(integrity(path, IntegrityProblem::NoChecksums));
        }
        Err(e) => return Err(CheckpointError::io("read", path, e)),
    };
    parse(&text, path)
}

fn write_checksums(path: &Path, text: &str) -> Result<(), CheckpointError> {
    crate::checkpoint::fs_atomic::write_atomic(path, text.as_bytes())
        .map_err(|e| CheckpointError::io("write", path, e))
}

/// The regular files of `dir` other than the manifest, by name.
fn files_of(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let entries = fs::read_dir(dir).map_err(|e| CheckpointError::io("list", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CheckpointError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MANIFEST_FILE && entry.path().is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Writes `dir/SHA256SUMS` listing every file of `dir` (the last file of a checkpoint).
pub fn write_manifest(dir: &Path) -> Result<(), CheckpointError> {
    let entries = files_of(dir)?
        .into_iter()
        .map(|name| {
            let (len, sha256) = sha256_file(&dir.join(&name))?;
            Ok(Entry { name, len, sha256 })
        })
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let header = format!(
        "SHA-256 of every file of this checkpoint; check with `sha256sum -c {MANIFEST_FILE}`"
    );
    write_checksums(&dir.join(MANIFEST_FILE), &render(&header, &entries))
}

/// Checks every file of the checkpoint `dir` against its `SHA256SUMS`: the manifest must be
/// intact, every listed file present with its size and hash, and no other file there. The
/// first problem found is the error, naming the file.
pub fn verify_manifest(dir: &Path) -> Result<Vec<Verified>, CheckpointError> {
    let manifest = dir.join(MANIFEST_FILE);
    let entries = read_checksums(&manifest)?;
    for name in files_of(dir)? {
        if !entries.iter().any(|e| e.name == name) {
            return Err(integrity(&dir.join(name), IntegrityProblem::Unlisted));
        }
    }
    entries.iter().map(|entry| check(dir, entry)).collect()
}

/// The checksum sidecar of `path`: `<path>.sha256`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(SIDECAR_EXTENSION);
    path.with_file_name(name)
}

/// Writes the checksum sidecar of the file at `path` (see [`verify_file`]).
pub fn write_sidecar(path: &Path) -> Result<Verified, CheckpointError> {
    let (len, sha256) = sha256_file(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entry = Entry {
        name: name.clone(),
        len,
        sha256: sha256.clone(),
    };
    let header = format!("SHA-256 of {name}; check with `sha256sum -c {name}.{SIDECAR_EXTENSION}`");
    write_checksums(&sidecar_path(path), &render(&header, &[entry]))?;
    Ok(Verified {
        path: path.to_owned(),
        len,
        sha256,
    })
}

/// Checks a weights file (`weights/step-*.bpk`, `step-*.ema.bpk`) against its sidecar
/// `<file>.sha256`, written beside it by the trainer. A missing or damaged sidecar is an error
/// too: the file cannot be shown to be the one written.
///
/// ```
/// use mine_runtime::checkpoint::{verify_file, write_sidecar};
///
/// let dir = tempfile::tempdir().unwrap();
/// let weights = dir.path().join("step-00000001.bpk");
/// std::fs::write(&weights, b"weights").unwrap();
/// write_sidecar(&weights).unwrap();
/// assert_eq!(verify_file(&weights).unwrap().len, 7);
///
/// std::fs::write(&weights, b"weighTs").unwrap();
/// let error = verify_file(&weights).unwrap_err().to_string();
/// assert!(error.contains("step-00000001.bpk") && error.contains("SHA-256"), "{error}");
/// ```
pub fn verify_file(path: &Path) -> Result<Verified, CheckpointError> {
    let sidecar = sidecar_path(path);
    let entries = read_checksums(&sidecar)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let entry = match entries.as_slice() {
        [entry] if Some(&entry.name) == name.as_ref() => entry,
        _ => {
            return Err(integrity(
                &sidecar,
                IntegrityProblem::BadChecksums(format!(
                    "it does not list exactly {}",
                    name.unwrap_or_default()
                )),
            ));
        }
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    check(dir, entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, len: u64, byte: u8) -> Entry {
        Entry {
            name: name.into(),
            len,
            sha256: hex(&[byte; 32]),
        }
    }

    #[test]
    fn checksum_files_round_trip_and_detect_any_change() {
        let entries = vec![entry("a.bpk", 3, 1), entry("state.json", 12, 2)];
        let text = render("test", &entries);
        let path = Path::new("SHA256SUMS");
        assert_eq!(parse(&text, path).unwrap(), entries);
        assert!(text.lines().nth(1).unwrap().ends_with("  a.bpk"), "{text}");
        // Every single-byte change and every truncation is caught by the file's own hash.
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= 0x01;
            let changed = String::from_utf8(bytes).unwrap();
            assert!(parse(&changed, path).is_err(), "byte {i} flipped");
            assert!(parse(&text[..i], path).is_err(), "truncated to {i} bytes");
        }
    }
}
