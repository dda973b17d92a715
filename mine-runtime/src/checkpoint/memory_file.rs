//! A policy memory in a burnpack file: its tensors as `item.NNNNNN`, and the layout (tensor
//! or length, in order) in the file's metadata.

use std::path::Path;

use burn::store::burn_pack::{Reader, Tensor as PackTensor, Writer};
use burn::tensor::TensorData;
use mine_dsl::memory::{MemoryItem, MemoryState};

use super::CheckpointError;

const LAYOUT_KEY: &str = "mine.memory_layout";

/// Writes `state` to `path` (a burnpack file).
pub fn save_memory(path: &Path, state: MemoryState) -> Result<(), CheckpointError> {
    let mut layout: Vec<serde_json::Value> = Vec::new();
    let mut tensors = Vec::new();
    for item in state.into_items() {
        match item {
            MemoryItem::Len(len) => layout.push(len.into()),
            MemoryItem::Tensor(data) => {
                let name = format!("item.{:06}", tensors.len());
                layout.push(name.clone().into());
                let (bytes, shape, dtype) = data.into_parts();
                tensors.push(PackTensor::new(name, dtype, shape, None, bytes));
            }
        }
    }
    let layout = serde_json::Value::Array(layout).to_string();
    Writer::new(tensors)
        .with_metadata(LAYOUT_KEY, &layout)
        .auto_extension(false)
        .write_to_file(path)
        .map_err(|e| CheckpointError::pack(path, e))
}

/// Reads a memory written by [`save_memory`].
pub fn load_memory(path: &Path) -> Result<MemoryState, CheckpointError> {
    let reader = Reader::from_file_exact(path).map_err(|e| CheckpointError::pack(path, e))?;
    let corrupt = |why: &str| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: why.to_owned(),
    };
    let layout = reader
        .metadata()
        .get(LAYOUT_KEY)
        .cloned()
        .ok_or_else(|| corrupt("no memory layout in the metadata"))?;
    let layout: Vec<serde_json::Value> =
        serde_json::from_str(&layout).map_err(|_| corrupt("the memory layout is not JSON"))?;
    let mut tensors: std::collections::HashMap<String, TensorData> = reader
        .into_tensors()
        .map_err(|e| CheckpointError::pack(path, e))?
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, _, bytes) =
                t.into_parts().map_err(|e| CheckpointError::pack(path, e))?;
            Ok((name, TensorData::from_bytes(bytes, shape, dtype)))
        })
        .collect::<Result<_, CheckpointError>>()?;
    let items = layout
        .into_iter()
        .map(|entry| match entry {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|len| MemoryItem::Len(len as usize))
                .ok_or_else(|| corrupt("a memory length is not an integer")),
            serde_json::Value::String(name) => tensors
                .remove(&name)
                .map(MemoryItem::Tensor)
                .ok_or_else(|| corrupt("a memory tensor named in the layout is missing")),
            _ => Err(corrupt("unexpected entry in the memory layout")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MemoryState::from_items(items))
}
