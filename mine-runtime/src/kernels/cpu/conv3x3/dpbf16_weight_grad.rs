//! The weight gradient of the 3x3 convolution in bf16 with `vdpbf16ps`: the backward pass of
//! [`dpbf16::forward`](super::dpbf16::forward) under bf16 autocast.
//!
//! `dW[o][c][ky][kx] = Σ g[o][p] x[c][p + (ky, kx)]` over every pixel `p` of every image. The
//! lanes run over pixels: one 512-bit register holds 32 pixels of a row as 16 pairs, the
//! layout bf16 rows have anyway, so neither operand is transposed (rows of at most 16 pixels
//! go two to a register). The output gradient is rounded into bf16 rows and the input into
//! zero-padded bf16 planes; a register tile of `OT` output channels x 9 taps of one input
//! channel then takes, per 32 pixels, `OT` gradient loads, 9 shifted input loads and `9 * OT`
//! `vdpbf16ps` (the 1 or 2 channels left over take a narrower tile), and its lanes are summed
//! once per image, or once per few images when they are small (`ROWS_PER_SUM`). Each thread
//! of the pool takes a contiguous run of images into its own sums, which are added at the end;
//! the gradients are rounded to bf16 then, as the f32 kernels on rounded operands give them
//! (up to the order of the f32 sums).

use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::cpu::lanes::LANES;

use super::dpbf16::available;
use super::handles;

/// Output channels per register tile (x 9 taps: the accumulators).
const OT: usize = 3;
/// Pixels per register: 16 lanes of bf16 pairs.
const PIXELS: usize = 32;

/// Whether this kernel computes the weight gradient of `s`: a 3x3 "same" convolution of even
/// width (pixel pairs stay within a row), on a CPU with AVX512_BF16.
pub fn handles_weight_grad(s: &ConvShape) -> bool {
    handles(s) && s.width.is_multiple_of(2) && available()
}

/// Register rows a tile should take before its accumulators are summed across lanes: small
/// images are taken several at a time, so that the sums cost a few percent of the products.
const ROWS_PER_SUM: usize = 64;

thread_local! {
    /// The calling thread's rounded gradient rows and padded input planes, reused.
    static SCRATCH: RefCell<(Vec<u16>, Vec<u16>)> = const { RefCell::new((Vec::new(), Vec::new())) };
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
    let (c_in, c_out) = (s.in_channels, s.out_channels);
    let len = c_out * c_in * 9;
    assert_eq!(grad_weight.len(), len, "dpbf16: weight gradient length");
    let narrow = s.width <= PIXELS / 2;
    let register_rows = match narrow {
        true => s.height.div_ceil(2),
        false => s.height * s.width.div_ceil(PIXELS),
    };
    let per_chunk = ROWS_PER_SUM.div_ceil(register_rows.max(1));
    // One running sum per thread (a contiguous run of images each, taken `per_chunk` at a
    // time): the weight gradient's terms, then the bias gradient's; summed at the end.
    let groups = s.batch.min(rayon::current_num_threads()).max(1);
    let mut partials = vec![0.0f32; groups * (len + c_out)];
    partials
        .par_chunks_mut(len + c_out)
        .enumerate()
        .for_each(|(k, sums)| {
            let images = k * s.batch / groups..(k + 1) * s.batch / groups;
            for start in images.clone().step_by(per_chunk) {
                let chunk = start..(start + per_chunk).min(images.end);
                #[cfg(target_arch = "x86_64")]
                SCRATCH.with(|cell| {
                    let (grad, input) = &mut *cell.borrow_mut();
                    let ops = Operands {
                        x,
                        g: grad_out,
                        grad,
                        input,
                    };
                    // SAFETY: `handles_weight_grad` checked AVX-512 F/BW/VL and BF16.
                    unsafe {
                        match narrow {
                            true => images_terms::<true>(s, chunk, ops, sums),
                            false => images_terms::<false>(s, chunk, ops, sums),
                        }
                    }
                });
            }
        });
    let (first, rest) = partials.split_at_mut(len + c_out);
    for part in rest.chunks_exact(len + c_out) {
        first.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    for (d, v) in grad_weight.iter_mut().zip(&first[..len]) {
        *d = bf16::round(*v);
    }
    if let Some(db) = grad_bias {
        for (d, v) in db.iter_mut().zip(&first[len..]) {
            *d = bf16::round(*v);
        }
    }
}

/// The batch's operands and a thread's scratch for their rounded copies.
struct Operands<'a> {
    /// The input, `[N][C_in][H][W]`.
    x: &'a [f32],
    /// The output gradient, `[N][C_out][H][W]`.
    g: &'a [f32],
    /// The rounded gradient rows of a chunk of images.
    grad: &'a mut Vec<u16>,
    /// The rounded, padded input planes of a chunk of images.
    input: &'a mut Vec<u16>,
}

