//! The weight gradient of the wide 3x3 convolutions under bf16 autocast, by Winograd F(2x2,
//! 3x3) with `vdpbf16ps`: the backward pass of `winograd_bf16`'s forward.
//!
//! The f32 Winograd weight gradient (`winograd_weight_grad.rs`) sums `dU_ξ = Σ_tiles dM_ξ
//! V_ξᵀ` over the tiles (16 multiplies per tile and channel pair instead of 36), then turns
//! `dU` into `dW = Gᵀ dU G`. Here each chunk's transformed input `V` and transformed output
//! gradient `dM` (computed in f32 from the unrounded operands) are rounded to bf16 once, in
//! pairs of adjacent tiles, and `vdpbf16ps` takes two tiles per instruction; `dU` and the
//! inverse transform stay f32, and the weight gradient is rounded to bf16 at the end, as the
//! direct kernel's. As with the forward, this rounds the transforms, not the operands as
//! PyTorch's CPU autocast does ([`KernelOptions::bf16_winograd`](crate::kernels::KernelOptions)
//! turns it off with the forward's).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::cpu::lanes::LANES;

use super::dpbf16::{as_bh, to_pairs};
use super::weight_grad::{Method, accumulate};
use super::winograd::{XI, tile_input};
use super::winograd_bf16::handles_bf16;
use super::winograd_weight_grad::{GradImage, Tile};
use super::{Padded, image_lens};

/// Whether this kernel computes the bf16 weight gradient of `s` on this CPU: the shapes whose
/// forward `winograd_bf16` computes.
pub fn handles_weight_grad(s: &ConvShape) -> bool {
    handles_bf16(s)
}

/// The weight gradient (`[C_out][C_in][3][3]`, rounded to bf16, written whole) and, when asked,
/// the bias gradient (the sum of the output gradient rounded to bf16, rounded). Needs
/// [`handles_weight_grad`].
pub fn weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    mut grad_bias: Option<&mut [f32]>,
) {
    assert!(
        handles_weight_grad(s),
        "winograd_bf16::weight_grad: unsupported {s:?}"
    );
    image_lens(s, x.len(), grad_out.len(), "winograd_bf16::weight_grad");
    let len = s.out_channels * s.in_channels * 9;
    assert_eq!(
        grad_weight.len(),
        len,
        "winograd_bf16: weight gradient length"
    );
    let bias = grad_bias.as_deref_mut();
    accumulate(s, x, grad_out, grad_weight, bias, Method::WinogradBf16);
    bf16::round_in_place(grad_weight);
    if let Some(db) = grad_bias {
        bf16::round_in_place(db);
    }
}

/// Lanes of the rounded transforms one thread needs for `p` (chunks of at most 32 tiles): `V`
/// (`[16][C_in][16]`) and a block's `dM` (`[16][16][16]`), in pairs of tiles.
pub(super) fn pairs_len(p: Padded) -> usize {
    XI * p.channels * LANES + XI * LANES * LANES
}

/// The chunk of `S` tiles from tile `t0` of tile row `ty`: `V` and, block by block of 16 output
/// channels, `dM` (from the transposed gradient `gt`, `[2][2S][lanes]`) rounded to bf16 in
/// pairs of adjacent tiles into `pairs`, and their products added to `du` (`[16][C_in][lanes]`).
///
/// # Safety
/// The CPU has AVX-512 F/BW and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn chunk<const S: usize>(
    job: &GradImage,
    gt: &[f32],
    ty: usize,
    t0: usize,
    pairs: &mut [u32],
    du: &mut [f32],
) {
    let (p, half) = (job.p, S / 2);
    let (vb, dmb) = pairs.split_at_mut(XI * p.channels * half);
    assert!(dmb.len() >= XI * half * LANES);
    for c in 0..p.channels {
        for t in (0..S).step_by(LANES) {
            let values = tile_input(p, job.padded, c, ty, t0 + t);
            for (xi, value) in values.into_iter().enumerate() {
                // Lane i: tile t + 2i in the low half, t + 2i + 1 in the high half.
                let dst = &mut vb[(xi * p.channels + c) * half + t / 2..][..LANES / 2];
                // SAFETY: `dst` holds 8 lanes (256 bits); plain data either way.
                unsafe {
                    let rounded: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(value));
                    _mm256_storeu_si256(dst.as_mut_ptr().cast(), rounded);
                }
            }
        }
    }
    for block in 0..job.lanes / LANES {
        for k in 0..half {
            let even = job.tile_gradient::<S>(gt, block, 2 * k);
            let odd = job.tile_gradient::<S>(gt, block, 2 * k + 1);
            for (xi, (even, odd)) in even.into_iter().zip(odd).enumerate() {
                let dst = &mut dmb[(xi * half + k) * LANES..][..LANES];
                // SAFETY: `dst` holds 16 lanes.
                unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), to_pairs(even, odd)) };
            }
        }
        for xi in 0..XI {
            let mut c = 0;
            while c < p.channels {
                let at = Tile { xi, block, c0: c };
                c += match p.channels - c {
                    16.. => accumulate_pairs::<S, 16>(job, vb, dmb, at, du),
                    8.. => accumulate_pairs::<S, 8>(job, vb, dmb, at, du),
                    4.. => accumulate_pairs::<S, 4>(job, vb, dmb, at, du),
                    _ => accumulate_pairs::<S, 1>(job, vb, dmb, at, du),
                };
            }
        }
    }
}

