//! GROOT's network configuration: MineStudio's architecture or our own.
//!
//! | `architecture` | what | vocabulary |
//! | --- | --- | --- |
//! | `"minestudio"` | MineStudio's `GrootPolicy`: a timm backbone (EfficientNet-B0, its default, or a CLIP ViT) under MineStudio's parameter names, so its checkpoints load and exports load back into it | `GrootPolicy`'s arguments ([`MineStudioGrootConfig`]) |
//! | `"scratch"` | our own: a small ViT or VPT's ImpalaCNN trained from scratch, every encoder's size configurable | [`ScratchGrootConfig`] |
//!
//! A table without `architecture` is MineStudio's when it has one of MineStudio's keys
//! (`video_encoder_kwargs`, `image_encoder_kwargs`, `decoder_kwargs`, `action_space`, or a
//! `backbone` naming a timm model), so a Hub `config.json` reads as it is; ours otherwise, so
//! configurations written before the MineStudio architecture existed keep their meaning.
//!
//! ```
//! use mine_runtime::policies::groot::{GrootConfig, MineStudioGrootConfig, ScratchGrootConfig};
//!
//! let ours: GrootConfig = toml::from_str("hiddim = 32\nimg_shape = [16, 16, 3]")?;
//! assert!(matches!(ours, GrootConfig::Scratch(_)));
//! let theirs: GrootConfig = toml::from_str("backbone = 'timm/vit_base_patch32_clip_224.openai'")?;
//! assert!(matches!(theirs, GrootConfig::MineStudio(_)));
//!
//! // Written back, the architecture is explicit.
//! let text = toml::to_string(&GrootConfig::from(MineStudioGrootConfig::tiny()))?;
//! assert!(text.starts_with("architecture = \"minestudio\""), "{text}");
//! let error = toml::from_str::<GrootConfig>("architecture = 'minestudio'\nimg_shape = [16, 16, 3]")
//!     .unwrap_err()
//!     .to_string();
//! assert!(error.contains("`img_shape`") && error.contains("architecture = \"scratch\""), "{error}");
//! # let _ = ScratchGrootConfig::tiny();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod minestudio;
mod parts;
mod scratch;
mod tagged;

use serde::Serialize;

pub use minestudio::{
    DecoderKwargs, FUSER_HEADS, FUSER_LAYERS, ImageEncoderKwargs, MineStudioGrootConfig,
    VideoEncoderKwargs,
};
pub use parts::{DecoderConfig, FuserConfig, ImageEncoderConfig, VideoEncoderConfig};
pub use scratch::{BackboneConfig, ImpalaBackboneConfig, ScratchGrootConfig, VitConfig};

use super::latent::LatentMode;
use crate::policies::timm::TimmArchitecture;
use crate::policies::vpt::VptConfig;

/// GROOT's network: MineStudio's architecture or our own (see [the module docs](self)).
///
/// Deserializes from either vocabulary; serializes with `architecture` first.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "architecture")]
pub enum GrootConfig {
    /// MineStudio's `GrootPolicy`.
    #[serde(rename = "minestudio")]
    MineStudio(MineStudioGrootConfig),
    /// Our own from-scratch GROOT.
    #[serde(rename = "scratch")]
    Scratch(ScratchGrootConfig),
}

impl Default for GrootConfig {
    /// Our own GROOT at MineStudio's sizes ([`ScratchGrootConfig::minestudio`]): what an empty
    /// table means, so that configurations written before the MineStudio architecture existed
    /// keep their meaning (MineStudio's own defaults: [`MineStudioGrootConfig::default`]).
    fn default() -> Self {
        Self::Scratch(ScratchGrootConfig::default())
    }
}

impl From<MineStudioGrootConfig> for GrootConfig {
    fn from(config: MineStudioGrootConfig) -> Self {
        Self::MineStudio(config)
    }
}

impl From<ScratchGrootConfig> for GrootConfig {
    fn from(config: ScratchGrootConfig) -> Self {
        Self::Scratch(config)
    }
}

impl GrootConfig {
    /// The `architecture` values.
    pub const ARCHITECTURES: [&'static str; 2] = ["minestudio", "scratch"];

    /// `"minestudio"` or `"scratch"`.
    pub fn architecture(&self) -> &'static str {
        match self {
            Self::MineStudio(_) => Self::ARCHITECTURES[0],
            Self::Scratch(_) => Self::ARCHITECTURES[1],
        }
    }

    /// The timm backbone of MineStudio's architecture (`None` for ours; an error for a
    /// backbone this program does not build).
    pub fn timm_backbone(&self) -> Option<Result<TimmArchitecture, String>> {
        match self {
            Self::MineStudio(c) => Some(c.backbone.resolve()),
            Self::Scratch(_) => None,
        }
    }

