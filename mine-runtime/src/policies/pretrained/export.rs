//! Writing weights for MineStudio: a Hugging Face checkpoint directory (`config.json` +
//! `model.safetensors`) that `PyTorchModelHubMixin.from_pretrained` reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use thiserror::Error;

use crate::checkpoint::fs_atomic::write_atomic;

/// The configuration file of an exported directory (the policy's constructor arguments).
pub const MINESTUDIO_CONFIG_FILE: &str = "config.json";
/// The weights file of an exported directory.
pub const MINESTUDIO_WEIGHTS_FILE: &str = "model.safetensors";

/// Weights could not be exported.
#[derive(Debug, Error)]
pub enum ExportError {
    /// Writing failed.
    #[error("export: cannot write {path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
    /// The policy has no MineStudio counterpart with the same parameters.
    #[error("export: {0}")]
    Unsupported(String),
    /// The tensors could not be encoded.
    #[error("export: encoding {path}: {message}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What the encoder reported.
        message: String,
    },
}

/// The element type of an exported tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportDtype {
    /// float32: parameters and float buffers.
    F32,
    /// int64: counters such as BatchNorm's `num_batches_tracked`.
    I64,
}

/// One tensor to export: its PyTorch name, shape, element type and values (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportTensor {
    /// The state-dict key.
    pub name: String,
    /// The PyTorch shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// The element type of `bytes`.
    pub dtype: ExportDtype,
    /// Little-endian bytes of the values.
    pub bytes: Vec<u8>,
}

/// Writes `tensors` as a safetensors file with the metadata PyTorch's
/// `safetensors.torch.save_file` writes (`{"format": "pt"}`), atomically.
pub fn write_safetensors(path: &Path, tensors: &[ExportTensor]) -> Result<(), ExportError> {
    let encode = |message: String| ExportError::Encode {
        path: path.to_owned(),
        message,
    };
    let views = tensors
        .iter()
        .map(|t| {
            let dtype = match t.dtype {
                ExportDtype::F32 => Dtype::F32,
                ExportDtype::I64 => Dtype::I64,
            };
            TensorView::new(dtype, t.shape.clone(), &t.bytes)
                .map(|view| (t.name.as_str(), view))
                .map_err(|e| encode(format!("{}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| encode(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|cause| ExportError::Io {
        path: path.to_owned(),
        cause,
    })
}

/// Writes `config` as pretty JSON, atomically.
pub(crate) fn write_json(path: &Path, config: &serde_json::Value) -> Result<(), ExportError> {
    let text = serde_json::to_string_pretty(config).map_err(|e| ExportError::Encode {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes()).map_err(|cause| ExportError::Io {
        path: path.to_owned(),
        cause,
    })
}

/// Creates `dir` (and its parents) if missing.
pub(crate) fn create_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(|cause| ExportError::Io {
        path: dir.to_owned(),
        cause,
    })
}
