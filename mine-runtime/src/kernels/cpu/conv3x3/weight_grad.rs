//! The weight gradient, vectorized over output channels on a pixel-major transposed output
//! gradient.

use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::elementwise::sum;
use crate::kernels::cpu::lanes::LANES;

use crate::kernels::cpu::conv::ConvShape;

use super::winograd::{self, XI};
use super::winograd_avx2;
use super::winograd_bf16_weight_grad as bf16_form;
use super::winograd_weight_grad::{self, GradImage};
use super::{Padded, handles_f32, use_avx512, with_padded};

thread_local! {
    /// The calling thread's transposed output gradient of one band of rows
    /// (`[pixel][C_out rounded up to 16]`).
    static TRANSPOSED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Pixels `pixels` of `grad` (`[C_out][P]`, `P = plane` pixels per channel) as `dst` =
/// `[pixel][lanes]` with `lanes = C_out` rounded up to 16 (the extra lanes zero): 16x16
/// blocks transposed in registers, the last partial block element by element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn transpose_grad(
    grad: &[f32],
    out_channels: usize,
    plane: usize,
    pixels: std::ops::Range<usize>,
    lanes: usize,
    dst: &mut [f32],
) {
    let first = pixels.start;
    for p0 in pixels.clone().step_by(LANES) {
        let p1 = (p0 + LANES).min(pixels.end);
        if p1 - p0 == LANES {
            for o0 in (0..lanes).step_by(LANES) {
                let mut rows = [_mm512_setzero_ps(); LANES];
                for (j, row) in rows.iter_mut().enumerate() {
                    if o0 + j < out_channels {
                        let src = &grad[(o0 + j) * plane + p0..][..LANES];
                        // SAFETY: `src` holds 16 floats.
                        *row = unsafe { _mm512_loadu_ps(src.as_ptr()) };
                    }
                }
                let columns = transpose16(rows);
                for (k, column) in columns.iter().enumerate() {
                    let out = &mut dst[(p0 - first + k) * lanes + o0..][..LANES];
                    // SAFETY: `out` holds 16 floats.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), *column) };
                }
            }
            continue;
        }
        let dst = &mut dst[(p0 - first) * lanes..];
        transpose_rest(grad, out_channels, plane, p0..p1, 0..lanes, lanes, dst);
    }
}

/// Element by element, what [`transpose_grad`] and its AVX2 form leave to scalar code:
/// channels `channels` (zero past `out_channels`) of pixels `pixels`, into `dst` (`[pixel -
/// pixels.start][lanes]`).
pub(super) fn transpose_rest(
    grad: &[f32],
    out_channels: usize,
    plane: usize,
    pixels: std::ops::Range<usize>,
    channels: std::ops::Range<usize>,
    lanes: usize,
    dst: &mut [f32],
) {
    for o in channels {
        for p in pixels.clone() {
            dst[(p - pixels.start) * lanes + o] = if o < out_channels {
                grad[o * plane + p]
            } else {
                0.0
            };
        }
    }
}

/// The transpose of the 16x16 matrix whose rows are `r`: element `j` of result `k` is
/// element `k` of `r[j]`. Three rounds of shuffles (lanes, pairs, 128-bit blocks twice).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let pd = _mm512_castps_pd;
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a), pd(c)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a), pd(c)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(b), pd(d)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(b), pd(d)));
    }
    let mut v = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        v[i] = _mm512_shuffle_f32x4::<0x88>(u[i], u[i + 4]);
        v[i + 4] = _mm512_shuffle_f32x4::<0xdd>(u[i], u[i + 4]);
        v[i + 8] = _mm512_shuffle_f32x4::<0x88>(u[i + 8], u[i + 12]);
        v[i + 12] = _mm512_shuffle_f32x4::<0xdd>(u[i + 8], u[i + 12]);
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        out[i] = _mm512_shuffle_f32x4::<0x88>(v[i], v[i + 8]);
        out[i + 8] = _mm512_shuffle_f32x4::<0xdd>(v[i], v[i + 8]);
    }
    out
}

/// The weight gradient (`[C_out][C_in][3][3]`, written whole) and, when asked, the bias
/// gradient of [`forward`](super::forward()).
///
/// Vectorized over output channels: the output gradient is transposed to pixel-major
/// (`[P][C_out]`) once per image, and a register tile of 16 output channels x 3 input
/// channels x 9 taps accumulates, per pixel, one vector load of the gradient times 27
/// broadcast input values; the accumulators are the gradient itself (no horizontal sums).
/// Shapes the Winograd kernel takes (see `winograd::handles`) accumulate its `dU` per thread
/// instead and turn it into the gradient at the end.
pub fn weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    assert!(handles_f32(s), "conv3x3::weight_grad: unsupported {s:?}");
    let method = match (
        use_avx512(),
        winograd::handles(s),
        winograd_avx2::handles(s),
    ) {
        (true, true, _) => Method::Winograd,
        (true, false, _) => Method::Direct,
        (false, _, true) => Method::WinogradAvx2,
        (false, _, false) => Method::DirectAvx2,
    };
    accumulate(s, x, grad_out, grad_weight, grad_bias, method);
}

