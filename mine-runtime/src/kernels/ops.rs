//! Tensor-level operations that run our CPU kernels on the flex backend (plain or autodiff)
//! for f32 tensors, and burn's own differentiable operations everywhere else (CUDA, wgpu,
//! other dtypes, shapes the kernels do not cover), so every backend computes the same maths.
//!
//! Inside an [`autocast`](super::autocast) scope (bf16 mixed precision) the matrix operations
//! ([`linear`], [`conv2d`], [`matmul`]) compute on bf16 inputs with f32 accumulation and give
//! bf16 outputs, and the normalizations and softmaxes compute in f32. Our kernels do the
//! linear layers and convolutions on flex: they round the operands and the result to bf16 and
//! keep them in f32 tensors (bf16 values are f32 values; the backward pass rounds likewise), so
//! the f32 operations around them need no casts. burn's ops, everywhere else, take and give
//! bf16 tensors.

use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use super::autocast::{promote, to_compute, to_full};

/// Whether the operations of this module run our kernels on tensors like `t`: kernels on
/// ([`KernelOptions::cpu_kernels`](super::KernelOptions::cpu_kernels)), flex device (with or
/// without autodiff), f32.
pub fn uses_kernels<const D: usize>(t: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    return super::options().cpu_kernels && on_flex_f32(t);
    #[cfg(not(feature = "flex"))]
    {
        let _ = t;
        false
    }
}

/// Whether our kernels take `t` as a plain (non-autodiff) flex f32 tensor: the optimizer's
/// operands.
#[cfg(feature = "flex")]
fn plain_flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
    uses_kernels(t) && !t.is_autodiff()
}

/// Whether `t` lives on the flex backend (with or without autodiff) as f32.
#[cfg(feature = "flex")]
fn on_flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
    on_flex(t) && t.dtype() == burn::tensor::DType::F32
}

/// Whether `t` lives on the flex backend (with or without autodiff).
#[cfg(feature = "flex")]
fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    let device = t.device().inner();
    matches!(device.as_dispatch(), burn::backend::DispatchDevice::Flex(_))
}

/// How our kernels run a linear layer or convolution of input `x` whose parameters are flex
/// f32 tensors (`params_f32`): `Some(false)` in f32 (no autocast, `x` f32), `Some(true)` in
/// bf16 (a bf16 autocast scope; `x` f32 or bf16), `None` when burn's op runs it (kernels off,
/// another device or dtype).
#[cfg(feature = "flex")]
fn kernel_mode<const D: usize>(x: &Tensor<D>, params_f32: bool) -> Option<bool> {
    use burn::tensor::{DType, FloatDType};
    if !params_f32 || !super::options().cpu_kernels || !on_flex(x) {
        return None;
    }
    match (super::autocast::current(), x.dtype()) {
        (None, DType::F32) => Some(false),
        (Some(FloatDType::BF16), DType::F32 | DType::BF16) => Some(true),
        _ => None,
    }
}

/// `x` as the f32 tensor our kernels read (a bf16 input under autocast is cast, exactly).
#[cfg(feature = "flex")]
fn as_f32<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match x.dtype() {
        burn::tensor::DType::F32 => x,
        _ => x.cast(burn::tensor::FloatDType::F32),
    }
}

/// `conv2d(x, weight, bias)` like [`burn::tensor::module::conv2d`]: our kernels for groups 1
/// and symmetric padding on flex f32 tensors, burn's op otherwise; on the autocast dtype inside
/// an [`autocast`](super::autocast) scope.
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
            return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_conv2d(
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
    let (x, weight, bias) = (to_compute(x), to_compute(weight), bias.map(to_compute));
    maybe_relu(burn::tensor::module::conv2d(x, weight, bias, options), relu)
}

/// `relu(out)` when `relu`: the fallbacks' form of our fused ReLUs.
fn maybe_relu(out: Tensor<4>, relu: bool) -> Tensor<4> {
    if relu {
        burn::tensor::activation::relu(out)
    } else {
        out
    }
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
            return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_group_norm(
                x.into_dispatch(),
                gamma.into_dispatch(),
                beta.into_dispatch(),
                layer.num_groups,
                layer.epsilon,
                relu_input,
                relu,
                residual_input,
            ));
        }
    }
    maybe_relu(layer.forward(maybe_relu(x, relu_input)), relu)
}

/// [`burn::tensor::module::max_pool2d`]: our kernel for square windows (up to 16, padding at
/// most half the window, no dilation, floor mode) on flex f32 tensors, burn's op otherwise.
pub fn max_pool2d(x: Tensor<4>, options: burn::tensor::ops::MaxPoolOptions<2>) -> Tensor<4> {
    max_pool2d_maybe_relu(x, options, false)
}

