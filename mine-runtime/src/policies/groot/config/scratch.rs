//! Our own GROOT (`architecture = "scratch"`): MineStudio's GROOT with the pretrained timm
//! backbone replaced by a vision encoder trained from scratch (a small ViT of our own or VPT's
//! ImpalaCNN) and every encoder's size configurable.
//!
//! Every struct deserializes from TOML or JSON with defaults for missing fields and rejects
//! unknown ones; [`ScratchGrootConfig::validate`](super::ScratchGrootConfig::validate) names the first
//! invalid field.

use serde::{Deserialize, Serialize};

use super::parts::{DecoderConfig, FuserConfig, ImageEncoderConfig, VideoEncoderConfig};
use crate::policies::groot::latent::LatentMode;
use crate::policies::timm::{OPENAI_CLIP_MEAN, OPENAI_CLIP_STD};
use crate::policies::vpt::VptConfig;

/// Size and shape of our own GROOT.
///
/// Build one from a preset ([`ScratchGrootConfig::tiny`], [`ScratchGrootConfig::small_cpu`],
/// [`ScratchGrootConfig::minestudio`], the default) or deserialize it; then
/// [`GrootPolicy::new`](crate::policies::groot::GrootPolicy::new) validates it.
///
/// ```
/// use mine_runtime::policies::groot::ScratchGrootConfig;
///
/// let config: ScratchGrootConfig = toml::from_str(r#"
///     img_shape = [64, 64, 3]
///     hiddim = 128
///     backbone = { kind = "impala", chans = [16, 32] }
///     decoder = { layers = 2, heads = 4, timesteps = 16, mem_len = 16 }
/// "#).unwrap();
/// config.validate().unwrap();
/// // Omitted sections keep MineStudio's values, which must still fit the new `hiddim`.
/// assert_eq!(config.video_encoder.temporal_layers, 4);
///
/// let bad = ScratchGrootConfig { hiddim: 100, ..config };
/// let err = bad.validate().unwrap_err().to_string();
/// assert!(err.contains("`video_encoder.heads`"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScratchGrootConfig {
    /// Frame shape `[height, width, channels]` of both the observations and the reference.
    pub img_shape: [usize; 3],
    /// Width of every token and latent after the backbone (MineStudio `hiddim`).
    pub hiddim: usize,
    /// The vision encoder run on every frame (MineStudio: a pretrained timm model).
    pub backbone: BackboneConfig,
    /// Whether the backbone's parameters are excluded from training (MineStudio
    /// `freeze_backbone`; useful after
    /// [`load_backbone`](crate::policies::groot::GrootPolicy::load_backbone)).
    pub freeze_backbone: bool,
    /// Per-channel mean subtracted from `pixel / 255` before the backbone.
    pub pixel_mean: Vec<f64>,
    /// Per-channel standard deviation dividing `pixel / 255 - mean`.
    pub pixel_std: Vec<f64>,
    /// The posterior encoder over the reference video.
    pub video_encoder: VideoEncoderConfig,
    /// The prior encoder over the reference's first frame.
    pub image_encoder: ImageEncoderConfig,
    /// The encoder fusing each frame's tokens with the goal latent.
    pub fuser: FuserConfig,
    /// The recurrent Transformer-XL style decoder.
    pub decoder: DecoderConfig,
    /// Softmax temperature of the action head.
    pub temperature: f64,
    /// When the goal latent `z` is sampled rather than set to the mean.
    pub latent_mode: LatentMode,
    /// Seed of the noise of the reparameterization trick.
    pub seed: u64,
}

/// The per-frame vision encoder; its last feature map becomes the frame's tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneConfig {
    /// A Vision Transformer (CLIP-style: patch embedding without bias, learned positions,
    /// pre-norm blocks), without a class token: the patch grid is the feature map.
    Vit(VitConfig),
    /// The VPT ImpalaCNN down-stacks (convolution, max-pool, residual blocks).
    Impala(ImpalaBackboneConfig),
}

/// A Vision Transformer backbone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VitConfig {
    /// Side of the square patches; must divide the image height and width.
    pub patch_size: usize,
    /// Token width inside the backbone.
    pub width: usize,
    /// Number of Transformer blocks.
    pub layers: usize,
    /// Attention heads per block; must divide `width`.
    pub heads: usize,
    /// Hidden width of each block's MLP as a multiple of `width`.
    pub mlp_ratio: usize,
}

/// The ImpalaCNN backbone (VPT's image encoder without its final dense layer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpalaBackboneConfig {
    /// Output channels of each down-stack; each stack halves the height and width.
    pub chans: Vec<usize>,
    /// GroupNorm groups before each convolution and after each max-pool (`None`: no norm).
    pub group_norm_groups: Option<usize>,
}

impl Default for ScratchGrootConfig {
    fn default() -> Self {
        Self::minestudio()
    }
}

impl Default for VitConfig {
    /// The shape of CLIP ViT-B/32 (MineStudio's `vit_base_patch32_clip_224`).
    fn default() -> Self {
        Self {
            patch_size: 32,
            width: 768,
            layers: 12,
            heads: 12,
            mlp_ratio: 4,
        }
    }
}

