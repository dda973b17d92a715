//! LayerNorm over the last dimension of `[rows, d]` (PyTorch's and burn's `LayerNorm`: biased
//! variance plus `eps`, per-feature affine), forward and backward, the rows on the thread pool.
//!
//! Per row the mean and the variance are summed in f64 over f32 lanes, so the statistics are
//! within an f32 rounding of the exact ones; `x̂ = (x - mean) · rstd` with
//! `rstd = 1 / sqrt(var + eps)`. The backward's feature sums (`dγ`, `dβ`) run over column
//! blocks, each summing its columns over the rows in order (f64): the results do not depend
//! on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::{LANES, lane_sum_of};

/// Elements per parallel task (rows are grouped until a task has this many).
const MIN_TASK_ELEMS: usize = 1 << 14;

/// Columns per task of the backward's feature sums.
const COLUMNS: usize = 256;

/// Rows per parallel task for rows of `d` elements.
fn rows_per_task(d: usize) -> usize {
    MIN_TASK_ELEMS.div_ceil(d.max(1)).max(1)
}

multiversion!(row_stats_imp(x: &[f32]) -> (f64, f64) => row_stats_body);

/// Elements per block of a row's sums: f32 lanes within a block, f64 across blocks.
const BLOCK: usize = 4096;

/// `Σ f(v)` over `x`, in f32 lanes within each [`BLOCK`] and in f64 across blocks.
#[inline(always)]
fn blocked_sum(x: &[f32], f: impl Fn(f32) -> f32 + Copy) -> f64 {
    x.chunks(BLOCK).map(|b| f64::from(lane_sum_of(b, f))).sum()
}

/// `(mean, biased variance)` of one row (two passes, [`blocked_sum`]).
#[inline(always)]
fn row_stats_body(x: &[f32]) -> (f64, f64) {
    let d = x.len() as f64;
    let mean = blocked_sum(x, |v| v) / d;
    let m = mean as f32;
    (mean, blocked_sum(x, |v| (v - m) * (v - m)) / d)
}

multiversion!(normalize_row_imp(x: &[f32], gamma: &[f32], beta: &[f32], stats: (f32, f32), out: &mut [MaybeUninit<f32>]) => normalize_row_body);

#[inline(always)]
fn normalize_row_body(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    (mean, rstd): (f32, f32),
    out: &mut [MaybeUninit<f32>],
) {
    let n = x.len().min(gamma.len()).min(beta.len()).min(out.len());
    let (x, gamma, beta, out) = (&x[..n], &gamma[..n], &beta[..n], &mut out[..n]);
    for i in 0..n {
        out[i].write((x[i] - mean) * rstd * gamma[i] + beta[i]);
    }
}

/// LayerNorm of the rows of `x` (`[rows, d]`, `d = gamma.len()`) with affine `gamma`, `beta`
/// (`[d]`) into `out`, and each row's mean and `rstd` (`[rows]`) for the backward. Every
/// element of `out` is written.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    out: &mut [MaybeUninit<f32>],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    let d = gamma.len();
    assert!(
        d > 0 && beta.len() == d && x.len().is_multiple_of(d),
        "layer norm: shapes"
    );
    let rows = x.len() / d;
    assert!(out.len() == x.len() && mean.len() == rows && rstd.len() == rows);
    let isa = Isa::detect();
    x.par_chunks(d)
        .zip(out.par_chunks_mut(d))
        .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
        .with_min_len(rows_per_task(d))
        .for_each(|((x, out), (mean, rstd))| {
            let (m, var) = row_stats_imp(isa, x);
            let r = (1.0 / (var + eps).sqrt()) as f32;
            *mean = m as f32;
            *rstd = r;
            normalize_row_imp(isa, x, gamma, beta, (*mean, r), out);
        });
}

multiversion!(input_grad_row_imp(g: &[f32], x: &[f32], gamma: &[f32], stats: (f32, f32), dx: &mut [MaybeUninit<f32>]) => input_grad_row_body);