/// The mask of the 32-bit lanes (pixel pairs) of `pixels` (even) pixels, at most 16 lanes.
fn pair_mask(pixels: usize) -> u16 {
    match pixels >= PIXELS {
        true => !0,
        false => (1u16 << (pixels / 2)) - 1,
    }
}

/// `src` rounded to bf16 into `dst` (same length, even); returns the sum of the rounded
/// values when `SUM`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn round_row<const SUM: bool>(src: &[f32], dst: &mut [u16]) -> f32 {
    let mut sum = _mm512_setzero_ps();
    let m = |k: usize| -> __mmask16 { ((1u32 << k) - 1) as u16 };
    for start in (0..src.len()).step_by(PIXELS) {
        let n = (src.len() - start).min(PIXELS);
        let (lo, hi) = (n.min(LANES), n.saturating_sub(LANES));
        // SAFETY: the masks keep the loads inside `src[start..start + n]` and the store
        // inside `dst[start..start + n]`; 512 bits of plain data either way.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m(lo), src.as_ptr().add(start));
            let b = _mm512_maskz_loadu_ps(m(hi), src.as_ptr().add(start + LANES));
            let both: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(b, a));
            _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(start).cast(), pair_mask(n), both);
            if SUM {
                // The rounded values widened back: the even elements are the low halves.
                let even = _mm512_castsi512_ps(_mm512_slli_epi32(both, 16));
                let odd = _mm512_castsi512_ps(_mm512_and_si512(both, _mm512_set1_epi32(-65536)));
                sum = _mm512_add_ps(sum, _mm512_add_ps(even, odd));
            }
        }
    }
    if SUM { _mm512_reduce_add_ps(sum) } else { 0.0 }
}

/// One register of bf16 pairs from `p` under `mask`: 32 pixels of one row or, when `NARROW`,
/// 16 of row `p` (the low 8 lanes) and 16 of the row `stride` elements further (the high 8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
unsafe fn load<const NARROW: bool>(p: *const u16, stride: usize, mask: u16) -> __m512bh {
    // SAFETY: the caller keeps the masked lanes inside its buffers; 512 bits of plain data
    // either way.
    unsafe {
        std::mem::transmute(match NARROW {
            false => _mm512_maskz_loadu_epi32(mask, p.cast()),
            true => {
                let lo = _mm256_maskz_loadu_epi32(mask as u8, p.cast());
                let hi = _mm256_maskz_loadu_epi32((mask >> 8) as u8, p.add(stride).cast());
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
            }
        })
    }
}

/// A chunk of `count` images' rounded operands: per image, `C_out` gradient planes and `C_in`
/// padded input planes ([`image_sizes`]).
#[derive(Clone, Copy)]
struct Layout {
    grad: *const u16,
    input: *const u16,
    count: usize,
}

/// Elements per image of the rounded gradient (`C_out` planes of `H x W`) and of the padded
/// input (`C_in` planes of `(H + 2) x (W + 2)`).
fn image_sizes(s: &ConvShape) -> (usize, usize) {
    let plane = (s.height + 2) * (s.width + 2);
    (s.out_channels * s.height * s.width, s.in_channels * plane)
}

