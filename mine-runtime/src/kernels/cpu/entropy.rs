//! The entropy of each row of log-probabilities, forward and backward, on the thread pool:
//! the action heads' entropies (the button head's 8641 classes), which burn computes with an
//! exponential, a product and a sum on the calling thread.
//!
//! Forward, per row: `h = -sum exp(y) y`. Backward: `dy = -g exp(y) (y + 1)` for the row's
//! output gradient `g` (the derivative of that expression, normalized or not). The
//! exponential is [`log_softmax::exp`](super::log_softmax::exp). A log-probability of `-inf`
//! gives a NaN entropy and gradient, as `exp(-inf) * -inf` does in burn and PyTorch.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::lane_sum_of;
use super::log_softmax::{PARALLEL_MIN, exp, rows};

/// `exp(y)`, exactly 0 for `y = -inf` (where [`exp`] gives its floor, about 1.2e-38), so that
/// the products below are `0 * -inf` (NaN) there, as burn's and PyTorch's are.
#[inline(always)]
fn prob(y: f32) -> f32 {
    if y == f32::NEG_INFINITY { 0.0 } else { exp(y) }
}

/// `exp(y) y`.
#[inline(always)]
fn term(y: f32) -> f32 {
    prob(y) * y
}

multiversion!(entropy_of_imp(y: &[f32]) -> f32 => entropy_of);

#[inline(always)]
fn entropy_of(y: &[f32]) -> f32 {
    -lane_sum_of(y, term)
}

multiversion!(backward_row_imp(y: &[f32], g: f32, dy: &mut [MaybeUninit<f32>]) => backward_row);

#[inline(always)]
fn backward_row(y: &[f32], g: f32, dy: &mut [MaybeUninit<f32>]) {
    for (d, &y) in dy.iter_mut().zip(y) {
        d.write(-g * prob(y) * (y + 1.0));
    }
}

/// `out[r] = -sum_c exp(y[r, c]) y[r, c]` over the rows of `cols` elements of `y`; every
/// element of `out` (one per row) is written.
pub fn row_entropy_forward(y: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    assert_eq!(y.len(), out.len() * cols, "row_entropy: lengths");
    if cols == 0 {
        out.iter_mut().for_each(|o| {
            o.write(0.0);
        });
        return;
    }
    let isa = Isa::detect();
    let row = |(o, y): (&mut MaybeUninit<f32>, &[f32])| {
        o.write(entropy_of_imp(isa, y));
    };
    if y.len() >= PARALLEL_MIN {
        out.par_iter_mut().zip(y.par_chunks(cols)).for_each(row);
    } else {
        out.iter_mut().zip(y.chunks(cols)).for_each(row);
    }
}

/// The gradient of [`row_entropy_forward`] with respect to `y` from each row's output gradient
/// `grad`: `dy = -grad[r] exp(y) (y + 1)`; every element of `dy` (the length of `y`) is written.
pub fn row_entropy_backward(y: &[f32], grad: &[f32], cols: usize, dy: &mut [MaybeUninit<f32>]) {
    assert!(
        y.len() == dy.len() && y.len() == grad.len() * cols,
        "row_entropy: lengths"
    );
    let isa = Isa::detect();
    rows(dy, cols, |r, d| {
        backward_row_imp(isa, &y[r * cols..][..cols], grad[r], d)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::log_softmax::log_softmax_forward;
    use crate::kernels::cpu::test_data::Rng;
    use crate::kernels::cpu::written_vec;
    use crate::kernels::isa::for_each_isa;

    #[test]
    fn rows_match_the_definition_in_f64() {
        let mut rng = Rng(5);
        for_each_isa(|| {
            for (rows_n, cols) in [(1, 1), (4, 33), (16, 8641), (2, 121), (3, 16)] {
                // Log-probabilities of random logits, and unnormalized values.
                let x: Vec<f32> = rng.uniform(rows_n * cols).iter().map(|v| v * 8.0).collect();
                let logp = written_vec(x.len(), |y| log_softmax_forward(&x, cols, y));
                let g: Vec<f32> = rng.uniform(rows_n).iter().map(|v| v - 0.5).collect();
                for y in [logp, x.iter().map(|v| v - 4.0).collect()] {
                    let h = written_vec(rows_n, |h| row_entropy_forward(&y, cols, h));
                    let dy = written_vec(y.len(), |dy| row_entropy_backward(&y, &g, cols, dy));
                    for r in 0..rows_n {
                        let row = &y[r * cols..][..cols];
                        let terms = row.iter().map(|&v| (v as f64).exp() * v as f64);
                        let want: f64 = -terms.clone().sum::<f64>();
                        let scale = 1.0 + terms.map(f64::abs).sum::<f64>();
                        let got = h[r] as f64;
                        assert!((got - want).abs() < 2e-6 * scale, "h[{r}] {got} vs {want}");
                        for (c, &v) in row.iter().enumerate() {
                            let v = v as f64;
                            let want = -(g[r] as f64) * v.exp() * (v + 1.0);
                            let got = dy[r * cols + c] as f64;
                            let err = (got - want).abs();
                            assert!(
                                err < 1e-6 * (1.0 + want.abs()),
                                "dy[{r}, {c}] {got} vs {want}"
                            );
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn minus_infinity_gives_nan_and_zero_columns_give_zero() {
        let y = [0.0, f32::NEG_INFINITY, -1.0, -2.0];
        let h = written_vec(2, |h| row_entropy_forward(&y, 2, h));
        assert!(h[0].is_nan(), "{h:?}");
        assert!((h[1] as f64 - ((-1f64).exp() + 2.0 * (-2f64).exp())).abs() < 1e-6);
        let dy = written_vec(4, |dy| row_entropy_backward(&y, &[1.0, 1.0], 2, dy));
        assert!(dy[1].is_nan() && dy[0].is_finite(), "{dy:?}");
        assert_eq!(written_vec(3, |h| row_entropy_forward(&[], 0, h)), [0.0; 3]);
    }
}
