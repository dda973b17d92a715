//! MineStudio's `FiLMBlock` (`vpt_lib/util.py`): the condition injected into a recurrent
//! block when it is built with `inject_condition=True` (ROCKET-1's interaction type).

use burn::module::Module;
use burn::nn::{Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::kernels::autocast::to_full;
use crate::kernels::ops::{add, layer_norm_layer, linear_layer};

/// One layer of MineStudio's `FeedForward` `nn.Sequential`; the variant is not part of the
/// PyTorch name (`ff.0` is the LayerNorm, `ff.1` and `ff.3` the linear layers, `ff.2` the
/// GELU).
#[derive(Module, Debug)]
pub enum FeedForwardLayer {
    /// `nn.LayerNorm`.
    LayerNorm(LayerNorm),
    /// `nn.Linear` without bias.
    Linear(Linear),
    /// `nn.GELU()` (exact, erf-based).
    Gelu(Gelu),
}

impl FeedForwardLayer {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            FeedForwardLayer::LayerNorm(norm) => layer_norm_layer(norm, x),
            FeedForwardLayer::Linear(layer) => linear_layer(layer, x),
            FeedForwardLayer::Gelu(gelu) => gelu.forward(x),
        }
    }
}

/// Feature-wise linear modulation of the block input by a condition `z`:
/// `z' = ff(z) + z`, `(gamma, beta) = fc(z')`, `y = norm(x * (1 + gamma) + beta)`, with
/// `ff = LayerNorm, Linear(h, 2h), GELU, Linear(2h, h)` (MineStudio `FeedForward(h, mult=2)`).
#[derive(Module, Debug)]
pub struct FilmBlock {
    /// `z'` to `gamma` and `beta` (`[h] -> [2 h]`, with bias).
    pub fc: Linear,
    /// The residual feed-forward over the condition.
    pub ff: Vec<FeedForwardLayer>,
    /// LayerNorm after the modulation.
    pub norm: LayerNorm,
}

impl FilmBlock {
    /// A block for width `hidsize` with burn's default initialization.
    pub fn new(hidsize: usize, device: &Device) -> Self {
        let inner = 2 * hidsize;
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        Self {
            fc: LinearConfig::new(hidsize, 2 * hidsize).init(device),
            ff: vec![
                FeedForwardLayer::LayerNorm(LayerNormConfig::new(hidsize).init(device)),
                FeedForwardLayer::Linear(linear(hidsize, inner)),
                FeedForwardLayer::Gelu(Gelu::new()),
                FeedForwardLayer::Linear(linear(inner, hidsize)),
            ],
            norm: LayerNormConfig::new(hidsize).init(device),
        }
    }

    /// Modulates `x` (`[B, T, h]`) by the condition `z` (`[B, T, h]`).
    pub fn forward(&self, x: Tensor<3>, z: Tensor<3>) -> Tensor<3> {
        let h = x.dims()[2];
        let z = add(
            self.ff.iter().fold(z.clone(), |y, layer| layer.forward(y)),
            z,
        );
        // The modulation runs in f32 under bf16 autocast, as the LayerNorm after it does.
        let film = to_full(linear_layer(&self.fc, z));
        let [b, t, _] = film.dims();
        let gamma = film.clone().slice([0..b, 0..t, 0..h]);
        let beta = film.slice([0..b, 0..t, h..2 * h]);
        layer_norm_layer(&self.norm, to_full(x) * gamma.add_scalar(1.0) + beta)
    }
}
