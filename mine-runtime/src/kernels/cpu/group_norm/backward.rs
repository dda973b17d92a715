//! The backward pass of one (sample, group) unit: per-channel sums of the (masked)
//! gradient and of its product with x̂, then the input gradient.

use std::array::from_fn;
use std::mem::MaybeUninit;

use super::BLOCK;
use super::forward::rect;
use crate::kernels::cpu::lanes::{LANES, add_lanes, hsum};
use crate::kernels::isa::multiversion;

/// Read-only inputs of one (sample, group) unit of the backward pass.
#[derive(Clone, Copy)]
pub(super) struct UnitGrads<'a> {
    pub(super) grad_out: &'a [f32],
    pub(super) x: &'a [f32],
    /// Forward output (ReLU mask source) when ReLU is fused, else unused.
    pub(super) mask_src: &'a [f32],
    /// A gradient of `x` that `grad_x` receives added when `ADD`, else unused.
    pub(super) prior: &'a [f32],
    pub(super) gamma: &'a [f32],
    pub(super) hw: usize,
    /// `(mean, rstd)` of the group.
    pub(super) stats: (f32, f32),
}

multiversion!(pub(super) backward_unit<RELU_IN, RELU, ADD>(
    ins: UnitGrads<'_>, grad_x: &mut [MaybeUninit<f32>], part_g: &mut [f64], part_gx: &mut [f64]
) => backward_unit_impl);

/// Backward of one unit: writes `grad_x` (plus `prior` if `ADD`) and the unit's per-channel
/// partial sums `part_g[ch] = Σ g'`, `part_gx[ch] = Σ g' x̂` (x̂ of `relu(x)` and `grad_x`
/// masked by `x > 0` if `RELU_IN`).
#[inline(always)]
fn backward_unit_impl<const RELU_IN: bool, const RELU: bool, const ADD: bool>(
    ins: UnitGrads<'_>,
    grad_x: &mut [MaybeUninit<f32>],
    part_g: &mut [f64],
    part_gx: &mut [f64],
) {
    let UnitGrads {
        grad_out,
        x,
        mask_src,
        prior,
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
        let (sg, sgx) = plane_sums::<RELU_IN, RELU>(g, xs, y, mean, rstd);
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
    let outputs = grad_x.chunks_exact_mut(hw).zip(prior.chunks_exact(hw));
    for (((g, xs), y), (&gm, (dx, pr))) in planes().zip(gamma.iter().zip(outputs)) {
        let k_g = rstd * gm;
        for ((((d, &gv), &xv), &yv), &pv) in dx.iter_mut().zip(g).zip(xs).zip(y).zip(pr) {
            let xhat = (rect::<RELU_IN>(xv) - mean) * rstd;
            let dx = k_g * masked::<RELU>(gv, yv) - (k_xhat * xhat + k_const);
            // Through the input's ReLU: zero unless `x > 0` (NaN included).
            let passes = !RELU_IN || xv > 0.0;
            let dx = if passes { dx } else { 0.0 };
            d.write(if ADD { dx + pv } else { dx });
        }
    }
}

/// `(Σ g', Σ g' x̂)` over one channel plane, blockwise `f32` lanes into `f64`.
#[inline(always)]
fn plane_sums<const RELU_IN: bool, const RELU: bool>(
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
            add_lanes(
                &mut agx,
                &from_fn(|l| gm[l] * ((rect::<RELU_IN>(x16[l]) - mean) * rstd)),
            );
        }
        let (mut rg, mut rgx) = (0.0f32, 0.0f32);
        for ((&gv, &xv), &yv) in gr.iter().zip(xr).zip(yr) {
            let gm = masked::<RELU>(gv, yv);
            rg += gm;
            rgx += gm * ((rect::<RELU_IN>(xv) - mean) * rstd);
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
