//! MineStudio's `segmentation` modality (ROCKET-1's training data): per frame, the object to
//! interact with as a mask, its interaction type, event, point prompt and frame ids.
//!
//! The LMDB parts (folder `segmentation/` or `segment/`) hold chunks of per-frame dicts with
//! run-length-encoded masks at 360x640 ([`chunk`], [`rle`]). Reading a window follows
//! MineStudio's `SegmentationKernelCallback`: the whole chunks covering the window are
//! decoded, one interaction is followed per frame by a backward walk ([`pick`]), its mask is
//! decoded and resized to the frame size with OpenCV's nearest-neighbour rule ([`resize`]),
//! `obj_id` is remapped with [`SEG_RE_MAP`], and padding gets MineStudio's pad values.
//!
//! Enable it with `modalities = [..., "segmentation"]` in the data config (MineStudio: a
//! `SegmentationKernelCallback` in `modal_kernel_callbacks`); masks come at the configured
//! `frame_width` x `frame_height`, and the loader fills `Batch::segmentation`.

pub mod chunk;
pub mod pick;
pub mod resize;
pub mod rle;

use super::error::{DataError, DataResult};
use super::modality::ModalStore;
use super::read::{decode_chunks, lay_out, read_span};
use super::window::Window;

pub use chunk::{Interaction, SegFrame, decode_segmentation_chunk};
pub use pick::Pick;
pub use resize::{nearest_index, resize_nearest};
pub use rle::{RLE_SHAPE, rle_decode, rle_encode};

/// MineStudio's `SEG_RE_MAP`: stored interaction type -> `obj_id` (Use becomes Interact).
pub const SEG_RE_MAP: [i64; 7] = [0, 3, 2, 3, 4, 5, 6];

/// `obj_id` of a read frame without an interaction.
pub const NO_OBJECT: i64 = -1;
/// `obj_id` of a padding frame (MineStudio pads with 0, not -1).
pub const PAD_OBJ_ID: i64 = 0;

/// The segmentation of one window, as MineStudio's reader returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentationWindow {
    /// Mask width (the frame width).
    pub width: usize,
    /// Mask height (the frame height).
    pub height: usize,
    /// `len * height * width` values 0/1, frame after frame (zeros where no object).
    pub obj_mask: Vec<u8>,
    /// Interaction type per frame: [`SEG_RE_MAP`] of the stored one, [`NO_OBJECT`] on a frame
    /// without one, [`PAD_OBJ_ID`] on padding.
    pub obj_id: Vec<i64>,
    /// Event per frame (`""` where none).
    pub event: Vec<String>,
    /// Point prompt per frame as `(row / 360, col / 640)`; `(-1, -1)` where none (MineStudio
    /// returns this array as int64 when no frame of the chunks read has a point).
    pub point: Vec<[f64; 2]>,
    /// The frame's index in the converted episode (-1 where none).
    pub frame_id: Vec<i64>,
    /// The interaction's first and last frame (`(-1, -1)` where none).
    pub frame_range: Vec<[i64; 2]>,
    /// 1 for read frames, 0 for padding.
    pub mask: Vec<u8>,
}

impl SegmentationWindow {
    fn empty(width: usize, height: usize, len: usize) -> Self {
        Self {
            width,
            height,
            obj_mask: Vec::with_capacity(len * width * height),
            obj_id: Vec::with_capacity(len),
            event: Vec::with_capacity(len),
            point: Vec::with_capacity(len),
            frame_id: Vec::with_capacity(len),
            frame_range: Vec::with_capacity(len),
            mask: Vec::with_capacity(len),
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.mask.len()
    }

    /// Whether the window holds no frames.
    pub fn is_empty(&self) -> bool {
        self.mask.is_empty()
    }

    /// The mask of frame `i` (`height * width` values).
    pub fn frame_mask(&self, i: usize) -> &[u8] {
        let n = self.width * self.height;
        &self.obj_mask[i * n..(i + 1) * n]
    }

    /// Appends a frame that shows nothing: a read frame (`obj_id` -1, mask 1) or padding.
    fn push_nothing(&mut self, padding: bool) {
        self.obj_mask
            .resize(self.obj_mask.len() + self.width * self.height, 0);
        self.obj_id
            .push(if padding { PAD_OBJ_ID } else { NO_OBJECT });
        self.event.push(String::new());
        self.point.push([-1.0, -1.0]);
        self.frame_id.push(-1);
        self.frame_range.push([-1, -1]);
        self.mask.push(u8::from(!padding));
    }

    /// Appends a frame showing `it` whose mask is `mask` (already at the window's size).
    fn push(&mut self, it: &Interaction, mask: &[u8]) {
        self.obj_mask.extend_from_slice(mask);
        self.obj_id.push(SEG_RE_MAP[it.obj_id as usize]);
        self.event.push(it.event.clone());
        self.point.push(match it.point {
            Some([row, col]) => [row / RLE_SHAPE.0 as f64, col / RLE_SHAPE.1 as f64],
            None => [-1.0, -1.0],
        });
        self.frame_id.push(it.frame_id);
        self.frame_range.push(it.frame_range);
        self.mask.push(1);
    }
}

/// Reads the segmentation of window `win` of `episode`, masks at `size = (width, height)`.
pub fn read_segmentation(
    store: &ModalStore,
    episode: &str,
    win: &Window,
    size: (usize, usize),
    pick: &Pick,
) -> DataResult<SegmentationWindow> {
    let (width, height) = size;
    let mut out = SegmentationWindow::empty(width, height, win.len);
    let Some((first_chunk, chunks)) = read_span(store, episode, win)? else {
        (0..win.len).for_each(|_| out.push_nothing(true));
        return Ok(out);
    };
    let cs = store.chunk_size(episode)?;
    let frames = decode_chunks(&chunks, cs, decode_segmentation_chunk)?;
    let chosen = pick::select(&frames, first_chunk, episode, pick);
    let slots: Vec<(usize, Option<usize>)> = chosen.into_iter().enumerate().collect();
    for slot in lay_out(win, first_chunk, slots) {
        let Some((i, Some(k))) = slot else {
            out.push_nothing(slot.is_none());
            continue;
        };
        let it = &frames[i][k];
        let mask =
            rle_decode(&it.rle_mask, RLE_SHAPE).map_err(|message| DataError::Segmentation {
                at: chunks[i / cs].0.clone(),
                message: format!(
                    "frame {} of the chunk (episode frame {}), interaction {}: `rle_mask` \
                     does not decode: {message}",
                    i % cs,
                    first_chunk + i,
                    it.key.repr()
                ),
            })?;
        let mask = resize_nearest(&mask, (RLE_SHAPE.1, RLE_SHAPE.0), size);
        out.push(it, &mask);
    }
    Ok(out)
}