/// `relu(max_pool2d(x))` in one pass (see [`max_pool2d`]; windows up to 15 on the kernel).
/// This equals `max_pool2d(relu(x))`, values and gradients (both are monotone), so a
/// convolution's ReLU can move behind its pooling: 4x fewer values to rectify, and no ReLU
/// mask in the convolution's backward.
pub fn max_pool2d_relu(x: Tensor<4>, options: burn::tensor::ops::MaxPoolOptions<2>) -> Tensor<4> {
    max_pool2d_maybe_relu(x, options, true)
}

fn max_pool2d_maybe_relu(
    x: Tensor<4>,
    options: burn::tensor::ops::MaxPoolOptions<2>,
    relu: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    {
        let [k, _] = options.kernel_size;
        let [s, _] = options.stride;
        let [(p, _), _] = options.padding;
        let square = options.kernel_size == [k; 2]
            && options.stride == [s; 2]
            && options.padding == [(p, p); 2]
            && options.dilation == [1, 1]
            && !options.ceil_mode;
        let params = super::cpu::max_pool::MaxPoolParams {
            kernel: k,
            stride: s,
            padding: p,
        };
        let supported = if relu {
            params.supported_with_relu()
        } else {
            params.supported()
        };
        if square && supported && uses_kernels(&x) {
            use burn::backend::Dispatch;
            return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_max_pool2d(
                x.into_dispatch(),
                k,
                s,
                p,
                relu,
            ));
        }
    }
    maybe_relu(burn::tensor::module::max_pool2d(x, options), relu)
}

/// `x weight + bias` over the last dimension of `x` `[..., d_in]` (burn's
/// [`linear`](burn::tensor::module::linear), `weight` `[d_in, d_out]`): our kernel on flex
/// f32 tensors (the leading dimensions flattened into rows), burn's op otherwise; on the
/// autocast dtype inside an [`autocast`](super::autocast) scope.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_runtime::kernels::ops::linear;
///
/// let device = Device::flex();
/// let x = Tensor::<3>::ones([2, 3, 4], &device);
/// let weight = Tensor::<2>::ones([4, 5], &device);
/// let y = linear(x, weight, Some(Tensor::<1>::ones([5], &device)));
/// assert_eq!(y.dims(), [2, 3, 5]);
/// let values: Vec<f32> = y.into_data().to_vec().unwrap();
/// assert!(values.iter().all(|&v| v == 5.0));
/// ```
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if D >= 2 {
        let params = on_flex_f32(&weight) && bias.as_ref().is_none_or(on_flex_f32);
        if let Some(bf16) = kernel_mode(&x, params) {
            use burn::backend::Dispatch;
            let dims = x.dims();
            let [d_in, d_out] = weight.dims();
            let rows = dims[..D - 1].iter().product();
            let bias = bias.unwrap_or_else(|| Tensor::zeros([d_out], &weight.device()));
            let out = Tensor::<2>::from_dispatch(<Dispatch as super::CpuKernels>::cpu_linear(
                as_f32(x).reshape([rows, d_in]).into_dispatch(),
                weight.into_dispatch(),
                bias.into_dispatch(),
                bf16,
            ));
            let mut out_dims = dims;
            out_dims[D - 1] = d_out;
            return out.reshape(out_dims);
        }
    }
    let (x, weight, bias) = (to_compute(x), to_compute(weight), bias.map(to_compute));
    burn::tensor::module::linear(x, weight, bias)
}

/// [`burn::nn::Linear::forward`] through [`linear`].
pub fn linear_layer<const D: usize>(layer: &burn::nn::Linear, x: Tensor<D>) -> Tensor<D> {
    linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// `a.matmul(b)` (batched over the leading dimensions): burn's op, on the autocast dtype
/// inside an [`autocast`](super::autocast) scope (attention logits and weighted values).
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    to_compute(a).matmul(to_compute(b))
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
            return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_layer_norm(
                x.into_dispatch(),
                gamma.into_dispatch(),
                beta.into_dispatch(),
                eps,
            ));
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

/// [`burn::tensor::activation::softmax`] along `dim`; in f32 under autocast.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    burn::tensor::activation::softmax(to_full(x), dim)
}

/// [`burn::tensor::activation::log_softmax`] along `dim`; in f32 under autocast. Our kernel
/// (rows on the thread pool) along the last dimension of flex f32 tensors.
pub fn log_softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let x = to_full(x);
    #[cfg(feature = "flex")]
    if dim + 1 == D && uses_kernels(&x) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_log_softmax(
            x.into_dispatch(),
        ));
    }
    burn::tensor::activation::log_softmax(x, dim)
}