/// `dx = rstd · (γg − mean(γg) − x̂ · mean(γg x̂))` of one row.
#[inline(always)]
fn input_grad_row_body(
    g: &[f32],
    x: &[f32],
    gamma: &[f32],
    (mean, rstd): (f32, f32),
    dx: &mut [MaybeUninit<f32>],
) {
    let n = g.len().min(x.len()).min(gamma.len()).min(dx.len());
    let (g, x, gamma, dx) = (&g[..n], &x[..n], &gamma[..n], &mut dx[..n]);
    let (mut sum_gg, mut sum_ggx) = (0.0f64, 0.0f64);
    for ((gb, xb), wb) in g
        .chunks(BLOCK)
        .zip(x.chunks(BLOCK))
        .zip(gamma.chunks(BLOCK))
    {
        let (mut a, mut b) = ([0.0f32; LANES], [0.0f32; LANES]);
        let (gc, gr) = gb.as_chunks::<LANES>();
        let (xc, xr) = xb.as_chunks::<LANES>();
        let (wc, wr) = wb.as_chunks::<LANES>();
        for ((g16, x16), w16) in gc.iter().zip(xc).zip(wc) {
            for l in 0..LANES {
                let gg = g16[l] * w16[l];
                a[l] += gg;
                b[l] += gg * ((x16[l] - mean) * rstd);
            }
        }
        let (mut ra, mut rb) = (0.0f32, 0.0f32);
        for ((&gv, &xv), &wv) in gr.iter().zip(xr).zip(wr) {
            ra += gv * wv;
            rb += gv * wv * ((xv - mean) * rstd);
        }
        sum_gg += f64::from(a.iter().sum::<f32>() + ra);
        sum_ggx += f64::from(b.iter().sum::<f32>() + rb);
    }
    let inv_d = 1.0 / n as f64;
    let (k_const, k_xhat) = ((sum_gg * inv_d) as f32, (sum_ggx * inv_d) as f32);
    for i in 0..n {
        let xhat = (x[i] - mean) * rstd;
        dx[i].write(rstd * (g[i] * gamma[i] - k_const - xhat * k_xhat));
    }
}

multiversion!(feature_sums_imp(g: &[f32], x: &[f32], d: usize, c0: usize, stats: (&[f32], &[f32]), sums: (&mut [f64], &mut [f64])) => feature_sums_body);

/// `Σ_rows g x̂` and `Σ_rows g` of columns `c0 .. c0 + sums.len()`, the rows in order.
#[inline(always)]
fn feature_sums_body(
    g: &[f32],
    x: &[f32],
    d: usize,
    c0: usize,
    (mean, rstd): (&[f32], &[f32]),
    (dgamma, dbeta): (&mut [f64], &mut [f64]),
) {
    let w = dgamma.len().min(dbeta.len());
    for (r, (&m, &s)) in mean.iter().zip(rstd).enumerate() {
        let at = r * d + c0;
        let (g, x) = (&g[at..at + w], &x[at..at + w]);
        for j in 0..w {
            dgamma[j] += f64::from(g[j] * ((x[j] - m) * s));
            dbeta[j] += f64::from(g[j]);
        }
    }
}

