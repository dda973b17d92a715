//! PyTorch's `nn.TransformerEncoder` under its parameter names, and the multi-head
//! self-attention it shares with timm's Vision Transformer.
//!
//! `nn.TransformerEncoderLayer` as MineStudio builds it (GROOT's encoders and fuser, ROCKET-1's
//! pooling): `batch_first`, post-norm (`norm_first = False`), ReLU, LayerNorm eps 1e-5:
//!
//! ```text
//! x = norm1(x + dropout1(self_attn(x)))
//! x = norm2(x + dropout2(linear2(dropout(relu(linear1(x))))))
//! ```
//!
//! Under bf16 autocast ([`crate::kernels::autocast`]) the projections and attention matmuls
//! run in bf16, the softmax, residual sums and LayerNorms in f32.
//!
//! State-dict keys per layer: `layers.N.self_attn.{in_proj_weight, in_proj_bias}` (queries,
//! keys and values stacked, `[3 d, d]` in PyTorch's layout, held as such here),
//! `layers.N.self_attn.out_proj.{weight, bias}`, `layers.N.{linear1, linear2, norm1,
//! norm2}.{weight, bias}`.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};

use crate::kernels::ops::{add, layer_norm_layer, linear, linear_layer, matmul, softmax};

/// Multi-head scaled dot-product self-attention on packed projections.
///
/// `qkv` is `[N, L, 3 d]`: the queries, keys and values side by side, each `heads` blocks of
/// `d / heads` (what timm's `Attention.qkv` and PyTorch's `in_proj` produce). Returns the heads'
/// outputs concatenated, `[N, L, d]`, before any output projection. Logits are scaled by
/// `1 / sqrt(d / heads)`; `dropout` applies to the attention weights.
pub fn packed_self_attention(qkv: Tensor<3>, heads: usize, dropout: &Dropout) -> Tensor<3> {
    let [n, l, packed] = qkv.dims();
    let d = packed / 3;
    let head_dim = d / heads;
    // [3, N, heads, L, head_dim]
    let qkv = qkv
        .reshape([n, l, 3, heads, head_dim])
        .permute([2, 0, 3, 1, 4]);
    let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([n, heads, l, head_dim]);
    let (q, k, v) = (part(0), part(1), part(2));
    let logits = matmul(q, k.swap_dims(2, 3)).mul_scalar(1.0 / (head_dim as f64).sqrt());
    let weights = dropout.forward(softmax(logits, 3));
    matmul(weights, v).swap_dims(1, 2).reshape([n, l, d])
}

/// PyTorch's `nn.MultiheadAttention` (self-attention, no masks, `batch_first`).
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    /// Query, key and value projections stacked: `[3 d, d]` (PyTorch's layout).
    pub in_proj_weight: Param<Tensor<2>>,
    /// Their biases, `[3 d]`.
    pub in_proj_bias: Param<Tensor<1>>,
    /// The output projection.
    pub out_proj: Linear,
    /// Dropout on the attention weights.
    pub dropout: Dropout,
    /// Number of heads.
    pub heads: usize,
}

