//! [`CpuOptimizer`]: the fused AdamW step and the gradient clipping's squared sum and scaling
//! on flex tensors, on the thread pool (the optimizer works on the parameters' and gradients'
//! plain form, so there is no autodiff implementation).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, backend_extension};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, tensor, values};
use crate::kernels::cpu::adamw::{AdamWScalars, adamw_step};
use crate::kernels::cpu::elementwise::{scale, squared_sum};

/// Optimizer steps our CPU kernels provide.
#[backend_extension(Flex)]
pub trait CpuOptimizer: burn::backend::Backend {
    /// One AdamW step: the updated parameter and moments (`exp_avg`, `exp_avg_sq`).
    fn cpu_adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        scalars: AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `Σ x²` over every element of `x`, as a one-element tensor (`[1]`).
    fn cpu_squared_sum(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x * factor` with `factor` a one-element tensor; `x` is updated in place when no other
    /// tensor shares its buffer, and returned as it is when `factor` is exactly 1.
    fn cpu_scale(x: FloatTensor<Self>, factor: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `t` as a contiguous tensor that owns its whole buffer, copied only when it is a view or
/// shared.
fn owned(t: FlexTensor) -> FlexTensor {
    let mut t = contiguous(t);
    let n = t.layout().num_elements();
    let whole = t.layout().start_offset() == 0 && t.bytes().len() == n * 4;
    if whole && t.try_storage_mut::<f32>().is_some() {
        return t;
    }
    let shape: Vec<usize> = t.layout().shape().iter().copied().collect();
    let copy = tensor(values(&t).to_vec(), [n]);
    copy.reshape(burn::tensor::Shape::from(shape))
}

impl CpuOptimizer for Flex {
    fn cpu_adamw(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        scalars: AdamWScalars,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut p, mut m, mut v) = (owned(param), owned(moment_1), owned(moment_2));
        let grad = contiguous(grad);
        adamw_step(
            p.storage_mut::<f32>(),
            values(&grad),
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
            scalars,
        );
        (p, m, v)
    }

    fn cpu_squared_sum(x: FlexTensor) -> FlexTensor {
        let x = contiguous(x);
        tensor(vec![squared_sum(values(&x)) as f32], [1])
    }

    fn cpu_scale(x: FlexTensor, factor: FlexTensor) -> FlexTensor {
        let factor = values(&contiguous(factor))[0];
        if factor == 1.0 {
            // `x * 1` leaves every value as it is (NaN, infinities and signed zeros included).
            return x;
        }
        let mut x = owned(x);
        scale(x.storage_mut::<f32>(), factor);
        x
    }
}
