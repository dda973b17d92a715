//! The image encoder: MineStudio's ImpalaCNN (down-stacks of convolution, max-pool and
//! residual blocks), its final dense layer, and the linear projection to the hidden size.

use burn::module::Module;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

use super::config::{CNN_OUTSIZE, IMPALA_BLOCKS_PER_STACK, VptConfig};
use super::layers::{NormConv, NormLinear};
use crate::kernels::ops::{add, group_norm_layer, max_pool2d_relu};

/// Two normalized 3x3 convolutions with a residual connection: `x + conv1(conv0(x))`.
#[derive(Module, Debug)]
pub struct CnnBasicBlock {
    /// First convolution (GroupNorm, conv, ReLU).
    pub conv0: NormConv,
    /// Second convolution (GroupNorm, conv, ReLU).
    pub conv1: NormConv,
}

impl CnnBasicBlock {
    fn new(channels: usize, groups: Option<usize>, init_scale: f64, device: &Device) -> Self {
        let scale = init_scale.sqrt();
        Self {
            conv0: NormConv::new(channels, channels, groups, scale, device),
            conv1: NormConv::new(channels, channels, groups, scale, device),
        }
    }

    /// Applies the block to `[N, C, H, W]`. The first convolution's ReLU runs inside the
    /// second's GroupNorm (no ReLU mask pass in the first's backward); the first GroupNorm's
    /// backward adds the residual sum's gradient of `x` into its own.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let hidden = self.conv0.forward_before_relu_of_residual(x.clone());
        add(x, self.conv1.forward_after_relu(hidden))
    }
}

/// One ImpalaCNN down-stack: a convolution to the stack's width, a 3x3 stride-2 max-pool
/// (padding 1), an optional GroupNorm (`n`), then residual blocks.
#[derive(Module, Debug)]
pub struct CnnDownStack {
    /// The widening convolution.
    pub firstconv: NormConv,
    /// GroupNorm after the max-pool (MineStudio `post_pool_groups`).
    pub n: Option<GroupNorm>,
    /// The residual blocks.
    pub blocks: Vec<CnnBasicBlock>,
}

impl CnnDownStack {
    /// Applies the stack to `[N, C, H, W]`, halving `H` and `W` (rounding up).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pool = MaxPoolOptions::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1]);
        // max_pool(relu(conv)) computed as relu(max_pool(conv)): the same values and
        // gradients, a quarter of the values to rectify and no ReLU mask in the backward.
        let mut x = max_pool2d_relu(self.firstconv.forward_before_relu(x), pool);
        if let Some(n) = &self.n {
            x = group_norm_layer(n, x, false);
        }
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }
}

/// The ImpalaCNN: down-stacks, then flattening in `C, H, W` order and a dense layer
/// (LayerNorm, linear, ReLU) to 256 features.
#[derive(Module, Debug)]
pub struct ImpalaCnn {
    /// The down-stacks, one per entry of `impala_chans`.
    pub stacks: Vec<CnnDownStack>,
    /// The final dense layer to 256 features.
    pub dense: NormLinear,
}

impl ImpalaCnn {
    /// Builds the encoder for `config` with MineStudio's initialization scales.
    pub fn new(config: &VptConfig, device: &Device) -> Self {
        let groups = config.init_norm_kwargs.group_norm_groups;
        let widths = config.conv_widths();
        let stack_scale = (widths.len() as f64).sqrt();
        let block_scale = stack_scale / (IMPALA_BLOCKS_PER_STACK as f64).sqrt();
        let mut in_channels = config.img_shape[2];
        let stacks = widths
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let first_norm = if i == 0 && !config.first_conv_norm {
                    None
                } else {
                    groups
                };
                let stack = CnnDownStack {
                    firstconv: NormConv::new(in_channels, out, first_norm, 1.0, device),
                    n: config
                        .impala_kwargs
                        .post_pool_groups
                        .map(|g| GroupNormConfig::new(g, out).init(device)),
                    blocks: (0..IMPALA_BLOCKS_PER_STACK)
                        .map(|_| CnnBasicBlock::new(out, groups, block_scale, device))
                        .collect(),
                };
                in_channels = out;
                stack
            })
            .collect();
        let dense = NormLinear::new(
            config.cnn_flat_size(),
            CNN_OUTSIZE,
            groups.is_some(),
            true,
            1.4,
            device,
        );
        Self { stacks, dense }
    }

    /// Encodes `[B, T, H, W, C]` images (already scaled) into `[B, T, 256]` features.
    pub fn forward(&self, images: Tensor<5>) -> Tensor<3> {
        let [b, t, h, w, c] = images.dims();
        let x = images.reshape([b * t, h, w, c]).permute([0, 3, 1, 2]);
        let x = self.stacks.iter().fold(x, |x, stack| stack.forward(x));
        let [_, c, h, w] = x.dims();
        self.dense.forward(x.reshape([b, t, c * h * w]))
    }
}

/// The ImpalaCNN followed by a dense layer (LayerNorm, linear, ReLU) to the hidden size
/// (MineStudio `ImgObsProcess`).
#[derive(Module, Debug)]
pub struct ImgObsProcess {
    /// The ImpalaCNN.
    pub cnn: ImpalaCnn,
    /// Projection from 256 features to the hidden size.
    pub linear: NormLinear,
}

impl ImgObsProcess {
    /// Builds the image encoder for `config`.
    pub fn new(config: &VptConfig, device: &Device) -> Self {
        let layer_norm = config.init_norm_kwargs.group_norm_groups.is_some();
        Self {
            cnn: ImpalaCnn::new(config, device),
            linear: NormLinear::new(CNN_OUTSIZE, config.hidsize, layer_norm, true, 1.0, device),
        }
    }

    /// Encodes `[B, T, H, W, C]` scaled images into `[B, T, hidsize]`.
    pub fn forward(&self, images: Tensor<5>) -> Tensor<3> {
        self.linear.forward(self.cnn.forward(images))
    }
}
