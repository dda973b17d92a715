//! Reading the chunks a window touches and laying their frames out with padding.

use super::error::{DataError, DataResult, Location};
use super::modality::ModalStore;
use super::window::Window;

/// Chunks as read: each chunk's location (for errors) and bytes.
pub type Chunks = Vec<(Location, Vec<u8>)>;

/// The whole chunks covering a window's frames, read from `store`: the first chunk's start
/// frame and the chunks, or `None` when the window reads no frame.
pub fn read_span(
    store: &ModalStore,
    episode: &str,
    win: &Window,
) -> DataResult<Option<(usize, Chunks)>> {
    let Some(last) = win.last else {
        return Ok(None);
    };
    let first = win.first;
    let entry = store.entry(episode)?;
    if last >= entry.num_frames {
        return Err(DataError::OutOfRange {
            at: store.location(episode),
            message: format!(
                "frame {last} is past the episode's {} frames",
                entry.num_frames
            ),
        });
    }
    let cs = store.chunk_size(episode)?;
    let first_chunk = first / cs * cs;
    let chunks = store.read_chunks(episode, first_chunk, last / cs * cs)?;
    Ok(Some((first_chunk, chunks)))
}

/// Lays out `frames` (every frame of the chunks read, from `first_chunk` on) as the window
/// wants them: `Some` for read frames, `None` for padding.
pub fn lay_out<T>(win: &Window, first_chunk: usize, frames: Vec<T>) -> Vec<Option<T>> {
    let mut frames: Vec<Option<T>> = frames.into_iter().map(Some).collect();
    win.layout()
        .into_iter()
        .map(|slot| slot.and_then(|f| frames.get_mut(f - first_chunk).and_then(Option::take)))
        .collect()
}

/// Decodes every chunk of a span with `decode` (one value per frame), checking that each
/// holds `chunk_size` frames, and concatenates them.
pub fn decode_chunks<T>(
    chunks: &[(Location, Vec<u8>)],
    chunk_size: usize,
    decode: impl Fn(&[u8], &Location) -> DataResult<Vec<T>>,
) -> DataResult<Vec<T>> {
    let mut out = Vec::with_capacity(chunks.len() * chunk_size);
    for (at, bytes) in chunks {
        let frames = decode(bytes, at)?;
        if frames.len() != chunk_size {
            return Err(DataError::FrameCount {
                at: at.clone(),
                message: format!(
                    "chunk holds {} frames, the chunk size is {chunk_size}",
                    frames.len()
                ),
            });
        }
        out.extend(frames);
    }
    Ok(out)
}

/// Reads the chunks a window touches, decodes them frame by frame and lays frames out with
/// padding (`None`).
pub fn read_frames<T>(
    store: &ModalStore,
    episode: &str,
    win: &Window,
    decode: impl Fn(&[u8], &Location) -> DataResult<Vec<T>>,
) -> DataResult<Vec<Option<T>>> {
    let Some((first_chunk, chunks)) = read_span(store, episode, win)? else {
        return Ok(win.layout().iter().map(|_| None).collect());
    };
    let frames = decode_chunks(&chunks, store.chunk_size(episode)?, decode)?;
    Ok(lay_out(win, first_chunk, frames))
}
