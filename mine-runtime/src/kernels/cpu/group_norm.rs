//! GroupNorm (optionally fused with ReLU) on contiguous NCHW `f32` slices,
//! forward and backward.
//!
//! Semantics follow `torch.nn.GroupNorm`: the `c` channels of each sample are
//! split into `groups` groups of `c / groups` consecutive channels; every group
//! (`(c / groups) * hw` contiguous elements) is normalised with its own mean and
//! biased variance, then scaled and shifted per channel:
//!
//! ```text
//! x̂ = (x - μ) · rstd,   rstd = 1 / sqrt(var + eps),   y = γ_c · x̂ + β_c,   out = relu ? max(y, 0) : y
//! ```
//!
//! Statistics take one pass over the input: the group is cut into blocks of
//! 1024 elements; each block accumulates `x − p` and `(x − p)²` in `f32` lanes
//! around a pivot `p` (the running mean of the previous blocks; for the first
//! block its own mean, from an extra pass), which gives its mean and centred sum of
//! squares; blocks are merged in `f64` (Chan et al.). This stays accurate when
//! `|μ| ≫ σ` (no `E[x²] − E[x]²` cancellation). The forward then reads the input
//! a second time (usually from L2) to normalise it.
//!
//! Work is parallelised with rayon over the `n * groups` (sample, group) units;
//! with `n = 1, groups = 1` the call runs on one thread. The hot loops are written
//! for auto-vectorisation and are compiled three times (SSE2 baseline, AVX2+FMA,
//! AVX-512), the variant being chosen at run time.

use rayon::prelude::*;
use std::array::from_fn;

use super::isa::{Isa, multiversion};
use super::lanes::{LANES, add_lanes, hsum, lane_sum};

/// Elements per statistics block (4 KiB per operand): `f32` lane sums cover
/// one block, then move to `f64`, which bounds their rounding error.
const BLOCK: usize = 1024;
/// Minimum elements per rayon task, to keep scheduling overhead negligible.
const MIN_TASK_ELEMS: usize = 1 << 15;

/// Computes the GroupNorm forward pass (with ReLU on the output if `relu`).
///
/// * `x`, `out`: `[n, c, hw]` contiguous (NCHW with `hw = h * w`).
/// * `gamma`, `beta`: `[c]` per-channel affine weight and bias.
/// * `groups` must divide `c`; `eps` is added to the biased variance
///   (PyTorch's default is `1e-5`).
/// * `mean`, `rstd`: `[n, groups]` outputs, the per-group mean and
///   `1 / sqrt(var + eps)`; keep them (and `out` if `relu`) for
///   [`group_norm_backward`].
///
/// Every element of `out`, `mean` and `rstd` is written; they need not be zeroed.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
    eps: f32,
    relu: bool,
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "groups ({groups}) must divide c ({c})"
    );
    debug_assert_eq!(x.len(), n * c * hw);
    debug_assert_eq!(out.len(), n * c * hw);
    debug_assert_eq!(gamma.len(), c);
    debug_assert_eq!(beta.len(), c);
    debug_assert_eq!(mean.len(), n * groups);
    debug_assert_eq!(rstd.len(), n * groups);
    let cg = c / groups;
    let m = cg * hw;
    let eps = f64::from(eps);
    if m == 0 {
        mean.fill(0.0);
        rstd.fill((1.0 / eps.sqrt()) as f32);
        return;
    }
    let isa = Isa::detect();
    x.par_chunks(m)
        .zip(out.par_chunks_mut(m))
        .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
        .enumerate()
        .with_min_len(min_units(m))
        .for_each(|(unit, ((xu, ou), (mu, ru)))| {
            let ch = (unit % groups) * cg..(unit % groups + 1) * cg;
            let (g, b) = (&gamma[ch.clone()], &beta[ch]);
            let (mv, rv) = if relu {
                forward_unit::<true>(isa, xu, g, b, hw, eps, ou)
            } else {
                forward_unit::<false>(isa, xu, g, b, hw, eps, ou)
            };
            *mu = mv;
            *ru = rv;
        });
}

