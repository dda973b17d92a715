//! Writing a synthetic dataset atomically and recognising a complete one to reuse.
//!
//! The dataset is written into a hidden sibling directory (`.<name>.tmp-<pid>-<n>`) and renamed
//! into place once every part and the manifest (`synthetic.json`) are on disk, so the target
//! path only ever holds a complete dataset. A target whose manifest names the same config
//! and whose LMDB files all have their recorded sizes is reused; one with a stale or broken
//! manifest (or an empty directory) is replaced; any other existing directory is left alone
//! and reported as an error. Working directories of runs that were killed mid-way are
//! removed by the next run (on systems with `/proc`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::config::SyntheticConfig;
use super::episode::{EncodedEpisode, encode_episode, episode_name};
use crate::data::error::{DataError, DataResult, Location};
use crate::data::writer::PartWriter;
use crate::data::{DatasetConfig, Modality};

/// The manifest's file name inside a generated dataset.
pub const MANIFEST_FILE: &str = "synthetic.json";
/// Written into the manifest; bump it whenever the generated data changes for a given config.
const GENERATOR: &str = "mine-runtime synthetic";
/// Version of the generated content (a manifest of another version is regenerated).
const VERSION: u32 = 1;
/// The modality folders always written, in MineStudio's names.
const MODALITIES: [&str; 3] = ["image", "action", "meta_info"];
/// The folder of the segmentation modality (written when the config asks for it).
const SEGMENTATION: &str = "segmentation";

/// The modality folders a config writes.
fn modalities(config: &SyntheticConfig) -> Vec<&'static str> {
    let mut out = MODALITIES.to_vec();
    if config.segmentation {
        out.push(SEGMENTATION);
    }
    out
}

/// What `synthetic.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    generator: String,
    version: u32,
    config: SyntheticConfig,
    episodes: usize,
    frames: usize,
    /// Every LMDB data file (relative path) with its size in bytes.
    files: Vec<(String, u64)>,
}

/// A synthetic dataset on disk, freshly generated or reused.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedDataset {
    /// The dataset directory (holding `image/`, `action/`, `meta_info/`, `synthetic.json`).
    pub path: PathBuf,
    /// The config it was generated from.
    pub config: SyntheticConfig,
    /// Number of episodes.
    pub episodes: usize,
    /// Total frames over all episodes.
    pub frames: usize,
    /// Whether an existing complete dataset was reused instead of generating.
    pub reused: bool,
}

/// `path: N episodes, M frames (generated|reused)`.
impl std::fmt::Display for GeneratedDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.reused { "reused" } else { "generated" };
        write!(
            f,
            "{}: {} episodes, {} frames ({how})",
            self.path.display(),
            self.episodes,
            self.frames
        )
    }
}

impl GeneratedDataset {
    /// Episode names in stored (sorted) order.
    pub fn episode_names(&self) -> Vec<String> {
        (0..self.episodes)
            .map(|i| episode_name(&self.config, i))
            .collect()
    }

