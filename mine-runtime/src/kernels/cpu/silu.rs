//! SiLU, `x * sigmoid(x)` (EfficientNet's activation), element by element on the thread pool,
//! and its gradient from the input. burn computes it as a sigmoid, a product and (backward)
//! a sum of two gradients, each a pass on the calling thread.
//!
//! Forward: `y = x / (1 + e^-x)`, as PyTorch's CPU kernel computes it. Backward:
//! `dx = g s (1 + x (1 - s))` with `s = 1 / (1 + e^-x)`. The exponential is
//! [`log_softmax::exp`](super::log_softmax::exp), clamped to its range: for `x < -88.7` the
//! result is `x / 3.4e38` (a few ulps of the smallest normal numbers, as near zero as the
//! exact value), never a NaN; infinities and NaNs give NaN.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::log_softmax::exp;

/// Elements per parallel task (below one, the calling thread computes it alone).
const CHUNK: usize = 1 << 14;

/// `1 + e^-x`.
#[inline(always)]
fn denominator(x: f32) -> f32 {
    1.0 + exp(-x)
}

multiversion!(forward_imp(x: &[f32], out: &mut [MaybeUninit<f32>]) => forward_body);

#[inline(always)]
fn forward_body(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let n = out.len().min(x.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    for i in 0..n {
        out[i].write(x[i] / denominator(x[i]));
    }
}

multiversion!(backward_imp(x: &[f32], g: &[f32], dx: &mut [MaybeUninit<f32>]) => backward_body);

#[inline(always)]
fn backward_body(x: &[f32], g: &[f32], dx: &mut [MaybeUninit<f32>]) {
    let n = dx.len().min(x.len()).min(g.len());
    let (x, g, dx) = (&x[..n], &g[..n], &mut dx[..n]);
    for i in 0..n {
        let s = 1.0 / denominator(x[i]);
        dx[i].write(g[i] * s * (1.0 + x[i] * (1.0 - s)));
    }
}

/// Writes `silu(x)` into `out`, every element (the two have the same length).
pub fn silu_forward(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    debug_assert_eq!(x.len(), out.len());
    let isa = Isa::detect();
    x.par_chunks(CHUNK)
        .zip(out.par_chunks_mut(CHUNK))
        .for_each(|(x, out)| forward_imp(isa, x, out));
}

/// Writes the gradient of `silu` at `x` for the output gradient `g` into `dx`, every element
/// (the three have the same length).
pub fn silu_backward(x: &[f32], g: &[f32], dx: &mut [MaybeUninit<f32>]) {
    debug_assert!(x.len() == dx.len() && g.len() == dx.len());
    let isa = Isa::detect();
    x.par_chunks(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(dx.par_chunks_mut(CHUNK))
        .for_each(|((x, g), dx)| backward_imp(isa, x, g, dx));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;
    use crate::kernels::isa::for_each_isa;

    fn written(dst: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: the kernels under test write every element.
        dst.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    #[test]
    fn silu_and_its_gradient_match_the_f64_definitions() {
        for_each_isa(|| {
            for n in [0, 1, 15, 17, 1000, CHUNK + 3, 3 * CHUNK + 17] {
                // Inputs over [-10, 10], where both terms matter, and extremes.
                let mut x: Vec<f32> = values(n, 5).iter().map(|v| v * 20.0).collect();
                let extremes = [-1e4, -100.0, -88.0, 0.0, 88.0, 100.0, 1e4];
                for (slot, e) in x.iter_mut().zip(extremes) {
                    *slot = e;
                }
                let g = values(n, 6);
                let (mut y, mut dx) = (
                    vec![MaybeUninit::uninit(); n],
                    vec![MaybeUninit::uninit(); n],
                );
                silu_forward(&x, &mut y);
                silu_backward(&x, &g, &mut dx);
                for (i, (y, dx)) in written(y).into_iter().zip(written(dx)).enumerate() {
                    let (x, g) = (f64::from(x[i]), f64::from(g[i]));
                    let s = 1.0 / (1.0 + (-x).exp());
                    let (want_y, want_dx) = (x * s, g * s * (1.0 + x * (1.0 - s)));
                    let tol = |w: f64| 4.0 * f64::from(f32::EPSILON) * w.abs() + 1e-37;
                    assert!(
                        (f64::from(y) - want_y).abs() <= tol(want_y),
                        "x {x}: {y} vs {want_y}"
                    );
                    // The gradient's `1 - s` loses the relative precision of `s` near 1.
                    let scale = g.abs() * (1.0 + x.abs());
                    assert!(
                        (f64::from(dx) - want_dx).abs()
                            <= 8.0 * f64::from(f32::EPSILON) * scale + 1e-37,
                        "x {x} g {g}: {dx} vs {want_dx}"
                    );
                }
            }
        });
    }
}
