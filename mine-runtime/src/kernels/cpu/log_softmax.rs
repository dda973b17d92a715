//! Log-softmax over the rows of a matrix, forward and backward, on the thread pool: the action
//! heads' log-probabilities (the button head's 8641 classes), which burn computes in five
//! element-wise passes on the calling thread.
//!
//! Forward, per row: the maximum, the sum of `exp(x - max)`, then `x - max - ln(sum)` (two
//! passes). Backward, per row: `dx = g - exp(y) * sum(g)` from the output `y`. The exponential
//! is a vectorizable polynomial (Cephes' `expf`: range reduction by `ln 2`, a degree-6
//! polynomial; within 2 ulp of the exact value over the range used here).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::{LANES, hsum};

/// Elements from which the rows are spread over the thread pool.
pub(super) const PARALLEL_MIN: usize = 1 << 14;

/// `e^x` for `x <= 88.7` (below -87.3 the result is `e^-87.3`, about 1.2e-38, not zero).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.336_54, 88.722_83);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

multiversion!(forward_row_imp(x: &[f32], out: &mut [MaybeUninit<f32>]) => forward_row);

#[inline(always)]
fn forward_row(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut top = [f32::NEG_INFINITY; LANES];
    for ch in chunks {
        for l in 0..LANES {
            top[l] = top[l].max(ch[l]);
        }
    }
    let max = rest.iter().fold(
        top.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)),
        |m, v| m.max(*v),
    );
    let mut acc = [0.0f32; LANES];
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += exp(ch[l] - max);
        }
    }
    let sum = hsum(&acc) + rest.iter().map(|v| exp(v - max)).sum::<f32>();
    let shift = max + sum.ln();
    for (o, v) in out.iter_mut().zip(x) {
        o.write(v - shift);
    }
}

multiversion!(backward_row_imp(y: &[f32], g: &[f32], dx: &mut [MaybeUninit<f32>]) => backward_row);

#[inline(always)]
fn backward_row(y: &[f32], g: &[f32], dx: &mut [MaybeUninit<f32>]) {
    let (chunks, rest) = g.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for ch in chunks {
        for l in 0..LANES {
            acc[l] += ch[l];
        }
    }
    let total = hsum(&acc) + rest.iter().sum::<f32>();
    for ((d, y), g) in dx.iter_mut().zip(y).zip(g) {
        d.write(g - exp(*y) * total);
    }
}

/// Runs `row(i, ..)` over the rows of `cols` elements of `dst`, on the thread pool when large.
pub(super) fn rows(
    dst: &mut [MaybeUninit<f32>],
    cols: usize,
    row: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) {
    if cols == 0 {
        return;
    }
    if dst.len() >= PARALLEL_MIN {
        dst.par_chunks_mut(cols)
            .enumerate()
            .for_each(|(i, d)| row(i, d));
    } else {
        dst.chunks_mut(cols)
            .enumerate()
            .for_each(|(i, d)| row(i, d));
    }
}

/// `out = log_softmax(x)` over each row of `cols` elements; every element of `out` (the length
/// of `x`) is written.
pub fn log_softmax_forward(x: &[f32], cols: usize, out: &mut [MaybeUninit<f32>]) {
    assert_eq!(x.len(), out.len(), "log_softmax: output length");
    let isa = Isa::detect();
    rows(out, cols, |i, o| {
        forward_row_imp(isa, &x[i * cols..][..cols], o)
    });
}

/// The input gradient of [`log_softmax_forward`] from its output `y` and the output gradient
/// `grad`: `dx = grad - exp(y) * sum(grad)` per row; every element of `dx` is written.
pub fn log_softmax_backward(y: &[f32], grad: &[f32], cols: usize, dx: &mut [MaybeUninit<f32>]) {
    assert!(
        y.len() == dx.len() && grad.len() == dx.len(),
        "log_softmax: lengths"
    );
    let isa = Isa::detect();
    rows(dx, cols, |i, d| {
        let range = i * cols..(i + 1) * cols;
        backward_row_imp(isa, &y[range.clone()], &grad[range], d)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::Rng;
    use crate::kernels::isa::for_each_isa;

    #[test]
    fn exp_is_within_two_ulp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, not {want}"
            );
            x += 0.001_37;
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1.3e-38);
    }

    #[test]
    fn rows_match_the_definition_in_f64() {
        let mut rng = Rng(3);
        for_each_isa(|| {
            for (rows_n, cols) in [(1, 1), (3, 17), (32, 8641), (2, 121), (5, 16)] {
                let x: Vec<f32> = rng.uniform(rows_n * cols).iter().map(|v| v * 8.0).collect();
                let g = rng.uniform(rows_n * cols);
                let mut y = vec![MaybeUninit::new(f32::NAN); x.len()];
                log_softmax_forward(&x, cols, &mut y);
                // SAFETY: every element was written.
                let y: Vec<f32> = y.into_iter().map(|v| unsafe { v.assume_init() }).collect();
                let mut dx = vec![MaybeUninit::new(f32::NAN); x.len()];
                log_softmax_backward(&y, &g, cols, &mut dx);
                for r in 0..rows_n {
                    let row = &x[r * cols..][..cols];
                    let max = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
                    let lse = max
                        + row
                            .iter()
                            .map(|v| (*v as f64 - max).exp())
                            .sum::<f64>()
                            .ln();
                    let gsum: f64 = g[r * cols..][..cols].iter().map(|v| *v as f64).sum();
                    for c in 0..cols {
                        let i = r * cols + c;
                        let want = x[i] as f64 - lse;
                        assert!(
                            (y[i] as f64 - want).abs() < 1e-5,
                            "y[{i}] {} vs {want}",
                            y[i]
                        );
                        let want_dx = g[i] as f64 - want.exp() * gsum;
                        // SAFETY: every element was written.
                        let got_dx = unsafe { dx[i].assume_init() } as f64;
                        assert!(
                            (got_dx - want_dx).abs() < 1e-5 * (1.0 + gsum.abs()),
                            "dx[{i}]"
                        );
                    }
                }
            }
        });
    }
}
