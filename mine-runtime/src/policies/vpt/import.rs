//! Loading MineStudio / OpenAI VPT weights (a PyTorch state dict under MineStudio's parameter
//! names) from `.safetensors` or PyTorch (`.pt`, `.pth`, `.ckpt`, `.weights`) files.
//!
//! The module tree of [`VptPolicy`] mirrors MineStudio's, so every parameter path is the
//! PyTorch key except for burn's normalization names (`gamma`/`beta` for `weight`/`bias`).
//! Linear weights are transposed from PyTorch's `[out, in]` to burn's `[in, out]`, scalar
//! buffers become `[1]`, and other float dtypes are cast to `f32`. Lightning checkpoints
//! (`state_dict.mine_policy.*`) are unwrapped. Every mismatch is reported before anything is
//! loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore, bridge,
};
use burn::tensor::{DType, Shape, Tensor, TensorData};
use thiserror::Error;

use super::VptPolicy;

/// Prefixes under which MineStudio / Lightning checkpoints nest the policy's state dict,
/// tried in order.
const WRAPPER_PREFIXES: [&str; 3] = ["state_dict.mine_policy.", "mine_policy.", "state_dict."];

/// How strictly a weight file must match the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Ignore tensors in the file that the network has no parameter for (MineStudio's own
    /// loader drops them silently). Missing and mis-shaped tensors are always errors.
    pub allow_unexpected: bool,
}

/// A weight file could not be read or does not fit the network.
#[derive(Debug, Error)]
pub enum VptImportError {
    /// The file could not be opened or read.
    #[error("cannot read VPT weights {path}: {source}")]
    Io {
        /// The weight file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a readable safetensors or PyTorch file.
    #[error("cannot read VPT weights {path} as {format}: {message}")]
    Read {
        /// The weight file.
        path: PathBuf,
        /// The format it was read as.
        format: &'static str,
        /// What the reader reported.
        message: String,
    },
    /// The file's tensors do not match the network's parameters.
    #[error(
        "VPT weights {path} do not fit the network: {} missing {missing:?}; {} unexpected {unexpected:?}; \
         {} mis-shaped {mis_shaped:?}. Check that the VptConfig (hidsize, impala_width, impala_chans, \
         attention_heads, attention_memory_size, timesteps, n_recurrence_layers, img_shape, \
         use_pre_lstm_ln) is the one the checkpoint was trained with",
        missing.len(),
        unexpected.len(),
        mis_shaped.len()
    )]
    Mismatch {
        /// The weight file.
        path: PathBuf,
        /// Network parameters (PyTorch names) absent from the file.
        missing: Vec<String>,
        /// File tensors the network has no parameter for.
        unexpected: Vec<String>,
        /// `name: file [shape] vs network [shape]`, both in PyTorch orientation.
        mis_shaped: Vec<String>,
    },
    /// burn rejected a tensor while loading it (unreadable data or a non-float dtype).
    #[error("loading VPT weights {path} failed: {message}")]
    Apply {
        /// The weight file.
        path: PathBuf,
        /// burn's load report.
        message: String,
    },
}

/// One float parameter (or buffer) of a module under its PyTorch name.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchParameter {
    /// The PyTorch state-dict key (`net.final_ln.weight`, ...).
    pub name: String,
    /// Its shape in PyTorch orientation (Linear weights `[out, in]`).
    pub shape: Vec<usize>,
    /// The burn parameter id (to look gradients or optimizer state up).
    pub id: ParamId,
}

/// Every float parameter and buffer of `module` under the PyTorch name its module path maps
/// to (`gamma`/`beta` of LayerNorm and GroupNorm become `weight`/`bias`), in visit order.
pub fn torch_parameters<M: Module>(module: &M) -> Vec<TorchParameter> {
    let mut visitor = TorchNames::default();
    module.visit(&mut visitor);
    visitor.params
}

#[derive(Default)]
struct TorchNames {
    path: Vec<String>,
    containers: Vec<String>,
    params: Vec<TorchParameter>,
}

impl ModuleVisitor for TorchNames {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let container = self.containers.last().map(String::as_str).unwrap_or("");
        let is_norm = matches!(container, "Struct:LayerNorm" | "Struct:GroupNorm");
        let mut path = self.path.clone();
        if let Some(last) = path.last_mut() {
            match (is_norm, last.as_str()) {
                (true, "gamma") => *last = "weight".into(),
                (true, "beta") => *last = "bias".into(),
                _ => {}
            }
        }
        let mut shape: Vec<usize> = param.lazy_shape().iter().copied().collect();
        let is_linear_weight =
            container == "Struct:Linear" && path.last().is_some_and(|p| p == "weight");
        if is_linear_weight {
            shape.reverse();
        }
        self.params.push(TorchParameter {
            name: path.join("."),
            shape,
            id: param.id,
        });
    }
}

