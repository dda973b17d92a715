//! Converting raw VPT contractor recordings (`<name>.mp4` + `<name>.jsonl`) into a MineStudio
//! LMDB dataset (`image/`, `action/`, `meta_info/`), readable by [`crate::data::RawDataset`].
//!
//! Episodes are converted on [`ConvertOptions::workers`] threads and written in order, so the
//! dataset is the same byte for byte whatever the number of workers. The dataset is written
//! beside the output (`.NAME.converting`) and moved into place when complete.

mod contractor;
mod cursor;
mod episode;
mod ordered;
mod segments;
mod staging;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

pub use contractor::{ContractorFrame, action_chunk, json_to_py, process_segment};
pub use segments::{Found, Segment, Unpaired, find_segments, group_episodes, split_name};

use super::config::ErrorPolicy;
use super::error::{DataError, DataResult, Location};
use super::writer::PartWriter;
use episode::{EpisodeChunks, convert_episode};
use ordered::Event;
use staging::Staging;

/// A recording (segment or episode) left out, with the reason.
pub type Skipped = (String, String);

/// How often the progress callback hears from a conversion waiting on its workers.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

/// Converter settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvertOptions {
    /// Frames per chunk (MineStudio: 32).
    pub chunk_size: usize,
    /// Stored frame width (MineStudio: 224).
    pub frame_width: usize,
    /// Stored frame height (MineStudio: 224).
    pub frame_height: usize,
    /// Frame rate written into the chunks.
    pub fps: u32,
    /// Fail on a bad segment, or skip it with a warning (MineStudio skips).
    pub on_error: ErrorPolicy,
    /// Episodes converted at once (default: the available parallelism); the output does not
    /// depend on it.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Replace an existing dataset at the output (never a directory holding anything else).
    #[serde(default)]
    pub overwrite: bool,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            chunk_size: 32,
            frame_width: 224,
            frame_height: 224,
            fps: 20,
            on_error: ErrorPolicy::SkipEpisode,
            workers: default_workers(),
            overwrite: false,
        }
    }
}

impl ConvertOptions {
    /// Rejects settings no conversion can use, naming the option.
    pub fn validate(&self) -> DataResult<()> {
        let even = |v: usize| v > 0 && v.is_multiple_of(2);
        const EVEN: &str = "a positive even number (H.264 4:2:0)";
        let checks = [
            (
                self.chunk_size > 0,
                "chunk_size (--chunk-size)",
                self.chunk_size,
                "positive",
            ),
            (
                even(self.frame_width),
                "frame_width (--width)",
                self.frame_width,
                EVEN,
            ),
            (
                even(self.frame_height),
                "frame_height (--height)",
                self.frame_height,
                EVEN,
            ),
            (self.fps > 0, "fps (--fps)", self.fps as usize, "positive"),
            (
                self.workers > 0,
                "workers (--workers)",
                self.workers,
                "positive",
            ),
        ];
        match checks.into_iter().find(|check| !check.0) {
            Some((_, what, value, requirement)) => Err(DataError::Config(format!(
                "{what} is {value}; it must be {requirement}"
            ))),
            None => Ok(()),
        }
    }
}

/// What a conversion wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvertReport {
    /// Episodes written with their stored frame counts.
    pub episodes: Vec<(String, usize)>,
    /// Recordings left out (segments, or whole episodes), with the reason.
    pub skipped: Vec<Skipped>,
}

/// Where a conversion stands, handed to the progress callback of
/// [`convert_contractor_with_progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertProgress<'a> {
    /// Episodes finished (written or skipped).
    pub episodes_done: usize,
    /// Episodes found.
    pub episodes_total: usize,
    /// Source frames decoded so far.
    pub frames_read: u64,
    /// The episode just finished and the frames stored for it, when one just was.
    pub finished: Option<(&'a str, usize)>,
}

/// One LMDB part per modality, written in episode order.
struct Parts {
    image: PartWriter,
    action: PartWriter,
    meta: PartWriter,
}

impl Parts {
    fn create(dir: &Path, episodes: usize, chunk_size: usize) -> DataResult<Self> {
        let part = format!("part-{}", episodes.max(1));
        let create = |m: &str| PartWriter::create(&dir.join(m).join(&part), chunk_size);
        Ok(Self {
            image: create("image")?,
            action: create("action")?,
            meta: create("meta_info")?,
        })
    }

    fn add(&mut self, episode: &str, chunks: &EpisodeChunks) -> DataResult<()> {
        self.image.add_episode(episode, &chunks.image)?;
        self.action.add_episode(episode, &chunks.action)?;
        self.meta.add_episode(episode, &chunks.meta)
    }