/// Computes the GroupNorm backward pass (of [`group_norm_forward`] with the same
/// `relu` flag).
///
/// * `grad_out`, `x`, `grad_x`: `[n, c, hw]`.
/// * `out`: the forward output `[n, c, hw]`, read only when `relu` (ReLU mask
///   `out > 0`); pass an empty slice when `relu` is false.
/// * `gamma`: `[c]`; `mean`, `rstd`: `[n, groups]` as saved by the forward.
/// * `grad_gamma`, `grad_beta`: `[c]` outputs (overwritten, not accumulated).
///
/// With `g' = grad_out · [out > 0 if relu]`, `M = (c / groups) · hw`:
/// `dβ_c = Σ g'`, `dγ_c = Σ g' x̂`, and per group
/// `dx = rstd · (γ g' − mean(γ g') − x̂ · mean(γ g' x̂))`.
///
/// Every element of the outputs is written; they need not be zeroed. The result
/// is deterministic (independent of the thread count).
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    grad_out: &[f32],
    x: &[f32],
    out: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
    relu: bool,
    grad_x: &mut [f32],
    grad_gamma: &mut [f32],
    grad_beta: &mut [f32],
) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "groups ({groups}) must divide c ({c})"
    );
    debug_assert_eq!(grad_out.len(), n * c * hw);
    debug_assert_eq!(x.len(), n * c * hw);
    debug_assert!(!relu || out.len() == n * c * hw);
    debug_assert_eq!(grad_x.len(), n * c * hw);
    debug_assert_eq!(gamma.len(), c);
    debug_assert_eq!(mean.len(), n * groups);
    debug_assert_eq!(rstd.len(), n * groups);
    debug_assert_eq!(grad_gamma.len(), c);
    debug_assert_eq!(grad_beta.len(), c);
    let cg = c / groups;
    let m = cg * hw;
    if m == 0 {
        grad_gamma.fill(0.0);
        grad_beta.fill(0.0);
        return;
    }
    // Without ReLU the mask operand is never looked at; `grad_out` stands in
    // for it so that the kernels see slices of the right length.
    let mask_src = if relu { out } else { grad_out };
    // Per-(sample, channel) partial sums, reduced serially below (deterministic).
    let mut partial_g = vec![0.0f64; n * c];
    let mut partial_gx = vec![0.0f64; n * c];
    let isa = Isa::detect();
    grad_out
        .par_chunks(m)
        .zip(x.par_chunks(m))
        .zip(mask_src.par_chunks(m))
        .zip(grad_x.par_chunks_mut(m))
        .zip(
            partial_g
                .par_chunks_mut(cg)
                .zip(partial_gx.par_chunks_mut(cg)),
        )
        .enumerate()
        .with_min_len(min_units(m))
        .for_each(|(unit, ((((gu, xu), yu), dxu), (pg, pgx)))| {
            let g = &gamma[(unit % groups) * cg..(unit % groups + 1) * cg];
            let stats = (mean[unit], rstd[unit]);
            let ins = UnitGrads {
                grad_out: gu,
                x: xu,
                mask_src: yu,
                gamma: g,
                hw,
                stats,
            };
            if relu {
                backward_unit::<true>(isa, ins, dxu, pg, pgx);
            } else {
                backward_unit::<false>(isa, ins, dxu, pg, pgx);
            }
        });
    sum_partials(&partial_g, c, grad_beta);
    sum_partials(&partial_gx, c, grad_gamma);
}

/// `dst[ch] = Σ_s partial[s * c + ch]`, summed in `f64`.
fn sum_partials(partial: &[f64], c: usize, dst: &mut [f32]) {
    for (ch, d) in dst.iter_mut().enumerate() {
        *d = partial.iter().skip(ch).step_by(c).sum::<f64>() as f32;
    }
}

/// Units per rayon task so that a task covers at least [`MIN_TASK_ELEMS`].
fn min_units(unit_elems: usize) -> usize {
    MIN_TASK_ELEMS.div_ceil(unit_elems).max(1)
}

// ---------------------------------------------------------------------------
// Forward.

multiversion!(forward_unit<RELU>(
    x: &[f32], gamma: &[f32], beta: &[f32], hw: usize, eps: f64, out: &mut [f32]
) -> (f32, f32) => forward_unit_impl);

