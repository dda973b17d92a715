//! The weight gradient of the 3x3 convolution in bf16 with `vdpbf16ps`: the backward pass of
//! [`dpbf16::forward`](super::dpbf16::forward) under bf16 autocast.
//!
//! `dW[o][c][ky][kx] = Σ g[o][p] x[c][p + (ky, kx)]` over every pixel `p` of every image. The
//! lanes run over pixels: one 512-bit register holds 32 pixels of a row as 16 pairs, the
//! layout bf16 rows have anyway, so neither operand is transposed (rows of at most 16 pixels
//! go two to a register). The output gradient is rounded into bf16 rows and the input into
//! three zero-padded bf16 planes per channel, one per horizontal tap (already shifted: no load
//! straddles a pixel pair, and rows padded to whole registers need no masks); a register tile
//! of `OT` output channels x 9 taps of one input channel then takes, per 32 pixels, `OT`
//! gradient loads, 9 input loads and `9 * OT`
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
    let grid = Grid::new(s);
    let per_chunk = ROWS_PER_SUM.div_ceil(grid.register_rows(s.height).max(1));
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
                    unsafe { images_terms(s, grid, chunk, ops, sums) }
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

/// The rounded operands' geometry: rows of `stride` pixels (a multiple of a register's 32, or
/// 16 when two rows share a register), so that every load is one whole register, unmasked and
/// (but for narrow rows' odd taps) on a 64-byte boundary.
#[derive(Clone, Copy)]
struct Grid {
    /// Pixels per stored row.
    stride: usize,
    /// Stored rows per gradient plane (`H`, one more zero row when two rows share a register
    /// and `H` is odd).
    grad_rows: usize,
    /// Stored rows per input plane: a zero row above and below, and as many more as the
    /// last register's second row needs.
    input_rows: usize,
}

impl Grid {
    fn new(s: &ConvShape) -> Self {
        let (h, narrow) = (s.height, is_narrow(s));
        Self {
            stride: match narrow {
                true => PIXELS / 2,
                false => s.width.next_multiple_of(PIXELS),
            },
            grad_rows: if narrow { h.next_multiple_of(2) } else { h },
            input_rows: if narrow {
                (h + 3).next_multiple_of(2)
            } else {
                h + 2
            },
        }
    }

    /// Image rows per register: 2 when two rows share one, else 1.
    fn rows_per_register(&self) -> usize {
        PIXELS.div_ceil(self.stride)
    }

    /// Registers per stored row.
    fn registers(&self) -> usize {
        self.stride.div_ceil(PIXELS)
    }

    /// Registers one plane of `height` image rows takes.
    fn register_rows(&self, height: usize) -> usize {
        height.div_ceil(self.rows_per_register()) * self.registers()
    }

    fn grad_plane(&self) -> usize {
        self.grad_rows * self.stride
    }

    fn input_plane(&self) -> usize {
        self.input_rows * self.stride
    }

    /// Elements per image of the rounded gradient (`C_out` planes) and of the input (`C_in`
    /// channels of three planes, one per horizontal tap: plane `kx` holds row `r`, pixel `j`
    /// of the input at `(r - 1, j + kx - 1)`, zero outside it).
    fn image_sizes(&self, s: &ConvShape) -> (usize, usize) {
        (
            s.out_channels * self.grad_plane(),
            s.in_channels * 3 * self.input_plane(),
        )
    }
}

/// Whether rows are at most 16 pixels, two to a register.
fn is_narrow(s: &ConvShape) -> bool {
    s.width <= PIXELS / 2
}

/// `len` elements of `buffer` starting on a 64-byte boundary (grown when short; the contents
/// are whatever the last call left).
fn aligned(buffer: &mut Vec<u16>, len: usize) -> &mut [u16] {
    let slack = 64 / size_of::<u16>();
    if buffer.len() < len + slack {
        buffer.resize(len + slack, 0);
    }
    let start = (64 - buffer.as_ptr() as usize % 64) % 64 / size_of::<u16>();
    &mut buffer[start..start + len]
}

/// A chunk of `count` images' rounded operands ([`Grid`]), 64-byte aligned.
#[derive(Clone, Copy)]
struct Layout {
    grad: *const u16,
    input: *const u16,
    count: usize,
    grid: Grid,
}

/// Rounds image `n`'s output gradient into `dst` (`C_out` planes of [`Grid`] rows, zero past
/// the row's end and in the extra row), adding each channel's rounded sum to `bias`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn round_grad(s: &ConvShape, grid: Grid, g: &[f32], dst: &mut [u16], bias: &mut [f32]) {
    let (h, w, stride) = (s.height, s.width, grid.stride);
    for ((src, plane), b) in g
        .chunks_exact(h * w)
        .zip(dst.chunks_exact_mut(grid.grad_plane()))
        .zip(bias.iter_mut())
    {
        if stride == w {
            *b += round_row::<true>(src, &mut plane[..h * w]);
        } else {
            for (src, row) in src.chunks_exact(w).zip(plane.chunks_exact_mut(stride)) {
                *b += round_row::<true>(src, &mut row[..w]);
                row[w..].fill(0);
            }
        }
        plane[h * stride..].fill(0);
    }
}