/// How [`accumulate`] computes each image's terms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// 16 output x 3 input channels x 9 taps of vector accumulators over the pixels.
    Direct,
    /// 8 output channels x 9 taps of one input channel, with AVX2 and FMA
    /// (`weight_grad_avx2.rs`).
    DirectAvx2,
    /// Winograd's `dU` in f32 (`winograd_weight_grad`).
    Winograd,
    /// Winograd's `dU` in f32 with AVX2 and FMA (`winograd_weight_grad_avx2.rs`).
    WinogradAvx2,
    /// Winograd's `dU` with its transforms rounded to bf16 and `vdpbf16ps` products, the bias
    /// gradient summed from the rounded output gradient (`winograd_bf16_weight_grad`; needs
    /// AVX512_BF16).
    WinogradBf16,
}

/// The weight gradient (written whole) and bias gradient of a convolution `handles` takes, by
/// `method` (a Winograd one only where `winograd::fits`): each thread of the pool takes a run
/// of images into its own sums, added at the end.
pub(super) fn accumulate(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    mut grad_bias: Option<&mut [f32]>,
    method: Method,
) {
    let p = Padded::input(s);
    let (co, ci, hw) = (s.out_channels, s.in_channels, s.height * s.width);
    let (in_len, out_len) = (ci * hw, co * hw);
    let lanes = co.div_ceil(LANES) * LANES;
    grad_weight.fill(0.0);
    if let Some(b) = grad_bias.as_deref_mut() {
        b.fill(0.0);
    }
    if in_len == 0 || out_len == 0 {
        return;
    }
    let threads = rayon::current_num_threads().clamp(1, s.batch.max(1));
    let per = s.batch.div_ceil(threads).max(1);
    let with_bias = grad_bias.is_some();
    let winograd = !matches!(method, Method::Direct | Method::DirectAvx2);
    let bf16 = method == Method::WinogradBf16;
    // Per thread: the gradient as `[C_in][9][lanes]`, and the bias gradient.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(per * in_len)
        .zip(grad_out.par_chunks(per * out_len))
        .map(|(images, grads)| {
            let mut dwt = vec![0.0f32; ci * 9 * lanes];
            let mut db = vec![0.0f32; if with_bias { co } else { 0 }];
            // Winograd's `dU` (`[16][C_in][lanes]`), turned into `dwt` at the end.
            let mut du = vec![0.0f32; if winograd { XI * ci * lanes } else { 0 }];
            // The bf16 form's rounded transforms.
            let mut pairs = vec![0u32; if bf16 { bf16_form::pairs_len(p) } else { 0 }];
            let scratch = if winograd {
                winograd_weight_grad::scratch_len(p, lanes)
            } else {
                WEIGHT_GRAD_BAND + p.width * lanes
            };
            for (image, g) in images.chunks(in_len).zip(grads.chunks(out_len)) {
                TRANSPOSED.with(|cell| {
                    let mut gt = cell.borrow_mut();
                    if gt.len() < scratch {
                        gt.resize(scratch, 0.0);
                    }
                    with_padded(p, image, |padded| {
                        let (out_channels, grad) = (co, g);
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `handles_f32` checked that the CPU has AVX-512F
                        // (every method but the `*Avx2` ones) or AVX2 and FMA (the `*Avx2`
                        // methods, the only ones chosen without AVX-512), and the caller of
                        // the bf16 form that it has AVX512_BF16.
                        unsafe {
                            if winograd {
                                let job = GradImage {
                                    p,
                                    out_channels,
                                    lanes,
                                    padded,
                                    grad,
                                };
                                match method {
                                    Method::WinogradBf16 => {
                                        job.run_bf16(&mut gt, &mut pairs, &mut du)
                                    }
                                    Method::WinogradAvx2 => job.run_avx2(&mut gt, &mut du),
                                    _ => job.run(&mut gt, &mut du),
                                }
                            } else {
                                let job = WeightGradImage {
                                    p,
                                    out_channels,
                                    lanes,
                                    padded,
                                    grad,
                                };
                                match method {
                                    Method::DirectAvx2 => job.run_avx2(&mut gt, &mut dwt),
                                    _ => job.run(&mut gt, &mut dwt),
                                }
                            }
                        }
                    });
                });
                for (b, plane) in db.iter_mut().zip(g.chunks(hw)) {
                    *b += match bf16 {
                        true => crate::kernels::cpu::bf16::rounded_sum(plane),
                        false => sum(plane),
                    };
                }
            }
            if winograd {
                winograd_weight_grad::add_to_direct_layout(&du, ci, lanes, &mut dwt);
            }
            (dwt, db)
        })
        .collect();
    for (dwt, db) in &partials {
        for o in 0..co {
            for c in 0..ci {
                for tap in 0..9 {
                    grad_weight[(o * ci + c) * 9 + tap] += dwt[(c * 9 + tap) * lanes + o];
                }
            }
        }
        if let Some(b) = grad_bias.as_deref_mut() {
            b.iter_mut().zip(db).for_each(|(d, v)| *d += v);
        }
    }
}

