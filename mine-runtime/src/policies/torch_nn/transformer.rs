//! PyTorch's `nn.TransformerEncoder` of `nn.TransformerEncoderLayer`s as MineStudio builds
//! them (`batch_first`, post-norm, ReLU, no final norm), under PyTorch's state-dict names.
//! Dropout is not applied (MineStudio's 0.1 only matters for training noise; the parity
//! references switch it off).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Distribution, Tensor};

use crate::kernels::ops::{linear, linear_layer};

/// `nn.MultiheadAttention(dim, heads, batch_first=True)` used as self-attention:
/// `in_proj_weight` `[3 dim, dim]` (query, key and value rows stacked, PyTorch orientation),
/// `in_proj_bias` `[3 dim]` and `out_proj`.
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    /// Query, key and value projections stacked, `[3 dim, dim]`.
    pub in_proj_weight: Param<Tensor<2>>,
    /// Their biases, `[3 dim]`.
    pub in_proj_bias: Param<Tensor<1>>,
    /// Output projection.
    pub out_proj: Linear,
    /// Number of heads; divides `dim`.
    pub heads: usize,
}

impl MultiheadAttention {
    /// PyTorch's initialization: Xavier-uniform `in_proj_weight`, zero biases.
    pub fn new(dim: usize, heads: usize, device: &Device) -> Self {
        let bound = (6.0 / (dim + 3 * dim) as f64).sqrt();
        let mut out_proj = LinearConfig::new(dim, dim).init(device);
        out_proj.bias = Some(Param::from_tensor(Tensor::zeros([dim], device)));
        Self {
            in_proj_weight: Param::from_tensor(Tensor::random(
                [3 * dim, dim],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            in_proj_bias: Param::from_tensor(Tensor::zeros([3 * dim], device)),
            out_proj,
            heads,
        }
    }

    /// Self-attention over `[N, L, dim]`: every position attends to every position.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, l, e] = x.dims();
        let (h, d) = (self.heads, e / self.heads);
        let qkv = linear(
            x,
            self.in_proj_weight.val().transpose(),
            Some(self.in_proj_bias.val()),
        );
        let part = |i: usize| {
            qkv.clone()
                .slice([0..n, 0..l, i * e..(i + 1) * e])
                .reshape([n, l, h, d])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
        let attended = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([n, l, e]);
        linear_layer(&self.out_proj, attended)
    }
}

/// `nn.TransformerEncoderLayer(dim, heads, dim_feedforward, batch_first=True)`:
/// `x = norm1(x + self_attn(x))`, `x = norm2(x + linear2(relu(linear1(x))))`.
#[derive(Module, Debug)]
pub struct TransformerEncoderLayer {
    /// The self-attention.
    pub self_attn: MultiheadAttention,
    /// Feed-forward expansion.
    pub linear1: Linear,
    /// Feed-forward projection back to `dim`.
    pub linear2: Linear,
    /// LayerNorm after the attention's residual sum.
    pub norm1: LayerNorm,
    /// LayerNorm after the feed-forward's residual sum.
    pub norm2: LayerNorm,
}

impl TransformerEncoderLayer {
    /// A layer of width `dim` with a `feedforward`-wide ReLU MLP.
    pub fn new(dim: usize, heads: usize, feedforward: usize, device: &Device) -> Self {
        Self {
            self_attn: MultiheadAttention::new(dim, heads, device),
            linear1: LinearConfig::new(dim, feedforward).init(device),
            linear2: LinearConfig::new(feedforward, dim).init(device),
            norm1: LayerNormConfig::new(dim).init(device),
            norm2: LayerNormConfig::new(dim).init(device),
        }
    }

    /// Applies the layer to `[N, L, dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = self.norm1.forward(x.clone() + self.self_attn.forward(x));
        let ff = linear_layer(&self.linear2, relu(linear_layer(&self.linear1, x.clone())));
        self.norm2.forward(x + ff)
    }
}

/// `nn.TransformerEncoder(layer, num_layers)` without a final norm: `layers.N.*`.
#[derive(Module, Debug)]
pub struct TransformerEncoder {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer>,
}

impl TransformerEncoder {
    /// `layers` layers of width `dim`, `heads` heads, feed-forward width `feedforward`.
    pub fn new(
        dim: usize,
        heads: usize,
        feedforward: usize,
        layers: usize,
        device: &Device,
    ) -> Self {
        Self {
            layers: (0..layers)
                .map(|_| TransformerEncoderLayer::new(dim, heads, feedforward, device))
                .collect(),
        }
    }

    /// Encodes `[N, L, dim]` tokens.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}
