//! Segmentation chunks as MineStudio's `SegmentationConvertCallback` writes them: a pickled
//! list with one dict per frame, empty when nothing is annotated, else
//! `{(interaction_id, event): {obj_id, rle_mask, event, point, ori_frame_id,
//! ori_frame_range, frame_id, frame_range}}`.

use crate::data::error::{DataError, DataResult, Location};
use crate::data::pickle::{self, PyValue};

/// One annotated interaction on one frame (the value of a frame dict entry).
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    /// The frame dict's key, `(interaction_id, event)`: the same on every frame of the
    /// interaction.
    pub key: PyValue,
    /// The interaction type as stored (Hunt 0, Use 1, Mine 2, Interact 3, Craft 4, Switch 5,
    /// Approach 6); the reader remaps it with [`super::SEG_RE_MAP`].
    pub obj_id: i64,
    /// The object mask at [`super::RLE_SHAPE`], run-length encoded.
    pub rle_mask: String,
    /// The event, e.g. `minecraft.mine_block:minecraft.oak_log`.
    pub event: String,
    /// The point prompt `(row, col)` in 360x640 pixels, when one was annotated.
    pub point: Option<[f64; 2]>,
    /// This frame's index in the converted episode.
    pub frame_id: i64,
    /// The interaction's first and last frame in the converted episode (`(-1, -1)` if none).
    pub frame_range: [i64; 2],
}

/// The interactions annotated on one frame, in stored order.
pub type SegFrame = Vec<Interaction>;

/// Decodes one segmentation chunk into its frames.
pub fn decode_segmentation_chunk(bytes: &[u8], at: &Location) -> DataResult<Vec<SegFrame>> {
    let bad = |message: String| DataError::Pickle {
        at: at.clone(),
        message,
    };
    let PyValue::List(frames) = pickle::loads(bytes).map_err(|e| bad(e.to_string()))? else {
        return Err(bad(
            "a segmentation chunk must be a list of per-frame dicts".into(),
        ));
    };
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| match frame {
            PyValue::Dict(entries) => entries
                .into_iter()
                .map(|(key, value)| interaction(key, &value, i, at))
                .collect(),
            other => Err(bad(format!(
                "frame {i} of the chunk is a {}, expected a dict",
                other.type_name()
            ))),
        })
        .collect()
}

fn interaction(
    key: PyValue,
    value: &PyValue,
    frame: usize,
    at: &Location,
) -> DataResult<Interaction> {
    let bad = |message: String| DataError::Segmentation {
        at: at.clone(),
        message: format!(
            "frame {frame} of the chunk, interaction {}: {message}",
            key.repr()
        ),
    };
    if !matches!(value, PyValue::Dict(_)) {
        return Err(bad(format!(
            "the value is a {}, expected a dict",
            value.type_name()
        )));
    }
    let field = |name: &str| value.get(name).ok_or_else(|| bad(format!("no `{name}`")));
    let int = |name: &str| {
        let v = field(name)?;
        v.as_int()
            .ok_or_else(|| bad(format!("`{name}` is a {}, expected an int", v.type_name())))
    };
    let string = |name: &str| {
        let v = field(name)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(format!("`{name}` is a {}, expected a str", v.type_name())))
    };
    let pair = |name: &str, v: &PyValue| -> DataResult<[f64; 2]> {
        let items = match v {
            PyValue::Tuple(items) | PyValue::List(items) => items.clone(),
            PyValue::Array(a) if a.len() == 2 => {
                a.to_f64().into_iter().map(PyValue::Float).collect()
            }
            other => {
                return Err(bad(format!(
                    "`{name}` is a {}, expected a pair",
                    other.type_name()
                )));
            }
        };
        match items.as_slice() {
            [a, b] => match (a.as_float(), b.as_float()) {
                (Some(a), Some(b)) => Ok([a, b]),
                _ => Err(bad(format!(
                    "`{name}` = {} is not a pair of numbers",
                    v.repr()
                ))),
            },
            _ => Err(bad(format!("`{name}` = {} is not a pair", v.repr()))),
        }
    };
    let point = match field("point")? {
        PyValue::None => None,
        v => Some(pair("point", v)?),
    };
    let range = pair("frame_range", field("frame_range")?)?;
    if range.iter().any(|v| v.fract() != 0.0) {
        return Err(bad(format!(
            "`frame_range` = {range:?} is not a pair of ints"
        )));
    }
    let obj_id = int("obj_id")?;
    if !(0..super::SEG_RE_MAP.len() as i64).contains(&obj_id) {
        return Err(bad(format!(
            "`obj_id` is {obj_id}; MineStudio's interaction types are 0..={}",
            super::SEG_RE_MAP.len() - 1
        )));
    }
    Ok(Interaction {
        obj_id,
        rle_mask: string("rle_mask")?,
        event: string("event")?,
        point,
        frame_id: int("frame_id")?,
        frame_range: [range[0] as i64, range[1] as i64],
        key,
    })
}
