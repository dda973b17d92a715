//! Element-wise helpers of the kernels' glue, compiled for the CPU's widest vectors.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::{lane_dot, lane_sum as sum_body, lane_sum_of};

/// Elements per parallel task of [`squared_sum`], [`scale`] and [`divide`] (fixed, so that
/// the partial sums, and therefore the result, do not depend on the number of threads).
const CHUNK: usize = 1 << 15;

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

multiversion!(pub(crate) sum_imp(xs: &[f32]) -> f32 => sum_body);

/// The sum of `xs`, in 16 interleaved partial sums (`lanes::lane_sum`; vectorized, so the
/// rounding differs from a sequential sum by the usual reassociation error).
pub fn sum(xs: &[f32]) -> f32 {
    sum_imp(Isa::detect(), xs)
}

multiversion!(pub(crate) dot_imp(a: &[f32], b: &[f32]) -> f32 => lane_dot);

multiversion!(squares_imp(xs: &[f32]) -> f32 => squares_body);

#[inline(always)]
fn squares_body(xs: &[f32]) -> f32 {
    lane_sum_of(xs, |x| x * x)
}

/// `Σ x²` over `xs`, on the thread pool: each chunk of `CHUNK` elements in 16 interleaved
/// f32 partial sums, the chunks' sums added in order in f64. The result is the same for any
/// number of threads.
pub fn squared_sum(xs: &[f32]) -> f64 {
    let isa = Isa::detect();
    let partials: Vec<f64> = xs
        .par_chunks(CHUNK)
        .map(|chunk| f64::from(squares_imp(isa, chunk)))
        .collect();
    partials.iter().sum()
}

multiversion!(scale_imp(xs: &mut [f32], factor: f32) => scale_body);

#[inline(always)]
fn scale_body(xs: &mut [f32], factor: f32) {
    for x in xs.iter_mut() {
        *x *= factor;
    }
}

/// `x *= factor` for every element of `xs`, on the thread pool.
pub fn scale(xs: &mut [f32], factor: f32) {
    let isa = Isa::detect();
    xs.par_chunks_mut(CHUNK)
        .for_each(|chunk| scale_imp(isa, chunk, factor));
}

multiversion!(divide_imp(xs: &[f32], divisor: f32, dst: &mut [MaybeUninit<f32>]) => divide_body);

#[inline(always)]
fn divide_body(xs: &[f32], divisor: f32, dst: &mut [MaybeUninit<f32>]) {
    let n = dst.len().min(xs.len());
    let (xs, dst) = (&xs[..n], &mut dst[..n]);
    for i in 0..n {
        dst[i].write(xs[i] / divisor);
    }
}

/// Writes `x / divisor` (a division, as burn's `div_scalar`: not a product with the
/// reciprocal) into `dst`, on the thread pool; every element of `dst` is written (the two
/// have the same length).
pub fn divide(xs: &[f32], divisor: f32, dst: &mut [MaybeUninit<f32>]) {
    debug_assert_eq!(xs.len(), dst.len());
    let isa = Isa::detect();
    xs.par_chunks(CHUNK)
        .zip(dst.par_chunks_mut(CHUNK))
        .for_each(|(xs, dst)| divide_imp(isa, xs, divisor, dst));
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

    #[test]
    fn squared_sum_scale_and_divide_match_the_scalar_definitions() {
        for_each_isa(|| {
            for n in [0, 1, 15, 17, 1000, CHUNK + 3, 3 * CHUNK + 17] {
                let g = values(n, 3);
                let want: f64 = g.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
                let got = squared_sum(&g);
                assert!(
                    (got - want).abs() <= 1e-6 * want + 1e-9,
                    "n {n}: {got} vs {want}"
                );
                let (mut scaled, mut divided) = (g.clone(), vec![MaybeUninit::new(f32::NAN); n]);
                scale(&mut scaled, 0.37);
                divide(&g, 255.0, &mut divided);
                for ((s, d), x) in scaled.iter().zip(&divided).zip(&g) {
                    assert_eq!(*s, x * 0.37);
                    // SAFETY: `divide` wrote every element.
                    assert_eq!(unsafe { d.assume_init() }, x / 255.0);
                }
            }
        });
    }

    #[test]
    fn squared_sum_does_not_depend_on_the_threads() {
        let g = values(5 * CHUNK + 11, 4);
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
            pool.expect("a thread pool").install(|| squared_sum(&g))
        };
        let one = on(1);
        for threads in [2, 3, 8] {
            assert_eq!(on(threads).to_bits(), one.to_bits(), "{threads} threads");
        }
    }
}
