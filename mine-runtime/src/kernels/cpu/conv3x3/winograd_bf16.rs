//! Winograd F(2x2, 3x3) with `vdpbf16ps`: the forward and input gradient of the wide 3x3
//! convolutions under bf16 autocast.
//!
//! The f32 Winograd kernel (`winograd.rs`) turns each 2x2 block of outputs into 16 products
//! per channel pair instead of 36; here the transformed input (`V = Bᵀ d B`, from the f32
//! input) and the transformed weight (`U = G g Gᵀ`, from the f32 weight) are each rounded to
//! bf16 once, in input-channel pairs, and the 16 products accumulate in f32 with `vdpbf16ps`
//! (two channels per instruction); the inverse transform runs in f32 and the result is rounded
//! to bf16, as the direct kernel's. The weight gradient of the same shapes is
//! `winograd_bf16_weight_grad`'s.
//!
//! This is not what PyTorch's CPU autocast computes (it rounds `d` and `g`, not their
//! transforms): on random and on rectified inputs the error against the exact convolution is
//! 1.35-1.6x the direct bf16 kernel's (relative RMS 3.8e-3 to 4.5e-3 against 2.8e-3 to
//! 2.9e-3, both with the output rounded; `examples/reference/bf16_winograd_error.py`), about
//! half a bit of bf16's 8. [`KernelOptions::bf16_winograd`](crate::kernels::KernelOptions)
//! turns it off (the direct `vdpbf16ps` kernel then runs every shape, as PyTorch rounds).
//! It runs only where it was measured faster than the direct kernel: at least
//! [`MIN_CHANNELS`] input and output channels (the published VPT widths), whole vectors of
//! tiles.

use std::cell::RefCell;
use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::cpu::lanes::LANES;

use super::dpbf16::{available, pair};
use super::winograd::{self, OB, Winograd, XI, transform_weight};
use super::{Padded, flip_weight, handles, image_lens, with_padded};

/// Fewest input and output channels for which this kernel runs: measured against the direct
/// `vdpbf16ps` kernel on AMD Zen 4 (BENCHMARKS.md), it gains 15-45% from 64 channels on both
/// sides, loses at 16-32 input channels, and loses 2.6x at 64 -> 3 (the input gradient of an
/// RGB layer: a register tile of 8 output channels holding 3).
pub const MIN_CHANNELS: usize = 64;

thread_local! {
    /// The calling thread's transformed chunk of tiles in bf16 pairs of input channels
    /// (`[16][C_in / 2][16]`).
    static TRANSFORMED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Whether this kernel computes the bf16 forward of `s` (and the input gradient of the
/// convolution whose output has `s.in_channels` channels) on this CPU.
pub fn handles_bf16(s: &ConvShape) -> bool {
    crate::kernels::options().bf16_winograd
        && s.in_channels >= MIN_CHANNELS
        && s.out_channels >= MIN_CHANNELS
        && handles(s)
        && winograd::fits(s)
        && available()
}

/// `U = G g Gᵀ` of the f32 weight, rounded to bf16 and packed `[C_out / OB][16][C_in / 2][OB]`
/// in input-channel pairs.
fn pack_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<u32> {
    let u = transform_weight(weight, out_channels, in_channels);
    let (blocks, pairs) = (out_channels.div_ceil(OB), in_channels.div_ceil(2));
    let mut packed = vec![0; blocks * XI * pairs * OB];
    for (dst, src) in packed
        .chunks_exact_mut(pairs * OB)
        .zip(u.chunks_exact(in_channels * OB))
    {
        for p in 0..pairs {
            for lane in 0..OB {
                let at = |c: usize| match c < in_channels {
                    true => src[c * OB + lane],
                    false => 0.0,
                };
                dst[p * OB + lane] = pair(at(2 * p), at(2 * p + 1));
            }
        }
    }
    packed
}

/// `out = conv3x3(x, weight) + bias` (then ReLU when `relu`), rounded to bf16; NCHW, every
/// element of `out` written. Needs [`handles_bf16`].
pub fn forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(handles_bf16(s), "winograd_bf16::forward: unsupported {s:?}");
    let (in_len, out_len) = image_lens(s, x.len(), out.len(), "winograd_bf16");
    let p = Padded::input(s);
    let packed = pack_weight(weight, s.out_channels, s.in_channels);
    let bias: Option<Vec<f32>> = bias.map(bf16::rounded);
    let job = Winograd {
        p,
        out_channels: s.out_channels,
        packed: &[],
        bias: bias.as_deref(),
        relu,
        round: true,
        wide: false,
    };
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(out, image)| {
            with_padded(p, image, |padded| image_bf16(&job, &packed, padded, out))
        });
}

