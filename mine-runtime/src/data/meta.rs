//! Meta-info chunks: a pickled list with one dict per frame.

use super::error::{DataError, DataResult, Location};
use super::pickle::{self, PyValue};

/// Decodes one meta-info chunk into its per-frame dicts.
pub fn decode_meta_chunk(bytes: &[u8], at: &Location) -> DataResult<Vec<PyValue>> {
    let bad = |message: String| DataError::Pickle {
        at: at.clone(),
        message,
    };
    match pickle::loads(bytes).map_err(|e| bad(e.to_string()))? {
        PyValue::List(frames) => {
            if let Some(f) = frames.iter().find(|f| !matches!(f, PyValue::Dict(_))) {
                return Err(bad(format!(
                    "a frame is a {}, expected a dict",
                    f.type_name()
                )));
            }
            Ok(frames)
        }
        other => Err(bad(format!(
            "meta-info chunk is a {}, expected a list",
            other.type_name()
        ))),
    }
}
