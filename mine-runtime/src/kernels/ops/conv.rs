//! 2-D convolutions (and their layers), with the fused ReLU.

use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use super::maybe_relu;
#[cfg(feature = "flex")]
use super::{as_f32, kernel_mode, on_flex_f32};
use crate::kernels::autocast::{to_compute, to_full};

/// `conv2d(x, weight, bias)` like [`burn::tensor::module::conv2d`]: our kernels for groups 1
/// and symmetric padding on flex f32 tensors, and for depthwise convolutions (as many groups as
/// channels, one filter each) outside autocast; burn's op otherwise; on the autocast dtype
/// inside an [`autocast`](crate::kernels::autocast) scope.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_maybe_relu(x, weight, bias, options, false)
}

/// `relu(conv2d(x, weight, bias))` in one pass (see [`conv2d`]).
pub fn conv2d_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_maybe_relu(x, weight, bias, options, true)
}

fn conv2d_maybe_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1 && !options.is_asymmetric() {
        let params = on_flex_f32(&weight) && bias.as_ref().is_none_or(on_flex_f32);
        if let Some(bf16) = kernel_mode(&x, params) {
            use burn::backend::Dispatch;
            let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
            return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuKernels>::cpu_conv2d(
                as_f32(x).into_dispatch(),
                weight.into_dispatch(),
                bias.into_dispatch(),
                options.stride,
                options.padding_begin(),
                options.dilation,
                relu,
                bf16,
            ));
        }
    }
    #[cfg(feature = "flex")]
    if is_depthwise(&x, &weight, &options) && !options.is_asymmetric() {
        let params = on_flex_f32(&weight) && bias.as_ref().is_none_or(on_flex_f32);
        if kernel_mode(&x, params) == Some(false) {
            use burn::backend::Dispatch;
            let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
            let geometry = [options.stride, options.padding_begin(), options.dilation];
            return Tensor::from_dispatch(
                <Dispatch as crate::kernels::CpuKernels>::cpu_depthwise_conv2d(
                    x.into_dispatch(),
                    weight.into_dispatch(),
                    bias.into_dispatch(),
                    geometry,
                    relu,
                ),
            );
        }
    }
    let (x, weight, bias) = (to_compute(x), to_compute(weight), bias.map(to_compute));
    maybe_relu(burn::tensor::module::conv2d(x, weight, bias, options), relu)
}

#[cfg(feature = "flex")]
/// Whether `options` make a depthwise convolution of `x` with `weight`: as many groups as
/// input channels, one filter (of one channel) per output channel.
fn is_depthwise(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    let (channels, [c_out, per_group, _, _]) = (x.dims()[1], weight.dims());
    options.groups == channels && c_out == channels && per_group == 1
}

/// [`burn::nn::conv::Conv2d::forward`] through [`conv2d`], followed by a ReLU when `relu`:
/// the module's weights, stride, dilation and groups, with `Valid` or `Explicit` padding
/// (`Same` padding, which burn sizes per input, runs the module's own forward, in f32 under
/// autocast).
pub fn conv2d_layer(layer: &burn::nn::conv::Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    use burn::nn::PaddingConfig2d;
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return maybe_relu(layer.forward(to_full(x)), relu),
    };
    let options =
        ConvOptions::new_with_padding(layer.stride, padding, layer.dilation, layer.groups);
    let bias = layer.bias.as_ref().map(|b| b.val());
    conv2d_maybe_relu(x, layer.weight.val(), bias, options, relu)
}
