//! The weight gradient of the 3x3 convolution in bf16 with `vdpbf16ps`: the backward pass of
//! [`dpbf16::forward`](super::dpbf16::forward) under bf16 autocast.
//!
//! `dW[o][c][ky][kx] = Σ g[o][p] x[c][p + (ky, kx)]` over every pixel `p` of every image. Per
//! image, the output gradient is rounded and transposed to pixel-pair-major lanes (`[P / 2][O]`,
//! lane `o` holding `g[o][2i]` and `g[o][2i + 1]`), the input rounded into zero-padded bf16
//! planes; a register tile of 16 output channels x 3 input channels x 9 taps (27 accumulators,
//! the gradient itself) then takes, per pair of pixels, one load of the gradient lanes and 27
//! `vdpbf16ps` against broadcast pairs of neighbouring input pixels: half the instructions of
//! the f32 kernel's per-pixel loop. Images run on the thread pool and their partial gradients
//! are summed; the gradients are rounded to bf16 at the end, as the f32 kernels on rounded
//! operands give them (up to the order of the f32 sums).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;

use super::dpbf16::available;
use super::handles;

/// Output channels per tile (one register of lanes).
const OB: usize = 16;
/// Input channels per tile.
const CG: usize = 3;

/// Whether this kernel computes the weight gradient of `s`: a 3x3 "same" convolution of even
/// width (pixel pairs stay within a row), on a CPU with AVX512_BF16.
pub fn handles_weight_grad(s: &ConvShape) -> bool {
    handles(s) && s.width.is_multiple_of(2) && available()
}

/// One image's operands: the gradient in pixel-pair lanes, the input in padded bf16 planes.
struct Image {
    /// `[H * W / 2][O rounded up to 16]` pairs of bf16.
    grad: Vec<u32>,
    /// `[C rounded up to 3][H + 2][W + 2]` bf16, plus slack for the last pair's read.
    input: Vec<u16>,
    /// The sum of the rounded gradient per output channel.
    grad_sums: Vec<f32>,
}

/// The weight gradient (`[C_out][C_in][3][3]`, rounded to bf16) and, when asked, the bias
/// gradient (the sum of the rounded output gradient, rounded) on operands rounded to bf16.
/// Needs [`handles_weight_grad`].
pub fn weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    assert!(
        handles_weight_grad(s),
        "dpbf16::weight_grad: unsupported {s:?}"
    );
    let (c_in, c_out, hw) = (s.in_channels, s.out_channels, s.height * s.width);
    assert_eq!(
        grad_weight.len(),
        c_out * c_in * 9,
        "dpbf16: weight gradient length"
    );
    let len = c_out * c_in * 9;
    // Per image: the weight gradient's terms, then the bias gradient's (sums of the rounded
    // output gradient per channel).
    let partial = |n: usize| {
        let g = &grad_out[n * c_out * hw..][..c_out * hw];
        let image = prepare(s, &x[n * c_in * hw..][..c_in * hw], g);
        let mut sums = vec![0.0f32; len + c_out];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `handles_weight_grad` checked AVX-512 F/BW and BF16.
        unsafe {
            accumulate(s, &image, &mut sums[..len])
        };
        sums[len..].copy_from_slice(&image.grad_sums);
        sums
    };
    let sum = (0..s.batch).into_par_iter().map(partial).reduce(
        || vec![0.0; len + c_out],
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        },
    );
    for (d, v) in grad_weight.iter_mut().zip(&sum[..len]) {
        *d = bf16::round(*v);
    }
    if let Some(db) = grad_bias {
        for (d, v) in db.iter_mut().zip(&sum[len..]) {
            *d = bf16::round(*v);
        }
    }
}

/// Rounds and lays out one image's input and output gradient.
fn prepare(s: &ConvShape, x: &[f32], g: &[f32]) -> Image {
    let (h, w) = (s.height, s.width);
    let lanes = s.out_channels.div_ceil(OB) * OB;
    let g = bf16::rounded(g);
    let half = |v: f32| v.to_bits() >> 16;
    let mut grad = vec![0u32; h * w / 2 * lanes];
    let mut grad_sums = vec![0.0f32; s.out_channels];
    for (o, plane) in g.chunks_exact(h * w).enumerate() {
        grad_sums[o] = crate::kernels::cpu::elementwise::sum(plane);
        for (i, pair) in plane.chunks_exact(2).enumerate() {
            grad[i * lanes + o] = half(pair[0]) | (half(pair[1]) << 16);
        }
    }
    let (row, plane) = (w + 2, (h + 2) * (w + 2));
    let channels = s.in_channels.div_ceil(CG) * CG;
    let mut input = vec![0u16; channels * plane + 2];
    let x = bf16::rounded(x);
    for c in 0..s.in_channels {
        for y in 0..h {
            let src = &x[(c * h + y) * w..][..w];
            let dst = &mut input[c * plane + (y + 1) * row + 1..][..w];
            for (d, v) in dst.iter_mut().zip(src) {
                *d = half(*v) as u16;
            }
        }
    }
    Image {
        grad,
        grad_sums,
        input,
    }
}

