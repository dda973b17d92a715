//! The optimizer's operations on plain parameter tensors: the clipping's squared sum and
//! scaling, and AdamW.

use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use super::plain_flex_f32;

/// `Σ x²` over every element of `x`, as a one-element tensor on its device. On a plain flex
/// f32 tensor our kernel sums on the thread pool, in f64 across chunks
/// ([`squared_sum`](crate::kernels::cpu::elementwise::squared_sum)); elsewhere burn's
/// `x.square().sum()`.
pub fn squared_sum<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if plain_flex_f32(&x) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuOptimizer>::cpu_squared_sum(
            x.into_dispatch(),
        ));
    }
    x.square().sum()
}

/// `x * factor` with `factor` a one-element tensor on `x`'s device. On plain flex f32
/// tensors our kernel multiplies in place on the thread pool (and not at all when `factor`
/// is exactly 1); elsewhere burn's broadcast multiplication. The values are the same.
pub fn scale<const D: usize>(x: Tensor<D>, factor: Tensor<1>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if plain_flex_f32(&x) && plain_flex_f32(&factor) {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as crate::kernels::CpuOptimizer>::cpu_scale(
            x.into_dispatch(),
            factor.into_dispatch(),
        ));
    }
    x.mul(factor.unsqueeze::<D>())
}

/// Whether [`adamw_step`] runs on these tensors: plain (non-autodiff) flex f32 tensors.
pub fn adamw_applies<const D: usize>(tensors: [&Tensor<D>; 4]) -> bool {
    #[cfg(feature = "flex")]
    return tensors.iter().all(|t| plain_flex_f32(t));
    #[cfg(not(feature = "flex"))]
    {
        let _ = tensors;
        false
    }
}

/// One AdamW step on a parameter with our fused kernel (see
/// [`adamw_step`](crate::kernels::cpu::adamw::adamw_step)); check [`adamw_applies`] first. Returns
/// the parameter and the moments (`exp_avg`, `exp_avg_sq`), updated in place when no other
/// tensor shares their buffers.
#[cfg(feature = "flex")]
pub fn adamw_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: (Tensor<D>, Tensor<D>),
    scalars: crate::kernels::cpu::adamw::AdamWScalars,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    use burn::backend::Dispatch;
    let (p, m, v) = <Dispatch as crate::kernels::CpuOptimizer>::cpu_adamw(
        param.into_dispatch(),
        grad.into_dispatch(),
        moments.0.into_dispatch(),
        moments.1.into_dispatch(),
        scalars,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}
