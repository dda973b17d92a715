//! timm's EfficientNet blocks under their module names: squeeze-excitation, the
//! depthwise-separable block of stage 0 and the inverted-residual (MBConv) blocks.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::arch::{BlockSpec, padding};
use crate::kernels::autocast::promote;
use crate::kernels::ops::{add, conv2d_layer, scale_planes, silu};
use crate::policies::torch_nn::BatchNorm2d;

/// A convolution as timm's `create_conv2d` makes it: no bias, symmetric padding, `groups`
/// groups (the channel count for a depthwise convolution).
pub(super) fn conv(
    [channels_in, channels_out]: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let p = padding(kernel, stride);
    Conv2dConfig::new([channels_in, channels_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

/// `BatchNormAct2d`: BatchNorm then SiLU.
pub(super) fn bn_silu(bn: &BatchNorm2d, x: Tensor<4>) -> Tensor<4> {
    silu(bn.forward(x))
}

/// timm's `SqueezeExcite`: `x * sigmoid(conv_expand(silu(conv_reduce(mean_hw(x)))))`.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    /// 1x1 convolution to the reduced channels (with bias).
    pub conv_reduce: Conv2d,
    /// 1x1 convolution back to the input channels (with bias).
    pub conv_expand: Conv2d,
}

impl SqueezeExcite {
    fn new(channels: usize, reduced: usize, device: &Device) -> Self {
        Self {
            conv_reduce: Conv2dConfig::new([channels, reduced], [1, 1]).init(device),
            conv_expand: Conv2dConfig::new([reduced, channels], [1, 1]).init(device),
        }
    }

    /// Gates each channel of `[N, C, H, W]` by its global average.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = x.clone().mean_dim(2).mean_dim(3);
        let gate = conv2d_layer(
            &self.conv_expand,
            silu(conv2d_layer(&self.conv_reduce, pooled, false)),
            false,
        );
        // As PyTorch promotes under autocast: an f32 input times a bf16 gate is f32.
        let (x, gate) = promote(x, sigmoid(gate));
        scale_planes(x, gate)
    }
}

/// timm's `DepthwiseSeparableConv`: depthwise conv, BatchNorm + SiLU, squeeze-excitation,
/// pointwise conv, BatchNorm (no activation), plus the input when shapes allow.
#[derive(Module, Debug)]
pub struct DepthwiseSeparable {
    /// Depthwise convolution.
    pub conv_dw: Conv2d,
    /// BatchNorm (followed by SiLU) after it.
    pub bn1: BatchNorm2d,
    /// Squeeze-excitation.
    pub se: SqueezeExcite,
    /// Pointwise projection.
    pub conv_pw: Conv2d,
    /// BatchNorm after it.
    pub bn2: BatchNorm2d,
    /// Whether the input is added to the output.
    pub has_skip: bool,
}

impl DepthwiseSeparable {
    fn new(spec: &BlockSpec, device: &Device) -> Self {
        let c = spec.in_channels;
        Self {
            conv_dw: conv([c, c], spec.kernel, spec.stride, c, device),
            bn1: BatchNorm2d::new(c, device),
            se: SqueezeExcite::new(c, spec.se_channels, device),
            conv_pw: conv([c, spec.out_channels], 1, 1, 1, device),
            bn2: BatchNorm2d::new(spec.out_channels, device),
            has_skip: spec.has_skip(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = bn_silu(&self.bn1, conv2d_layer(&self.conv_dw, x.clone(), false));
        let y = self
            .bn2
            .forward(conv2d_layer(&self.conv_pw, self.se.forward(y), false));
        if self.has_skip { add(y, x) } else { y }
    }
}

/// timm's `InvertedResidual`: pointwise expansion, BatchNorm + SiLU, depthwise conv,
/// BatchNorm + SiLU, squeeze-excitation, pointwise projection, BatchNorm (no activation),
/// plus the input when shapes allow.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// Pointwise expansion.
    pub conv_pw: Conv2d,
    /// BatchNorm (followed by SiLU) after it.
    pub bn1: BatchNorm2d,
    /// Depthwise convolution.
    pub conv_dw: Conv2d,
    /// BatchNorm (followed by SiLU) after it.
    pub bn2: BatchNorm2d,
    /// Squeeze-excitation.
    pub se: SqueezeExcite,
    /// Pointwise projection.
    pub conv_pwl: Conv2d,
    /// BatchNorm after it.
    pub bn3: BatchNorm2d,
    /// Whether the input is added to the output.
    pub has_skip: bool,
}

impl InvertedResidual {
    fn new(spec: &BlockSpec, device: &Device) -> Self {
        let mid = spec.mid_channels;
        Self {
            conv_pw: conv([spec.in_channels, mid], 1, 1, 1, device),
            bn1: BatchNorm2d::new(mid, device),
            conv_dw: conv([mid, mid], spec.kernel, spec.stride, mid, device),
            bn2: BatchNorm2d::new(mid, device),
            se: SqueezeExcite::new(mid, spec.se_channels, device),
            conv_pwl: conv([mid, spec.out_channels], 1, 1, 1, device),
            bn3: BatchNorm2d::new(spec.out_channels, device),
            has_skip: spec.has_skip(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = bn_silu(&self.bn1, conv2d_layer(&self.conv_pw, x.clone(), false));
        let y = bn_silu(&self.bn2, conv2d_layer(&self.conv_dw, y, false));
        let y = self
            .bn3
            .forward(conv2d_layer(&self.conv_pwl, self.se.forward(y), false));
        if self.has_skip { add(y, x) } else { y }
    }
}

/// One block of an EfficientNet stage; the variant is not part of the PyTorch name
/// (`blocks.S.B.conv_dw.weight`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EfficientNetBlock {
    /// Stage 0's block.
    DepthwiseSeparable(DepthwiseSeparable),
    /// The blocks of stages 1 to 6.
    InvertedResidual(InvertedResidual),
}

impl EfficientNetBlock {
    /// The block `spec` describes, with timm's module names.
    pub fn new(spec: &BlockSpec, device: &Device) -> Self {
        if spec.depthwise_separable {
            Self::DepthwiseSeparable(DepthwiseSeparable::new(spec, device))
        } else {
            Self::InvertedResidual(InvertedResidual::new(spec, device))
        }
    }

    /// Applies the block to `[N, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::DepthwiseSeparable(block) => block.forward(x),
            Self::InvertedResidual(block) => block.forward(x),
        }
    }
}
