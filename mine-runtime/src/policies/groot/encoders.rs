//! The Transformer encoders around the goal latent: the video (posterior) and image (prior)
//! encoders, and the fuser that joins each frame's tokens with the goal.
//!
//! All use PyTorch's `nn.TransformerEncoderLayer` defaults as MineStudio does: post-norm,
//! ReLU, feed-forward width `2 * hiddim`, and mean pooling over tokens.

use burn::module::Module;
use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::tensor::{Device, Tensor};
use mine_dsl::latent::DiagGaussian;

use super::latent::{LatentMode, LatentSpace, NoiseSource};

/// A post-norm ReLU Transformer encoder of width `d` with feed-forward width `2 d`.
fn encoder(
    d: usize,
    layers: usize,
    heads: usize,
    dropout: f64,
    device: &Device,
) -> TransformerEncoder {
    TransformerEncoderConfig::new(d, 2 * d, heads, layers)
        .with_dropout(dropout)
        .with_activation(ActivationConfig::Relu)
        .init(device)
}

/// Encodes `[N, L, d]` tokens and averages them: `[N, d]`.
fn pooled(encoder: &TransformerEncoder, tokens: Tensor<3>) -> Tensor<2> {
    let [n, _, d] = tokens.dims();
    encoder
        .forward(TransformerEncoderInput::new(tokens))
        .mean_dim(1)
        .reshape([n, d])
}

/// Options shared by the encoders' constructors.
#[derive(Clone, Copy, Debug)]
pub struct EncoderShape {
    /// Token width (`hiddim`).
    pub dim: usize,
    /// Attention heads.
    pub heads: usize,
    /// Dropout inside the layers.
    pub dropout: f64,
}

/// MineStudio's `VideoEncoder`: pools each frame's tokens (spatial encoder, mean), encodes the
/// frame sequence (temporal encoder, mean) and maps it to the posterior over the goal.
#[derive(Module, Debug)]
pub struct VideoEncoder {
    /// Spatial pooling over each frame's tokens.
    pub pooling: TransformerEncoder,
    /// Temporal encoding over the pooled frames.
    pub encode_video: TransformerEncoder,
    /// The posterior's latent space.
    pub encode_dist: LatentSpace,
}

impl VideoEncoder {
    /// Builds the encoder.
    pub fn new(
        shape: &EncoderShape,
        spatial_layers: usize,
        temporal_layers: usize,
        mode: LatentMode,
        noise: NoiseSource,
        device: &Device,
    ) -> Self {
        let EncoderShape {
            dim,
            heads,
            dropout,
        } = *shape;
        Self {
            pooling: encoder(dim, spatial_layers, heads, dropout, device),
            encode_video: encoder(dim, temporal_layers, heads, dropout, device),
            encode_dist: LatentSpace::new(dim, mode, noise, device),
        }
    }

    /// `[B, T, P, d]` tokens of a reference video to the posterior (`[B, d]` each).
    pub fn forward(&self, tokens: Tensor<4>) -> DiagGaussian {
        let [b, t, p, d] = tokens.dims();
        let frames = pooled(&self.pooling, tokens.reshape([b * t, p, d])).reshape([b, t, d]);
        self.encode_dist.forward(pooled(&self.encode_video, frames))
    }
}

/// MineStudio's `ImageEncoder`: pools one frame's tokens and maps them to the prior.
#[derive(Module, Debug)]
pub struct ImageEncoder {
    /// Spatial pooling over the frame's tokens.
    pub pooling: TransformerEncoder,
    /// The prior's latent space.
    pub encode_dist: LatentSpace,
}

impl ImageEncoder {
    /// Builds the encoder.
    pub fn new(
        shape: &EncoderShape,
        layers: usize,
        mode: LatentMode,
        noise: NoiseSource,
        device: &Device,
    ) -> Self {
        let EncoderShape {
            dim,
            heads,
            dropout,
        } = *shape;
        Self {
            pooling: encoder(dim, layers, heads, dropout, device),
            encode_dist: LatentSpace::new(dim, mode, noise, device),
        }
    }

    /// `[B, P, d]` tokens of one frame to the prior (`[B, d]` each).
    pub fn forward(&self, tokens: Tensor<3>) -> DiagGaussian {
        self.encode_dist.forward(pooled(&self.pooling, tokens))
    }
}

/// MineStudio's `fuser`: appends the goal latent as one more token to every frame's tokens,
/// encodes them and averages: one `hiddim` vector per frame.
#[derive(Module, Debug)]
pub struct Fuser {
    /// The Transformer over `[frame tokens, goal]`.
    pub encoder: TransformerEncoder,
}

impl Fuser {
    /// Builds the fuser.
    pub fn new(shape: &EncoderShape, layers: usize, device: &Device) -> Self {
        let EncoderShape {
            dim,
            heads,
            dropout,
        } = *shape;
        Self {
            encoder: encoder(dim, layers, heads, dropout, device),
        }
    }

    /// `[B, T, P, d]` frame tokens and the `[B, d]` goal to `[B, T, d]`.
    pub fn forward(&self, tokens: Tensor<4>, z: Tensor<2>) -> Tensor<3> {
        let [b, t, p, d] = tokens.dims();
        let goal = z.reshape([b, 1, 1, d]).expand([b, t, 1, d]);
        let joined = Tensor::cat(vec![tokens, goal], 2).reshape([b * t, p + 1, d]);
        pooled(&self.encoder, joined).reshape([b, t, d])
    }
}
