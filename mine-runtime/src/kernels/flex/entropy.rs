//! [`CpuKernels::cpu_row_entropy`](super::CpuKernels::cpu_row_entropy) on flex: the entropy
//! `-sum exp(y) y` of each row along the last dimension on the thread pool, and its backward
//! step from the saved input.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::rows::{self, Saved, last_dim};
use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::entropy::{row_entropy_backward, row_entropy_forward};

/// The entropy of each row of `y`, keeping the last dimension (size 1).
pub fn forward(y: FlexTensor) -> FlexTensor {
    let y = contiguous(y);
    let shape = y.layout().shape().clone();
    let last = shape.num_dims() - 1;
    let shape = shape
        .reduce(last)
        .expect("a tensor has at least one dimension");
    written_shaped(shape, |out| {
        row_entropy_forward(values(&y), last_dim(&y), out)
    })
}

/// The autodiff form: the forward, with the gradient `dy = -g exp(y) (y + 1)` from the saved
/// input `y` when `y` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    y: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    rows::autodiff::<C>(y, forward, Saved::Input, row_entropy_backward)
}