    /// Frame shape `[height, width, channels]` (MineStudio's: the backbone's input size).
    pub fn img_shape(&self) -> [usize; 3] {
        match self {
            // An unknown backbone is refused by `validate`; its shape is never used.
            Self::MineStudio(c) => c.backbone.resolve().map_or([224, 224, 3], |timm| {
                [timm.img_size(), timm.img_size(), timm.in_chans()]
            }),
            Self::Scratch(c) => c.img_shape,
        }
    }

    /// Width of every token and latent after the backbone.
    pub fn hiddim(&self) -> usize {
        match self {
            Self::MineStudio(c) => c.hiddim,
            Self::Scratch(c) => c.hiddim,
        }
    }

    /// Whether the backbone's parameters are kept out of training.
    pub fn freeze_backbone(&self) -> bool {
        match self {
            Self::MineStudio(c) => c.freeze_backbone,
            Self::Scratch(c) => c.freeze_backbone,
        }
    }

    /// `(mean, std)` normalizing `pixel / 255` per channel (MineStudio's: timm's pretrained
    /// configuration of the backbone).
    pub fn pixel_normalization(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Self::MineStudio(c) => c.backbone.resolve().map_or_else(
                |_| (vec![0.0; 3], vec![1.0; 3]),
                |timm| (timm.mean().to_vec(), timm.std().to_vec()),
            ),
            Self::Scratch(c) => (c.pixel_mean.clone(), c.pixel_std.clone()),
        }
    }

    /// The posterior encoder's shape.
    pub fn video_encoder(&self) -> VideoEncoderConfig {
        match self {
            Self::MineStudio(c) => c.video_encoder(),
            Self::Scratch(c) => c.video_encoder.clone(),
        }
    }

    /// The prior encoder's shape.
    pub fn image_encoder(&self) -> ImageEncoderConfig {
        match self {
            Self::MineStudio(c) => c.image_encoder(),
            Self::Scratch(c) => c.image_encoder.clone(),
        }
    }

    /// The fuser's shape.
    pub fn fuser(&self) -> FuserConfig {
        match self {
            Self::MineStudio(c) => c.fuser(),
            Self::Scratch(c) => c.fuser.clone(),
        }
    }

    /// The decoder's shape.
    pub fn decoder(&self) -> DecoderConfig {
        match self {
            Self::MineStudio(c) => c.decoder(),
            Self::Scratch(c) => c.decoder.clone(),
        }
    }

    /// Softmax temperature of the action head (MineStudio's GROOT: 1).
    pub fn temperature(&self) -> f64 {
        match self {
            Self::MineStudio(_) => 1.0,
            Self::Scratch(c) => c.temperature,
        }
    }

    /// When the goal latent `z` is sampled.
    pub fn latent_mode(&self) -> LatentMode {
        match self {
            Self::MineStudio(c) => c.latent_mode,
            Self::Scratch(c) => c.latent_mode,
        }
    }

    /// Sets when the goal latent `z` is sampled.
    pub fn set_latent_mode(&mut self, mode: LatentMode) {
        match self {
            Self::MineStudio(c) => c.latent_mode = mode,
            Self::Scratch(c) => c.latent_mode = mode,
        }
    }

    /// Seed of the reparameterization noise.
    pub fn seed(&self) -> u64 {
        match self {
            Self::MineStudio(c) => c.seed,
            Self::Scratch(c) => c.seed,
        }
    }

    /// Side lengths `[h, w]` of the backbone's feature map: the token grid of each frame.
    pub fn token_grid(&self) -> [usize; 2] {
        match self {
            Self::MineStudio(c) => c
                .backbone
                .resolve()
                .map_or([0, 0], |timm| [timm.feature_grid(), timm.feature_grid()]),
            Self::Scratch(c) => c.token_grid(),
        }
    }

    /// Channels of the backbone's feature map (before the projection to `hiddim`).
    pub fn backbone_channels(&self) -> usize {
        match self {
            Self::MineStudio(c) => c
                .backbone
                .resolve()
                .map_or(0, |timm| timm.feature_channels()),
            Self::Scratch(c) => c.backbone_channels(),
        }
    }

    /// The VPT configuration whose recurrent blocks form the decoder (MineStudio builds
    /// `ResidualRecurrentBlocks` with these options).
    pub(crate) fn decoder_vpt_config(&self) -> VptConfig {
        let decoder = self.decoder();
        VptConfig {
            hidsize: self.hiddim(),
            attention_heads: decoder.heads,
            attention_memory_size: decoder.mem_len + decoder.timesteps,
            timesteps: decoder.timesteps,
            n_recurrence_layers: decoder.layers,
            use_pointwise_layer: true,
            pointwise_ratio: 4,
            pointwise_use_activation: false,
            recurrence_is_residual: true,
            temperature: self.temperature(),
            ..VptConfig::tiny()
        }
    }
}
