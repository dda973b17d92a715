//! The per-frame vision encoder, whose last feature map `[N, C, h, w]` becomes each frame's
//! tokens: MineStudio's timm backbone (a CLIP ViT, [`TimmBackbone`], or EfficientNet-B0,
//! under timm's names), or one of ours trained from scratch, a small Vision Transformer or
//! VPT's ImpalaCNN (loadable from a local file, see [`super::weights`]).

use burn::module::{Module, Param};
use burn::nn::activation::ActivationConfig;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use crate::kernels::ops::{self, add, conv2d_layer, layer_norm_layer};
use crate::policies::vpt::impala::{CnnDownStack, ImpalaCnn};

use super::config::{
    BackboneConfig, GrootConfig, ImpalaBackboneConfig, ScratchGrootConfig, VitConfig,
};
use crate::policies::timm::{EfficientNet, TimmArchitecture, VisionTransformer, VitArchitecture};

/// A Vision Transformer over non-overlapping patches, CLIP-style (patch embedding without
/// bias, learned position embedding, LayerNorm before and after pre-norm GELU blocks), with
/// no class token: the output is the grid of patch tokens.
#[derive(Module, Debug)]
pub struct VitBackbone {
    /// Patch embedding: a `patch_size` x `patch_size` convolution with stride `patch_size`.
    pub patch_embed: Conv2d,
    /// Learned position embedding `[1, patches, width]`.
    pub pos_embed: Param<Tensor<3>>,
    /// LayerNorm before the blocks.
    pub ln_pre: LayerNorm,
    /// The Transformer blocks.
    pub blocks: TransformerEncoder,
    /// LayerNorm after the blocks.
    pub ln_post: LayerNorm,
}

impl VitBackbone {
    /// Builds the ViT for `image` frames of shape `[h, w, c]`.
    pub fn new(vit: &VitConfig, img_shape: [usize; 3], device: &Device) -> Self {
        let [h, w, c] = img_shape;
        let patches = (h / vit.patch_size) * (w / vit.patch_size);
        let p = vit.patch_size;
        Self {
            patch_embed: Conv2dConfig::new([c, vit.width], [p, p])
                .with_stride([p, p])
                .with_bias(false)
                .init(device),
            pos_embed: Param::from_tensor(Tensor::random(
                [1, patches, vit.width],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            ln_pre: LayerNormConfig::new(vit.width).init(device),
            blocks: TransformerEncoderConfig::new(
                vit.width,
                vit.width * vit.mlp_ratio,
                vit.heads,
                vit.layers,
            )
            .with_dropout(0.0)
            .with_norm_first(true)
            .with_activation(ActivationConfig::Gelu)
            .init(device),
            ln_post: LayerNormConfig::new(vit.width).init(device),
        }
    }

    /// `[N, C, H, W]` normalized frames to the `[N, width, H / p, W / p]` token grid.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv2d_layer(&self.patch_embed, x, false);
        let [n, d, h, w] = x.dims();
        let tokens = add(
            x.reshape([n, d, h * w]).swap_dims(1, 2),
            self.pos_embed.val(),
        );
        let tokens = layer_norm_layer(&self.ln_pre, tokens);
        // burn's Transformer blocks run in the parameters' dtype (f32 under autocast).
        let tokens = self.blocks.forward(TransformerEncoderInput::new(tokens));
        let tokens = layer_norm_layer(&self.ln_post, tokens);
        tokens.swap_dims(1, 2).reshape([n, d, h, w])
    }
}

/// VPT's ImpalaCNN down-stacks without the final dense layer, so the spatial grid survives.
#[derive(Module, Debug)]
pub struct ImpalaBackbone {
    /// The down-stacks (convolution, 3x3 stride-2 max-pool, residual blocks).
    pub stacks: Vec<CnnDownStack>,
}

impl ImpalaBackbone {
    /// Builds the stacks with VPT's initialization scales.
    pub fn new(
        config: &ScratchGrootConfig,
        impala: &ImpalaBackboneConfig,
        device: &Device,
    ) -> Self {
        let cnn = ImpalaCnn::new(&config.impala_vpt_config(impala), device);
        Self { stacks: cnn.stacks }
    }

