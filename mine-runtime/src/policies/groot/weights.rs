//! Pretrained backbone weights from a local safetensors file.
//!
//! MineStudio downloads a pretrained CLIP ViT from a model hub; machines without network access
//! train the backbone from scratch instead, or load weights someone saved to a file:
//!
//! 1. Build a policy whose [`BackboneConfig`](super::BackboneConfig) has the shape the weights
//!    were trained with.
//! 2. Call [`GrootPolicy::load_backbone`] with a `.safetensors` file whose tensor names are the
//!    backbone's parameter paths (without any prefix): `patch_embed.weight`, `pos_embed`,
//!    `ln_pre.gamma`, `blocks.layers.0.mha.query.weight`, ... for our ViT,
//!    `stacks.0.firstconv.layer.weight`, ... for the ImpalaCNN, and `model.cls_token`,
//!    `model.blocks.0.attn.qkv.weight`, ... for a timm ViT and `conv_stem.weight`,
//!    `blocks.0.0.DepthwiseSeparable.bn1.weight`, ... for EfficientNet (burn's layout).
//!    [`GrootPolicy::save_backbone`] writes exactly this format (so a backbone trained in one
//!    run seeds another).
//! 3. For files written by other tools, [`BackboneLoadOptions`] renames tensors with regular
//!    expressions, converts PyTorch's layout (Linear weights `[out, in]`, LayerNorm
//!    `weight`/`bias`) and can ignore extra tensors.
//! 4. Set `freeze_backbone = true` in the config to keep the loaded weights fixed (MineStudio's
//!    default with a pretrained backbone).
//!
//! Every backbone parameter must be found with its shape; otherwise nothing is loaded and the
//! error lists the missing, unexpected and mis-shaped tensors.

use std::path::{Path, PathBuf};

use burn::store::{
    KeyRemapper, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, SafetensorsStore,
};
use thiserror::Error;

use super::GrootPolicy;
use super::backbone::Backbone;

/// How a backbone weight file maps onto the backbone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackboneLoadOptions {
    /// Renames applied in order to every tensor name of the file before matching: `(regex,
    /// replacement)`, e.g. `("^visual\\.", "")` to drop a prefix.
    pub key_remapping: Vec<(String, String)>,
    /// The file uses PyTorch's layout: Linear weights `[out, in]` and normalization
    /// `weight`/`bias` (burn: `[in, out]` and `gamma`/`beta`).
    pub pytorch_layout: bool,
    /// Ignore tensors of the file the backbone has no parameter for (an error otherwise).
    pub allow_unexpected: bool,
}

/// Backbone weights could not be saved or loaded.
#[derive(Debug, Error)]
pub enum GrootWeightsError {
    /// Writing the file failed.
    #[error("cannot write GROOT backbone weights to {path}: {message}")]
    Save {
        /// The file.
        path: PathBuf,
        /// What the writer reported.
        message: String,
    },
    /// The file does not exist or is not a readable safetensors file.
    #[error("cannot read GROOT backbone weights {path}: {message}; expected a .safetensors file")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        message: String,
    },
    /// A key remapping is not a valid regular expression.
    #[error("invalid backbone key remapping `{pattern}`: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What the regex parser reported.
        message: String,
    },
    /// The file's tensors do not match the backbone's parameters.
    #[error(
        "GROOT backbone weights {path} do not fit the backbone: missing {missing:?}; unexpected \
         {unexpected:?}; rejected {rejected:?}. Check that `backbone` in the GrootConfig has the \
         shape the weights were trained with, and rename tensors with \
         BackboneLoadOptions::key_remapping"
    )]
    Mismatch {
        /// Backbone parameters absent from the file.
        missing: Vec<String>,
        /// File tensors the backbone has no parameter for.
        unexpected: Vec<String>,
        /// Tensors burn refused (shape or dtype mismatch), with its reason.
        rejected: Vec<String>,
        /// The file.
        path: PathBuf,
    },
}

impl GrootPolicy {
    /// Writes the backbone's parameters to a safetensors file (replacing an existing one),
    /// in the format [`GrootPolicy::load_backbone`] reads.
    pub fn save_backbone(&self, path: impl AsRef<Path>) -> Result<(), GrootWeightsError> {
        let path = path.as_ref();
        let mut store = SafetensorsStore::from_file(path).overwrite(true);
        let result = match &self.backbone {
            Backbone::Vit(vit) => vit.save_into(&mut store),
            Backbone::Impala(impala) => impala.save_into(&mut store),
            Backbone::Timm(timm) => timm.save_into(&mut store),
            Backbone::EfficientNet(net) => net.save_into(&mut store),
        };
        result.map_err(|e| GrootWeightsError::Save {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        tracing::info!(path = %path.display(), "saved GROOT backbone weights");
        Ok(())
    }

    /// Loads backbone weights saved by [`GrootPolicy::save_backbone`] (or any safetensors file
    /// with the same tensor names); see [the module docs](crate::policies::groot::weights).
    pub fn load_backbone(self, path: impl AsRef<Path>) -> Result<Self, GrootWeightsError> {
        self.load_backbone_with(path, &BackboneLoadOptions::default())
    }

    /// [`GrootPolicy::load_backbone`] with renames, PyTorch layout or extra tensors allowed.
    pub fn load_backbone_with(
        mut self,
        path: impl AsRef<Path>,
        options: &BackboneLoadOptions,
    ) -> Result<Self, GrootWeightsError> {
        let path = path.as_ref();
        if let Err(e) = std::fs::metadata(path) {
            return Err(GrootWeightsError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
        let mut remapper = KeyRemapper::new();
        for (pattern, replacement) in &options.key_remapping {
            remapper = remapper
                .add_pattern(pattern, replacement.as_str())
                .map_err(|e| GrootWeightsError::BadPattern {
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })?;
        }
        let mut store = SafetensorsStore::from_file(path)
            .remap(remapper)
            .allow_partial(true)
            .validate(false);
        if options.pytorch_layout {
            store = store.with_from_adapter(PyTorchToBurnAdapter);
        }
        // Load into a copy so that a failed load leaves nothing half-applied.
        let mut backbone = self.backbone.clone();
        let result = match &mut backbone {
            Backbone::Vit(vit) => store.apply_to(vit),
            Backbone::Impala(impala) => store.apply_to(impala),
            Backbone::Timm(timm) => store.apply_to(timm),
            Backbone::EfficientNet(net) => store.apply_to(net),
        }
        .map_err(|e| GrootWeightsError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let unexpected = if options.allow_unexpected {
            Vec::new()
        } else {
            result.unused.clone()
        };
        if !result.missing.is_empty() || !result.errors.is_empty() || !unexpected.is_empty() {
            return Err(GrootWeightsError::Mismatch {
                missing: result.missing.iter().map(|(p, _)| p.clone()).collect(),
                unexpected,
                rejected: result.errors.iter().map(|e| e.to_string()).collect(),
                path: path.to_path_buf(),
            });
        }
        tracing::info!(
            path = %path.display(),
            tensors = result.applied.len(),
            ignored = result.unused.len(),
            "loaded GROOT backbone weights"
        );
        self.backbone = backbone;
        Ok(self)
    }
}