/// Adds the gradient terms of images `images` to `sums` (`[C_out][C_in][9]`, then `[C_out]`
/// for the bias). `NARROW` (rows of at most 16 pixels) puts two rows in each register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn images_terms<const NARROW: bool>(
    s: &ConvShape,
    images: std::ops::Range<usize>,
    ops: Operands,
    sums: &mut [f32],
) {
    let (c_in, c_out) = (s.in_channels, s.out_channels);
    let (h, w, hw) = (s.height, s.width, s.height * s.width);
    let (row, plane) = (w + 2, (h + 2) * (w + 2));
    let len = c_out * c_in * 9;
    // Per image, the gradient rows and the input planes with a zero border; plus slack for
    // a narrow register's second row and the shifted loads of a row's last register (masked,
    // so never used).
    let (grad_image, input_image) = image_sizes(s);
    let count = images.len();
    let Operands { x, g, grad, input } = ops;
    grad.clear();
    grad.resize(count * grad_image + w, 0);
    input.clear();
    input.resize(count * input_image + row + PIXELS + 2, 0);
    for (i, n) in images.enumerate() {
        let g = &g[n * c_out * hw..][..c_out * hw];
        let dst = &mut grad[i * grad_image..];
        for (o, (src, dst)) in g.chunks_exact(hw).zip(dst.chunks_exact_mut(hw)).enumerate() {
            sums[len + o] += round_row::<true>(src, dst);
        }
        for (c, src) in x[n * c_in * hw..][..c_in * hw].chunks_exact(hw).enumerate() {
            for (y, src) in src.chunks_exact(w).enumerate() {
                let at = i * input_image + c * plane + (y + 1) * row + 1;
                round_row::<false>(src, &mut input[at..][..w]);
            }
        }
    }
    let at = Layout {
        grad: grad.as_ptr(),
        input: input.as_ptr(),
        count,
    };
    // Tiles of `OT` output channels, then one of the 1 or 2 left.
    let full = c_out / OT * OT;
    for o in (0..full).step_by(OT) {
        for c in 0..c_in {
            tile::<NARROW, OT>(s, at, o, c, sums);
        }
    }
    for c in 0..c_in {
        match c_out - full {
            1 => tile::<NARROW, 1>(s, at, full, c, sums),
            2 => tile::<NARROW, 2>(s, at, full, c, sums),
            _ => {}
        }
    }
}

/// Adds to `sums` the terms of output channels `o..o + T` and input channel `c` over the
/// chunk's images: `9 * T` accumulators, summed across lanes at the end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
fn tile<const NARROW: bool, const T: usize>(
    s: &ConvShape,
    at: Layout,
    o: usize,
    c: usize,
    sums: &mut [f32],
) {
    let (h, w, hw) = (s.height, s.width, s.height * s.width);
    let (row, plane) = (w + 2, (h + 2) * (w + 2));
    let (grad_image, input_image) = image_sizes(s);
    let (rows, registers) = match NARROW {
        true => (2, 1),
        false => (1, w.div_ceil(PIXELS)),
    };
    let mut acc = [[_mm512_setzero_ps(); T]; 9];
    for i in 0..at.count {
        for y in (0..h).step_by(rows) {
            for r in 0..registers {
                let mask = match NARROW {
                    true if y + 1 < h => pair_mask(w) | pair_mask(w) << 8,
                    true => pair_mask(w),
                    false => pair_mask(w - r * PIXELS),
                };
                let g = i * grad_image + o * hw + y * w + r * PIXELS;
                // SAFETY: row `y` (and `y + 1` when narrow) of channel `o + t` of image `i`
                // holds the masked pairs.
                let gs: [__m512bh; T] = std::array::from_fn(|t| unsafe {
                    load::<NARROW>(at.grad.add(g + t * hw), w, mask)
                });
                let base = i * input_image + c * plane + y * row + r * PIXELS;
                for (tap, acc) in acc.iter_mut().enumerate() {
                    let start = base + (tap / 3) * row + tap % 3;
                    // SAFETY: the masked pairs lie inside the padded rows (the slack
                    // included).
                    let xv = unsafe { load::<NARROW>(at.input.add(start), row, mask) };
                    for (a, g) in acc.iter_mut().zip(&gs) {
                        *a = _mm512_dpbf16_ps(*a, *g, xv);
                    }
                }
            }
        }
    }
    let c_in = s.in_channels;
    for t in 0..T {
        for (tap, taps) in acc.iter().enumerate() {
            sums[((o + t) * c_in + c) * 9 + tap] += _mm512_reduce_add_ps(taps[t]);
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
            (2, 3, 4, 3, 18),
            (1, 4, 7, 5, 30),
            (1, 2, 5, 1, 14),
            (5, 4, 6, 6, 10),
            (7, 2, 3, 40, 40),
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