    /// `[N, C, H, W]` normalized frames to `[N, chans.last, ceil(H / 2^k), ceil(W / 2^k)]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.stacks.iter().fold(x, |x, stack| stack.forward(x))
    }
}

/// MineStudio's backbone: timm's model as `features_only` wraps it (`FeatureGetterNet`, whose
/// `model` holds the network: parameter names `backbone.model.*`), its last feature map used.
#[derive(Module, Debug)]
pub struct TimmBackbone {
    /// The timm network.
    pub model: VisionTransformer,
}

impl TimmBackbone {
    /// A freshly initialized backbone of `arch`.
    pub fn new(arch: &VitArchitecture, device: &Device) -> Self {
        Self {
            model: VisionTransformer::new(arch, device),
        }
    }

    /// `[N, C, H, W]` normalized frames to the last feature map `[N, embed_dim, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.model.forward_features(x)
    }
}

/// The configured backbone. PyTorch names leave the variant out (`backbone.model.*` for a timm
/// ViT, `backbone.conv_stem.weight`, `backbone.blocks.S.B.*` for EfficientNet, whose
/// `features_only` network timm builds without a wrapper).
// One backbone per policy, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    /// Our Vision Transformer.
    Vit(VitBackbone),
    /// The ImpalaCNN stacks.
    Impala(ImpalaBackbone),
    /// MineStudio's timm ViT.
    Timm(TimmBackbone),
    /// MineStudio's timm EfficientNet (`EfficientNetFeatures`).
    EfficientNet(EfficientNet),
}

impl Backbone {
    /// Builds the backbone `config` describes (validated: its timm backbone resolves).
    pub fn new(config: &GrootConfig, device: &Device) -> Self {
        match config {
            GrootConfig::MineStudio(minestudio) => match minestudio
                .backbone
                .resolve()
                .expect("a validated configuration names a backbone this program builds")
            {
                TimmArchitecture::Vit(vit) => Self::Timm(TimmBackbone::new(&vit, device)),
                TimmArchitecture::EfficientNet(net) => {
                    Self::EfficientNet(EfficientNet::new(&net.spec(), device))
                }
            },
            GrootConfig::Scratch(scratch) => match &scratch.backbone {
                BackboneConfig::Vit(vit) => {
                    Self::Vit(VitBackbone::new(vit, scratch.img_shape, device))
                }
                BackboneConfig::Impala(impala) => {
                    Self::Impala(ImpalaBackbone::new(scratch, impala, device))
                }
            },
        }
    }

    /// `[N, C, H, W]` normalized frames to the `[N, C', h, w]` feature map.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Vit(vit) => vit.forward(x),
            Self::Impala(impala) => impala.forward(x),
            Self::Timm(timm) => timm.forward(x),
            Self::EfficientNet(net) => net.forward(x),
        }
    }
}

/// Frame preprocessing before the backbone: `(pixel / 255 - mean) / std` per channel.
#[derive(Module, Debug)]
pub struct PixelNorm {
    /// `pixel_mean` as `[1, C, 1, 1]`.
    pub mean: Tensor<4>,
    /// `pixel_std` as `[1, C, 1, 1]`.
    pub std: Tensor<4>,
}

impl PixelNorm {
    /// The normalization `config` asks for.
    pub fn new(config: &GrootConfig, device: &Device) -> Self {
        let (mean, std) = config.pixel_normalization();
        Self::from_stats(&mean, &std, device)
    }

    /// The normalization by a mean and standard deviation per channel (of 0..=1 values).
    pub fn from_stats(mean: &[f64], std: &[f64], device: &Device) -> Self {
        let to_tensor = |v: &[f64]| {
            let values: Vec<f32> = v.iter().map(|x| *x as f32).collect();
            Tensor::from_data(TensorData::new(values, [1, v.len(), 1, 1]), device)
        };
        Self {
            mean: to_tensor(mean),
            std: to_tensor(std),
        }
    }

    /// `[B, T, H, W, C]` raw frames (0..=255) to `[B * T, C, H, W]` normalized frames.
    pub fn forward(&self, image: Tensor<5>) -> Tensor<4> {
        let [b, t, h, w, c] = image.dims();
        let x = image.reshape([b * t, h, w, c]).permute([0, 3, 1, 2]);
        (ops::div_scalar(x, 255.0) - self.mean.clone()) / self.std.clone()
    }
}
