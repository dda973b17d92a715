//! Reading a state dict (every tensor under its PyTorch name) from safetensors or PyTorch
//! files, with the prefixes MineStudio and Lightning wrap it in removed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore};

use super::error::PretrainedError;

/// Prefixes under which MineStudio / Lightning checkpoints nest the policy's state dict,
/// tried in order.
pub const WRAPPER_PREFIXES: [&str; 3] = ["state_dict.mine_policy.", "mine_policy.", "state_dict."];

/// Every tensor of a state dict, by name.
pub type StateDict = BTreeMap<String, PackTensor>;

/// Reads every tensor of `path` (safetensors or any PyTorch file), unwrapping a
/// Lightning/MineStudio prefix: only the tensors under the first prefix found are kept.
pub fn read_state_dict(path: &Path) -> Result<StateDict, PretrainedError> {
    let read_error = |message: String| PretrainedError::Read {
        path: path.to_owned(),
        message,
    };
    let mut head = Vec::with_capacity(9);
    std::fs::File::open(path)
        .and_then(|f| f.take(9).read_to_end(&mut head))
        .map_err(|e| read_error(e.to_string()))?;
    // safetensors: an 8-byte little-endian header length, then a JSON object.
    let is_safetensors = head.len() == 9 && head[8] == b'{';
    let all = if is_safetensors {
        read_all(&mut SafetensorsStore::from_file(path))
            .map_err(|e| read_error(format!("as safetensors: {e}")))?
    } else {
        read_all(&mut PytorchStore::from_file(path))
            .map_err(|e| read_error(format!("as a PyTorch checkpoint: {e}")))?
    };
    let prefix = WRAPPER_PREFIXES
        .iter()
        .find(|p| all.keys().any(|k| k.starts_with(*p)));
    Ok(match prefix {
        Some(prefix) => all
            .into_iter()
            .filter_map(|(key, mut tensor)| {
                let name = key.strip_prefix(prefix)?.to_string();
                tensor.name = name.clone();
                Some((name, tensor))
            })
            .collect(),
        None => all,
    })
}

fn read_all<S: ModuleStore>(store: &mut S) -> Result<StateDict, String> {
    store.get_all_tensors().cloned().map_err(|e| e.to_string())
}
