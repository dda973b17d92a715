//! Our kernels as a burn backend extension of the flex CPU backend, with hand-written
//! backward passes for its autodiff form.
//!
//! [`CpuKernels`] is implemented for `Flex` (the forward kernels) and `Autodiff<Flex, C>`
//! (the forward plus a backward step calling the gradient kernels); one file per operation
//! holds both. The tensor-level functions in [`super::ops`] route flex f32 tensors here and
//! everything else to burn's own ops.

mod add;
mod batch_norm;
mod conv;
mod elementwise;
mod entropy;
mod group_norm;
mod layer_norm;
mod linear;
mod log_softmax;
mod max_pool;
mod norm;
mod optim;
mod planes;
mod rows;
mod silu;
mod tensor;

pub use elementwise::CpuElementwise;
pub use optim::CpuOptimizer;

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex, backend_extension};

use crate::kernels::cpu::group_norm::Relus;

/// The operations our CPU kernels provide.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: burn::backend::Backend {
    /// 2-D convolution with groups 1: `x` `[N, C_in, H, W]`, `weight`
    /// `[C_out, C_in, kh, kw]`, `bias` `[C_out]`; symmetric `padding`; followed by a ReLU
    /// when `relu`. With `bf16` (autocast), the operands are rounded to bf16 and so is the
    /// f32-accumulated result, in the backward pass too (f32 tensors holding bf16 values).
    #[allow(clippy::too_many_arguments)]
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
        bf16: bool,
    ) -> FloatTensor<Self>;

    /// Depthwise 2-D convolution (as many groups as channels): `x` `[N, C, H, W]`, `weight`
    /// `[C, 1, kh, kw]`, `bias` `[C]`; symmetric `padding`; followed by a ReLU when `relu`; f32.
    fn cpu_depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [[usize; 2]; 3],
        relu: bool,
    ) -> FloatTensor<Self>;

    /// GroupNorm of `x` `[N, C, H, W]` (of `relu(x)` when `relu_input`) over `groups` groups
    /// of channels with the per-channel affine `gamma`, `beta` `[C]` (PyTorch's biased
    /// variance plus `eps`), followed by a ReLU when `relu`.
    ///
    /// `residual_input` is the caller's promise that a residual sum recorded after this
    /// operation also reads `x` (the ImpalaCNN block's `x + f(x)`), so that `x` already has a
    /// gradient when this backward step runs: the step then adds it into its own in the same
    /// parallel pass, instead of burn's accumulation on the calling thread.
    #[allow(clippy::too_many_arguments)]
    fn cpu_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        relu_input: bool,
        relu: bool,
        residual_input: bool,
    ) -> FloatTensor<Self>;

    /// BatchNorm of `x` `[N, C, H, W]` with the batch's statistics (training) and the
    /// per-channel affine `gamma`, `beta` `[C]` (PyTorch's biased variance plus `eps`): the
    /// output, and the batch mean and biased variance `[C]`, untracked.
    fn cpu_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Max-pooling of `x` `[N, C, H, W]` over square windows (`kernel <= 16`,
    /// `padding <= kernel / 2`, no dilation, floor mode), PyTorch semantics, followed by a
    /// ReLU when `relu` (then `kernel <= 15`).
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// A fully connected layer `x weight + bias`: `x` `[rows, d_in]`, `weight`
    /// `[d_in, d_out]` (burn's orientation), `bias` `[d_out]`; in bf16 as
    /// [`cpu_conv2d`](Self::cpu_conv2d) when `bf16`.
    fn cpu_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        bf16: bool,
    ) -> FloatTensor<Self>;

    /// The element-wise sum `a + b` of two tensors of the same shape, written by the
    /// thread pool (a residual connection).
    fn cpu_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;

    /// LayerNorm of `x` over its last dimension (`d` features) with the per-feature affine
    /// `gamma`, `beta` `[d]` (PyTorch's biased variance plus `eps`), rows on the thread pool.
    fn cpu_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;

    /// Log-softmax over the last dimension, rows on the thread pool.
    fn cpu_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// SiLU, `x * sigmoid(x)`, element by element on the thread pool.
    fn cpu_silu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x * gate` for `x` `[N, C, H, W]` and `gate` `[N, C, 1, 1]` (a channel gate).
    fn cpu_scale_planes(x: FloatTensor<Self>, gate: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The entropy `-sum exp(y) y` of each row of `y` along the last dimension (kept, of size
    /// 1), rows on the thread pool: the action heads' entropies from their log-probabilities.
    fn cpu_row_entropy(y: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl CpuKernels for Flex {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
        bf16: bool,
    ) -> FloatTensor<Self> {
        let kernels = conv::Kernels::dense(bf16);
        conv::forward(x, weight, bias, [stride, padding, dilation], relu, kernels)
    }

    fn cpu_depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [[usize; 2]; 3],
        relu: bool,
    ) -> FloatTensor<Self> {
        conv::forward(x, weight, bias, geometry, relu, conv::Kernels::DEPTHWISE)
    }

    fn cpu_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        relu_input: bool,
        relu: bool,
        _residual_input: bool,
    ) -> FloatTensor<Self> {
        let relu = Relus {
            input: relu_input,
            output: relu,
        };
        group_norm::forward(x, gamma, beta, groups, eps, relu).out
    }

    fn cpu_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm::forward(x, gamma, beta, eps)
    }

    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self> {
        max_pool::forward(x, max_pool::params(kernel, stride, padding), relu).0
    }

    fn cpu_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        bf16: bool,
    ) -> FloatTensor<Self> {
        linear::forward(x, weight, bias, bf16)
    }

    fn cpu_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        add::forward(a, b)
    }

    fn cpu_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        layer_norm::forward(x, gamma, beta, eps).out
    }

    fn cpu_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        log_softmax::forward(x)
    }

    fn cpu_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        silu::forward(x)
    }

    fn cpu_scale_planes(x: FloatTensor<Self>, gate: FloatTensor<Self>) -> FloatTensor<Self> {
        planes::scale(x, gate)
    }

    fn cpu_row_entropy(y: FloatTensor<Self>) -> FloatTensor<Self> {
        entropy::forward(y)
    }
}

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
        bf16: bool,
    ) -> FloatTensor<Self> {
        let kernels = conv::Kernels::dense(bf16);
        conv::autodiff::<C>(x, weight, bias, [stride, padding, dilation], relu, kernels)
    }

    fn cpu_depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [[usize; 2]; 3],
        relu: bool,
    ) -> FloatTensor<Self> {
        conv::autodiff::<C>(x, weight, bias, geometry, relu, conv::Kernels::DEPTHWISE)
    }

    fn cpu_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
        relu_input: bool,
        relu: bool,
        residual_input: bool,
    ) -> FloatTensor<Self> {
        let relu = Relus {
            input: relu_input,
            output: relu,
        };
        group_norm::autodiff::<C>(x, gamma, beta, groups, eps, relu, residual_input)
    }

    fn cpu_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm::autodiff::<C>(x, gamma, beta, eps)
    }

    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self> {
        max_pool::autodiff::<C>(x, max_pool::params(kernel, stride, padding), relu)
    }

    fn cpu_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        bf16: bool,
    ) -> FloatTensor<Self> {
        linear::autodiff::<C>(x, weight, bias, bf16)
    }

    fn cpu_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        add::autodiff::<C>(a, b)
    }

    fn cpu_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        layer_norm::autodiff::<C>(x, gamma, beta, eps)
    }

    fn cpu_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        log_softmax::autodiff::<C>(x)
    }

    fn cpu_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        silu::autodiff::<C>(x)
    }

    fn cpu_scale_planes(x: FloatTensor<Self>, gate: FloatTensor<Self>) -> FloatTensor<Self> {
        planes::scale_autodiff::<C>(x, gate)
    }

    fn cpu_row_entropy(y: FloatTensor<Self>) -> FloatTensor<Self> {
        entropy::autodiff::<C>(y)
    }
}