/// Normalises one (sample, group) unit: `x`/`out` hold `gamma.len()` channel
/// planes of `hw` elements. Returns the group's `(mean, rstd)`.
#[inline(always)]
fn forward_unit_impl<const RELU: bool>(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    hw: usize,
    eps: f64,
    out: &mut [f32],
) -> (f32, f32) {
    let (mean, var) = moments(x);
    let (mean, rstd) = (mean as f32, (1.0 / (var + eps).sqrt()) as f32);
    let planes = x.chunks_exact(hw).zip(out.chunks_exact_mut(hw));
    for ((xc, oc), (&g, &b)) in planes.zip(gamma.iter().zip(beta)) {
        affine::<RELU>(xc, oc, mean, g * rstd, b);
    }
    (mean, rstd)
}

/// `out = (x − mean) · scale + shift`, then ReLU if `RELU` (NaN propagates).
/// Centring first keeps the result exact for constant inputs (where `scale`
/// is `γ / sqrt(eps)`), unlike the cheaper `x · scale + (shift − mean · scale)`.
#[inline(always)]
fn affine<const RELU: bool>(x: &[f32], out: &mut [f32], mean: f32, scale: f32, shift: f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        let y = (v - mean) * scale + shift;
        *o = if RELU && y < 0.0 { 0.0 } else { y };
    }
}

/// Mean and biased variance of `x` (non-empty), merged blockwise in `f64`.
#[inline(always)]
fn moments(x: &[f32]) -> (f64, f64) {
    let (mut count, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    // Pivot for the first block: its own mean (one extra pass over it in L1);
    // for later blocks, the running mean.
    let first = &x[..x.len().min(BLOCK)];
    let mut pivot = lane_sum(first) / first.len() as f32;
    for block in x.chunks(BLOCK) {
        let nb = block.len() as f64;
        let (mb, m2b) = block_moments(block, pivot);
        // Chan et al. pairwise merge of (count, mean, M2).
        let total = count + nb;
        let delta = mb - mean;
        mean += delta * (nb / total);
        m2 += m2b + delta * delta * (count * nb / total);
        count = total;
        pivot = mean as f32;
    }
    (mean, (m2 / count).max(0.0))
}

/// Mean and centred sum of squares of a block, from one pass accumulating
/// `x - p` and `(x - p)²` around a pivot `p` close to the data (exact for any
/// `p`; accurate while `|p - mean|` is not much larger than the spread).
#[inline(always)]
fn block_moments(x: &[f32], pivot: f32) -> (f64, f64) {
    let nb = x.len() as f64;
    let (chunks, rest) = x.as_chunks::<LANES>();
    let (mut d, mut q) = ([0.0f32; LANES], [0.0f32; LANES]);
    for ch in chunks {
        let t: [f32; LANES] = from_fn(|l| ch[l] - pivot);
        add_lanes(&mut d, &t);
        add_lanes(&mut q, &from_fn(|l| t[l] * t[l]));
    }
    let (mut dr, mut qr) = (0.0f32, 0.0f32);
    for &v in rest {
        let t = v - pivot;
        dr += t;
        qr += t * t;
    }
    let (d, q) = (f64::from(hsum(&d) + dr), f64::from(hsum(&q) + qr));
    (f64::from(pivot) + d / nb, q - d * d / nb)
}

// ---------------------------------------------------------------------------
// Backward.

/// Read-only inputs of one (sample, group) unit of the backward pass.
#[derive(Clone, Copy)]
struct UnitGrads<'a> {
    grad_out: &'a [f32],
    x: &'a [f32],
    /// Forward output (ReLU mask source) when ReLU is fused, else unused.
    mask_src: &'a [f32],
    gamma: &'a [f32],
    hw: usize,
    /// `(mean, rstd)` of the group.
    stats: (f32, f32),
}

multiversion!(backward_unit<RELU>(
    ins: UnitGrads<'_>, grad_x: &mut [f32], part_g: &mut [f64], part_gx: &mut [f64]
) => backward_unit_impl);

