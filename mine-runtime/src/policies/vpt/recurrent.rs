//! MineStudio's residual recurrent blocks for the transformer recurrence: LayerNorm, an
//! optional injected condition (FiLM, `inject_condition=True`), masked self-attention (itself
//! residual over the normalized input), and a residual pointwise MLP.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use super::attention::MaskedAttention;
use super::config::VptConfig;
use super::film::FilmBlock;
use super::layers::NormLinear;
use super::memory::{BlockMemory, VptMemory};
use crate::kernels::ops::{add, layer_norm_layer};

/// One block: `y = a + mlp1(mlp0(a))` with `a = n + attention(n)` and `n = pre_r_ln(x)`
/// (`n = injection(pre_r_ln(x), condition)` in a conditioned block).
///
/// As in MineStudio's transformer recurrence, the block input `x` itself is not added back:
/// the attention layer's residual runs over the normalized input.
#[derive(Module, Debug)]
pub struct ResidualRecurrentBlock {
    /// First pointwise layer: LayerNorm, linear to `hidsize * pointwise_ratio`, ReLU.
    pub mlp0: Option<NormLinear>,
    /// Second pointwise layer: linear back to `hidsize` (ReLU if `pointwise_use_activation`).
    pub mlp1: Option<NormLinear>,
    /// LayerNorm before the attention.
    pub pre_r_ln: LayerNorm,
    /// The masked self-attention.
    pub r: MaskedAttention,
    /// The condition's modulation of the normalized input (MineStudio `inject_condition`).
    pub injection: Option<FilmBlock>,
    /// Whether the pointwise MLP is residual.
    pub is_residual: bool,
}

impl ResidualRecurrentBlock {
    fn new(config: &VptConfig, init_scale: f64, device: &Device) -> Self {
        let e = config.hidsize;
        let mut s = init_scale;
        if config.use_pointwise_layer && config.recurrence_is_residual {
            s *= 0.5f64.sqrt();
        }
        let (mlp0, mlp1) = if config.use_pointwise_layer {
            let inner = e * config.pointwise_ratio;
            (
                Some(NormLinear::new(e, inner, true, true, 1.0, device)),
                Some(NormLinear::new(
                    inner,
                    e,
                    false,
                    config.pointwise_use_activation,
                    s,
                    device,
                )),
            )
        } else {
            (None, None)
        };
        Self {
            mlp0,
            mlp1,
            pre_r_ln: LayerNormConfig::new(e).init(device),
            r: MaskedAttention::new(config, s, device),
            injection: None,
            is_residual: config.recurrence_is_residual,
        }
    }

    /// Applies the block to `[B, t, hidsize]`, advancing its memory.
    pub fn forward(&self, x: Tensor<3>, memory: BlockMemory) -> (Tensor<3>, BlockMemory) {
        self.forward_conditioned(x, None, memory)
    }

    /// [`forward`](Self::forward) with the `[B, t, hidsize]` condition a block with an
    /// `injection` modulates its normalized input by (ignored by a block without one).
    ///
    /// # Panics
    ///
    /// If the block has an injection and no condition is given.
    pub fn forward_conditioned(
        &self,
        x: Tensor<3>,
        condition: Option<&Tensor<3>>,
        memory: BlockMemory,
    ) -> (Tensor<3>, BlockMemory) {
        let x = layer_norm_layer(&self.pre_r_ln, x);
        let x = match &self.injection {
            Some(injection) => {
                let condition = condition.expect("a conditioned block needs its condition");
                injection.forward(x, condition.clone())
            }
            None => x,
        };
        let (x, memory) = self.r.forward(x, memory);
        let x = match (&self.mlp0, &self.mlp1) {
            (Some(mlp0), Some(mlp1)) => {
                let y = mlp1.forward(mlp0.forward(x.clone()));
                if self.is_residual { add(x, y) } else { y }
            }
            _ => x,
        };
        (x, memory)
    }
}

/// The stack of residual recurrent blocks (MineStudio `ResidualRecurrentBlocks`).
#[derive(Module, Debug)]
pub struct ResidualRecurrentBlocks {
    /// The blocks, in order.
    pub blocks: Vec<ResidualRecurrentBlock>,
}

impl ResidualRecurrentBlocks {
    /// Builds `n_recurrence_layers` blocks with MineStudio's initialization.
    pub fn new(config: &VptConfig, device: &Device) -> Self {
        let n = config.n_recurrence_layers;
        let init_scale = if config.recurrence_is_residual {
            (n as f64).powf(-0.5)
        } else {
            1.0
        };
        Self {
            blocks: (0..n)
                .map(|_| ResidualRecurrentBlock::new(config, init_scale, device))
                .collect(),
        }
    }

    /// Gives every block an injection of the condition (MineStudio's
    /// `inject_condition=True`): [`forward_conditioned`](Self::forward_conditioned) then
    /// needs the condition.
    pub fn with_injection(mut self, device: &Device) -> Self {
        for block in &mut self.blocks {
            let hidsize = block.pre_r_ln.gamma.val().dims()[0];
            block.injection = Some(FilmBlock::new(hidsize, device));
        }
        self
    }

    /// Applies every block in turn, each with its own memory.
    ///
    /// # Panics
    ///
    /// If `memory` has a different number of blocks than the network (build it with
    /// [`VptMemory::initial`] from the same config).
    pub fn forward(&self, x: Tensor<3>, memory: VptMemory) -> (Tensor<3>, VptMemory) {
        self.forward_conditioned(x, None, memory)
    }

    /// [`forward`](Self::forward) with a `[B, t, hidsize]` condition for blocks with an
    /// injection ([`with_injection`](Self::with_injection)).
    ///
    /// # Panics
    ///
    /// As [`forward`](Self::forward), and if the blocks have injections but no condition is
    /// given.
    pub fn forward_conditioned(
        &self,
        x: Tensor<3>,
        condition: Option<&Tensor<3>>,
        memory: VptMemory,
    ) -> (Tensor<3>, VptMemory) {
        assert_eq!(
            memory.blocks.len(),
            self.blocks.len(),
            "VPT memory has {} blocks but the network has {}",
            memory.blocks.len(),
            self.blocks.len()
        );
        let mut out = Vec::with_capacity(self.blocks.len());
        let mut x = x;
        for (block, state) in self.blocks.iter().zip(memory.blocks) {
            let (y, state) = block.forward_conditioned(x, condition, state);
            x = y;
            out.push(state);
        }
        (x, VptMemory { blocks: out })
    }
}
