//! MineStudio's `FanInInitReLULayer`: an optional normalization, a convolution or linear
//! layer, and an optional ReLU, with the layer's weight rows rescaled to a fixed norm at init.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::{self, relu};
use burn::tensor::{Device, Tensor};

use crate::kernels::ops::{
    conv2d_layer, group_norm_layer, group_norm_of_relu_layer, group_norm_of_residual_input,
    layer_norm_layer, linear_layer,
};

/// Optional GroupNorm, 3x3 convolution (stride 1, padding 1), ReLU.
///
/// Parameter names follow MineStudio: `norm.{weight,bias}` and `layer.{weight,bias}`; the
/// convolution has a bias only when there is no normalization.
#[derive(Module, Debug)]
pub struct NormConv {
    /// GroupNorm over the input channels, when the layer is normalized.
    pub norm: Option<GroupNorm>,
    /// The 3x3 convolution.
    pub layer: Conv2d,
}

impl NormConv {
    /// A layer from `in_channels` to `out_channels`; `groups` selects GroupNorm, and the weight
    /// of each output channel is rescaled to L2 norm `init_scale`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        groups: Option<usize>,
        init_scale: f64,
        device: &Device,
    ) -> Self {
        let norm = groups.map(|g| GroupNormConfig::new(g, in_channels).init(device));
        let mut layer = Conv2dConfig::new([in_channels, out_channels], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(norm.is_none())
            .init(device);
        layer.weight = rebuilt(layer.weight.val(), |w| {
            let row_norm = w.clone().square().sum_dims(&[1, 2, 3]).sqrt();
            w.div(row_norm).mul_scalar(init_scale)
        });
        layer.bias = layer
            .bias
            .map(|_| Param::from_tensor(Tensor::zeros([out_channels], device)));
        Self { norm, layer }
    }

    /// `relu(conv(norm(x)))` on `[N, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, false, true)
    }

    /// `conv(norm(x))`, the ReLU left to the caller (who may apply it after a max-pool, or
    /// pass the result to [`forward_after_relu`](Self::forward_after_relu)).
    pub fn forward_before_relu(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, false, false)
    }

    /// [`forward_before_relu`](Self::forward_before_relu) of an `x` that a residual sum
    /// after this layer also reads, as `x` itself (see `ops::group_norm_of_residual_input`).
    pub fn forward_before_relu_of_residual(&self, x: Tensor<4>) -> Tensor<4> {
        let x = match &self.norm {
            Some(norm) => group_norm_of_residual_input(norm, x),
            None => x,
        };
        conv2d_layer(&self.layer, x, false)
    }

    /// `relu(conv(norm(relu(x))))`: [`forward`](Self::forward) of the rectified `x`, the
    /// input's ReLU fused into the GroupNorm when there is one.
    pub fn forward_after_relu(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, true, true)
    }

    fn forward_with(&self, x: Tensor<4>, relu_input: bool, relu: bool) -> Tensor<4> {
        let x = match &self.norm {
            Some(norm) if relu_input => group_norm_of_relu_layer(norm, x),
            Some(norm) => group_norm_layer(norm, x, false),
            None if relu_input => activation::relu(x),
            None => x,
        };
        conv2d_layer(&self.layer, x, relu)
    }
}

/// Optional LayerNorm, linear layer, optional ReLU.
///
/// Parameter names follow MineStudio: `norm.{weight,bias}` and `layer.{weight,bias}`; the
/// linear layer has a bias only when there is no normalization.
#[derive(Module, Debug)]
pub struct NormLinear {
    /// LayerNorm over the input features, when the layer is normalized.
    pub norm: Option<LayerNorm>,
    /// The linear layer.
    pub layer: Linear,
    /// Whether a ReLU follows the layer.
    pub activation: bool,
}

impl NormLinear {
    /// A layer from `d_input` to `d_output` features; the weight row of each output is rescaled
    /// to L2 norm `init_scale`.
    pub fn new(
        d_input: usize,
        d_output: usize,
        layer_norm: bool,
        activation: bool,
        init_scale: f64,
        device: &Device,
    ) -> Self {
        let norm = layer_norm.then(|| LayerNormConfig::new(d_input).init(device));
        let mut layer = LinearConfig::new(d_input, d_output)
            .with_bias(norm.is_none())
            .init(device);
        layer.weight = rebuilt(layer.weight.val(), |w| fan_in_rows(w, init_scale));
        layer.bias = layer
            .bias
            .map(|_| Param::from_tensor(Tensor::zeros([d_output], device)));
        Self {
            norm,
            layer,
            activation,
        }
    }

    /// `[relu](linear(norm(x)))` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = match &self.norm {
            Some(norm) => layer_norm_layer(norm, x),
            None => x,
        };
        let x = linear_layer(&self.layer, x);
        if self.activation { relu(x) } else { x }
    }
}

/// A linear layer whose weight rows (one per output) have L2 norm `scale` and whose bias is
/// zero (MineStudio's `NormedLinear`).
pub fn normed_linear(
    d_input: usize,
    d_output: usize,
    bias: bool,
    scale: f64,
    device: &Device,
) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output)
        .with_bias(bias)
        .init(device);
    layer.weight = rebuilt(layer.weight.val(), |w| fan_in_rows(w, scale));
    layer.bias = layer
        .bias
        .map(|_| Param::from_tensor(Tensor::zeros([d_output], device)));
    layer
}

/// A fresh trainable parameter holding `f(tensor)`, computed outside the autodiff graph so
/// that the result is a leaf on the tensor's (possibly autodiff) device.
fn rebuilt<const D: usize>(
    tensor: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Param<Tensor<D>> {
    let autodiff = tensor.is_autodiff();
    let value = f(tensor.inner());
    Param::from_tensor(if autodiff { value.autodiff() } else { value })
}

/// Rescales a burn `[d_input, d_output]` weight so each output's column has L2 norm `scale`.
fn fan_in_rows(weight: Tensor<2>, scale: f64) -> Tensor<2> {
    let norm = weight.clone().square().sum_dim(0).sqrt();
    weight.div(norm).mul_scalar(scale)
}
