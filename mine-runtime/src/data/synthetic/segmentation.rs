//! The `segmentation` modality of a synthetic `track` dataset: every visible square is an
//! interaction (ROCKET-1's object), written as MineStudio's `SegmentationConvertCallback`
//! writes one (see [`crate::data::segmentation`]).
//!
//! A square is one interaction from the frame it appears to the last frame it is visible,
//! keyed `(n, event)` with `n` counting the episode's squares. Red squares (hit with
//! `attack`) are Mine interactions (`obj_id` 2, `minecraft.mine_block:minecraft.red_wool`),
//! yellow ones (hit with `use`) are Use interactions (stored `obj_id` 1, which MineStudio's
//! reader remaps to 3; `minecraft.use_item:minecraft.yellow_wool`). The mask is stored at
//! 360x640 as the reader expects, drawn so that the reader's nearest-neighbour resize gives
//! back exactly the square's pixels at the dataset's frame size; the point is the mask's
//! centre `(row, col)` in 360x640 pixels.

use crate::data::pickle::{PyValue, dumps};
use crate::data::segmentation::{RLE_SHAPE, nearest_index};

use super::scene::{SceneFrame, Target, TargetKind};

/// The stored interaction type and event of a square.
pub fn interaction_of(kind: TargetKind) -> (i64, &'static str) {
    match kind {
        TargetKind::Red => (2, "minecraft.mine_block:minecraft.red_wool"),
        TargetKind::Yellow => (1, "minecraft.use_item:minecraft.yellow_wool"),
    }
}

/// The 360x640 rows `[r0, r1)` and columns `[c0, c1)` that the reader's resize maps onto the
/// frame pixels `[y0, y1) x [x0, x1)` (`width <= 640`, `height <= 360`).
fn source_rect(t: &Target, width: usize, height: usize) -> (usize, usize, usize, usize) {
    let (x0, y0, x1, y1) = t.rect(width, height);
    let (rows, cols) = (
        nearest_index(RLE_SHAPE.0, height),
        nearest_index(RLE_SHAPE.1, width),
    );
    let at = |table: &[usize], i: usize, full: usize| table.get(i).copied().unwrap_or(full);
    (
        at(&rows, y0, RLE_SHAPE.0),
        at(&rows, y1, RLE_SHAPE.0),
        at(&cols, x0, RLE_SHAPE.1),
        at(&cols, x1, RLE_SHAPE.1),
    )
}

/// The RLE string of the 360x640 mask of rows `[r0, r1)`, columns `[c0, c1)`.
fn rect_rle((r0, r1, c0, c1): (usize, usize, usize, usize)) -> String {
    let runs: Vec<String> = (r0..r1)
        .filter(|_| c1 > c0)
        .map(|r| format!("{} {}", r * RLE_SHAPE.1 + c0 + 1, c1 - c0))
        .collect();
    runs.join(" ")
}

/// The per-frame segmentation dicts of an episode (`frames` in order, ids = frame indices).
pub fn segmentation_frames(frames: &[SceneFrame], width: usize, height: usize) -> Vec<PyValue> {
    let s = |k: &str| PyValue::Str(k.to_string());
    let int = PyValue::Int;
    let mut out = vec![PyValue::Dict(Vec::new()); frames.len()];
    let mut start = 0;
    let mut count = 0;
    while start < frames.len() {
        if frames[start].target.is_none() {
            start += 1;
            continue;
        }
        let end = (start..frames.len())
            .find(|&f| frames[f].target.is_none())
            .unwrap_or(frames.len());
        let kind = frames[start].target.map_or(TargetKind::Red, |t| t.kind);
        let (obj_id, event) = interaction_of(kind);
        let key = PyValue::Tuple(vec![int(count), s(event)]);
        let range = PyValue::Tuple(vec![int(start as i64), int(end as i64 - 1)]);
        for (f, frame) in frames.iter().enumerate().take(end).skip(start) {
            let Some(t) = frame.target else { continue };
            let rect = source_rect(&t, width, height);
            let point = PyValue::Tuple(vec![
                int(((rect.0 + rect.1.max(rect.0 + 1) - 1) / 2) as i64),
                int(((rect.2 + rect.3.max(rect.2 + 1) - 1) / 2) as i64),
            ]);
            let value = PyValue::Dict(vec![
                (s("obj_id"), int(obj_id)),
                (s("rle_mask"), s(&rect_rle(rect))),
                (s("event"), s(event)),
                (s("point"), point),
                (s("ori_frame_id"), int(f as i64)),
                (s("ori_frame_range"), range.clone()),
                (s("frame_id"), int(f as i64)),
                (s("frame_range"), range.clone()),
            ]);
            out[f] = PyValue::Dict(vec![(key.clone(), value)]);
        }
        count += 1;
        start = end;
    }
    out
}

/// The segmentation chunks of an episode (`chunk_size` frames each).
pub fn segmentation_chunks(
    frames: &[SceneFrame],
    width: usize,
    height: usize,
    chunk_size: usize,
) -> Vec<Vec<u8>> {
    segmentation_frames(frames, width, height)
        .chunks_exact(chunk_size)
        .map(|c| dumps(&PyValue::List(c.to_vec())))
        .collect()
}
