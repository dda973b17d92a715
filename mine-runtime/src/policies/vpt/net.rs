//! The VPT trunk (MineStudio `MinecraftPolicy`): image preprocessing and encoder, optional
//! pre-recurrence LayerNorm, recurrent blocks, ReLU, a dense layer and a final LayerNorm.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::VptConfig;
use super::impala::ImgObsProcess;
use super::layers::NormLinear;
use super::memory::VptMemory;
use super::recurrent::ResidualRecurrentBlocks;
use crate::kernels::ops::{self, layer_norm_layer};

/// The trunk that turns frames and memory into the latent both heads read.
#[derive(Module, Debug)]
pub struct MinecraftPolicy {
    /// Image encoder (ImpalaCNN and projection to `hidsize`).
    pub img_process: ImgObsProcess,
    /// LayerNorm before the recurrent blocks (`use_pre_lstm_ln`).
    pub pre_lstm_ln: Option<LayerNorm>,
    /// The attention blocks.
    pub recurrent_layer: ResidualRecurrentBlocks,
    /// Dense layer after the recurrence (LayerNorm, linear, ReLU).
    pub lastlayer: NormLinear,
    /// Final LayerNorm.
    pub final_ln: LayerNorm,
    /// Whether images are divided by 255 first.
    pub scale_input_img: bool,
}

impl MinecraftPolicy {
    /// Builds the trunk for a validated `config`.
    pub fn new(config: &VptConfig, device: &Device) -> Self {
        let e = config.hidsize;
        let layer_norm = config.init_norm_kwargs.group_norm_groups.is_some();
        Self {
            img_process: ImgObsProcess::new(config, device),
            pre_lstm_ln: config
                .use_pre_lstm_ln
                .then(|| LayerNormConfig::new(e).init(device)),
            recurrent_layer: ResidualRecurrentBlocks::new(config, device),
            lastlayer: NormLinear::new(e, e, layer_norm, true, 1.0, device),
            final_ln: LayerNormConfig::new(e).init(device),
            scale_input_img: config.scale_input_img,
        }
    }

    /// Maps `[B, T, H, W, C]` frames (0..=255) and the memory to the `[B, T, hidsize]` latent
    /// and the advanced memory.
    pub fn forward(&self, image: Tensor<5>, memory: VptMemory) -> (Tensor<3>, VptMemory) {
        let image = if self.scale_input_img {
            ops::div_scalar(image, 255.0)
        } else {
            image
        };
        let mut x = self.img_process.forward(image);
        if let Some(ln) = &self.pre_lstm_ln {
            x = layer_norm_layer(ln, x);
        }
        let (x, memory) = self.recurrent_layer.forward(x, memory);
        let x = self.lastlayer.forward(relu(x));
        (layer_norm_layer(&self.final_ln, x), memory)
    }
}