    /// A [`DatasetConfig`] reading this dataset at its stored frame size, images and
    /// actions (and segmentation when generated; every other field at its default: adjust
    /// `win_len`, `batch_size`, `split_ratio`, ... as needed).
    pub fn dataset_config(&self) -> DatasetConfig {
        let mut cfg = DatasetConfig::new(vec![self.path.clone()]);
        cfg.frame_width = self.config.width;
        cfg.frame_height = self.config.height;
        cfg.modalities = vec![Modality::Image, Modality::Action];
        if self.config.segmentation {
            cfg.modalities.push(Modality::Segmentation);
        }
        cfg
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |cause| DataError::Io {
        at: Location::dataset(path),
        path: path.to_path_buf(),
        cause,
    }
}

/// What is found at the target path.
enum Existing {
    Missing,
    Reusable(Manifest),
    Replace(String),
}

fn inspect(config: &SyntheticConfig, out: &Path) -> DataResult<Existing> {
    let meta = match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Missing),
        other => other.map_err(io(out))?,
    };
    if !meta.is_dir() {
        return Err(DataError::Config(format!(
            "synthetic dataset: `{}` exists and is not a directory; choose another output path",
            out.display()
        )));
    }
    if std::fs::read_dir(out).map_err(io(out))?.next().is_none() {
        return Ok(Existing::Replace("the directory is empty".into()));
    }
    let manifest_path = out.join(MANIFEST_FILE);
    if !manifest_path.exists() {
        return Err(DataError::Config(format!(
            "synthetic dataset: `{}` exists but holds no `{MANIFEST_FILE}`, so it was not \
             written by this generator. To train on it as it is, drop the [generate] table \
             from the config (or pass `generate=false`); to generate, choose another directory",
            out.display()
        )));
    }
    let manifest: Manifest = match std::fs::read_to_string(&manifest_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => return Ok(Existing::Replace(format!("unreadable manifest ({e})"))),
    };
    if manifest.generator != GENERATOR || manifest.version != VERSION {
        return Ok(Existing::Replace(format!(
            "written by generator version {} (now {VERSION})",
            manifest.version
        )));
    }
    if manifest.config != *config {
        return Ok(Existing::Replace("generated from another config".into()));
    }
    if manifest.files.len() != modalities(config).len() {
        return Ok(Existing::Replace("the manifest lists no data files".into()));
    }
    for (file, size) in &manifest.files {
        match std::fs::metadata(out.join(file)) {
            Ok(m) if m.len() == *size => {}
            Ok(m) => {
                return Ok(Existing::Replace(format!(
                    "`{file}` has {} bytes, the manifest says {size}",
                    m.len()
                )));
            }
            Err(e) => return Ok(Existing::Replace(format!("`{file}`: {e}"))),
        }
    }
    Ok(Existing::Reusable(manifest))
}

