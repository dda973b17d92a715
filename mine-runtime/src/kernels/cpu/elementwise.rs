//! Element-wise helpers of the kernels' glue, compiled for the CPU's widest vectors.

use std::mem::MaybeUninit;

use super::isa::{Isa, multiversion};
use super::lanes::lane_sum as sum_body;

multiversion!(relu_mask_imp(grad: &[f32], out: &[f32], dst: &mut [MaybeUninit<f32>]) => relu_mask_body);

#[inline(always)]
fn relu_mask_body(grad: &[f32], out: &[f32], dst: &mut [MaybeUninit<f32>]) {
    let n = dst.len().min(grad.len()).min(out.len());
    let (grad, out, dst) = (&grad[..n], &out[..n], &mut dst[..n]);
    for i in 0..n {
        dst[i].write(if out[i] > 0.0 { grad[i] } else { 0.0 });
    }
}

/// Writes `grad * (out > 0)` into `dst` (the gradient through a ReLU whose output was
/// `out`); every element of `dst` is written (the three have the same length).
pub fn relu_mask(grad: &[f32], out: &[f32], dst: &mut [MaybeUninit<f32>]) {
    debug_assert!(grad.len() == dst.len() && out.len() == dst.len());
    relu_mask_imp(Isa::detect(), grad, out, dst);
}

multiversion!(add_imp(a: &[f32], b: &[f32], dst: &mut [MaybeUninit<f32>]) => add_body);

#[inline(always)]
fn add_body(a: &[f32], b: &[f32], dst: &mut [MaybeUninit<f32>]) {
    let n = dst.len().min(a.len()).min(b.len());
    let (a, b, dst) = (&a[..n], &b[..n], &mut dst[..n]);
    for i in 0..n {
        dst[i].write(a[i] + b[i]);
    }
}

/// Writes `a + b` into `dst`; every element of `dst` is written (the three have the same
/// length).
pub fn add(a: &[f32], b: &[f32], dst: &mut [MaybeUninit<f32>]) {
    debug_assert!(a.len() == dst.len() && b.len() == dst.len());
    add_imp(Isa::detect(), a, b, dst);
}

multiversion!(sum_imp(xs: &[f32]) -> f32 => sum_body);

/// The sum of `xs`, in 16 interleaved partial sums (`lanes::lane_sum`; vectorized, so the
/// rounding differs from a sequential sum by the usual reassociation error).
pub fn sum(xs: &[f32]) -> f32 {
    sum_imp(Isa::detect(), xs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;
    use crate::kernels::isa::for_each_isa;

    #[test]
    fn mask_add_and_sum_match_the_scalar_definitions() {
        for_each_isa(|| {
            for n in [0, 1, 15, 16, 17, 1000, 16_640, 33_280] {
                let (g, y) = (values(n, 1), values(n, 2));
                let mut dst = vec![MaybeUninit::new(f32::NAN); n];
                relu_mask(&g, &y, &mut dst);
                for i in 0..n {
                    // SAFETY: `relu_mask` wrote every element.
                    let got = unsafe { dst[i].assume_init() };
                    assert_eq!(got, if y[i] > 0.0 { g[i] } else { 0.0 });
                }
                add(&g, &y, &mut dst);
                for i in 0..n {
                    // SAFETY: `add` wrote every element.
                    assert_eq!(unsafe { dst[i].assume_init() }, g[i] + y[i]);
                }
                let want: f64 = g.iter().map(|v| *v as f64).sum();
                let magnitude: f64 = g.iter().map(|v| v.abs() as f64).sum();
                let got = sum(&g) as f64;
                assert!(
                    (got - want).abs() <= 1e-6 * magnitude + 1e-6,
                    "n {n}: {got} vs {want}"
                );
            }
        });
    }
}
