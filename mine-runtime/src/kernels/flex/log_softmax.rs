//! [`CpuKernels::cpu_log_softmax`](super::CpuKernels::cpu_log_softmax) on flex: log-softmax
//! over the last dimension on the thread pool, and its backward step from the saved output.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::rows::{self, Saved, last_dim};
use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::log_softmax::{log_softmax_backward, log_softmax_forward};

/// `log_softmax(x)` over the last dimension.
pub fn forward(x: FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    written_shaped(x.layout().shape().clone(), |out| {
        log_softmax_forward(values(&x), last_dim(&x), out)
    })
}

/// The autodiff form: the forward, with the gradient `dx = g - exp(y) sum(g)` from the saved
/// output `y` when `x` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    rows::autodiff::<C>(x, forward, Saved::Output, log_softmax_backward)
}
