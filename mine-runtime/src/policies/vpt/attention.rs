//! MineStudio's masked self-attention (`MaskedAttention` / `SelfAttentionLayer`): attention
//! over the carried key/value memory and the current positions with a clipped causal mask,
//! logits scaled by `1 / head_dim`, and a learned relative-position bias.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};

use super::config::{RELATIVE_BASIS, VptConfig};
use super::layers::normed_linear;
use super::memory::BlockMemory;
use crate::kernels::ops::{add, linear_layer, matmul, softmax};

/// Logit given to masked-out keys (MineStudio adds `-1e9`).
const MASKED_LOGIT: f32 = -1e9;

/// The attention wrapper MineStudio calls `r` (`MaskedAttention`); it owns the layer and
/// names it `orc_block`.
#[derive(Module, Debug)]
pub struct MaskedAttention {
    /// The self-attention layer.
    pub orc_block: SelfAttentionLayer,
}

/// Residual self-attention over `[memory, current]` positions (`x + proj(attention(x))`).
#[derive(Module, Debug)]
pub struct SelfAttentionLayer {
    /// Query projection (with bias).
    pub q_layer: Linear,
    /// Key projection (no bias).
    pub k_layer: Linear,
    /// Value projection (no bias).
    pub v_layer: Linear,
    /// Output projection (with bias).
    pub proj_layer: Linear,
    /// Projection of each position to `RELATIVE_BASIS` coefficients per head.
    pub r_layer: Linear,
    /// Relative-position basis `[RELATIVE_BASIS, memory_len]`: entry `[n, d]` is basis `n` at
    /// distance `d` (0 = the query's own position).
    pub b_nd: Param<Tensor<2>>,
    /// Number of heads.
    pub heads: usize,
    /// Number of memory slots (`attention_memory_size - timesteps`).
    pub memory_len: usize,
}

impl MaskedAttention {
    /// Builds the layer with MineStudio's initialization for a block of residual scale
    /// `init_scale`.
    pub fn new(config: &VptConfig, init_scale: f64, device: &Device) -> Self {
        let e = config.hidsize;
        let s = init_scale.sqrt();
        let m = config.memory_len();
        Self {
            orc_block: SelfAttentionLayer {
                q_layer: normed_linear(e, e, true, 0.1, device),
                k_layer: normed_linear(e, e, false, 0.2, device),
                v_layer: normed_linear(e, e, false, s, device),
                proj_layer: normed_linear(e, e, true, s, device),
                r_layer: normed_linear(
                    e,
                    RELATIVE_BASIS * config.attention_heads,
                    true,
                    0.1,
                    device,
                ),
                b_nd: Param::from_tensor(Tensor::random(
                    [RELATIVE_BASIS, m],
                    Distribution::Normal(0.0, 0.2),
                    device,
                )),
                heads: config.attention_heads,
                memory_len: m,
            },
        }
    }

    /// Attends `x` (`[B, t, hidsize]`) over the memory and itself; returns the output and the
    /// memory advanced by `t` positions.
    pub fn forward(&self, x: Tensor<3>, memory: BlockMemory) -> (Tensor<3>, BlockMemory) {
        self.orc_block.forward(x, memory)
    }
}

impl SelfAttentionLayer {
    /// See [`MaskedAttention::forward`].
    pub fn forward(&self, x: Tensor<3>, memory: BlockMemory) -> (Tensor<3>, BlockMemory) {
        let [b, t, e] = x.dims();
        let (h, m) = (self.heads, self.memory_len);
        let d = e / h;
        let total = m + t;
        let device = x.device();

        let q = linear_layer(&self.q_layer, x.clone());
        // The memory keeps its dtype (the device's float type) across batches; under autocast
        // the new bf16 keys and values join it exactly (bf16 values are f32 values).
        let memory_dtype = memory.keys.dtype();
        let keys = linear_layer(&self.k_layer, x.clone()).cast(memory_dtype);
        let keys = Tensor::cat(vec![memory.keys, keys], 1);
        let values = linear_layer(&self.v_layer, x.clone()).cast(memory_dtype);
        let values = Tensor::cat(vec![memory.values, values], 1);
        let key_valid = Tensor::cat(
            vec![memory.mask, Tensor::<3>::ones([b, 1, t], &device).bool()],
            2,
        );
        let next = BlockMemory {
            mask: key_valid.clone().slice([0..b, 0..1, t..total]),
            keys: keys.clone().slice([0..b, t..total, 0..e]),
            values: values.clone().slice([0..b, t..total, 0..e]),
        };

        let split = |x: Tensor<3>, len: usize| x.reshape([b, len, h, d]).swap_dims(1, 2);
        let logits =
            matmul(split(q, t), split(keys, total).swap_dims(2, 3)).mul_scalar(1.0 / d as f64);
        let logits = logits + self.relative_bias(x.clone(), total);

        let valid = band_mask(t, m, &device)
            .reshape([1, t, total])
            .expand([b, t, total])
            .bool_and(key_valid.expand([b, t, total]))
            .reshape([b, 1, t, total])
            .expand([b, h, t, total]);
        let weights = softmax(logits.mask_fill(valid.bool_not(), MASKED_LOGIT), 3);
        let attended = matmul(weights, split(values, total))
            .swap_dims(1, 2)
            .reshape([b, t, e]);
        (add(x, linear_layer(&self.proj_layer, attended)), next)
    }

    /// The learned relative-position bias `[B, heads, t, total]`: for query `i` and key `j`
    /// at distance `dist = memory_len + i - j` inside the window,
    /// `sum_n r_layer(x)[b, i, head, n] * b_nd[n, dist]`; zero outside the window.
    fn relative_bias(&self, x: Tensor<3>, total: usize) -> Tensor<4> {
        let [b, t, _] = x.dims();
        let (h, m) = (self.heads, self.memory_len);
        let device = x.device();
        // [t, B*heads, basis]
        let r = linear_layer(&self.r_layer, x)
            .reshape([b, t, h, RELATIVE_BASIS])
            .permute([1, 0, 2, 3])
            .reshape([t, b * h, RELATIVE_BASIS]);
        // Basis values per (query, key), with a zero column for positions outside the window.
        let basis = Tensor::cat(
            vec![self.b_nd.val(), Tensor::zeros([RELATIVE_BASIS, 1], &device)],
            1,
        );
        let index: Vec<i64> = (0..t)
            .flat_map(|i| {
                (0..total).map(move |j| {
                    if j > i && j <= i + m {
                        (m + i - j) as i64
                    } else {
                        m as i64
                    }
                })
            })
            .collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [t * total]), &device);
        // [t, basis, total]
        let band = basis
            .select(1, index)
            .reshape([RELATIVE_BASIS, t, total])
            .swap_dims(0, 1);
        matmul(r, band)
            .reshape([t, b, h, total])
            .permute([1, 2, 0, 3])
    }
}

/// `[t, t + memory_len]` clipped causal window: query `i` (at absolute position
/// `memory_len + i`) sees keys `i + 1 ..= i + memory_len`, i.e. itself and the
/// `memory_len - 1` positions before it.
fn band_mask(t: usize, m: usize, device: &Device) -> Tensor<2, Bool> {
    let total = t + m;
    let data: Vec<bool> = (0..t)
        .flat_map(|i| (0..total).map(move |j| j > i && j <= i + m))
        .collect();
    Tensor::from_data(TensorData::new(data, [t, total]), device)
}