    fn finish(self) -> DataResult<()> {
        self.image.finish()?;
        self.action.finish()?;
        self.meta.finish()
    }
}

/// Records a recording left out, with a warning.
fn leave_out(report: &mut ConvertReport, (what, why): Skipped) {
    warn!("skipping `{what}`: {why}");
    report.skipped.push((what, why));
}

/// Leaves a recording out, or fails under [`ErrorPolicy::Fail`] with `error(why)`.
fn skip(
    report: &mut ConvertReport,
    options: &ConvertOptions,
    (what, why): Skipped,
    error: impl FnOnce(String) -> DataError,
) -> DataResult<()> {
    if options.on_error == ErrorPolicy::Fail {
        return Err(error(why));
    }
    leave_out(report, (what, why));
    Ok(())
}

/// Converts the recordings among `inputs` (directories, searched recursively, and recording
/// files: `NAME.mp4` or `NAME.jsonl`, the other file found by name) into a dataset at
/// `output`. An existing dataset there is refused unless [`ConvertOptions::overwrite`].
/// Recordings left out are returned in the report and logged as warnings.
pub fn convert_contractor(
    inputs: &[PathBuf],
    output: &Path,
    options: &ConvertOptions,
) -> DataResult<ConvertReport> {
    convert_contractor_with_progress(inputs, output, options, |_| {})
}

/// [`convert_contractor`], calling `progress` at the start, after each episode and a few
/// times a second while the workers are busy.
pub fn convert_contractor_with_progress(
    inputs: &[PathBuf],
    output: &Path,
    options: &ConvertOptions,
    mut progress: impl FnMut(&ConvertProgress),
) -> DataResult<ConvertReport> {
    options.validate()?;
    let started = Instant::now();
    let staging = Staging::begin(output, options.overwrite)?;
    let found = find_segments(inputs)?;
    let mut report = ConvertReport::default();
    for Unpaired { file, name, why } in found.unpaired {
        skip(&mut report, options, (name, why), |why| {
            DataError::Convert {
                at: Location::dataset(file),
                message: format!(
                    "{why}; add the missing file, leave this one out, or convert without \
                 --fail-fast (ErrorPolicy::Fail) to skip it"
                ),
            }
        })?;
    }
    let episodes = group_episodes(found.segments);
    if episodes.is_empty() {
        let inputs: Vec<String> = inputs
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect();
        return Err(DataError::Convert {
            at: Location::dataset(output),
            message: format!(
                "no recordings (`NAME.mp4` with `NAME.jsonl`) in {}; nothing written",
                inputs.join(", ")
            ),
        });
    }
    info!(
        "converting {} episodes on {} workers into `{}`",
        episodes.len(),
        options.workers,
        output.display()
    );
    let mut parts = Parts::create(staging.path(), episodes.len(), options.chunk_size)?;
    let frames_read = AtomicU64::new(0);
    let at = |done, finished| ConvertProgress {
        episodes_done: done,
        episodes_total: episodes.len(),
        frames_read: frames_read.load(Ordering::Relaxed),
        finished,
    };
    progress(&at(0, None));
    let mut done = 0;
    ordered::run_in_order(
        episodes.len(),
        options.workers,
        |i| convert_episode(&episodes[i].0, &episodes[i].1, options, &frames_read),
        PROGRESS_TICK,
        |event| {
            let (i, outcome) = match event {
                Event::Done(i, outcome) => (i, outcome),
                Event::Waiting => {
                    progress(&at(done, None));
                    return Ok(());
                }
            };
            let episode = episodes[i].0.as_str();
            for left_out in outcome.skipped {
                leave_out(&mut report, left_out);
            }
            let stored = match outcome.chunks {
                Ok(chunks) => {
                    parts.add(episode, &chunks)?;
                    chunks.image.len() * options.chunk_size
                }
                Err(e) => {
                    skip(&mut report, options, (episode.into(), e.to_string()), |_| e)?;
                    0
                }
            };
            if stored > 0 {
                debug!("converted `{episode}`: {stored} frames");
                report.episodes.push((episode.to_string(), stored));
            }
            done = i + 1;
            progress(&at(done, Some((episode, stored))));
            Ok(())
        },
    )?;
    parts.finish()?;
    staging.commit()?;
    let frames: usize = report.episodes.iter().map(|(_, n)| n).sum();
    info!(
        "wrote {} episodes ({frames} frames) to `{}` in {:.1} s; recordings skipped: {}",
        report.episodes.len(),
        output.display(),
        started.elapsed().as_secs_f64(),
        report.skipped.len()
    );
    Ok(report)
}
