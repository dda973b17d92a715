//! The forward pass of one (sample, group) unit: one-pass blocked statistics, then the
//! affine (and ReLU) pass.

use std::array::from_fn;
use std::mem::MaybeUninit;

use super::BLOCK;
use crate::kernels::cpu::lanes::{LANES, add_lanes, hsum, lane_sum};
use crate::kernels::isa::multiversion;

multiversion!(pub(super) forward_unit<RELU_IN, RELU>(
    x: &[f32], gamma: &[f32], beta: &[f32], hw: usize, eps: f64, out: &mut [MaybeUninit<f32>]
) -> (f32, f32) => forward_unit_impl);

/// Normalises one (sample, group) unit (of `relu(x)` if `RELU_IN`): `x`/`out` hold
/// `gamma.len()` channel planes of `hw` elements. Returns the group's `(mean, rstd)`.
#[inline(always)]
fn forward_unit_impl<const RELU_IN: bool, const RELU: bool>(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    hw: usize,
    eps: f64,
    out: &mut [MaybeUninit<f32>],
) -> (f32, f32) {
    let (mean, var) = moments::<RELU_IN>(x);
    let (mean, rstd) = (mean as f32, (1.0 / (var + eps).sqrt()) as f32);
    let planes = x.chunks_exact(hw).zip(out.chunks_exact_mut(hw));
    for ((xc, oc), (&g, &b)) in planes.zip(gamma.iter().zip(beta)) {
        affine::<RELU_IN, RELU>(xc, oc, mean, g * rstd, b);
    }
    (mean, rstd)
}

/// `relu(v)` if `R` (NaN propagates, as in PyTorch), else `v`.
#[inline(always)]
pub(super) fn rect<const R: bool>(v: f32) -> f32 {
    if R && v < 0.0 { 0.0 } else { v }
}

/// `out = (x − mean) · scale + shift` (`x` rectified first if `RELU_IN`), then ReLU if
/// `RELU` (NaN propagates). Centring first keeps the result exact for constant inputs
/// (where `scale` is `γ / sqrt(eps)`), unlike the cheaper `x · scale + (shift − mean · scale)`.
#[inline(always)]
fn affine<const RELU_IN: bool, const RELU: bool>(
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    mean: f32,
    scale: f32,
    shift: f32,
) {
    for (o, &v) in out.iter_mut().zip(x) {
        let y = (rect::<RELU_IN>(v) - mean) * scale + shift;
        o.write(if RELU && y < 0.0 { 0.0 } else { y });
    }
}

/// Mean and biased variance of `x` (of `relu(x)` if `R`; non-empty), merged blockwise in
/// `f64`.
#[inline(always)]
fn moments<const R: bool>(x: &[f32]) -> (f64, f64) {
    let (mut count, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    // Pivot for the first block: its own mean (one extra pass over it in L1);
    // for later blocks, the running mean.
    let first = &x[..x.len().min(BLOCK)];
    let mut pivot = rect_lane_sum::<R>(first) / first.len() as f32;
    for block in x.chunks(BLOCK) {
        let nb = block.len() as f64;
        let (mb, m2b) = block_moments::<R>(block, pivot);
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

/// [`lane_sum`] of `x` (of `relu(x)` if `R`, summed in the same order, so that a fused
/// input ReLU gives the bits of normalizing a rectified tensor).
#[inline(always)]
fn rect_lane_sum<const R: bool>(x: &[f32]) -> f32 {
    if !R {
        return lane_sum(x);
    }
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for ch in chunks {
        add_lanes(&mut acc, &from_fn(|l| rect::<R>(ch[l])));
    }
    hsum(&acc) + rest.iter().map(|&v| rect::<R>(v)).sum::<f32>()
}

/// Mean and centred sum of squares of a block, from one pass accumulating
/// `x - p` and `(x - p)²` around a pivot `p` close to the data (exact for any
/// `p`; accurate while `|p - mean|` is not much larger than the spread).
#[inline(always)]
fn block_moments<const R: bool>(x: &[f32], pivot: f32) -> (f64, f64) {
    let nb = x.len() as f64;
    let (chunks, rest) = x.as_chunks::<LANES>();
    let (mut d, mut q) = ([0.0f32; LANES], [0.0f32; LANES]);
    for ch in chunks {
        let t: [f32; LANES] = from_fn(|l| rect::<R>(ch[l]) - pivot);
        add_lanes(&mut d, &t);
        add_lanes(&mut q, &from_fn(|l| t[l] * t[l]));
    }
    let (mut dr, mut qr) = (0.0f32, 0.0f32);
    for &v in rest {
        let t = rect::<R>(v) - pivot;
        dr += t;
        qr += t * t;
    }
    let (d, q) = (f64::from(hsum(&d) + dr), f64::from(hsum(&q) + qr));
    (f64::from(pivot) + d / nb, q - d * d / nb)
}