/// Accumulators per tile: `CG` input channels x 9 taps.
const TILE: usize = CG * 9;

/// Adds one image's gradient into `dw` (`[C_out][C_in][9]`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn accumulate(s: &ConvShape, image: &Image, dw: &mut [f32]) {
    let (h, w) = (s.height, s.width);
    let lanes = s.out_channels.div_ceil(OB) * OB;
    let (row, plane) = (w + 2, (h + 2) * (w + 2));
    // Offsets of the tile's 27 input pixels from the pair's top-left padded position.
    let mut offsets = [0usize; TILE];
    for (k, off) in offsets.iter_mut().enumerate() {
        let (c, tap) = (k / 9, k % 9);
        *off = c * plane + (tap / 3) * row + tap % 3;
    }
    let input = image.input.as_ptr();
    let mut lanes_out = [0.0f32; OB];
    for ob in 0..lanes / OB {
        for cg in 0..s.in_channels.div_ceil(CG) {
            let mut acc = [_mm512_setzero_ps(); TILE];
            for y in 0..h {
                let grad_row = &image.grad[y * (w / 2) * lanes..][..(w / 2) * lanes];
                let base_row = cg * CG * plane + y * row;
                for xp in 0..w / 2 {
                    let gv = &grad_row[xp * lanes + ob * OB..][..OB];
                    // SAFETY: `gv` holds 16 lanes; 512 bits of plain data either way.
                    let gv: __m512bh =
                        unsafe { std::mem::transmute(_mm512_loadu_si512(gv.as_ptr().cast())) };
                    let base = base_row + 2 * xp;
                    for k in 0..TILE {
                        // SAFETY: `base + offsets[k] + 1` lies inside `input` (padded planes
                        // of the channels rounded up to 3, plus slack): an unaligned read of
                        // the neighbours `x[q]`, `x[q + 1]`.
                        let pair =
                            unsafe { input.add(base + offsets[k]).cast::<i32>().read_unaligned() };
                        // SAFETY: 512 bits of plain data either way.
                        let xb: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(pair)) };
                        acc[k] = _mm512_dpbf16_ps(acc[k], gv, xb);
                    }
                }
            }
            for (k, v) in acc.iter().enumerate() {
                let (channel, tap) = (cg * CG + k / 9, k % 9);
                if channel >= s.in_channels {
                    break;
                }
                // SAFETY: `lanes_out` holds 16 floats.
                unsafe { _mm512_storeu_ps(lanes_out.as_mut_ptr(), *v) };
                for (l, value) in lanes_out.iter().enumerate() {
                    let o = ob * OB + l;
                    if o < s.out_channels {
                        dw[(o * s.in_channels + channel) * 9 + tap] += value;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::conv::conv2d_weight_grad;
    use crate::kernels::cpu::test_data::values;

    #[test]
    fn matches_the_f32_kernel_on_rounded_operands() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the dpbf16 weight gradient is not tested");
            return;
        }
        for (n, ci, co, h, w) in [
            (2, 3, 16, 9, 8),
            (1, 16, 16, 64, 64),
            (3, 5, 11, 13, 34),
            (2, 32, 32, 16, 16),
            (1, 1, 2, 2, 2),
        ] {
            let s = ConvShape::same_3x3(n, ci, co, [h, w]);
            let x = values(n * ci * h * w, 5);
            let g = values(n * co * h * w, 6);
            let (mut dw, mut db) = (vec![f32::NAN; co * ci * 9], vec![f32::NAN; co]);
            weight_grad(&s, &x, &g, &mut dw, Some(&mut db));
            let (mut want_dw, mut want_db) = (vec![0.0; co * ci * 9], vec![0.0; co]);
            conv2d_weight_grad(
                &s,
                &bf16::rounded(&x),
                &bf16::rounded(&g),
                &mut want_dw,
                Some(&mut want_db),
            );
            for (what, got, want) in [("dw", &dw, &want_dw), ("db", &db, &want_db)] {
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
                    assert_eq!(bf16::round(*a), *a, "{what}[{i}] is not bf16");
                    assert!(
                        (a - b).abs() <= scale / 128.0,
                        "{s:?} {what}[{i}]: {a} vs {b}"
                    );
                }
            }
        }
    }
}