/// The LayerNorm backward of [`layer_norm_forward`]: the input gradient into `dx` (every
/// element written) and the affine gradients `dgamma`, `dbeta` (`[d]`, overwritten), from the
/// upstream gradient `g` and the forward's `x`, `gamma`, `mean`, `rstd`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    g: &[f32],
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [MaybeUninit<f32>],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d), "layer norm: shapes");
    let rows = x.len() / d;
    assert!(g.len() == x.len() && dx.len() == x.len() && mean.len() == rows);
    assert!(rstd.len() == rows && dgamma.len() == d && dbeta.len() == d);
    let isa = Isa::detect();
    g.par_chunks(d)
        .zip(x.par_chunks(d))
        .zip(dx.par_chunks_mut(d))
        .zip(mean.par_iter().zip(rstd.par_iter()))
        .with_min_len(rows_per_task(d))
        .for_each(|(((g, x), dx), (&m, &s))| input_grad_row_imp(isa, g, x, gamma, (m, s), dx));
    let mut sums = vec![0.0f64; 2 * d];
    let (sum_gamma, sum_beta) = sums.split_at_mut(d);
    sum_gamma
        .par_chunks_mut(COLUMNS)
        .zip(sum_beta.par_chunks_mut(COLUMNS))
        .enumerate()
        .for_each(|(block, (sg, sb))| {
            feature_sums_imp(isa, g, x, d, block * COLUMNS, (mean, rstd), (sg, sb));
        });
    for (dst, src) in dgamma.iter_mut().zip(sum_gamma.iter()) {
        *dst = *src as f32;
    }
    for (dst, src) in dbeta.iter_mut().zip(sum_beta.iter()) {
        *dst = *src as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;
    use crate::kernels::isa::for_each_isa;

    /// Forward and backward in f64, straight from the definitions.
    fn reference(g: &[f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f64) -> [Vec<f64>; 4] {
        let d = gamma.len();
        let (mut out, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let (mut dgamma, mut dbeta) = (vec![0.0; d], vec![0.0; d]);
        for r in 0..x.len() / d {
            let row = |v: &[f32]| {
                v[r * d..(r + 1) * d]
                    .iter()
                    .map(|&a| f64::from(a))
                    .collect::<Vec<_>>()
            };
            let (xr, gr) = (row(x), row(g));
            let mean = xr.iter().sum::<f64>() / d as f64;
            let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d as f64;
            let rstd = 1.0 / (var + eps).sqrt();
            let xhat: Vec<f64> = xr.iter().map(|v| (v - mean) * rstd).collect();
            let gg: Vec<f64> = (0..d).map(|j| gr[j] * f64::from(gamma[j])).collect();
            let a = gg.iter().sum::<f64>() / d as f64;
            let b = (0..d).map(|j| gg[j] * xhat[j]).sum::<f64>() / d as f64;
            for j in 0..d {
                out[r * d + j] = xhat[j] * f64::from(gamma[j]) + f64::from(beta[j]);
                dx[r * d + j] = rstd * (gg[j] - a - xhat[j] * b);
                dgamma[j] += gr[j] * xhat[j];
                dbeta[j] += gr[j];
            }
        }
        [out, dx, dgamma, dbeta]
    }

    /// The elements the kernels wrote.
    fn written(v: &[MaybeUninit<f32>]) -> Vec<f32> {
        let mut out = Vec::with_capacity(v.len());
        for a in v {
            // SAFETY: the kernels write every element of their outputs.
            out.push(unsafe { a.assume_init() });
        }
        out
    }

    #[test]
    fn forward_and_backward_match_the_f64_definitions() {
        for_each_isa(|| {
            for (rows, d, offset) in [
                (1, 1, 0.0),
                (3, 7, 2.0),
                (5, 33, -1.0),
                (4, 8192, 3.0),
                (40, 256, 0.5),
            ] {
                let x: Vec<f32> = values(rows * d, 1)
                    .iter()
                    .map(|v| 4.0 * v + offset)
                    .collect();
                let g = values(rows * d, 2);
                let gamma: Vec<f32> = values(d, 3).iter().map(|v| 1.0 + v).collect();
                let beta = values(d, 4);
                let eps = 1e-5;
                let mut out = vec![MaybeUninit::new(f32::NAN); x.len()];
                let (mut mean, mut rstd) = (vec![0.0; rows], vec![0.0; rows]);
                layer_norm_forward(&x, &gamma, &beta, eps, &mut out, &mut mean, &mut rstd);
                let mut dx = vec![MaybeUninit::new(f32::NAN); x.len()];
                let (mut dgamma, mut dbeta) = (vec![f32::NAN; d], vec![f32::NAN; d]);
                layer_norm_backward(
                    &g,
                    &x,
                    &gamma,
                    &mean,
                    &rstd,
                    &mut dx,
                    &mut dgamma,
                    &mut dbeta,
                );
                let [r_out, r_dx, r_dgamma, r_dbeta] = reference(&g, &x, &gamma, &beta, eps);
                let close = |what: &str, got: &[f32], want: &[f64], tol: f64| {
                    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    for (i, (a, b)) in got.iter().zip(want).enumerate() {
                        assert!(
                            (f64::from(*a) - b).abs() <= tol * scale,
                            "{what}[{i}] {rows}x{d}: {a} vs {b}"
                        );
                    }
                };
                close("out", &written(&out), &r_out, 2e-6);
                close("dx", &written(&dx), &r_dx, 2e-5);
                close("dgamma", &dgamma, &r_dgamma, 2e-6);
                close("dbeta", &dbeta, &r_dbeta, 2e-6);
            }
        });
    }
}
