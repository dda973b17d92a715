//! MineStudio's GROOT (`architecture = "minestudio"`): the keyword arguments of MineStudio
//! 1.1.6's `GrootPolicy` (`minestudio/models/groot_one/body.py`), so that a Hub `config.json`
//! or the `model` section of a training config reads as it is, with MineStudio's defaults for
//! what it omits.
//!
//! ```
//! use mine_runtime::policies::groot::{GrootConfig, MineStudioGrootConfig};
//!
//! // MineStudio's GROOT tutorial (`3_pretrain_groots/groot_config.yaml`), as its Hub config.json.
//! let json = r#"{"backbone": "timm/vit_base_patch32_clip_224.openai", "freeze_backbone": true,
//!     "hiddim": 1024, "video_encoder_kwargs": {"num_spatial_layers": 2,
//!     "num_temporal_layers": 4, "num_heads": 8, "dropout": 0.1},
//!     "image_encoder_kwargs": {"num_layers": 2, "num_heads": 8, "dropout": 0.1},
//!     "decoder_kwargs": {"num_layers": 4, "timesteps": 128, "mem_len": 128},
//!     "action_space": null}"#;
//! let config: GrootConfig = serde_json::from_str(json)?;
//! assert_eq!(config, GrootConfig::MineStudio(MineStudioGrootConfig::tutorial()));
//! assert_eq!(config.img_shape(), [224, 224, 3]);
//! config.validate()?;
//!
//! // `GrootPolicy()` itself: EfficientNet-B0 on 224x224 frames, a 7x7 grid of 320 channels.
//! let default = GrootConfig::MineStudio(MineStudioGrootConfig::default());
//! default.validate()?;
//! assert_eq!((default.token_grid(), default.backbone_channels()), ([7, 7], 320));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use super::parts::{DecoderConfig, FuserConfig, ImageEncoderConfig, VideoEncoderConfig};
use crate::policies::groot::latent::LatentMode;
use crate::policies::timm::TimmBackboneConfig;
use crate::policies::timm::config::{deserialize_name_or_table, serialize_name_or_table};

/// MineStudio's fuser: `nn.TransformerEncoder` of 2 layers with 8 heads (hard-coded).
pub const FUSER_LAYERS: usize = 2;
/// The fuser's attention heads (hard-coded by MineStudio): `hiddim` must be a multiple.
pub const FUSER_HEADS: usize = 8;

/// `GrootPolicy`'s arguments, plus three settings of this program (`fuser_dropout`,
/// `latent_mode`, `seed`) that MineStudio does not take and an export leaves out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MineStudioGrootConfig {
    /// The timm backbone: a model name, or a table with its `name` and the `create_model`
    /// arguments that resize it. Its pretrained configuration gives the input size and the
    /// pixel mean/std.
    #[serde(
        serialize_with = "serialize_name_or_table",
        deserialize_with = "deserialize_name_or_table"
    )]
    pub backbone: TimmBackboneConfig,
    /// Whether the backbone's parameters are kept out of training.
    pub freeze_backbone: bool,
    /// Width of every token and latent after the backbone.
    pub hiddim: usize,
    /// `VideoEncoder`'s arguments (the posterior).
    pub video_encoder_kwargs: VideoEncoderKwargs,
    /// `ImageEncoder`'s arguments (the prior).
    pub image_encoder_kwargs: ImageEncoderKwargs,
    /// `Decoder`'s arguments.
    pub decoder_kwargs: DecoderKwargs,
    /// MineStudio's `action_space`: only `null` (VPT's 8641 button and 121 camera classes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_space: Option<serde_json::Value>,
    /// Dropout of the fuser (MineStudio hard-codes 0.1). Ours, not exported.
    pub fuser_dropout: f64,
    /// When the goal latent `z` is sampled rather than the mean. Ours, not exported.
    pub latent_mode: LatentMode,
    /// Seed of the reparameterization noise. Ours, not exported.
    pub seed: u64,
}

