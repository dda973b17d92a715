//! A runtime's faster form of the heads' entropy, installed once per process.
//!
//! This crate is backend-generic: [`entropy`](super::entropy) is burn's exponential, product
//! and sum, which a CPU backend may run on one thread. A runtime with its own kernels (as
//! `mine-runtime`'s trainer does, with a kernel on its thread pool) installs one with
//! [`install_entropy_kernel`]; `entropy` then offers it each head first and computes the
//! same maths with burn's ops for the tensors it declines.

use std::sync::OnceLock;

use burn::tensor::Tensor;

/// A kernel for the entropy `-sum_n exp(y) y` of each row of log-probabilities `y`
/// `[B, T, K, N]` along the last dimension: `[B, T, K, 1]`, differentiable as burn's ops are;
/// `None` when the kernel does not take `y` (another device or dtype, the runtime's kernels
/// switched off), and burn's ops run.
pub type EntropyKernel = fn(&Tensor<4>) -> Option<Tensor<4>>;

/// The installed kernel, if any.
static ENTROPY_KERNEL: OnceLock<EntropyKernel> = OnceLock::new();

/// Installs `kernel` for the rest of the process: `true` if this call installed it, `false`
/// if a kernel was installed before (which stays).
pub fn install_entropy_kernel(kernel: EntropyKernel) -> bool {
    ENTROPY_KERNEL.set(kernel).is_ok()
}

/// The entropy of each row along the last dimension (kept, of size 1): the installed kernel
/// where it takes `y`, burn's ops otherwise.
pub(super) fn row_entropy(y: Tensor<4>) -> Tensor<4> {
    if let Some(entropy) = ENTROPY_KERNEL.get().and_then(|kernel| kernel(&y)) {
        return entropy;
    }
    (y.clone().exp() * y).sum_dim(3).neg()
}