/// `du[ξ][c0 + c][16 * block ..] += Σ_k dMb_ξ(k) · Vb_ξ(c0 + c, k)` for `c < N` over the
/// chunk's `S / 2` pairs of tiles; returns `N`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
fn accumulate_pairs<const S: usize, const N: usize>(
    job: &GradImage,
    vb: &[u32],
    dmb: &[u32],
    at: Tile,
    du: &mut [f32],
) -> usize {
    let Tile { xi, block, c0 } = at;
    let (channels, lanes, half) = (job.p.channels, job.lanes, S / 2);
    assert!(c0 + N <= channels && block * LANES + LANES <= lanes);
    let grads = &dmb[xi * half * LANES..][..half * LANES];
    let vs = &vb[(xi * channels + c0) * half..][..N * half];
    let mut acc = [_mm512_setzero_ps(); N];
    for k in 0..half {
        // SAFETY: pair `k < S / 2` of `grads` (16 lanes) and of input channel `c < N` of `vs`
        // (`vs[c * S / 2 + k]`) are inside the slices.
        unsafe {
            let g = as_bh(_mm512_loadu_si512(grads.as_ptr().add(k * LANES).cast()));
            let x = vs.as_ptr().add(k);
            for (c, acc) in acc.iter_mut().enumerate() {
                let xv = as_bh(_mm512_set1_epi32(*x.add(c * half) as i32));
                *acc = _mm512_dpbf16_ps(*acc, g, xv);
            }
        }
    }
    job.add_sums(&acc, at, du);
    N
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::conv::conv2d_weight_grad;
    use crate::kernels::cpu::conv3x3::dpbf16_weight_grad;
    use crate::kernels::cpu::conv3x3::winograd_bf16::tests::values;
    use crate::kernels::cpu::test_data::relative_rms;

    /// Against the exact weight gradient (the f32 kernels on the unrounded operands), the bf16
    /// Winograd error stays below 6e-3 relative and within 2x the direct `vdpbf16ps` kernel's;
    /// the gradients are bf16, the bias gradient the direct kernel's (the rounded gradient's
    /// sum) within a bf16 unit. Chunks of 32 tiles (width 64) and 16 (width 32), odd channel
    /// counts, several images a thread.
    #[test]
    fn weight_grad_stays_near_the_exact_one() {
        if !super::super::dpbf16::available() {
            eprintln!(
                "no AVX512_BF16 on this CPU: the bf16 Winograd weight gradient is not tested"
            );
            return;
        }
        for (n, ci, co, h, w) in [
            (2, 64, 64, 8, 64),
            (3, 65, 70, 4, 32),
            (1, 128, 128, 6, 32),
            (5, 64, 72, 2, 96),
        ] {
            let s = ConvShape::same_3x3(n, ci, co, [h, w]);
            assert!(handles_weight_grad(&s), "{s:?}");
            let (x, g) = (values(n * ci * h * w, 21), values(n * co * h * w, 22));
            let len = co * ci * 9;
            let (mut exact, mut exact_b) = (vec![0.0; len], vec![0.0; co]);
            conv2d_weight_grad(&s, &x, &g, &mut exact, Some(&mut exact_b));
            let (mut ours, mut ours_b) = (vec![f32::NAN; len], vec![f32::NAN; co]);
            weight_grad(&s, &x, &g, &mut ours, Some(&mut ours_b));
            let (mut direct, mut direct_b) = (vec![0.0; len], vec![0.0; co]);
            dpbf16_weight_grad::weight_grad(&s, &x, &g, &mut direct, Some(&mut direct_b));
            assert!(ours.iter().all(|&v| bf16::round(v) == v), "{s:?}: not bf16");
            let (e, e_direct) = (relative_rms(&ours, &exact), relative_rms(&direct, &exact));
            assert!(
                e < 6e-3 && e <= 2.0 * e_direct,
                "{s:?}: weight gradient error {e:.2e} (direct kernel {e_direct:.2e})"
            );
            for (o, (a, b)) in ours_b.iter().zip(&direct_b).enumerate() {
                assert!(
                    (a - b).abs() <= b.abs() / 128.0,
                    "{s:?}: bias gradient {o}: {a} vs {b}"
                );
            }
        }
    }
}