/// The input gradient of the convolution `s` (whose output gradient has `s.out_channels`
/// channels), rounded to bf16: [`forward`] on the output gradient with the weight flipped and
/// transposed. Needs [`handles_bf16`] of that transposed shape.
pub fn input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    let flipped = flip_weight(weight, s.out_channels, s.in_channels);
    forward(&s.transposed(), grad_out, &flipped, None, false, grad_x);
}

/// One image: `padded` its zero-padded input, `out` its `[C_out][H][W]` output.
fn image_bf16(job: &Winograd, packed: &[u32], padded: &[f32], out: &mut [MaybeUninit<f32>]) {
    let pair_len = XI * job.p.channels.div_ceil(2) * LANES;
    TRANSFORMED.with(|cell| {
        let vb = &mut *cell.borrow_mut();
        if vb.len() < pair_len {
            vb.resize(pair_len, 0);
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `handles_bf16` checked AVX-512 F/BW and BF16.
        unsafe {
            chunks(job, packed, padded, &mut vb[..pair_len], out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("winograd_bf16 runs only where `available` is true");
    })
}

/// The image chunk by chunk of 16 tiles (a row of tiles is a whole number of them: `fits`):
/// the input transform rounded into channel pairs, the products and the output transform.
/// (Chunks of 32 tiles, as the f32 kernel takes above 32 channels, measured 0-20% slower here
/// at 64-128 channels, AMD Zen 4.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn chunks(
    job: &Winograd,
    packed: &[u32],
    padded: &[f32],
    vb: &mut [u32],
    out: &mut [MaybeUninit<f32>],
) {
    let p = job.p;
    for ty in 0..p.height / 2 {
        for t0 in (0..p.width / 2).step_by(LANES) {
            transform_pairs(p, padded, ty, t0, vb);
            for block in 0..job.out_channels.div_ceil(OB) {
                products(job, packed, vb, block, ty, t0, out);
            }
        }
    }
}

/// `vb[(ξ * pairs + q) * 16 + l]` = entry `ξ` of `V = Bᵀ d B` of tile `t0 + l` of row `ty`, for
/// input channels `2q` and `2q + 1` rounded to a bf16 pair (transformed in f32 from the
/// unrounded input, in registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn transform_pairs(p: Padded, padded: &[f32], ty: usize, t0: usize, vb: &mut [u32]) {
    let (channels, pairs) = (p.channels, p.channels.div_ceil(2));
    assert!(vb.len() >= XI * pairs * LANES);
    for q in 0..pairs {
        let even = winograd::tile_input(p, padded, 2 * q, ty, t0);
        let odd = match 2 * q + 1 < channels {
            true => winograd::tile_input(p, padded, 2 * q + 1, ty, t0),
            false => [_mm512_setzero_ps(); XI],
        };
        for (xi, (even, odd)) in even.into_iter().zip(odd).enumerate() {
            let dst = &mut vb[(xi * pairs + q) * LANES..][..LANES];
            // SAFETY: `dst` holds 16 lanes.
            unsafe {
                _mm512_storeu_si512(dst.as_mut_ptr().cast(), super::dpbf16::to_pairs(even, odd))
            };
        }
    }
}

/// Output channels `block * OB ..` of tiles `t0 .. t0 + 16` of row `ty`: the 16 products over
/// the input-channel pairs, then the f32 kernel's output transform (bias, ReLU, bf16).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
fn products(
    job: &Winograd,
    packed: &[u32],
    vb: &[u32],
    block: usize,
    ty: usize,
    t0: usize,
    out: &mut [MaybeUninit<f32>],
) {
    let pairs = job.p.channels.div_ceil(2);
    let weights = &packed[block * XI * pairs * OB..][..XI * pairs * OB];
    // Written whole below before it is read.
    let mut m = [const { MaybeUninit::<[[__m512; 1]; OB]>::uninit() }; XI];
    for (xi, m) in m.iter_mut().enumerate() {
        let mut acc = [_mm512_setzero_ps(); OB];
        for q in 0..pairs {
            let src = &vb[(xi * pairs + q) * LANES..][..LANES];
            // SAFETY: `src` holds 16 lanes.
            let x = super::dpbf16::as_bh(unsafe { _mm512_loadu_si512(src.as_ptr().cast()) });
            let w = &weights[(xi * pairs + q) * OB..][..OB];
            for (acc, &w) in acc.iter_mut().zip(w) {
                let wv = super::dpbf16::as_bh(_mm512_set1_epi32(w as i32));
                *acc = _mm512_dpbf16_ps(*acc, x, wv);
            }
        }
        m.write(acc.map(|a| [a]));
    }
    // SAFETY: every entry of `m` was written in the loop above.
    let m = unsafe { &*m.as_ptr().cast::<[[[__m512; 1]; OB]; XI]>() };
    job.output_transform(m, block, ty, t0, out);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::kernels::cpu::conv::{conv2d_forward, conv2d_input_grad};
    use crate::kernels::cpu::conv3x3::dpbf16;
    use crate::kernels::cpu::test_data::{Rng, relative_rms};

    /// `len` values in `[-0.5, 0.5)` from xorshift64: random enough for rounding errors to
    /// average out as they do on real activations (the kernels' usual test data, a
    /// multiplicative hash of the index, is so regular along a row that the rounding errors of
    /// the transformed tiles add up: 1.9-2.5x the direct kernel's error instead of 1.6x).
    pub(crate) fn values(len: usize, seed: u64) -> Vec<f32> {
        Rng(0x9e37_79b9_7f4a_7c15 ^ seed).vec(len, -0.5, 0.5)
    }

    pub(crate) fn run(f: impl FnOnce(&mut [MaybeUninit<f32>]), len: usize) -> Vec<f32> {
        crate::kernels::cpu::written_vec(len, f)
    }

    /// Against the exact convolution (the f32 kernels on the unrounded operands), the bf16
    /// Winograd error stays below 6e-3 relative and within 2x the direct `vdpbf16ps` kernel's
    /// (measured 4.3e-3 against 2.65e-3 here; `bf16_winograd_error.py` gives 1.35-1.6x in
    /// float64); outputs are bf16, the ReLU is the rectified output, the input gradient the same
    /// kernel's.
    #[test]
    fn forward_and_input_grad_stay_near_the_exact_convolution() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the bf16 Winograd kernel is not tested");
            return;
        }
        for (n, ci, co, h, w) in [
            (2, 64, 64, 8, 32),
            (1, 65, 70, 4, 64),
            (1, 128, 128, 6, 32),
            (3, 64, 72, 2, 96),
        ] {
            let s = ConvShape::same_3x3(n, ci, co, [h, w]);
            assert!(handles_bf16(&s), "{s:?}");
            let (x, wt, b) = (
                values(n * ci * h * w, 11),
                values(co * ci * 9, 12),
                values(co, 13),
            );
            let out_len = n * co * h * w;
            let exact = run(|o| conv2d_forward(&s, &x, &wt, Some(&b), false, o), out_len);
            let ours = run(|o| forward(&s, &x, &wt, Some(&b), false, o), out_len);
            let direct = run(
                |o| dpbf16::forward(&s, &x, &wt, Some(&b), false, o),
                out_len,
            );
            assert!(ours.iter().all(|&v| bf16::round(v) == v), "{s:?}: not bf16");
            let (e, e_direct) = (relative_rms(&ours, &exact), relative_rms(&direct, &exact));
            assert!(
                e < 6e-3 && e <= 2.0 * e_direct,
                "{s:?}: forward error {e:.2e} (direct kernel {e_direct:.2e})"
            );
            let rectified = run(|o| forward(&s, &x, &wt, Some(&b), true, o), out_len);
            let want: Vec<f32> = ours.iter().map(|&v| v.max(0.0)).collect();
            assert_eq!(rectified, want, "{s:?}: ReLU");

            let t = s.transposed();
            if !handles_bf16(&t) {
                continue;
            }
            let g = values(out_len, 14);
            let in_len = n * ci * h * w;
            let exact = run(|d| conv2d_input_grad(&s, &g, &wt, d), in_len);
            let ours = run(|d| input_grad(&s, &g, &wt, d), in_len);
            let direct = run(|d| dpbf16::input_grad(&s, &g, &wt, d), in_len);
            let (e, e_direct) = (relative_rms(&ours, &exact), relative_rms(&direct, &exact));
            assert!(
                e < 6e-3 && e <= 2.0 * e_direct,
                "{s:?}: input gradient error {e:.2e} (direct kernel {e_direct:.2e})"
            );
        }
    }

    #[test]
    fn narrow_or_odd_shapes_are_left_to_the_direct_kernel() {
        for (ci, co, h, w) in [
            (32, 64, 8, 32),
            (64, 3, 8, 32),
            (64, 64, 7, 32),
            (64, 64, 8, 48),
        ] {
            assert!(!handles_bf16(&ConvShape::same_3x3(1, ci, co, [h, w])));
        }
    }
}
