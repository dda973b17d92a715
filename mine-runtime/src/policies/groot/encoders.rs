//! The Transformer encoders around the goal latent: the video (posterior) and image (prior)
//! encoders, and the fuser that joins each frame's tokens with the goal.
//!
//! All are PyTorch's `nn.TransformerEncoder` as MineStudio builds them (post-norm, ReLU,
//! feed-forward width `2 * hiddim`, [`crate::policies::torch_nn`]), mean-pooled over tokens.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mine_dsl::latent::DiagGaussian;

use super::latent::LatentSpace;
use crate::policies::torch_nn::{EncoderShape, TransformerEncoder};

/// An encoder of `hiddim`-wide tokens with `layers` layers, `heads` heads and MineStudio's
/// feed-forward width `2 * hiddim`.
pub fn encoder(
    hiddim: usize,
    layers: usize,
    heads: usize,
    dropout: f64,
    device: &Device,
) -> TransformerEncoder {
    TransformerEncoder::new(
        &EncoderShape {
            d: hiddim,
            heads,
            dim_feedforward: 2 * hiddim,
            layers,
            dropout,
        },
        device,
    )
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
    /// `[B, T, P, d]` tokens of a reference video to the posterior (`[B, d]` each).
    pub fn forward(&self, tokens: Tensor<4>) -> DiagGaussian {
        let [b, t, p, d] = tokens.dims();
        let frames = self
            .pooling
            .forward_mean(tokens.reshape([b * t, p, d]))
            .reshape([b, t, d]);
        self.encode_dist
            .forward(self.encode_video.forward_mean(frames))
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
    /// `[B, P, d]` tokens of one frame to the prior (`[B, d]` each).
    pub fn forward(&self, tokens: Tensor<3>) -> DiagGaussian {
        self.encode_dist.forward(self.pooling.forward_mean(tokens))
    }
}

/// MineStudio's `fuser`: appends the goal latent `z` (`[B, d]`) as one more token to every
/// frame's tokens (`[B, T, P, d]`), encodes them and averages: `[B, T, d]`.
pub fn fuse(fuser: &TransformerEncoder, tokens: Tensor<4>, z: Tensor<2>) -> Tensor<3> {
    let [b, t, p, d] = tokens.dims();
    let goal = z.reshape([b, 1, 1, d]).expand([b, t, 1, d]);
    let joined = Tensor::cat(vec![tokens, goal], 2).reshape([b * t, p + 1, d]);
    fuser.forward_mean(joined).reshape([b, t, d])
}