/// MineStudio's `VideoEncoder` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoEncoderKwargs {
    /// Layers of the per-frame spatial pooling.
    pub num_spatial_layers: usize,
    /// Layers of the temporal encoder over the pooled frames.
    pub num_temporal_layers: usize,
    /// Attention heads of both.
    pub num_heads: usize,
    /// Dropout of both.
    pub dropout: f64,
}

/// MineStudio's `ImageEncoder` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageEncoderKwargs {
    /// Layers of the spatial pooling.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Dropout.
    pub dropout: f64,
}

/// MineStudio's `Decoder` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderKwargs {
    /// Attention heads of each recurrent block.
    pub num_heads: usize,
    /// Number of recurrent blocks.
    pub num_layers: usize,
    /// Frames per training window.
    pub timesteps: usize,
    /// Past positions kept in each block's memory.
    pub mem_len: usize,
}

impl Default for MineStudioGrootConfig {
    /// `GrootPolicy()`'s defaults: EfficientNet-B0 (`efficientnet_b0.ra_in1k`, 224x224 frames)
    /// frozen, hidden 1024, MineStudio's encoder and decoder defaults.
    fn default() -> Self {
        Self {
            backbone: TimmBackboneConfig::named("efficientnet_b0.ra_in1k"),
            freeze_backbone: true,
            hiddim: 1024,
            video_encoder_kwargs: VideoEncoderKwargs::default(),
            image_encoder_kwargs: ImageEncoderKwargs::default(),
            decoder_kwargs: DecoderKwargs::default(),
            action_space: None,
            fuser_dropout: 0.1,
            latent_mode: LatentMode::Auto,
            seed: 0,
        }
    }
}

impl Default for VideoEncoderKwargs {
    fn default() -> Self {
        Self {
            num_spatial_layers: 2,
            num_temporal_layers: 2,
            num_heads: 8,
            dropout: 0.1,
        }
    }
}

impl Default for ImageEncoderKwargs {
    fn default() -> Self {
        Self {
            num_layers: 2,
            num_heads: 8,
            dropout: 0.1,
        }
    }
}

impl Default for DecoderKwargs {
    /// MineStudio's `Decoder` defaults (`GrootPolicy` itself requires `timesteps`).
    fn default() -> Self {
        Self {
            num_heads: 8,
            num_layers: 4,
            timesteps: 128,
            mem_len: 128,
        }
    }
}

impl MineStudioGrootConfig {
    /// MineStudio's GROOT pre-training tutorial (`3_pretrain_groots/groot_config.yaml`):
    /// CLIP ViT-B/32 frozen, hidden 1024, video encoder 2 spatial + 4 temporal layers, decoder
    /// 4 blocks over 128 timesteps with 128 memory slots.
    pub fn tutorial() -> Self {
        Self {
            backbone: TimmBackboneConfig::named("timm/vit_base_patch32_clip_224.openai"),
            video_encoder_kwargs: VideoEncoderKwargs {
                num_temporal_layers: 4,
                ..VideoEncoderKwargs::default()
            },
            ..Self::default()
        }
    }

    /// The network of the golden files (`tests/golden/README.md`) with dropout off: CLIP
    /// ViT-B/32 shrunk to 16x16 images, 4x4 patches, width 16, 3 blocks, 2 heads; hidden 8;
    /// 2 layers per encoder; decoder 2 blocks over 4 timesteps with 8 memory slots.
    pub fn tiny() -> Self {
        Self {
            backbone: TimmBackboneConfig {
                img_size: Some(16),
                patch_size: Some(4),
                embed_dim: Some(16),
                depth: Some(3),
                num_heads: Some(2),
                ..TimmBackboneConfig::named("vit_base_patch32_clip_224.openai")
            },
            hiddim: 8,
            video_encoder_kwargs: VideoEncoderKwargs {
                num_spatial_layers: 2,
                num_temporal_layers: 2,
                num_heads: 2,
                dropout: 0.0,
            },
            image_encoder_kwargs: ImageEncoderKwargs {
                num_layers: 2,
                num_heads: 2,
                dropout: 0.0,
            },
            decoder_kwargs: DecoderKwargs {
                num_layers: 2,
                timesteps: 4,
                mem_len: 8,
                ..DecoderKwargs::default()
            },
            fuser_dropout: 0.0,
            ..Self::default()
        }
    }