/// A hidden working directory beside the target, removed unless installed.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A hidden sibling path of `out` tagged `what` (unique within and across processes).
fn sibling(out: &Path, what: &str) -> DataResult<PathBuf> {
    let name = out.file_name().ok_or_else(|| {
        DataError::Config(format!(
            "synthetic dataset: output path `{}` has no directory name",
            out.display()
        ))
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(parent.join(format!(
        ".{}.{what}-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Removes working directories of `out` left by generator processes that no longer run
/// (killed mid-way). Best effort, and only where `/proc` tells which processes run.
fn remove_stale_siblings(out: &Path) {
    let (Some(name), Some(parent)) = (out.file_name(), out.parent()) else {
        return;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let name = name.to_string_lossy();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(rest) = [".tmp-", ".old-"]
            .iter()
            .find_map(|tag| file.strip_prefix(&format!(".{name}{tag}")))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => info!(
                "removed `{}` left by an interrupted run",
                entry.path().display()
            ),
            Err(e) => warn!("cannot remove `{}`: {e}", entry.path().display()),
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep
            && self.path.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.path)
        {
            warn!("cannot remove `{}`: {e}", self.path.display());
        }
    }
}

/// Stores the episodes' chunks; episodes are encoded in parallel, written in order.
fn write_parts(config: &SyntheticConfig, dir: &Path) -> DataResult<Vec<(String, u64)>> {
    let part = format!("part-{}", config.episodes);
    let folders = modalities(config);
    let mut writers = folders
        .iter()
        .map(|m| PartWriter::create(&dir.join(m).join(&part), config.chunk_size))
        .collect::<DataResult<Vec<_>>>()?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut next = 0;
    while next < config.episodes {
        let wave: Vec<usize> = (next..config.episodes.min(next + workers)).collect();
        next += wave.len();
        let encoded: Vec<Result<EncodedEpisode, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = wave
                .iter()
                .map(|&i| s.spawn(move || encode_episode(config, i)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("the encoding thread panicked".into()))
                })
                .collect()
        });
        for (i, episode) in wave.into_iter().zip(encoded) {
            let episode = episode.map_err(|message| DataError::Video {
                at: Location::dataset(dir).with_episode(&episode_name(config, i)),
                message,
            })?;
            for (w, chunks) in writers.iter_mut().zip([
                &episode.image,
                &episode.action,
                &episode.meta,
                &episode.segmentation,
            ]) {
                w.add_episode(&episode.name, chunks)?;
            }
        }
    }
    for w in writers {
        w.finish()?;
    }
    folders
        .iter()
        .map(|m| {
            let file = format!("{m}/{part}/data.mdb");
            let size = std::fs::metadata(dir.join(&file))
                .map_err(io(&dir.join(&file)))?
                .len();
            Ok((file, size))
        })
        .collect()
}

/// Moves the finished `tmp` to `out`, replacing what is there when `replace`.
fn install(tmp: &Path, out: &Path, replace: bool) -> DataResult<()> {
    if !replace {
        return std::fs::rename(tmp, out).map_err(io(out));
    }
    let old = sibling(out, "old")?;
    std::fs::rename(out, &old).map_err(io(out))?;
    if let Err(e) = std::fs::rename(tmp, out) {
        // Put the previous directory back; the caller reports the error.
        let _ = std::fs::rename(&old, out);
        return Err(io(out)(e));
    }
    if let Err(e) = std::fs::remove_dir_all(&old) {
        warn!(
            "cannot remove the replaced dataset `{}`: {e}",
            old.display()
        );
    }
    Ok(())
}

fn result(config: &SyntheticConfig, out: &Path, m: &Manifest, reused: bool) -> GeneratedDataset {
    GeneratedDataset {
        path: out.to_path_buf(),
        config: config.clone(),
        episodes: m.episodes,
        frames: m.frames,
        reused,
    }
}

/// Generates the dataset described by `config` at `out_dir`, or reuses a complete one there.
///
/// See the [module docs](super) for the task and [`store`](self) for the directory rules.
/// Errors: an invalid config, an existing directory not written by this generator, I/O,
/// LMDB or encoder failures (the target is left untouched in every case).
pub fn generate(
    config: &SyntheticConfig,
    out_dir: impl AsRef<Path>,
) -> DataResult<GeneratedDataset> {
    config.validate()?;
    let out = out_dir.as_ref();
    let replace = match inspect(config, out)? {
        Existing::Reusable(m) => {
            info!("reusing the synthetic dataset at `{}`", out.display());
            return Ok(result(config, out, &m, true));
        }
        Existing::Replace(why) => {
            info!(
                "regenerating the synthetic dataset at `{}`: {why}",
                out.display()
            );
            true
        }
        Existing::Missing => false,
    };
    remove_stale_siblings(out);
    let mut tmp = TempDir {
        path: sibling(out, "tmp")?,
        keep: false,
    };
    std::fs::create_dir_all(&tmp.path).map_err(io(&tmp.path))?;
    let start = Instant::now();
    let files = write_parts(config, &tmp.path)?;
    let manifest = Manifest {
        generator: GENERATOR.into(),
        version: VERSION,
        config: config.clone(),
        episodes: config.episodes,
        frames: config.total_frames(),
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| DataError::Config(format!("cannot serialize the manifest: {e}")))?;
    let manifest_path = tmp.path.join(MANIFEST_FILE);
    std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
    match install(&tmp.path, out, replace) {
        Ok(()) => tmp.keep = true,
        // Another process may have installed the same dataset meanwhile.
        Err(e) => {
            return match inspect(config, out) {
                Ok(Existing::Reusable(m)) => Ok(result(config, out, &m, true)),
                _ => Err(e),
            };
        }
    }
    let secs = start.elapsed().as_secs_f64();
    info!(
        "generated {} synthetic frames ({} episodes) at `{}` in {secs:.2}s ({:.0} frames/s)",
        manifest.frames,
        manifest.episodes,
        out.display(),
        manifest.frames as f64 / secs.max(1e-9)
    );
    Ok(result(config, out, &manifest, false))
}