impl VptPolicy {
    /// Loads a MineStudio VPT state dict (safetensors or PyTorch) into this network, which must
    /// be built from the config the weights were trained with. Any missing, unexpected or
    /// mis-shaped tensor is an error, and nothing is loaded then.
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self, VptImportError> {
        self.load_weights_with(path, ImportOptions::default())
    }

    /// [`VptPolicy::load_weights`] with explicit [`ImportOptions`].
    pub fn load_weights_with(
        mut self,
        path: impl AsRef<Path>,
        options: ImportOptions,
    ) -> Result<Self, VptImportError> {
        let path = path.as_ref();
        let tensors = read_state_dict(path)?;
        let tensors = check_against(&self, path, tensors, options)?;
        let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
        let count = tensors.len();
        let result = self.apply(tensors, None, Some(Box::new(adapter)), false);
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(VptImportError::Apply {
                path: path.to_path_buf(),
                message: result.to_string(),
            });
        }
        tracing::info!(path = %path.display(), tensors = count, "loaded VPT weights");
        Ok(self)
    }
}

/// Reads every tensor of the file, unwrapping a Lightning/MineStudio prefix.
fn read_state_dict(path: &Path) -> Result<BTreeMap<String, PackTensor>, VptImportError> {
    let io = |source| VptImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(9);
    std::fs::File::open(path)
        .map_err(io)?
        .take(9)
        .read_to_end(&mut head)
        .map_err(io)?;
    // safetensors: an 8-byte little-endian header length, then a JSON object.
    let is_safetensors = head.len() == 9 && head[8] == b'{';
    let all = if is_safetensors {
        let mut store = SafetensorsStore::from_file(path);
        read_all(&mut store, path, "safetensors")?
    } else {
        let mut store = PytorchStore::from_file(path);
        read_all(&mut store, path, "a PyTorch checkpoint")?
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

fn read_all<S: ModuleStore>(
    store: &mut S,
    path: &Path,
    format: &'static str,
) -> Result<BTreeMap<String, PackTensor>, VptImportError> {
    store
        .get_all_tensors()
        .cloned()
        .map_err(|e| VptImportError::Read {
            path: path.to_path_buf(),
            format,
            message: e.to_string(),
        })
}

/// Compares the file against the network's parameters and returns the tensors to apply,
/// scalars reshaped to `[1]` where the network holds a one-element buffer.
fn check_against(
    policy: &VptPolicy,
    path: &Path,
    mut tensors: BTreeMap<String, PackTensor>,
    options: ImportOptions,
) -> Result<Vec<PackTensor>, VptImportError> {
    let expected = torch_parameters(policy);
    let names: BTreeSet<&str> = expected.iter().map(|p| p.name.as_str()).collect();
    let mut missing = Vec::new();
    let mut mis_shaped = Vec::new();
    for param in &expected {
        let Some(tensor) = tensors.get_mut(&param.name) else {
            missing.push(param.name.clone());
            continue;
        };
        let file_shape: Vec<usize> = tensor.shape.iter().copied().collect();
        if file_shape.is_empty() && param.shape == [1] {
            *tensor = scalar_to_vector(tensor.clone());
        } else if file_shape != param.shape {
            mis_shaped.push(format!(
                "{}: file {:?} vs network {:?}",
                param.name, file_shape, param.shape
            ));
        }
    }
    let unexpected: Vec<String> = tensors
        .keys()
        .filter(|k| !names.contains(k.as_str()))
        .cloned()
        .collect();
    let unexpected_is_error = !unexpected.is_empty() && !options.allow_unexpected;
    if !missing.is_empty() || !mis_shaped.is_empty() || unexpected_is_error {
        return Err(VptImportError::Mismatch {
            path: path.to_path_buf(),
            missing,
            unexpected,
            mis_shaped,
        });
    }
    if !unexpected.is_empty() {
        tracing::warn!(path = %path.display(), ?unexpected, "ignoring tensors the VPT network has no parameter for");
    }
    Ok(tensors
        .into_iter()
        .filter(|(k, _)| names.contains(k.as_str()))
        .map(|(_, t)| t)
        .collect())
}

/// A 0-dimensional tensor as a one-element vector.
fn scalar_to_vector(tensor: PackTensor) -> PackTensor {
    let (name, dtype) = (tensor.name.clone(), tensor.dtype);
    bridge::map_data(tensor, name, dtype, Shape::from(vec![1]), |data| {
        let dtype = data.dtype();
        TensorData::from_bytes_vec(data.into_bytes().to_vec(), vec![1], dtype)
    })
}
