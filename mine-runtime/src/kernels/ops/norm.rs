//! The normalization layers: GroupNorm (with its fused ReLUs and residual gradient),
//! LayerNorm, and BatchNorm with the batch's statistics.

use burn::tensor::Tensor;

use super::maybe_relu;
#[cfg(feature = "flex")]
use super::{on_flex_f32, uses_kernels};
use crate::kernels::autocast::to_full;

/// [`burn::nn::GroupNorm::forward`] on `[N, C, H, W]`, followed by a ReLU when `relu`: our
/// kernel (two passes forward, two backward) on flex f32 tensors, the module's own forward
/// otherwise; in f32 under autocast.
pub fn group_norm_layer(layer: &burn::nn::GroupNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    group_norm_layer_with(layer, x, [false, relu, false])
}

/// [`group_norm_layer`] without ReLU, of an `x` that a residual sum taken after this layer
/// also reads (the ImpalaCNN block's `x + f(x)`, `f` starting with this normalization): the
/// backward adds the sum's gradient of `x` into its own in the kernel's parallel pass
/// instead of burn's gradient accumulation on the calling thread. The values are the same.
/// The sum must be recorded after this call, with `x` itself as an operand.
pub(crate) fn group_norm_of_residual_input(layer: &burn::nn::GroupNorm, x: Tensor<4>) -> Tensor<4> {
    group_norm_layer_with(layer, x, [false, false, true])
}

/// `layer.forward(relu(x))` (see [`group_norm_layer`]): the ReLU of the layer before, in
/// the normalization's passes, so that layer's backward needs no ReLU mask of its own.
pub fn group_norm_of_relu_layer(layer: &burn::nn::GroupNorm, x: Tensor<4>) -> Tensor<4> {
    group_norm_layer_with(layer, x, [true, false, false])
}

/// The three GroupNorm forms: `[relu_input, relu, residual_input]` (see
/// `CpuKernels::cpu_group_norm`).
fn group_norm_layer_with(
    layer: &burn::nn::GroupNorm,
    x: Tensor<4>,
    [relu_input, relu, residual_input]: [bool; 3],
) -> Tensor<4> {
    let x = to_full(x);
    #[cfg(feature = "flex")]
    if uses_kernels(&x) && layer.num_groups > 0 {
        use burn::backend::Dispatch;
        let device = x.device();
        let c = layer.num_channels;
        let affine = |p: &Option<burn::module::Param<Tensor<1>>>, fill: f64| match p {
            Some(p) if layer.affine => p.val(),
            _ => Tensor::full([c], fill, &device),
        };
        let (gamma, beta) = (affine(&layer.gamma, 1.0), affine(&layer.beta, 0.0));
        if on_flex_f32(&gamma) && on_flex_f32(&beta) && x.dims()[1] == c {
            return Tensor::from_dispatch(
                <Dispatch as crate::kernels::CpuKernels>::cpu_group_norm(
                    x.into_dispatch(),
                    gamma.into_dispatch(),
                    beta.into_dispatch(),
                    layer.num_groups,
                    layer.epsilon,
                    relu_input,
                    relu,
                    residual_input,
                ),
            );
        }
    }
    maybe_relu(layer.forward(maybe_relu(x, relu_input)), relu)
}

/// [`burn::nn::LayerNorm::forward`] over the last dimension; in f32 under autocast. Our kernel
/// (rows on the thread pool, statistics summed in f64) on flex f32 tensors, burn's op otherwise.
pub fn layer_norm_layer<const D: usize>(layer: &burn::nn::LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let x = to_full(x);
    #[cfg(feature = "flex")]
    if uses_kernels(&x)
        && let Some(eps) = layer_norm_epsilon(layer)
    {
        use burn::backend::Dispatch;
        let gamma = layer.gamma.val();
        let beta = match &layer.beta {
            Some(beta) => beta.val(),
            None => gamma.zeros_like(),
        };
        if on_flex_f32(&gamma) && on_flex_f32(&beta) && x.dims()[D - 1] == gamma.dims()[0] {
            return Tensor::from_dispatch(
                <Dispatch as crate::kernels::CpuKernels>::cpu_layer_norm(
                    x.into_dispatch(),
                    gamma.into_dispatch(),
                    beta.into_dispatch(),
                    eps,
                ),
            );
        }
    }
    layer.forward(x)
}

/// The epsilon of a burn `LayerNorm`, which keeps the field private but lists it among the
/// attributes of its module display; `None` if that ever changes (burn's own forward runs).
#[cfg(feature = "flex")]
fn layer_norm_epsilon(layer: &burn::nn::LayerNorm) -> Option<f64> {
    use burn::module::{Content, DisplaySettings, ModuleDisplay};
    let content = layer.custom_content(Content::new(DisplaySettings::new()))?;
    let attribute = content.attributes.iter().find(|a| a.name == "epsilon")?;
    attribute.value.parse().ok()
}

/// [`burn::tensor::module::batch_norm_train`] of `[N, C, H, W]` (the batch's statistics: the
/// output, and the batch mean and biased variance, detached): our kernel (channels and planes
/// on the thread pool, forward and backward) on flex f32 tensors, burn's op otherwise.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> burn::tensor::module::BatchNormTrainOutput<4> {
    #[cfg(feature = "flex")]
    if uses_kernels(&x) && on_flex_f32(&gamma) && on_flex_f32(&beta) {
        use burn::backend::Dispatch;
        let (output, mean, variance) = <Dispatch as crate::kernels::CpuKernels>::cpu_batch_norm(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            eps,
        );
        return burn::tensor::module::BatchNormTrainOutput {
            output: Tensor::from_dispatch(output),
            mean: Tensor::from_dispatch(mean),
            variance: Tensor::from_dispatch(variance),
        };
    }
    burn::tensor::module::batch_norm_train(x, gamma, beta, eps)
}
