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
//! (optionally of `relu(x)` instead of `x`: the ReLU of the layer before, fused into the
//! statistics and the normalization, its gradient into the backward's last pass).
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

mod backward;
mod forward;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::Isa;
use backward::{UnitGrads, backward_unit};
use forward::forward_unit;

/// Elements per statistics block (4 KiB per operand): `f32` lane sums cover
/// one block, then move to `f64`, which bounds their rounding error.
pub(super) const BLOCK: usize = 1024;
/// Minimum elements per rayon task, to keep scheduling overhead negligible.
const MIN_TASK_ELEMS: usize = 1 << 15;

/// Where a GroupNorm call applies ReLUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relus {
    /// Normalize `relu(x)` instead of `x` (the ReLU of the layer before, fused here: its
    /// gradient is masked by `x > 0` in [`group_norm_backward`]).
    pub input: bool,
    /// Rectify the output.
    pub output: bool,
}

impl Relus {
    /// A ReLU on the output only when `relu`.
    pub fn on_output(relu: bool) -> Self {
        Self {
            input: false,
            output: relu,
        }
    }
}

/// Computes the GroupNorm forward pass, with the ReLUs `relu` asks for.
///
/// * `x`, `out`: `[n, c, hw]` contiguous (NCHW with `hw = h * w`).
/// * `gamma`, `beta`: `[c]` per-channel affine weight and bias.
/// * `groups` must divide `c`; `eps` is added to the biased variance
///   (PyTorch's default is `1e-5`).
/// * `mean`, `rstd`: `[n, groups]` outputs, the per-group mean and
///   `1 / sqrt(var + eps)`; keep them (and `out` if `relu.output`) for
///   [`group_norm_backward`].
///
/// Every element of `out`, `mean` and `rstd` is written; `out` may start uninitialized
/// (see [`as_uninit`](super::as_uninit) for initialized buffers).
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
    relu: Relus,
    out: &mut [MaybeUninit<f32>],
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
            let (mv, rv) = match (relu.input, relu.output) {
                (false, false) => forward_unit::<false, false>(isa, xu, g, b, hw, eps, ou),
                (false, true) => forward_unit::<false, true>(isa, xu, g, b, hw, eps, ou),
                (true, false) => forward_unit::<true, false>(isa, xu, g, b, hw, eps, ou),
                (true, true) => forward_unit::<true, true>(isa, xu, g, b, hw, eps, ou),
            };
            *mu = mv;
            *ru = rv;
        });
}

/// Computes the GroupNorm backward pass (of [`group_norm_forward`] with the same
/// `relu`).
///
/// * `grad_out`, `x`, `grad_x`: `[n, c, hw]` (`x` as given to the forward, before its input
///   ReLU if `relu.input`).
/// * `out`: the forward output `[n, c, hw]`, read only when `relu.output` (ReLU mask
///   `out > 0`); pass an empty slice otherwise.
/// * `gamma`: `[c]`; `mean`, `rstd`: `[n, groups]` as saved by the forward.
/// * `grad_gamma`, `grad_beta`: `[c]` outputs (overwritten, not accumulated).
/// * `prior`: when given (`[n, c, hw]`), a gradient of `x` from elsewhere that `grad_x`
///   receives added (`grad_x = dx + prior`, the f32 addition burn's gradient accumulation
///   makes): the sum of the two in the same parallel pass.
///
/// With `g' = grad_out · [out > 0 if relu.output]`, `M = (c / groups) · hw`:
/// `dβ_c = Σ g'`, `dγ_c = Σ g' x̂`, and per group
/// `dx = rstd · (γ g' − mean(γ g') − x̂ · mean(γ g' x̂))`, times `[x > 0]` if `relu.input`.
///
/// Every element of the outputs is written; `grad_x` may start uninitialized. The result
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
    relu: Relus,
    grad_x: &mut [MaybeUninit<f32>],
    prior: Option<&[f32]>,
    grad_gamma: &mut [f32],
    grad_beta: &mut [f32],
) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "groups ({groups}) must divide c ({c})"
    );
    assert!(
        prior.is_none_or(|p| p.len() == n * c * hw),
        "prior: [n, c, hw]"
    );
    debug_assert_eq!(grad_out.len(), n * c * hw);
    debug_assert_eq!(x.len(), n * c * hw);
    debug_assert!(!relu.output || out.len() == n * c * hw);
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
    let mask_src = if relu.output { out } else { grad_out };
    // The same stand-in for an absent `prior`.
    let prior_src = prior.unwrap_or(grad_out);
    let add = prior.is_some();
    // Per-(sample, channel) partial sums, reduced serially below (deterministic).
    let mut partial_g = vec![0.0f64; n * c];
    let mut partial_gx = vec![0.0f64; n * c];
    let isa = Isa::detect();
    grad_out
        .par_chunks(m)
        .zip(x.par_chunks(m))
        .zip(mask_src.par_chunks(m).zip(prior_src.par_chunks(m)))
        .zip(grad_x.par_chunks_mut(m))
        .zip(
            partial_g
                .par_chunks_mut(cg)
                .zip(partial_gx.par_chunks_mut(cg)),
        )
        .enumerate()
        .with_min_len(min_units(m))
        .for_each(|(unit, ((((gu, xu), (yu, prior)), dxu), (pg, pgx)))| {
            let g = &gamma[(unit % groups) * cg..(unit % groups + 1) * cg];
            let stats = (mean[unit], rstd[unit]);
            let ins = UnitGrads {
                grad_out: gu,
                x: xu,
                mask_src: yu,
                prior,
                gamma: g,
                hw,
                stats,
            };
            match (relu.input, relu.output, add) {
                (false, false, false) => {
                    backward_unit::<false, false, false>(isa, ins, dxu, pg, pgx)
                }
                (false, false, true) => backward_unit::<false, false, true>(isa, ins, dxu, pg, pgx),
                (false, true, false) => backward_unit::<false, true, false>(isa, ins, dxu, pg, pgx),
                (false, true, true) => backward_unit::<false, true, true>(isa, ins, dxu, pg, pgx),
                (true, false, false) => backward_unit::<true, false, false>(isa, ins, dxu, pg, pgx),
                (true, false, true) => backward_unit::<true, false, true>(isa, ins, dxu, pg, pgx),
                (true, true, false) => backward_unit::<true, true, false>(isa, ins, dxu, pg, pgx),
                (true, true, true) => backward_unit::<true, true, true>(isa, ins, dxu, pg, pgx),
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
