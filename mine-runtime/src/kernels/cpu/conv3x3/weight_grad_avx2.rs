//! The direct weight gradient's register tiles for CPUs with AVX2 and FMA but no AVX-512: the
//! output gradient transposed to pixel-major in 8x8 blocks, then a tile of 8 output channels
//! x 9 taps of one input channel (9 accumulators, one gradient load and 9 broadcast inputs per
//! pixel), over the same bands, layout (`[C_in][9][lanes]`) and sums as the AVX-512 tiles.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::weight_grad::{WEIGHT_GRAD_BAND, WeightGradImage, transpose_rest};

use super::winograd_avx2::LANES8;

impl WeightGradImage<'_> {
    /// Adds the image's contribution to `dwt` (`[C_in][9][lanes]`), band by band of rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn run_avx2(&self, gt: &mut [f32], dwt: &mut [f32]) {
        let (p, lanes) = (self.p, self.lanes);
        let hw = p.height * p.width;
        let rows = (WEIGHT_GRAD_BAND / (lanes * p.width)).max(1);
        for y0 in (0..p.height).step_by(rows) {
            let band = y0..(y0 + rows).min(p.height);
            let pixels = band.start * p.width..band.end * p.width;
            transpose_grad(self.grad, self.out_channels, hw, pixels.clone(), lanes, gt);
            let gt = &gt[..pixels.len() * lanes];
            for block in 0..self.out_channels.div_ceil(LANES8) {
                for c in 0..p.channels {
                    self.tile_avx2(gt, block, c, band.clone(), dwt);
                }
            }
        }
    }

    /// Input channel `c`, output channels `8 * block .. 8 * block + 8`, pixels of `rows`,
    /// whose transposed gradient is `gt`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tile_avx2(
        &self,
        gt: &[f32],
        block: usize,
        c: usize,
        rows: std::ops::Range<usize>,
        dwt: &mut [f32],
    ) {
        let (p, lanes, padded) = (self.p, self.lanes, self.padded);
        let (row, plane) = (p.row(), p.plane());
        let o0 = block * LANES8;
        assert!(dwt.len() >= (c * 9 + 8) * lanes + o0 + LANES8);
        assert!(gt.len() >= rows.len() * p.width * lanes && o0 + LANES8 <= lanes);
        assert!(padded.len() >= (c + 1) * plane && rows.end <= p.height);
        // The band's sums start from zero and are added to `dwt` at the end (shorter
        // accumulation chains, as in the AVX-512 tiles).
        let mut acc = [_mm256_setzero_ps(); 9];
        let (xs, gs) = (padded.as_ptr(), gt.as_ptr());
        let y0 = rows.start;
        for y in rows {
            for x in 0..p.width {
                // SAFETY: (this load and those below) pixel (y, x) < H x W, so its gradient row
                // and the 3x3 window of padded rows y..y + 2, columns x..x + 2 of channel c lie
                // inside `gt` and `padded` (asserted above).
                let gv = unsafe { _mm256_loadu_ps(gs.add(((y - y0) * p.width + x) * lanes + o0)) };
                let base = c * plane + y * row + x;
                for ky in 0..3 {
                    for kx in 0..3 {
                        // SAFETY: inside the window of channel c (see above).
                        let xv = unsafe { _mm256_set1_ps(*xs.add(base + ky * row + kx)) };
                        acc[ky * 3 + kx] = _mm256_fmadd_ps(xv, gv, acc[ky * 3 + kx]);
                    }
                }
            }
        }
        for (tap, a) in acc.iter().enumerate() {
            // SAFETY: asserted above: the 8 floats are inside `dwt`.
            unsafe {
                let at = dwt.as_mut_ptr().add((c * 9 + tap) * lanes + o0);
                _mm256_storeu_ps(at, _mm256_add_ps(_mm256_loadu_ps(at), *a))
            };
        }
    }
}

/// Pixels `pixels` of `grad` (`[C_out][P]`) as `dst` = `[pixel][lanes]` (the lanes past
/// `C_out` zero): 8x8 blocks transposed in registers, the rest element by element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) fn transpose_grad(
    grad: &[f32],
    out_channels: usize,
    plane: usize,
    pixels: std::ops::Range<usize>,
    lanes: usize,
    dst: &mut [f32],
) {
    let first = pixels.start;
    let whole = out_channels / LANES8 * LANES8;
    for p0 in pixels.clone().step_by(LANES8) {
        let p1 = (p0 + LANES8).min(pixels.end);
        let mut o_from = 0;
        if p1 - p0 == LANES8 {
            for o0 in (0..whole).step_by(LANES8) {
                let mut rows = [_mm256_setzero_ps(); LANES8];
                for (j, row) in rows.iter_mut().enumerate() {
                    let src = &grad[(o0 + j) * plane + p0..][..LANES8];
                    // SAFETY: `src` holds 8 floats.
                    *row = unsafe { _mm256_loadu_ps(src.as_ptr()) };
                }
                for (k, column) in transpose8(rows).iter().enumerate() {
                    let out = &mut dst[(p0 - first + k) * lanes + o0..][..LANES8];
                    // SAFETY: `out` holds 8 floats.
                    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), *column) };
                }
            }
            o_from = whole;
        }
        let (channels, dst) = (o_from..lanes, &mut dst[(p0 - first) * lanes..]);
        transpose_rest(grad, out_channels, plane, p0..p1, channels, lanes, dst);
    }
}

/// The transpose of the 8x8 matrix whose rows are `r`: element `j` of result `k` is element
/// `k` of `r[j]` (lanes, pairs, then 128-bit halves).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let mut t = [_mm256_setzero_ps(); 8];
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm256_setzero_ps(); 8];
    for g in 0..2 {
        let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        u[4 * g] = _mm256_shuffle_ps::<0b01_00_01_00>(a, c);
        u[4 * g + 1] = _mm256_shuffle_ps::<0b11_10_11_10>(a, c);
        u[4 * g + 2] = _mm256_shuffle_ps::<0b01_00_01_00>(b, d);
        u[4 * g + 3] = _mm256_shuffle_ps::<0b11_10_11_10>(b, d);
    }
    let mut out = [_mm256_setzero_ps(); 8];
    for i in 0..4 {
        out[i] = _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]);
        out[i + 4] = _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]);
    }
    out
}
