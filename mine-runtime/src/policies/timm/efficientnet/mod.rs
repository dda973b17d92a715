//! timm's EfficientNet as MineStudio's ROCKET-1 and GROOT use it (`features_only=True`, the
//! last feature map): stem convolution, BatchNorm + SiLU, then the blocks of the seven stages,
//! under timm's module names (`conv_stem`, `bn1`, `blocks.S.B.*`) so that MineStudio's state
//! dicts load unchanged. [`config`] resolves the named model (`efficientnet_b0.ra_in1k`) to
//! its pretrained normalization and multipliers.
//!
//! Padding is timm's symmetric `k // 2` for this model (the `tf_` variants pad like
//! TensorFlow's `SAME`; they are not built here), drop-path is off, BatchNorm keeps
//! PyTorch's running statistics ([`BatchNorm2d`]).

mod arch;
mod blocks;
pub mod config;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

pub use arch::{BlockSpec, EfficientNetSpec};
pub use blocks::{DepthwiseSeparable, EfficientNetBlock, InvertedResidual, SqueezeExcite};
pub use config::{
    EFFICIENTNET_B0_MODEL, EfficientNetArchitecture, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD,
};

use crate::kernels::ops::conv2d_layer;
use crate::policies::torch_nn::BatchNorm2d;

/// The EfficientNet feature extractor (timm `EfficientNetFeatures`, last stage only).
#[derive(Module, Debug)]
pub struct EfficientNet {
    /// 3x3 stride-2 stem convolution.
    pub conv_stem: Conv2d,
    /// BatchNorm (followed by SiLU) after the stem.
    pub bn1: BatchNorm2d,
    /// The blocks, stage by stage.
    pub blocks: Vec<Vec<EfficientNetBlock>>,
}

impl EfficientNet {
    /// The network `spec` describes, with burn's default initialization.
    pub fn new(spec: &EfficientNetSpec, device: &Device) -> Self {
        Self {
            conv_stem: blocks::conv([spec.in_channels, spec.stem_channels], 3, 2, 1, device),
            bn1: BatchNorm2d::new(spec.stem_channels, device),
            blocks: spec
                .stages
                .iter()
                .map(|stage| {
                    stage
                        .iter()
                        .map(|b| EfficientNetBlock::new(b, device))
                        .collect()
                })
                .collect(),
        }
    }

    /// `[N, C, H, W]` to the last feature map, `[N, C', H / 32, W / 32]` (rounded up).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = blocks::bn_silu(&self.bn1, conv2d_layer(&self.conv_stem, x, false));
        self.blocks
            .iter()
            .flatten()
            .fold(x, |x, block| block.forward(x))
    }
}
