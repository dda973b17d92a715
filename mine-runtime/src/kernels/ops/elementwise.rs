//! Element-wise operations: residual sums, the frames' scaling, SiLU, and a
//! squeeze-excitation's channel gate.

use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use super::{on_flex_f32, uses_kernels};
use crate::kernels::autocast::promote;

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
        return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuKernels>::cpu_add(
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
        let out = Tensor::from_dispatch(
            <Dispatch as crate::kernels::CpuElementwise>::cpu_div_scalar(
                x.inner().into_dispatch(),
                divisor,
            ),
        );
        return match strategy {
            Some(strategy) => out
                .autodiff()
                .with_gradient_checkpointing_strategy(strategy),
            None => out,
        };
    }
    x.div_scalar(divisor)
}

/// [`burn::tensor::activation::silu`], `x * sigmoid(x)`: our kernel (element by element on
/// the thread pool, forward and backward) on flex f32 tensors, burn's op otherwise.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if uses_kernels(&x) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuKernels>::cpu_silu(
            x.into_dispatch(),
        ));
    }
    burn::tensor::activation::silu(x)
}

/// `x * gate` for `x` `[N, C, H, W]` and a channel gate `[N, C, 1, 1]` (broadcast): our kernel
/// (planes on the thread pool, forward and backward) on flex f32 tensors, burn's broadcasting
/// product otherwise.
pub fn scale_planes(x: Tensor<4>, gate: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    {
        let [n, c, _, _] = x.dims();
        if gate.dims() == [n, c, 1, 1] && uses_kernels(&x) && on_flex_f32(&gate) {
            use burn::backend::Dispatch;
            return Tensor::from_dispatch(
                <Dispatch as crate::kernels::CpuKernels>::cpu_scale_planes(
                    x.into_dispatch(),
                    gate.into_dispatch(),
                ),
            );
        }
    }
    x * gate
}
