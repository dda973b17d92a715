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

mod conv;
mod elementwise;
mod linear;
mod norm;
mod optim;
mod pool;
mod softmax;

pub use conv::{conv2d, conv2d_layer, conv2d_relu};
pub use elementwise::{PARALLEL_ADD_MIN, add, div_scalar, scale_planes, silu};
pub use linear::{linear, linear_layer, matmul};
pub(crate) use norm::group_norm_of_residual_input;
pub use norm::{batch_norm_train, group_norm_layer, group_norm_of_relu_layer, layer_norm_layer};
#[cfg(feature = "flex")]
pub use optim::adamw_step;
pub use optim::{adamw_applies, scale, squared_sum};
pub use pool::{max_pool2d, max_pool2d_relu};
pub use softmax::{log_softmax, row_entropy, softmax};

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

/// `relu(out)` when `relu`: the fallbacks' form of our fused ReLUs.
fn maybe_relu(out: Tensor<4>, relu: bool) -> Tensor<4> {
    if relu {
        burn::tensor::activation::relu(out)
    } else {
        out
    }
}