impl MultiheadAttention {
    /// PyTorch's initialization: Xavier-uniform `in_proj_weight`, zero biases, the output
    /// projection's weight as `nn.Linear`'s.
    pub fn new(d: usize, heads: usize, dropout: f64, device: &Device) -> Self {
        let bound = (6.0 / (d + 3 * d) as f64).sqrt();
        let mut out_proj = LinearConfig::new(d, d).init(device);
        out_proj.bias = Some(Param::from_tensor(Tensor::zeros([d], device)));
        Self {
            in_proj_weight: Param::from_tensor(Tensor::random(
                [3 * d, d],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            in_proj_bias: Param::from_tensor(Tensor::zeros([3 * d], device)),
            out_proj,
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// Self-attention over `[N, L, d]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let qkv = linear(
            x,
            self.in_proj_weight.val().transpose(),
            Some(self.in_proj_bias.val()),
        );
        let attended = packed_self_attention(qkv, self.heads, &self.dropout);
        linear_layer(&self.out_proj, attended)
    }
}

/// PyTorch's `nn.TransformerEncoderLayer` (post-norm, ReLU, `batch_first`).
#[derive(Module, Debug)]
pub struct TransformerEncoderLayer {
    /// Self-attention.
    pub self_attn: MultiheadAttention,
    /// Feed-forward layer to `dim_feedforward`.
    pub linear1: Linear,
    /// Feed-forward layer back to `d`.
    pub linear2: Linear,
    /// LayerNorm after the attention's residual sum.
    pub norm1: LayerNorm,
    /// LayerNorm after the feed-forward's residual sum.
    pub norm2: LayerNorm,
    /// Dropout inside the feed-forward block.
    pub dropout: Dropout,
    /// Dropout on the attention's output.
    pub dropout1: Dropout,
    /// Dropout on the feed-forward's output.
    pub dropout2: Dropout,
}

impl TransformerEncoderLayer {
    /// A layer of width `d`.
    pub fn new(shape: &EncoderShape, device: &Device) -> Self {
        let EncoderShape {
            d,
            heads,
            dim_feedforward,
            dropout,
            ..
        } = *shape;
        let drop = || DropoutConfig::new(dropout).init();
        Self {
            self_attn: MultiheadAttention::new(d, heads, dropout, device),
            linear1: LinearConfig::new(d, dim_feedforward).init(device),
            linear2: LinearConfig::new(dim_feedforward, d).init(device),
            norm1: LayerNormConfig::new(d).init(device),
            norm2: LayerNormConfig::new(d).init(device),
            dropout: drop(),
            dropout1: drop(),
            dropout2: drop(),
        }
    }

    /// The layer on `[N, L, d]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let attended = self.dropout1.forward(self.self_attn.forward(x.clone()));
        let x = layer_norm_layer(&self.norm1, add(x, attended));
        let hidden = self
            .dropout
            .forward(relu(linear_layer(&self.linear1, x.clone())));
        let fed = self.dropout2.forward(linear_layer(&self.linear2, hidden));
        layer_norm_layer(&self.norm2, add(x, fed))
    }
}

/// The size of a [`TransformerEncoder`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderShape {
    /// Token width (`d_model`).
    pub d: usize,
    /// Attention heads (`nhead`); must divide `d`.
    pub heads: usize,
    /// Hidden width of the feed-forward block.
    pub dim_feedforward: usize,
    /// Number of layers.
    pub layers: usize,
    /// Dropout probability everywhere in the layers.
    pub dropout: f64,
}

/// PyTorch's `nn.TransformerEncoder` (no final norm): layers applied in turn.
#[derive(Module, Debug)]
pub struct TransformerEncoder {
    /// The layers (PyTorch deep-copies one layer; here each starts from its own draw).
    pub layers: Vec<TransformerEncoderLayer>,
}

impl TransformerEncoder {
    /// `shape.layers` freshly initialized layers.
    pub fn new(shape: &EncoderShape, device: &Device) -> Self {
        Self {
            layers: (0..shape.layers)
                .map(|_| TransformerEncoderLayer::new(shape, device))
                .collect(),
        }
    }

    /// Encodes `[N, L, d]` tokens.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }

    /// Encodes `[N, L, d]` tokens and averages them over `L`: `[N, d]`.
    pub fn forward_mean(&self, x: Tensor<3>) -> Tensor<2> {
        let [n, _, d] = x.dims();
        self.forward(x).mean_dim(1).reshape([n, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention over identical keys averages the values (uniform weights), whatever the
    /// queries: a check of the packing order (queries, keys, values) and the head split.
    #[test]
    fn packed_attention_splits_queries_keys_values_and_heads() {
        let device = Device::flex();
        let (n, l, d, heads) = (1, 3, 4, 2);
        let q: Vec<f32> = (0..l * d).map(|i| i as f32 * 0.3).collect();
        let k = vec![0.5f32; l * d];
        let v: Vec<f32> = (0..l * d).map(|i| i as f32).collect();
        let mut packed = Vec::new();
        for t in 0..l {
            packed.extend_from_slice(&q[t * d..(t + 1) * d]);
            packed.extend_from_slice(&k[t * d..(t + 1) * d]);
            packed.extend_from_slice(&v[t * d..(t + 1) * d]);
        }
        let qkv = Tensor::<3>::from_data(
            burn::tensor::TensorData::new(packed, [n, l, 3 * d]),
            &device,
        );
        let out = packed_self_attention(qkv, heads, &DropoutConfig::new(0.0).init());
        let out: Vec<f32> = out.into_data().try_to_vec().unwrap();
        let mean: Vec<f32> = (0..d)
            .map(|c| (0..l).map(|t| v[t * d + c]).sum::<f32>() / l as f32)
            .collect();
        for t in 0..l {
            for c in 0..d {
                assert!((out[t * d + c] - mean[c]).abs() < 1e-5, "{out:?}");
            }
        }
    }
}
