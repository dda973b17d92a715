//! One episode (its segments in order) converted in memory into the chunks of each modality.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::contractor::{action_chunk, process_segment};
use super::cursor::draw_cursor;
use super::segments::Segment;
use super::{ConvertOptions, Skipped};
use crate::data::config::ErrorPolicy;
use crate::data::error::{DataError, DataResult, Location};
use crate::data::pickle::{PyValue, dumps};
use crate::data::video::{
    decode_h264_each, demux_mp4, encode_mp4_chunk, resize_bilinear, yuv420_to_rgb,
};

/// The stored chunks of one episode, in order (as many of each modality).
#[derive(Debug, Default)]
pub(super) struct EpisodeChunks {
    pub image: Vec<Vec<u8>>,
    pub action: Vec<Vec<u8>>,
    pub meta: Vec<Vec<u8>>,
}

/// What converting one episode gave: its chunks or why it failed, and the segments left out.
#[derive(Debug)]
pub(super) struct EpisodeOutcome {
    pub chunks: DataResult<EpisodeChunks>,
    pub skipped: Vec<Skipped>,
}

fn read_lines(path: &Path) -> DataResult<Result<Vec<Value>, String>> {
    let text = std::fs::read_to_string(path).map_err(|cause| DataError::Io {
        at: Location::dataset(path),
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect())
}

/// Converts the segments of `episode`; `frames_read` counts the source frames decoded.
pub(super) fn convert_episode(
    episode: &str,
    segs: &[Segment],
    options: &ConvertOptions,
    frames_read: &AtomicU64,
) -> EpisodeOutcome {
    let mut skipped = Vec::new();
    let chunks = episode_chunks(episode, segs, options, frames_read, &mut skipped);
    EpisodeOutcome { chunks, skipped }
}

fn episode_chunks(
    episode: &str,
    segs: &[Segment],
    options: &ConvertOptions,
    frames_read: &AtomicU64,
    skipped: &mut Vec<Skipped>,
) -> DataResult<EpisodeChunks> {
    let (w, h, cs) = (
        options.frame_width,
        options.frame_height,
        options.chunk_size,
    );
    let mut out = EpisodeChunks::default();
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(cs);
    let mut actions = Vec::new();
    let mut metas = Vec::new();
    for seg in segs {
        let at = Location::dataset(&seg.jsonl).with_episode(episode);
        let mut skip = |why: String| -> DataResult<()> {
            if options.on_error == ErrorPolicy::Fail {
                return Err(DataError::Convert {
                    at: at.clone(),
                    message: why,
                });
            }
            skipped.push((seg.name.clone(), why));
            Ok(())
        };
        let lines = match read_lines(&seg.jsonl)? {
            Ok(l) => l,
            Err(why) => {
                skip(format!("broken jsonl: {why}"))?;
                continue;
            }
        };
        let video = std::fs::read(&seg.mp4).map_err(|cause| DataError::Io {
            at: Location::dataset(&seg.mp4).with_episode(episode),
            path: seg.mp4.clone(),
            cause,
        })?;
        let track = match demux_mp4(&video) {
            Ok(t) => t,
            Err(why) => {
                skip(format!("video: {why}"))?;
                continue;
            }
        };
        let (n_json, n_mp4) = (lines.len(), track.samples.len());
        if !(n_json <= n_mp4 && n_mp4 <= n_json + 1) {
            skip(format!("the video has {n_mp4} frames, the jsonl {n_json}"))?;
            continue;
        }
        let frames = match process_segment(&lines, track.height) {
            Ok(f) => f,
            Err(why) => {
                skip(why)?;
                continue;
            }
        };
        // Video errors past this point fail the whole episode (its chunks are dropped).
        let mut k = 0usize;
        decode_h264_each(&track, |yuv| {
            if k >= frames.len() {
                return Ok(());
            }
            let mut rgb = yuv420_to_rgb(&yuv);
            if let Some((x, y)) = frames[k].cursor {
                draw_cursor(&mut rgb, yuv.width, yuv.height, x, y);
            }
            k += 1;
            frames_read.fetch_add(1, Ordering::Relaxed);
            let rgb = if (yuv.width, yuv.height) == (w, h) {
                rgb
            } else {
                resize_bilinear(&rgb, (yuv.width, yuv.height), (w, h), 3)
            };
            pending.push(rgb);
            if pending.len() == cs {
                out.image
                    .push(encode_mp4_chunk(&pending, w, h, options.fps)?);
                pending.clear();
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
    // Each segment gives at most as many frames as actions, so every image chunk has its
    // actions; trailing actions without a whole image chunk are dropped.
    for (a, m) in actions
        .chunks_exact(cs)
        .zip(metas.chunks_exact(cs))
        .take(out.image.len())
    {
        out.action.push(dumps(&action_chunk(a)));
        out.meta.push(dumps(&PyValue::List(m.to_vec())));
    }
    Ok(out)
}