/// Backward of one unit: writes `grad_x` and the unit's per-channel partial
/// sums `part_g[ch] = Σ g'`, `part_gx[ch] = Σ g' x̂`.
#[inline(always)]
fn backward_unit_impl<const RELU: bool>(
    ins: UnitGrads<'_>,
    grad_x: &mut [f32],
    part_g: &mut [f64],
    part_gx: &mut [f64],
) {
    let UnitGrads {
        grad_out,
        x,
        mask_src,
        gamma,
        hw,
        stats: (mean, rstd),
    } = ins;
    let planes = || {
        grad_out
            .chunks_exact(hw)
            .zip(x.chunks_exact(hw))
            .zip(mask_src.chunks_exact(hw))
    };
    let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
    for ((((g, xs), y), &gm), (pg, pgx)) in planes()
        .zip(gamma)
        .zip(part_g.iter_mut().zip(part_gx.iter_mut()))
    {
        let (sg, sgx) = plane_sums::<RELU>(g, xs, y, mean, rstd);
        *pg = sg;
        *pgx = sgx;
        sum_g += f64::from(gm) * sg;
        sum_gx += f64::from(gm) * sgx;
    }
    let inv_m = 1.0 / (gamma.len() * hw) as f64;
    let rstd64 = f64::from(rstd);
    // dx = rstd·γ·g' − rstd·mean(γg'x̂)·x̂ − rstd·mean(γg')
    let k_xhat = (rstd64 * sum_gx * inv_m) as f32;
    let k_const = (rstd64 * sum_g * inv_m) as f32;
    for (((g, xs), y), (&gm, dx)) in planes().zip(gamma.iter().zip(grad_x.chunks_exact_mut(hw))) {
        let k_g = rstd * gm;
        for (((d, &gv), &xv), &yv) in dx.iter_mut().zip(g).zip(xs).zip(y) {
            let xhat = (xv - mean) * rstd;
            *d = k_g * masked::<RELU>(gv, yv) - (k_xhat * xhat + k_const);
        }
    }
}

/// `(Σ g', Σ g' x̂)` over one channel plane, blockwise `f32` lanes into `f64`.
#[inline(always)]
fn plane_sums<const RELU: bool>(
    g: &[f32],
    x: &[f32],
    y: &[f32],
    mean: f32,
    rstd: f32,
) -> (f64, f64) {
    let (mut tg, mut tgx) = (0.0f64, 0.0f64);
    for ((gb, xb), yb) in g.chunks(BLOCK).zip(x.chunks(BLOCK)).zip(y.chunks(BLOCK)) {
        let (gc, gr) = gb.as_chunks::<LANES>();
        let (xc, xr) = xb.as_chunks::<LANES>();
        let (yc, yr) = yb.as_chunks::<LANES>();
        let (mut ag, mut agx) = ([0.0f32; LANES], [0.0f32; LANES]);
        for ((g16, x16), y16) in gc.iter().zip(xc).zip(yc) {
            let gm: [f32; LANES] = from_fn(|l| masked::<RELU>(g16[l], y16[l]));
            add_lanes(&mut ag, &gm);
            add_lanes(&mut agx, &from_fn(|l| gm[l] * ((x16[l] - mean) * rstd)));
        }
        let (mut rg, mut rgx) = (0.0f32, 0.0f32);
        for ((&gv, &xv), &yv) in gr.iter().zip(xr).zip(yr) {
            let gm = masked::<RELU>(gv, yv);
            rg += gm;
            rgx += gm * ((xv - mean) * rstd);
        }
        tg += f64::from(hsum(&ag) + rg);
        tgx += f64::from(hsum(&agx) + rgx);
    }
    (tg, tgx)
}

