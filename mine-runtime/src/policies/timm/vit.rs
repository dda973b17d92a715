//! timm's `VisionTransformer` as `features_only=True` builds it (`FeatureGetterNet`): the final
//! norm and the head are pruned, and the output is the last block's patch tokens (class token
//! removed) as an `NCHW` feature map.
//!
//! ```text
//! patch_embed.proj (conv p x p, stride p) ─ [cls_token ;] tokens + pos_embed ─ norm_pre
//!   ─ blocks: x + attn(norm1(x)), x + mlp(norm2(x)) ─ drop cls ─ [N, embed_dim, h, w]
//! ```
//!
//! Parameter names are timm's: `cls_token`, `pos_embed`, `patch_embed.proj.weight` (and
//! `.bias` without `pre_norm`), `norm_pre.*`, `blocks.N.{norm1, attn.qkv, attn.proj, norm2,
//! mlp.fc1, mlp.fc2}.*`.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::{Device, Distribution, Tensor};

use super::config::{VitActivation, VitArchitecture};
use crate::kernels::ops::{conv2d_layer, linear_layer};
use crate::policies::torch_nn::packed_self_attention;

/// The ViT: patch and position embeddings, optional pre-norm, pre-norm blocks.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// The class token `[1, 1, embed_dim]`, when the model has one.
    pub cls_token: Option<Param<Tensor<3>>>,
    /// Position embedding `[1, (class token +) patches, embed_dim]`.
    pub pos_embed: Param<Tensor<3>>,
    /// The patch embedding.
    pub patch_embed: PatchEmbed,
    /// LayerNorm after the embeddings (`pre_norm`).
    pub norm_pre: Option<LayerNorm>,
    /// The Transformer blocks.
    pub blocks: Vec<Block>,
}

/// timm's `PatchEmbed`: a convolution with kernel and stride `patch_size`.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// The convolution (no bias with `pre_norm`).
    pub proj: Conv2d,
}

/// A pre-norm block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    /// LayerNorm before the attention.
    pub norm1: LayerNorm,
    /// Multi-head self-attention.
    pub attn: Attention,
    /// LayerNorm before the MLP.
    pub norm2: LayerNorm,
    /// The MLP.
    pub mlp: Mlp,
}

/// timm's `Attention`: packed `qkv` projection (with bias), scaled dot-product attention,
/// output projection.
#[derive(Module, Debug)]
pub struct Attention {
    /// Queries, keys and values in one projection.
    pub qkv: Linear,
    /// The output projection.
    pub proj: Linear,
    /// Dropout on the attention weights (timm's default rate: 0).
    pub attn_drop: Dropout,
    /// Number of heads.
    pub num_heads: usize,
}

/// timm's `Mlp`: `fc2(act(fc1(x)))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// To the hidden width.
    pub fc1: Linear,
    /// Back to `embed_dim`.
    pub fc2: Linear,
    /// The activation.
    #[module(skip)]
    pub act: VitActivation,
}

/// A linear layer with timm's ViT initialization (weights N(0, 0.02), bias zero).
fn vit_linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device);
    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    layer
}

impl VisionTransformer {
    /// A freshly initialized ViT of `arch`.
    pub fn new(arch: &VitArchitecture, device: &Device) -> Self {
        let (d, p) = (arch.embed_dim, arch.patch_size);
        let prefix = usize::from(arch.class_token);
        let tokens = prefix + arch.grid() * arch.grid();
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(arch.norm_eps)
                .init(device)
        };
        let param = |shape: [usize; 3], std: f64| {
            Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, std),
                device,
            ))
        };
        Self {
            cls_token: arch.class_token.then(|| param([1, 1, d], 1e-6)),
            pos_embed: param([1, tokens, d], 0.02),
            patch_embed: PatchEmbed {
                proj: Conv2dConfig::new([arch.in_chans, d], [p, p])
                    .with_stride([p, p])
                    .with_bias(!arch.pre_norm)
                    .init(device),
            },
            norm_pre: arch.pre_norm.then(norm),
            blocks: (0..arch.depth)
                .map(|_| Block {
                    norm1: norm(),
                    attn: Attention {
                        qkv: vit_linear(d, 3 * d, device),
                        proj: vit_linear(d, d, device),
                        attn_drop: DropoutConfig::new(0.0).init(),
                        num_heads: arch.num_heads,
                    },
                    norm2: norm(),
                    mlp: Mlp {
                        fc1: vit_linear(d, arch.mlp_hidden(), device),
                        fc2: vit_linear(arch.mlp_hidden(), d, device),
                        act: arch.act_layer,
                    },
                })
                .collect(),
        }
    }

    /// `[N, C, H, W]` normalized images to the last block's patch tokens as
    /// `[N, embed_dim, H / p, W / p]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv2d_layer(&self.patch_embed.proj, x, false);
        let [n, d, h, w] = x.dims();
        let mut tokens = x.reshape([n, d, h * w]).swap_dims(1, 2);
        if let Some(cls) = &self.cls_token {
            tokens = Tensor::cat(vec![cls.val().expand([n, 1, d]), tokens], 1);
        }
        let prefix = usize::from(self.cls_token.is_some());
        let mut tokens = tokens + self.pos_embed.val();
        if let Some(norm) = &self.norm_pre {
            tokens = norm.forward(tokens);
        }
        let tokens = self.blocks.iter().fold(tokens, |x, block| block.forward(x));
        tokens
            .narrow(1, prefix, h * w)
            .swap_dims(1, 2)
            .reshape([n, d, h, w])
    }
}

impl Block {
    /// The block on `[N, L, embed_dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}

impl Attention {
    /// Self-attention over `[N, L, embed_dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let qkv = linear_layer(&self.qkv, x);
        linear_layer(
            &self.proj,
            packed_self_attention(qkv, self.num_heads, &self.attn_drop),
        )
    }
}

impl Mlp {
    /// The MLP on `[N, L, embed_dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = linear_layer(&self.fc1, x);
        let hidden = match self.act {
            VitActivation::Gelu => gelu(hidden),
            VitActivation::QuickGelu => hidden.clone() * sigmoid(hidden.mul_scalar(1.702)),
        };
        linear_layer(&self.fc2, hidden)
    }
}
