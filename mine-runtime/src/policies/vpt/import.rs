//! Loading MineStudio / OpenAI VPT weights (a PyTorch state dict under MineStudio's parameter
//! names) from `.safetensors` or PyTorch (`.pt`, `.pth`, `.ckpt`, `.weights`) files.
//!
//! The module tree of [`VptPolicy`] mirrors MineStudio's, so every parameter path is the
//! PyTorch key except for burn's normalization names (`gamma`/`beta` for `weight`/`bias`).
//! Linear weights are transposed from PyTorch's `[out, in]` to burn's `[in, out]`, scalar
//! buffers become `[1]`, and other float dtypes are cast to `f32`. Lightning checkpoints
//! (`state_dict.mine_policy.*`) are unwrapped. Every mismatch is reported before anything is
//! loaded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, bridge};
use burn::tensor::{DType, Shape, TensorData};
use thiserror::Error;

use super::VptPolicy;
use crate::policies::pretrained::{PretrainedError, StateDict, read_state_dict};
use crate::policies::torch_names::torch_parameters;

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
    #[error("cannot read VPT weights {path} {message}")]
    Read {
        /// The weight file.
        path: PathBuf,
        /// What the reader reported (with the format it was read as).
        message: String,
    },
    /// The file's tensors do not match the network's parameters.
    #[error(
        "VPT weights {path} do not fit the network: {} missing {}; {} unexpected {}; \
         {} mis-shaped {}. {}",
        missing.len(),
        abbreviate(missing),
        unexpected.len(),
        abbreviate(unexpected),
        mis_shaped.len(),
        abbreviate(mis_shaped),
        mismatch_hint(unexpected)
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

impl VptPolicy {
    /// Loads a MineStudio VPT state dict (safetensors or PyTorch) into this network, which must
    /// be built from the config the weights were trained with. Any missing, unexpected or
    /// mis-shaped tensor is an error, and nothing is loaded then.
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self, VptImportError> {
        self.load_weights_with(path, ImportOptions::default())
    }

    /// [`VptPolicy::load_weights`] with explicit [`ImportOptions`].
    pub fn load_weights_with(
        self,
        path: impl AsRef<Path>,
        options: ImportOptions,
    ) -> Result<Self, VptImportError> {
        let path = path.as_ref();
        if let Err(source) = std::fs::metadata(path) {
            return Err(VptImportError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let tensors = read_state_dict(path).map_err(|e| VptImportError::Read {
            path: path.to_path_buf(),
            message: match e {
                PretrainedError::Read { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        self.load_state_dict(path, tensors, options)
    }

    /// Loads tensors already read from `path` (see [`read_state_dict`]).
    pub fn load_state_dict(
        mut self,
        path: &Path,
        tensors: StateDict,
        options: ImportOptions,
    ) -> Result<Self, VptImportError> {
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

/// Compares the file against the network's parameters and returns the tensors to apply,
/// scalars reshaped to `[1]` where the network holds a one-element buffer.
fn check_against(
    policy: &VptPolicy,
    path: &Path,
    mut tensors: StateDict,
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

/// At most 8 names of a list, then how many more.
fn abbreviate(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = format!("{:?}", &names[..names.len().min(SHOWN)]);
    if names.len() > SHOWN {
        text.pop();
        text.push_str(&format!(", ... {} more]", names.len() - SHOWN));
    }
    text
}

/// What a mismatch most likely means.
fn mismatch_hint(unexpected: &[String]) -> &'static str {
    let foreign = |prefix: &str| unexpected.iter().any(|k| k.starts_with(prefix));
    if foreign("backbone.") || foreign("video_encoder.") || foreign("decoder.") {
        "The file holds another policy (GROOT or ROCKET-1 parameter names), not a VPT: set \
         `policy.kind` to match it"
    } else {
        "Check that the VptConfig (hidsize, impala_width, impala_chans, attention_heads, \
         attention_memory_size, timesteps, n_recurrence_layers, img_shape, use_pre_lstm_ln) is \
         the one the checkpoint was trained with"
    }
}

/// A 0-dimensional tensor as a one-element vector.
fn scalar_to_vector(tensor: PackTensor) -> PackTensor {
    let (name, dtype) = (tensor.name.clone(), tensor.dtype);
    bridge::map_data(tensor, name, dtype, Shape::from(vec![1]), |data| {
        let dtype = data.dtype();
        TensorData::from_bytes_vec(data.into_bytes().to_vec(), vec![1], dtype)
    })
}