/// Rounds image `n`'s input into `dst` (`C_in` channels of three shifted planes, [`Grid`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn round_input(s: &ConvShape, grid: Grid, x: &[f32], dst: &mut [u16]) {
    let (h, w, stride) = (s.height, s.width, grid.stride);
    let plane = grid.input_plane();
    for (src, planes) in x.chunks_exact(h * w).zip(dst.chunks_exact_mut(3 * plane)) {
        let (left, rest) = planes.split_at_mut(plane);
        let (centre, right) = rest.split_at_mut(plane);
        for p in [&mut *left, &mut *centre, &mut *right] {
            p[..stride].fill(0);
            p[(h + 1) * stride..].fill(0);
        }
        for (y, src) in src.chunks_exact(w).enumerate() {
            let at = (y + 1) * stride;
            let c = &mut centre[at..at + stride];
            round_row::<false>(src, &mut c[..w]);
            c[w..].fill(0);
            let l = &mut left[at..at + stride];
            l[0] = 0;
            l[1..w].copy_from_slice(&c[..w - 1]);
            l[w..].fill(0);
            let r = &mut right[at..at + stride];
            r[..w - 1].copy_from_slice(&c[1..w]);
            r[w - 1..].fill(0);
        }
    }
}

/// Adds the gradient terms of images `images` to `sums` (`[C_out][C_in][9]`, then `[C_out]`
/// for the bias), with the operands laid out as `grid` says.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn images_terms(
    s: &ConvShape,
    grid: Grid,
    images: std::ops::Range<usize>,
    ops: Operands,
    sums: &mut [f32],
) {
    let (c_in, c_out, hw) = (s.in_channels, s.out_channels, s.height * s.width);
    let len = c_out * c_in * 9;
    let (grad_image, input_image) = grid.image_sizes(s);
    let count = images.len();
    let Operands { x, g, grad, input } = ops;
    let grad = aligned(grad, count * grad_image);
    let input = aligned(input, count * input_image);
    for (i, n) in images.enumerate() {
        let g = &g[n * c_out * hw..][..c_out * hw];
        let dst = &mut grad[i * grad_image..][..grad_image];
        round_grad(s, grid, g, dst, &mut sums[len..]);
        let x = &x[n * c_in * hw..][..c_in * hw];
        round_input(s, grid, x, &mut input[i * input_image..][..input_image]);
    }
    let at = Layout {
        grad: grad.as_ptr(),
        input: input.as_ptr(),
        count,
        grid,
    };
    // Tiles of `OT` output channels, then one of the 1 or 2 left.
    let full = c_out / OT * OT;
    for o in (0..full).step_by(OT) {
        for c in 0..c_in {
            tile::<OT>(s, at, o, c, sums);
        }
    }
    for c in 0..c_in {
        match c_out - full {
            1 => tile::<1>(s, at, full, c, sums),
            2 => tile::<2>(s, at, full, c, sums),
            _ => {}
        }
    }
}

/// Adds to `sums` the terms of output channels `o..o + T` and input channel `c` over the
/// chunk's images: `9 * T` accumulators, summed across lanes at the end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
fn tile<const T: usize>(s: &ConvShape, at: Layout, o: usize, c: usize, sums: &mut [f32]) {
    let grid = at.grid;
    let (stride, grad_plane, input_plane) = (grid.stride, grid.grad_plane(), grid.input_plane());
    let (grad_image, input_image) = grid.image_sizes(s);
    let (rows, registers) = (grid.rows_per_register(), grid.registers());
    let load = |p: *const u16, offset: usize| -> __m512bh {
        // SAFETY: every offset below starts a whole register inside the chunk's operands (on
        // a 64-byte boundary but for narrow rows' odd taps, 32 bytes off); 512 bits of plain
        // data either way.
        unsafe { std::mem::transmute(_mm512_loadu_si512(p.add(offset).cast())) }
    };
    let mut acc = [[_mm512_setzero_ps(); T]; 9];
    for i in 0..at.count {
        for y in (0..s.height).step_by(rows) {
            for r in 0..registers {
                let g = i * grad_image + o * grad_plane + y * stride + r * PIXELS;
                let gs: [__m512bh; T] = std::array::from_fn(|t| load(at.grad, g + t * grad_plane));
                let base = i * input_image + c * 3 * input_plane + y * stride + r * PIXELS;
                for (tap, acc) in acc.iter_mut().enumerate() {
                    let start = base + (tap % 3) * input_plane + (tap / 3) * stride;
                    let xv = load(at.input, start);
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