/// The entropy `-sum exp(y) y` of each row of the log-probabilities `y` `[B, T, K, N]` along
/// the last dimension (kept, of size 1), with our kernel (rows on the thread pool) on flex f32
/// tensors; `None` for every other tensor. It is the [`mine_dsl::action::EntropyKernel`]
/// that [`install_dsl_kernels`](super::install_dsl_kernels) installs: `mine-dsl`'s heads then
/// compute the other tensors' entropies with burn's ops.
pub fn row_entropy(y: &Tensor<4>) -> Option<Tensor<4>> {
    #[cfg(feature = "flex")]
    if uses_kernels(y) {
        use burn::backend::Dispatch;
        return Some(Tensor::from_dispatch(
            <Dispatch as super::CpuKernels>::cpu_row_entropy(y.clone().into_dispatch()),
        ));
    }
    let _ = y;
    None
}

/// `a + b` for tensors of the same shape (a residual connection): our kernel, written by
/// the thread pool, on flex f32 tensors of at least [`PARALLEL_ADD_MIN`] elements; burn's
/// (broadcasting) addition otherwise. Operands of different dtypes (an f32 residual stream
/// and a bf16 layer output under autocast) are added in the wider one ([`promote`]).
pub fn add<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let (a, b) = promote(a, b);
    #[cfg(feature = "flex")]
    if a.dims() == b.dims()
        && a.shape().num_elements() >= PARALLEL_ADD_MIN
        && uses_kernels(&a)
        && on_flex_f32(&b)
    {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as super::CpuKernels>::cpu_add(
            a.into_dispatch(),
            b.into_dispatch(),
        ));
    }
    a + b
}

/// Elements from which [`add`] runs on the thread pool (below, burn's addition on the
/// calling thread costs less than handing the work over).
pub const PARALLEL_ADD_MIN: usize = 1 << 16;

/// `x / divisor`. On an untracked flex f32 tensor (input data: the policies scale their
/// frames with it) our kernel divides into a new tensor on the thread pool, and the result
/// keeps `x`'s autodiff association and checkpointing strategy; a tracked tensor, or any
/// other, takes burn's `div_scalar`. The values are the same.
pub fn div_scalar<const D: usize>(x: Tensor<D>, divisor: f32) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if uses_kernels(&x) && !x.is_tracked() {
        use burn::backend::Dispatch;
        let strategy = x.gradient_checkpointing_strategy();
        let out = Tensor::from_dispatch(<Dispatch as super::CpuElementwise>::cpu_div_scalar(
            x.inner().into_dispatch(),
            divisor,
        ));
        return match strategy {
            Some(strategy) => out
                .autodiff()
                .with_gradient_checkpointing_strategy(strategy),
            None => out,
        };
    }
    x.div_scalar(divisor)
}

/// `Σ x²` over every element of `x`, as a one-element tensor on its device. On a plain flex
/// f32 tensor our kernel sums on the thread pool, in f64 across chunks
/// ([`squared_sum`](super::cpu::elementwise::squared_sum)); elsewhere burn's
/// `x.square().sum()`.
pub fn squared_sum<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if plain_flex_f32(&x) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as super::CpuOptimizer>::cpu_squared_sum(
            x.into_dispatch(),
        ));
    }
    x.square().sum()
}

/// `x * factor` with `factor` a one-element tensor on `x`'s device. On plain flex f32
/// tensors our kernel multiplies in place on the thread pool (and not at all when `factor`
/// is exactly 1); elsewhere burn's broadcast multiplication. The values are the same.
pub fn scale<const D: usize>(x: Tensor<D>, factor: Tensor<1>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if plain_flex_f32(&x) && plain_flex_f32(&factor) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as super::CpuOptimizer>::cpu_scale(
            x.into_dispatch(),
            factor.into_dispatch(),
        ));
    }
    x.mul(factor.unsqueeze::<D>())
}

/// Whether [`adamw_step`] runs on these tensors: plain (non-autodiff) flex f32 tensors.
pub fn adamw_applies<const D: usize>(tensors: [&Tensor<D>; 4]) -> bool {
    #[cfg(feature = "flex")]
    return tensors.iter().all(|t| plain_flex_f32(t));
    #[cfg(not(feature = "flex"))]
    {
        let _ = tensors;
        false
    }
}

/// One AdamW step on a parameter with our fused kernel (see
/// [`adamw_step`](super::cpu::adamw::adamw_step)); check [`adamw_applies`] first. Returns
/// the parameter and the moments (`exp_avg`, `exp_avg_sq`), updated in place when no other
/// tensor shares their buffers.
#[cfg(feature = "flex")]
pub fn adamw_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: (Tensor<D>, Tensor<D>),
    scalars: super::cpu::adamw::AdamWScalars,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    use burn::backend::Dispatch;
    let (p, m, v) = <Dispatch as super::CpuOptimizer>::cpu_adamw(
        param.into_dispatch(),
        grad.into_dispatch(),
        moments.0.into_dispatch(),
        moments.1.into_dispatch(),
        scalars,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}
