//! Loading MineStudio / OpenAI VPT weights (a PyTorch state dict under MineStudio's parameter
//! names) from `.safetensors` or PyTorch (`.pt`, `.pth`, `.ckpt`, `.weights`) files.
//!
//! The module tree of [`VptPolicy`] mirrors MineStudio's, so every parameter path is the
//! PyTorch key except for burn's normalization names (`gamma`/`beta` for `weight`/`bias`).
//! Linear weights are transposed from PyTorch's `[out, in]` to burn's `[in, out]`, scalar
//! buffers become `[1]`, and other float dtypes are cast to `f32`. Lightning checkpoints
//! (`state_dict.mine_policy.*`) are unwrapped. Every mismatch is reported before anything is
//! loaded.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::VptPolicy;
use crate::policies::pretrained::fit::abbreviate;
use crate::policies::pretrained::{PretrainedError, StateDict, StateDictFit, read_state_dict};

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
    #[error("cannot read VPT weights {path}: {cause}")]
    Io {
        /// The weight file.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
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
        if let Err(cause) = std::fs::metadata(path) {
            return Err(VptImportError::Io {
                path: path.to_path_buf(),
                cause,
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
        self,
        path: &Path,
        tensors: StateDict,
        options: ImportOptions,
    ) -> Result<Self, VptImportError> {
        let count = tensors.len();
        let fit = StateDictFit::new(&self, tensors);
        if !fit.fits() || (!fit.unexpected.is_empty() && !options.allow_unexpected) {
            return Err(VptImportError::Mismatch {
                path: path.to_path_buf(),
                missing: fit.missing,
                unexpected: fit.unexpected,
                mis_shaped: fit.mis_shaped,
            });
        }
        if !fit.unexpected.is_empty() {
            tracing::warn!(path = %path.display(), unexpected = ?fit.unexpected, "ignoring tensors the VPT network has no parameter for");
        }
        let policy = fit.apply(self).map_err(|message| VptImportError::Apply {
            path: path.to_path_buf(),
            message,
        })?;
        tracing::info!(path = %path.display(), tensors = count, "loaded VPT weights");
        Ok(policy)
    }
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