impl Default for ImpalaBackboneConfig {
    /// VPT's ImpalaCNN: 16, 32, 32 channels with GroupNorm(1).
    fn default() -> Self {
        Self {
            chans: vec![16, 32, 32],
            group_norm_groups: Some(1),
        }
    }
}

impl ScratchGrootConfig {
    /// The sizes of MineStudio's GROOT pretraining configuration
    /// (`3_pretrain_groots/groot_config.yaml`) with our own backbone: 224x224 frames, hidden
    /// 1024, a ViT-B/32-shaped backbone trained from scratch, video encoder 2 spatial + 4
    /// temporal layers, decoder 4 blocks over 128 timesteps with 128 memory slots.
    pub fn minestudio() -> Self {
        Self {
            img_shape: [224, 224, 3],
            hiddim: 1024,
            backbone: BackboneConfig::Vit(VitConfig::default()),
            freeze_backbone: false,
            pixel_mean: OPENAI_CLIP_MEAN.to_vec(),
            pixel_std: OPENAI_CLIP_STD.to_vec(),
            video_encoder: VideoEncoderConfig::default(),
            image_encoder: ImageEncoderConfig::default(),
            fuser: FuserConfig::default(),
            decoder: DecoderConfig::default(),
            temperature: 1.0,
            latent_mode: LatentMode::Auto,
            seed: 0,
        }
    }

    /// A network for tests: 16x16 frames, hidden 32, a one-block ViT with 4x4 patches,
    /// one layer per encoder, one decoder block over 4 timesteps with 4 memory slots, no
    /// dropout.
    pub fn tiny() -> Self {
        let encoder = |layers| (layers, 2, 0.0);
        let (layers, heads, dropout) = encoder(1);
        Self {
            img_shape: [16, 16, 3],
            hiddim: 32,
            backbone: BackboneConfig::Vit(VitConfig {
                patch_size: 4,
                width: 32,
                layers: 1,
                heads: 2,
                mlp_ratio: 2,
            }),
            video_encoder: VideoEncoderConfig {
                spatial_layers: layers,
                temporal_layers: layers,
                heads,
                dropout,
            },
            image_encoder: ImageEncoderConfig {
                layers,
                heads,
                dropout,
            },
            fuser: FuserConfig {
                layers,
                heads,
                dropout,
            },
            decoder: DecoderConfig {
                layers: 1,
                heads: 2,
                timesteps: 4,
                mem_len: 4,
            },
            ..Self::minestudio()
        }
    }

    /// A network that trains on a CPU: 128x128 frames, hidden 256, a 2-block ViT (width 128,
    /// 16x16 patches, so 64 tokens per frame), one layer per encoder, 2 decoder blocks over
    /// 16 timesteps with 16 memory slots.
    pub fn small_cpu() -> Self {
        Self {
            img_shape: [128, 128, 3],
            hiddim: 256,
            backbone: BackboneConfig::Vit(VitConfig {
                patch_size: 16,
                width: 128,
                layers: 2,
                heads: 4,
                mlp_ratio: 4,
            }),
            video_encoder: VideoEncoderConfig {
                spatial_layers: 1,
                temporal_layers: 1,
                heads: 4,
                dropout: 0.1,
            },
            image_encoder: ImageEncoderConfig {
                layers: 1,
                heads: 4,
                dropout: 0.1,
            },
            fuser: FuserConfig {
                layers: 1,
                heads: 4,
                dropout: 0.1,
            },
            decoder: DecoderConfig {
                layers: 2,
                heads: 4,
                timesteps: 16,
                mem_len: 16,
            },
            ..Self::minestudio()
        }
    }

    /// Side lengths `[h, w]` of the backbone's feature map: the token grid of each frame.
    pub fn token_grid(&self) -> [usize; 2] {
        let [mut h, mut w, _] = self.img_shape;
        match &self.backbone {
            BackboneConfig::Vit(vit) => {
                let p = vit.patch_size.max(1);
                [h / p, w / p]
            }
            BackboneConfig::Impala(impala) => {
                for _ in &impala.chans {
                    h = h.div_ceil(2);
                    w = w.div_ceil(2);
                }
                [h, w]
            }
        }
    }

    /// Channels of the backbone's feature map (before the projection to `hiddim`).
    pub fn backbone_channels(&self) -> usize {
        match &self.backbone {
            BackboneConfig::Vit(vit) => vit.width,
            BackboneConfig::Impala(impala) => impala.chans.last().copied().unwrap_or(0),
        }
    }

    /// The VPT configuration whose ImpalaCNN stacks form an Impala backbone.
    pub(crate) fn impala_vpt_config(&self, impala: &ImpalaBackboneConfig) -> VptConfig {
        let mut config = VptConfig::tiny();
        config.img_shape = self.img_shape;
        config.impala_width = 1;
        config.impala_chans = impala.chans.clone();
        config.init_norm_kwargs.group_norm_groups = impala.group_norm_groups;
        config.impala_kwargs.post_pool_groups = impala.group_norm_groups;
        config.first_conv_norm = false;
        config
    }
}