    /// The network of the EfficientNet golden files (`tests/golden/README.md`) with dropout
    /// off: EfficientNet-B0 (frozen) at width 0.125 and depth 0.5 on 33x33 frames (a 2x2
    /// feature map of 40 channels); hidden 8; 2 layers per encoder; decoder 2 blocks over 4
    /// timesteps with 8 memory slots.
    pub fn tiny_efficientnet() -> Self {
        Self {
            backbone: TimmBackboneConfig {
                img_size: Some(33),
                channel_multiplier: Some(0.125),
                depth_multiplier: Some(0.5),
                ..TimmBackboneConfig::named("efficientnet_b0.ra_in1k")
            },
            ..Self::tiny()
        }
    }

    /// A network that trains on a CPU: CLIP ViT-B/32 shrunk to 128x128 images, 16x16 patches
    /// (64 tokens per frame), width 128, 2 blocks, 4 heads, trained (not frozen: there are no
    /// pretrained weights to keep); hidden 256; one layer per encoder; decoder 2 blocks over
    /// 16 timesteps with 16 memory slots.
    pub fn small_cpu() -> Self {
        Self {
            backbone: TimmBackboneConfig {
                img_size: Some(128),
                patch_size: Some(16),
                embed_dim: Some(128),
                depth: Some(2),
                num_heads: Some(4),
                ..TimmBackboneConfig::named("vit_base_patch32_clip_224.openai")
            },
            freeze_backbone: false,
            hiddim: 256,
            video_encoder_kwargs: VideoEncoderKwargs {
                num_spatial_layers: 1,
                num_temporal_layers: 1,
                ..VideoEncoderKwargs::default()
            },
            image_encoder_kwargs: ImageEncoderKwargs {
                num_layers: 1,
                ..ImageEncoderKwargs::default()
            },
            decoder_kwargs: DecoderKwargs {
                num_layers: 2,
                timesteps: 16,
                mem_len: 16,
                ..DecoderKwargs::default()
            },
            ..Self::default()
        }
    }

    /// The posterior encoder's shape.
    pub fn video_encoder(&self) -> VideoEncoderConfig {
        let k = &self.video_encoder_kwargs;
        VideoEncoderConfig {
            spatial_layers: k.num_spatial_layers,
            temporal_layers: k.num_temporal_layers,
            heads: k.num_heads,
            dropout: k.dropout,
        }
    }

    /// The prior encoder's shape.
    pub fn image_encoder(&self) -> ImageEncoderConfig {
        let k = &self.image_encoder_kwargs;
        ImageEncoderConfig {
            layers: k.num_layers,
            heads: k.num_heads,
            dropout: k.dropout,
        }
    }

    /// The fuser's shape (MineStudio's constants, our dropout).
    pub fn fuser(&self) -> FuserConfig {
        FuserConfig {
            layers: FUSER_LAYERS,
            heads: FUSER_HEADS,
            dropout: self.fuser_dropout,
        }
    }

    /// The decoder's shape.
    pub fn decoder(&self) -> DecoderConfig {
        let k = &self.decoder_kwargs;
        DecoderConfig {
            layers: k.num_layers,
            heads: k.num_heads,
            timesteps: k.timesteps,
            mem_len: k.mem_len,
        }
    }

    /// `GrootPolicy`'s arguments as MineStudio's `save_pretrained` records them in
    /// `config.json` (every argument, `action_space` null; this program's own settings left
    /// out).
    pub fn minestudio_kwargs(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            for ours in ["fuser_dropout", "latent_mode", "seed"] {
                map.remove(ours);
            }
            map.insert("action_space".into(), serde_json::Value::Null);
        }
        value
    }
}
