//! [`CpuKernels::cpu_silu`](super::CpuKernels::cpu_silu) on flex: SiLU on the thread pool, and
//! its backward step from the saved input.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::rows::{self, Saved};
use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::silu::{silu_backward, silu_forward};

/// `silu(x)`, element by element.
pub fn forward(x: FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    written_shaped(x.layout().shape().clone(), |out| {
        silu_forward(values(&x), out)
    })
}

/// The gradient kernel in the rows' form (element-wise: the row length does not matter).
fn backward(x: &[f32], g: &[f32], _cols: usize, dx: &mut [MaybeUninit<f32>]) {
    silu_backward(x, g, dx)
}

/// The autodiff form: the forward, with the gradient from the saved input when `x` is
/// tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    rows::autodiff::<C>(x, forward, Saved::Input, backward)
}