/// The upstream gradient through the fused ReLU: `g · [y > 0]` if `RELU`.
#[inline(always)]
fn masked<const RELU: bool>(g: f32, y: f32) -> f32 {
    if !RELU || y > 0.0 { g } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernels::cpu::isa::for_each_isa;
    use crate::kernels::cpu::test_data::Rng;

    struct Shape {
        n: usize,
        c: usize,
        hw: usize,
        groups: usize,
    }

    /// Naive f64 forward: returns (out, mean, rstd).
    fn ref_forward(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        s: &Shape,
        eps: f64,
        relu: bool,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let cg = s.c / s.groups;
        let m = cg * s.hw;
        let mut out = vec![0.0; x.len()];
        let (mut means, mut rstds) = (vec![], vec![]);
        for u in 0..s.n * s.groups {
            let xs: Vec<f64> = x[u * m..(u + 1) * m].iter().map(|&v| v as f64).collect();
            let mean = xs.iter().sum::<f64>() / m as f64;
            let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m as f64;
            let rstd = 1.0 / (var + eps).sqrt();
            for (i, v) in xs.iter().enumerate() {
                let ch = (u % s.groups) * cg + i / s.hw;
                let y = gamma[ch] as f64 * (v - mean) * rstd + beta[ch] as f64;
                out[u * m + i] = if relu { y.max(0.0) } else { y };
            }
            means.push(mean);
            rstds.push(rstd);
        }
        (out, means, rstds)
    }

    /// Naive f64 backward; `mask` is the ReLU mask source (`out > 0`) if fused.
    fn ref_backward(
        g: &[f32],
        x: &[f32],
        mask: Option<&[f32]>,
        gamma: &[f32],
        s: &Shape,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let cg = s.c / s.groups;
        let m = cg * s.hw;
        let (_, means, rstds) = ref_forward(x, gamma, gamma, s, eps, false);
        let mut dx = vec![0.0; x.len()];
        let (mut dgamma, mut dbeta) = (vec![0.0; s.c], vec![0.0; s.c]);
        for u in 0..s.n * s.groups {
            let (mean, rstd) = (means[u], rstds[u]);
            let ch_of = |i: usize| (u % s.groups) * cg + i / s.hw;
            let gp: Vec<f64> = (0..m)
                .map(|i| {
                    let keep = mask.is_none_or(|y| y[u * m + i] > 0.0);
                    if keep { g[u * m + i] as f64 } else { 0.0 }
                })
                .collect();
            let xhat: Vec<f64> = (0..m)
                .map(|i| (x[u * m + i] as f64 - mean) * rstd)
                .collect();
            let (mut a, mut b) = (0.0, 0.0);
            for i in 0..m {
                let gam = gamma[ch_of(i)] as f64;
                a += gam * gp[i] / m as f64;
                b += gam * gp[i] * xhat[i] / m as f64;
                dbeta[ch_of(i)] += gp[i];
                dgamma[ch_of(i)] += gp[i] * xhat[i];
            }
            for i in 0..m {
                dx[u * m + i] = rstd * (gamma[ch_of(i)] as f64 * gp[i] - a - xhat[i] * b);
            }
        }
        (dx, dgamma, dbeta)
    }

    fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let err = (a as f64 - b).abs();
            assert!(
                err <= tol * (1.0 + b.abs()),
                "{what}[{i}]: got {a}, want {b} (err {err:e})"
            );
        }
    }

    /// All kernel outputs of one forward + backward call.
    type Outputs = [Vec<f32>; 6];

    /// Runs forward then backward with the current kernel variant.
    fn run(
        s: &Shape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        g: &[f32],
        eps: f32,
        relu: bool,
    ) -> Outputs {
        let len = x.len();
        let (mut out, mut mean, mut rstd) = (
            vec![f32::NAN; len],
            vec![f32::NAN; s.n * s.groups],
            vec![f32::NAN; s.n * s.groups],
        );
        group_norm_forward(
            x, gamma, beta, s.n, s.c, s.hw, s.groups, eps, relu, &mut out, &mut mean, &mut rstd,
        );
        let (mut dx, mut dgamma, mut dbeta) = (
            vec![f32::NAN; len],
            vec![f32::NAN; s.c],
            vec![f32::NAN; s.c],
        );
        let out_arg: &[f32] = if relu { &out } else { &[] };
        group_norm_backward(
            g,
            x,
            out_arg,
            gamma,
            &mean,
            &rstd,
            s.n,
            s.c,
            s.hw,
            s.groups,
            relu,
            &mut dx,
            &mut dgamma,
            &mut dbeta,
        );
        [out, mean, rstd, dx, dgamma, dbeta]
    }

    /// Runs forward and backward on random data with every kernel variant,
    /// checks them against the references and checks that all variants agree
    /// bit for bit.
    fn check(s: &Shape, relu: bool, offset: f32, seed: u64) {
        let mut rng = Rng(seed);
        let len = s.n * s.c * s.hw;
        let x = rng.vec(len, offset - 2.0, offset + 2.0);
        let gamma = rng.vec(s.c, 0.5, 1.5);
        let beta = rng.vec(s.c, -0.5, 0.5);
        let g = rng.vec(len, -1.0, 1.0);
        let eps = 1e-5;
        let mut results: Vec<Outputs> = vec![];
        for_each_isa(|| results.push(run(s, &x, &gamma, &beta, &g, eps, relu)));
        let [out, mean, rstd, dx, dgamma, dbeta] = &results[0];
        let (r_out, r_mean, r_rstd) = ref_forward(&x, &gamma, &beta, s, eps as f64, relu);
        assert_close("out", out, &r_out, 1e-5);
        assert_close("mean", mean, &r_mean, 1e-5);
        assert_close("rstd", rstd, &r_rstd, 1e-5);
        let (r_dx, r_dgamma, r_dbeta) =
            ref_backward(&g, &x, relu.then_some(&out[..]), &gamma, s, eps as f64);
        assert_close("dx", dx, &r_dx, 1e-4);
        assert_close("dgamma", dgamma, &r_dgamma, 1e-4);
        assert_close("dbeta", dbeta, &r_dbeta, 1e-4);
        for other in &results[1..] {
            for (a, b) in results[0].iter().zip(other) {
                assert!(
                    a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "kernel variants disagree"
                );
            }
        }
    }

    #[test]
    fn matches_reference_on_small_shapes() {
        let mut seed = 1;
        for n in [1, 3] {
            for c in [3, 16, 32] {
                for (h, w) in [(7, 5), (33, 17), (1, 1), (64, 64)] {
                    for groups in [1, if c % 2 == 0 { 2 } else { 3 }, c] {
                        for relu in [false, true] {
                            seed += 1;
                            check(
                                &Shape {
                                    n,
                                    c,
                                    hw: h * w,
                                    groups,
                                },
                                relu,
                                0.0,
                                seed,
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn matches_reference_on_model_shapes() {
        // The full batch of 32 in optimised builds; a smaller one keeps debug runs quick.
        let n = if cfg!(debug_assertions) { 4 } else { 32 };
        for (c, hw) in [(16, 64 * 64), (32, 32 * 32), (32, 16 * 16)] {
            for relu in [false, true] {
                check(
                    &Shape {
                        n,
                        c,
                        hw,
                        groups: 1,
                    },
                    relu,
                    0.0,
                    7 + c as u64,
                );
            }
        }
        check(
            &Shape {
                n: 32,
                c: 32,
                hw: 17 * 9,
                groups: 32,
            },
            true,
            0.0,
            99,
        );
    }

    #[test]
    fn accurate_with_large_mean() {
        for offset in [10.0, -30.0] {
            check(
                &Shape {
                    n: 2,
                    c: 16,
                    hw: 33 * 31,
                    groups: 1,
                },
                false,
                offset,
                5,
            );
            check(
                &Shape {
                    n: 2,
                    c: 16,
                    hw: 33 * 31,
                    groups: 4,
                },
                true,
                offset,
                6,
            );
        }
    }

    /// The statistics stay accurate (to f32 rounding) for badly conditioned
    /// data: a huge outlier first, channel means far apart, tiny spread inside
    /// channels.
    #[test]
    fn accurate_on_ill_conditioned_data() {
        let (n, c, hw) = (2, 4, 3000);
        let mut rng = Rng(11);
        let mut x = rng.vec(n * c * hw, -0.01, 0.01);
        for (i, v) in x.iter_mut().enumerate() {
            *v += [50.0, -20.0, 51.0, 49.5][(i / hw) % c];
        }
        x[0] = 1e4;
        x[5000] = -3e3;
        let gamma = vec![1.0; c];
        let beta = vec![0.0; c];
        for groups in [1, 2, 4] {
            let s = Shape { n, c, hw, groups };
            let (mut out, mut mean, mut rstd) = (
                vec![0.0; x.len()],
                vec![0.0; n * groups],
                vec![0.0; n * groups],
            );
            group_norm_forward(
                &x, &gamma, &beta, n, c, hw, groups, 1e-5, false, &mut out, &mut mean, &mut rstd,
            );
            let (r_out, r_mean, r_rstd) = ref_forward(&x, &gamma, &beta, &s, 1e-5, false);
            // Only the statistics are checked: with |μ|/σ ≈ 8000 the f32 rounding
            // of μ alone moves the outputs by ~3e-4 (the inputs themselves are
            // only resolved to ulp(51)/σ ≈ 7e-4 σ).
            let _ = r_out;
            assert_close("mean", &mean, &r_mean, 1e-7);
            let rel: Vec<f64> = rstd
                .iter()
                .zip(&r_rstd)
                .map(|(&a, &b)| a as f64 / b)
                .collect();
            assert_close("rstd ratio", &vec![1.0; rel.len()], &rel, 1e-6);
        }
    }

    #[test]
    fn constant_input_is_finite() {
        let (n, c, hw) = (2, 4, 9);
        let x = vec![3.0f32; n * c * hw];
        let gamma = vec![1.0; c];
        let beta = vec![0.25; c];
        let (mut out, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; n], vec![0.0; n]);
        group_norm_forward(
            &x, &gamma, &beta, n, c, hw, 1, 1e-5, false, &mut out, &mut mean, &mut rstd,
        );
        assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6), "{out:?}");
        assert!(mean.iter().all(|&m| m == 3.0));
    }

    /// Central finite differences of `L = Σ g · out` computed with the f64 reference.
    #[test]
    fn backward_matches_finite_differences() {
        for (relu, groups) in [(false, 1), (false, 2), (true, 1), (true, 4)] {
            let s = Shape {
                n: 2,
                c: 4,
                hw: 3 * 2,
                groups,
            };
            let mut rng = Rng(42 + groups as u64);
            let len = s.n * s.c * s.hw;
            let x = rng.vec(len, -2.0, 2.0);
            let gamma = rng.vec(s.c, 0.5, 1.5);
            let beta = rng.vec(s.c, -0.2, 0.2);
            let g = rng.vec(len, -1.0, 1.0);
            let eps = 1e-5f32;
            let (mut out, mut mean, mut rstd) = (
                vec![0.0; len],
                vec![0.0; s.n * groups],
                vec![0.0; s.n * groups],
            );
            group_norm_forward(
                &x, &gamma, &beta, s.n, s.c, s.hw, groups, eps, relu, &mut out, &mut mean,
                &mut rstd,
            );
            let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; len], vec![0.0; s.c], vec![0.0; s.c]);
            group_norm_backward(
                &g,
                &x,
                &out,
                &gamma,
                &mean,
                &rstd,
                s.n,
                s.c,
                s.hw,
                groups,
                relu,
                &mut dx,
                &mut dgamma,
                &mut dbeta,
            );

            let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
                // An f64 re-implementation (the reference takes f32 inputs,
                // which would round the perturbations away).
                let cg = s.c / groups;
                let m = cg * s.hw;
                let mut l = 0.0;
                for u in 0..s.n * groups {
                    let xs = &x[u * m..(u + 1) * m];
                    let mu = xs.iter().sum::<f64>() / m as f64;
                    let var = xs.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / m as f64;
                    for (i, v) in xs.iter().enumerate() {
                        let ch = (u % groups) * cg + i / s.hw;
                        let y = gamma[ch] * (v - mu) / (var + eps as f64).sqrt() + beta[ch];
                        l += g[u * m + i] as f64 * if relu { y.max(0.0) } else { y };
                    }
                }
                l
            };
            let to64 = |v: &[f32]| v.iter().map(|&t| t as f64).collect::<Vec<f64>>();
            let (x64, g64, b64) = (to64(&x), to64(&gamma), to64(&beta));
            let h = 1e-5;
            let fd = |which: usize, i: usize| {
                let mut p = [x64.clone(), g64.clone(), b64.clone()];
                let mut q = p.clone();
                p[which][i] += h;
                q[which][i] -= h;
                (loss(&p[0], &p[1], &p[2]) - loss(&q[0], &q[1], &q[2])) / (2.0 * h)
            };
            let want_dx: Vec<f64> = (0..len).map(|i| fd(0, i)).collect();
            let want_dgamma: Vec<f64> = (0..s.c).map(|i| fd(1, i)).collect();
            let want_dbeta: Vec<f64> = (0..s.c).map(|i| fd(2, i)).collect();
            assert_close("fd dx", &dx, &want_dx, 1e-3);
            assert_close("fd dgamma", &dgamma, &want_dgamma, 1e-3);
            assert_close("fd dbeta", &dbeta, &want_dbeta, 1e-3);
        }
    }

    #[test]
    fn empty_batch_is_a_no_op() {
        let (mut mean, mut rstd) = (vec![], vec![]);
        group_norm_forward(
            &[],
            &[1.0; 4],
            &[0.0; 4],
            0,
            4,
            16,
            2,
            1e-5,
            true,
            &mut [],
            &mut mean,
            &mut rstd,
        );
        let (mut dg, mut db) = (vec![1.0; 4], vec![1.0; 4]);
        group_norm_backward(
            &[],
            &[],
            &[],
            &[1.0; 4],
            &[],
            &[],
            0,
            4,
            16,
            2,
            true,
            &mut [],
            &mut dg,
            &mut db,
        );
        assert_eq!((dg, db), (vec![0.0; 4], vec![0.0; 4]));
    }
}
