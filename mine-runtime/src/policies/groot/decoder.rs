//! MineStudio's GROOT `Decoder`: VPT's residual masked-attention blocks (with key/value memory
//! carried across calls), ReLU, a LayerNorm-linear-ReLU layer and a final LayerNorm.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::policies::vpt::VptMemory;
use crate::policies::vpt::layers::NormLinear;
use crate::policies::vpt::recurrent::ResidualRecurrentBlocks;

use super::config::GrootConfig;
use super::memory::GrootLayerMemory;
use crate::kernels::ops::layer_norm_layer;

/// The recurrent decoder over the fused per-frame vectors.
#[derive(Module, Debug)]
pub struct GrootDecoder {
    /// The attention blocks (MineStudio `recurrent`).
    pub recurrent: ResidualRecurrentBlocks,
    /// LayerNorm, linear, ReLU (MineStudio `lastlayer`).
    pub lastlayer: NormLinear,
    /// Final LayerNorm.
    pub final_ln: LayerNorm,
}

impl GrootDecoder {
    /// Builds the decoder for a validated `config`.
    pub fn new(config: &GrootConfig, device: &Device) -> Self {
        let e = config.hiddim();
        Self {
            recurrent: ResidualRecurrentBlocks::new(&config.decoder_vpt_config(), device),
            lastlayer: NormLinear::new(e, e, true, true, 1.0, device),
            final_ln: LayerNormConfig::new(e).init(device),
        }
    }

    /// Number of blocks (and of [`GrootLayerMemory`] entries its memory needs).
    pub fn layers(&self) -> usize {
        self.recurrent.blocks.len()
    }

    /// Decodes `[B, T, hiddim]` with each block's memory; returns the output and the memory
    /// advanced by `T` positions. No frame inside the window starts an episode (MineStudio
    /// passes an all-false `first`): reset memory rows before the call instead.
    ///
    /// The caller checks that `memory` has one entry per block for this batch size.
    pub fn forward(
        &self,
        x: Tensor<3>,
        memory: Vec<GrootLayerMemory>,
    ) -> (Tensor<3>, Vec<GrootLayerMemory>) {
        let memory = VptMemory {
            blocks: memory.into_iter().map(Into::into).collect(),
        };
        let (x, memory) = self.recurrent.forward(x, memory);
        let x = layer_norm_layer(&self.final_ln, self.lastlayer.forward(relu(x)));
        (x, memory.blocks.into_iter().map(Into::into).collect())
    }
}