/// Floats of transposed gradient per band of rows (64 KiB: the band stays in L2 while every
/// block of input and output channels passes over it).
pub(super) const WEIGHT_GRAD_BAND: usize = 16 * 1024;

/// One image of the weight gradient.
pub(super) struct WeightGradImage<'a> {
    pub(super) p: Padded,
    pub(super) out_channels: usize,
    pub(super) lanes: usize,
    pub(super) padded: &'a [f32],
    /// The image's output gradient, `[C_out][H][W]`.
    pub(super) grad: &'a [f32],
}

impl WeightGradImage<'_> {
    /// Adds the image's contribution to `dwt` (`[C_in][9][lanes]`): band by band of rows,
    /// the band's gradient transposed into `gt`, then for each block of up to 3 input
    /// channels and of 16 output channels, 27 vector accumulators over the band's pixels.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn run(&self, gt: &mut [f32], dwt: &mut [f32]) {
        let (p, lanes) = (self.p, self.lanes);
        let hw = p.height * p.width;
        let rows = (WEIGHT_GRAD_BAND / (lanes * p.width)).max(1);
        for y0 in (0..p.height).step_by(rows) {
            let band = y0..(y0 + rows).min(p.height);
            let pixels = band.start * p.width..band.end * p.width;
            transpose_grad(self.grad, self.out_channels, hw, pixels.clone(), lanes, gt);
            let gt = &gt[..pixels.len() * lanes];
            for block in 0..lanes / LANES {
                let mut c = 0;
                while c < p.channels {
                    let band = band.clone();
                    match p.channels - c {
                        1 => self.tile::<1>(gt, block, c, band, dwt),
                        2 => self.tile::<2>(gt, block, c, band, dwt),
                        _ => self.tile::<3>(gt, block, c, band, dwt),
                    }
                    c += 3;
                }
            }
        }
    }

    /// Input channels `c0..c0 + NC`, output channels `16 * block..16 * block + 16`, pixels
    /// of `rows`, whose transposed gradient is `gt`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const NC: usize>(
        &self,
        gt: &[f32],
        block: usize,
        c0: usize,
        rows: std::ops::Range<usize>,
        dwt: &mut [f32],
    ) {
        let (p, lanes, padded) = (self.p, self.lanes, self.padded);
        let (row, plane) = (p.row(), p.plane());
        let o0 = block * LANES;
        assert!(dwt.len() >= ((c0 + NC) * 9 - 1) * lanes + o0 + LANES);
        assert!(gt.len() >= rows.len() * p.width * lanes && o0 + LANES <= lanes);
        assert!(padded.len() >= (c0 + NC) * plane);
        // The band's sums start from zero and are added to `dwt` at the end: shorter
        // accumulation chains than running on through the whole image (8x less rounding
        // error at 64x64).
        let mut acc = [[_mm512_setzero_ps(); 9]; NC];
        let (xs, gs) = (padded.as_ptr(), gt.as_ptr());
        assert!(rows.end <= p.height);
        let y0 = rows.start;
        for y in rows {
            for x in 0..p.width {
                // SAFETY: (this load and those below) pixel (y, x) < H x W, so its gradient row
                // and the 3x3 window of padded row y..y + 2, column x..x + 2 of each channel
                // c0 + c lie inside `gt` and `padded` (asserted above).
                let gv = unsafe { _mm512_loadu_ps(gs.add(((y - y0) * p.width + x) * lanes + o0)) };
                for (c, acc) in acc.iter_mut().enumerate() {
                    let base = (c0 + c) * plane + y * row + x;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            // SAFETY: inside the window of channel c0 + c (see above).
                            let xv = unsafe { _mm512_set1_ps(*xs.add(base + ky * row + kx)) };
                            acc[ky * 3 + kx] = _mm512_fmadd_ps(xv, gv, acc[ky * 3 + kx]);
                        }
                    }
                }
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            for (tap, a) in acc.iter().enumerate() {
                // SAFETY: asserted above: the 16 floats are inside `dwt`.
                unsafe {
                    let at = dwt.as_mut_ptr().add(((c0 + c) * 9 + tap) * lanes + o0);
                    _mm512_storeu_ps(at, _mm512_add_ps(_mm512_loadu_ps(at), *a))
                };
            }
        }
    }
}
