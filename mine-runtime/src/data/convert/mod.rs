//! Converting raw VPT contractor recordings (`<name>.mp4` + `<name>.jsonl`) into a MineStudio
//! LMDB dataset (`image/`, `action/`, `meta_info/`), readable by [`crate::data::RawDataset`].

mod contractor;
mod cursor;
mod segments;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::{info, warn};

pub use contractor::{ContractorFrame, action_chunk, json_to_py, process_segment};
pub use segments::{Segment, find_segments, group_episodes, split_name};

use super::config::ErrorPolicy;
use super::error::{DataError, DataResult, Location};
use super::pickle::{PyValue, dumps};
use super::video::{decode_h264_each, demux_mp4, encode_mp4_chunk, resize_bilinear, yuv420_to_rgb};
use super::writer::PartWriter;

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
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            chunk_size: 32,
            frame_width: 224,
            frame_height: 224,
            fps: 20,
            on_error: ErrorPolicy::SkipEpisode,
        }
    }
}

/// What a conversion wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvertReport {
    /// Episodes written with their stored frame counts.
    pub episodes: Vec<(String, usize)>,
    /// Segments left out, with the reason.
    pub skipped: Vec<(String, String)>,
}

struct Parts {
    image: PartWriter,
    action: PartWriter,
    meta: PartWriter,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        at: Location::dataset(path),
        path: path.to_path_buf(),
        source,
    }
}

/// Converts every recording under `input_dirs` into a dataset at `output` (which must not
/// already hold modality folders).
pub fn convert_contractor(
    input_dirs: &[PathBuf],
    output: &Path,
    options: &ConvertOptions,
) -> DataResult<ConvertReport> {
    if options.chunk_size == 0
        || !options.frame_width.is_multiple_of(2)
        || !options.frame_height.is_multiple_of(2)
    {
        return Err(DataError::Config(
            "chunk_size must be positive and frame sizes even".into(),
        ));
    }
    for m in ["image", "action", "meta_info"] {
        if output.join(m).exists() {
            return Err(DataError::Config(format!(
                "`{}` already exists; convert into an empty directory",
                output.join(m).display()
            )));
        }
    }
    let episodes = group_episodes(find_segments(input_dirs)?);
    let part = format!("part-{}", episodes.len().max(1));
    let mut parts = Parts {
        image: PartWriter::create(&output.join("image").join(&part), options.chunk_size)?,
        action: PartWriter::create(&output.join("action").join(&part), options.chunk_size)?,
        meta: PartWriter::create(&output.join("meta_info").join(&part), options.chunk_size)?,
    };
    let mut report = ConvertReport::default();
    for (episode, segs) in &episodes {
        match convert_episode(episode, segs, options, &mut parts, &mut report) {
            Ok(frames) if frames > 0 => {
                info!("converted `{episode}`: {frames} frames");
                report.episodes.push((episode.clone(), frames));
            }
            Ok(_) => info!("`{episode}` is shorter than one chunk; not stored"),
            Err(e) => {
                parts.image.abort_episode()?;
                parts.action.abort_episode()?;
                parts.meta.abort_episode()?;
                if options.on_error == ErrorPolicy::Fail {
                    return Err(e);
                }
                warn!("skipping episode `{episode}`: {e}");
                report.skipped.push((episode.clone(), e.to_string()));
            }
        }
    }
    parts.image.finish()?;
    parts.action.finish()?;
    parts.meta.finish()?;
    Ok(report)
}

fn read_lines(path: &Path) -> DataResult<Result<Vec<Value>, String>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect())
}

/// Converts one episode; returns the frames stored.
fn convert_episode(
    episode: &str,
    segs: &[Segment],
    options: &ConvertOptions,
    parts: &mut Parts,
    report: &mut ConvertReport,
) -> DataResult<usize> {
    let (w, h, cs) = (
        options.frame_width,
        options.frame_height,
        options.chunk_size,
    );
    parts.image.begin_episode(episode)?;
    parts.action.begin_episode(episode)?;
    parts.meta.begin_episode(episode)?;
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(cs);
    let mut actions = Vec::new();
    let mut metas = Vec::new();
    for seg in segs {
        let at = Location::dataset(&seg.jsonl).with_episode(episode);
        let skip = |report: &mut ConvertReport, why: String| -> DataResult<()> {
            if options.on_error == ErrorPolicy::Fail {
                return Err(DataError::Convert {
                    at: at.clone(),
                    message: why,
                });
            }
            warn!("skipping segment `{}`: {why}", seg.name);
            report.skipped.push((seg.name.clone(), why));
            Ok(())
        };
        let lines = match read_lines(&seg.jsonl)? {
            Ok(l) => l,
            Err(why) => {
                skip(report, format!("broken jsonl: {why}"))?;
                continue;
            }
        };
        let video = std::fs::read(&seg.mp4).map_err(io_err(&seg.mp4))?;
        let track = match demux_mp4(&video) {
            Ok(t) => t,
            Err(why) => {
                skip(report, format!("video: {why}"))?;
                continue;
            }
        };
        let (n_json, n_mp4) = (lines.len(), track.samples.len());
        if !(n_json <= n_mp4 && n_mp4 <= n_json + 1) {
            skip(
                report,
                format!("the video has {n_mp4} frames, the jsonl {n_json}"),
            )?;
            continue;
        }
        let frames = match process_segment(&lines, track.height) {
            Ok(f) => f,
            Err(why) => {
                skip(report, why)?;
                continue;
            }
        };
        // Video errors past this point abort the whole episode (chunks are already written).
        let mut k = 0usize;
        decode_h264_each(&track, |yuv| {
            if k >= frames.len() {
                return Ok(());
            }
            let mut rgb = yuv420_to_rgb(&yuv);
            if let Some((x, y)) = frames[k].cursor {
                cursor::draw_cursor(&mut rgb, yuv.width, yuv.height, x, y);
            }
            k += 1;
            let rgb = if (yuv.width, yuv.height) == (w, h) {
                rgb
            } else {
                resize_bilinear(&rgb, (yuv.width, yuv.height), (w, h), 3)
            };
            pending.push(rgb);
            if pending.len() == cs {
                let chunk = encode_mp4_chunk(&pending, w, h, options.fps)?;
                pending.clear();
                parts.image.push_chunk(&chunk).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .map_err(|message| DataError::Video {
            at: Location::dataset(&seg.mp4).with_episode(episode),
            message,
        })?;
        for f in frames {
            actions.push(f.action);
            metas.push(f.meta);
        }
    }
    let stored = parts.image.open_chunks() * cs;
    for (a, m) in actions
        .chunks_exact(cs)
        .zip(metas.chunks_exact(cs))
        .take(stored / cs)
    {
        parts.action.push_chunk(&dumps(&action_chunk(a)))?;
        parts.meta.push_chunk(&dumps(&PyValue::List(m.to_vec())))?;
    }
    parts.image.end_episode()?;
    parts.action.end_episode()?;
    parts.meta.end_episode()?;
    Ok(stored)
}
