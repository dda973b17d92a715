//! [`CpuElementwise`]: element-wise operations on untracked flex tensors (input data, such as
//! the frames scaled to `[0, 1]`), on the thread pool; no autodiff implementation (the callers
//! in [`crate::kernels::ops`] take burn's op for tracked tensors).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, backend_extension};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::elementwise::divide;

/// Element-wise operations our CPU kernels provide for untracked tensors.
#[backend_extension(Flex)]
pub trait CpuElementwise: burn::backend::Backend {
    /// `x / divisor`, element by element, into a new tensor.
    fn cpu_div_scalar(x: FloatTensor<Self>, divisor: f32) -> FloatTensor<Self>;
}

impl CpuElementwise for Flex {
    fn cpu_div_scalar(x: FlexTensor, divisor: f32) -> FlexTensor {
        let x = contiguous(x);
        let shape = x.layout().shape().clone();
        written_shaped(shape, |out| divide(values(&x), divisor, out))
    }
}
