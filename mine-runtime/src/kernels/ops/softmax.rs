//! Softmaxes over a dimension, and the entropy of the action heads' rows.

use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use super::uses_kernels;
use crate::kernels::autocast::to_full;

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
        return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuKernels>::cpu_log_softmax(
            x.into_dispatch(),
        ));
    }
    burn::tensor::activation::log_softmax(x, dim)
}

/// The entropy `-sum exp(y) y` of each row of the log-probabilities `y` `[B, T, K, N]` along
/// the last dimension (kept, of size 1), with our kernel (rows on the thread pool) on flex f32
/// tensors; `None` for every other tensor. It is the [`mine_dsl::action::EntropyKernel`]
/// that [`install_dsl_kernels`](crate::kernels::install_dsl_kernels) installs: `mine-dsl`'s
/// heads then compute the other tensors' entropies with burn's ops.
pub fn row_entropy(y: &Tensor<4>) -> Option<Tensor<4>> {
    #[cfg(feature = "flex")]
    if uses_kernels(y) {
        use burn::backend::Dispatch;
        return Some(Tensor::from_dispatch(
            <Dispatch as crate::kernels::CpuKernels>::cpu_row_entropy(y.clone().into_dispatch()),
        ));
    }
    let _ = y;
    None
}
