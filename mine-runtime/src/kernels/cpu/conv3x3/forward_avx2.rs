//! The direct kernel's register tiles for CPUs with AVX2 and FMA but no AVX-512 (AMD Zen 2
//! and Zen 3, Intel client cores and servers before Skylake-SP): 8 floats per register and
//! 16 registers, so a tile is `CO` output channels x `NV` registers of 8 pixels (`CO * NV`
//! accumulators, `NV` input registers and one broadcast weight), over the same packed weight
//! and padded planes as the AVX-512 tiles.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::forward::Forward;
use super::{CB, Padded};

/// f32 per AVX2 register.
const LANES8: usize = 8;

/// Output channels per AVX2 tile (a half of the weight's packed block of `CB`).
const CO: usize = 4;

impl Forward<'_> {
    /// One image with AVX2 and FMA: `padded` is its input, `out` its `[C_out][H][W]` output.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn image_avx2(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        let Padded { height, width, .. } = self.p;
        for group in 0..self.out_channels.div_ceil(CO) {
            for y in 0..height {
                let mut x = 0;
                while x < width {
                    let left = width - x;
                    if left > 2 * LANES8 {
                        self.tile_avx2::<3>(padded, out, group, y, x);
                        x += 3 * LANES8;
                    } else if left > LANES8 {
                        self.tile_avx2::<2>(padded, out, group, y, x);
                        x += 2 * LANES8;
                    } else {
                        self.tile_avx2::<1>(padded, out, group, y, x);
                        x += LANES8;
                    }
                }
            }
        }
    }

    /// Output channels `group * CO ..` at row `y`, pixels `x .. x + NV * 8` (clipped to the
    /// row).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tile_avx2<const NV: usize>(
        &self,
        padded: &[f32],
        out: &mut [MaybeUninit<f32>],
        group: usize,
        y: usize,
        x: usize,
    ) {
        let p = self.p;
        let (row, plane) = (p.row(), p.plane());
        let (block, first) = (group * CO / CB, group * CO % CB);
        let weights = &self.packed[block * p.channels * 9 * CB..][..p.channels * 9 * CB];
        let mut acc = [[_mm256_setzero_ps(); NV]; CO];
        for c in 0..p.channels {
            let base = c * plane + y * row + x;
            for tap in 0..9 {
                let start = base + tap / 3 * row + tap % 3;
                // The last register of a partial tile may read past the row (into the next
                // row, or the planes' slack): those lanes are never stored.
                let src = &padded[start..start + NV * LANES8];
                let mut xs = [_mm256_setzero_ps(); NV];
                for (j, v) in xs.iter_mut().enumerate() {
                    // SAFETY: `src` holds NV * 8 floats.
                    *v = unsafe { _mm256_loadu_ps(src.as_ptr().add(j * LANES8)) };
                }
                let w = &weights[(c * 9 + tap) * CB + first..][..CO];
                for o in 0..CO {
                    let wv = _mm256_set1_ps(w[o]);
                    for j in 0..NV {
                        acc[o][j] = _mm256_fmadd_ps(wv, xs[j], acc[o][j]);
                    }
                }
            }
        }
        let (hw, width) = (p.height * p.width, p.width);
        let lane_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (o, acc) in acc.iter().enumerate() {
            let channel = group * CO + o;
            if channel >= self.out_channels {
                break;
            }
            let b = _mm256_set1_ps(self.bias.map_or(0.0, |b| b[channel]));
            let dst = &mut out[channel * hw + y * width..][..width];
            for (j, v) in acc.iter().enumerate() {
                let x0 = x + j * LANES8;
                if x0 >= width {
                    break;
                }
                let mut v = _mm256_add_ps(*v, b);
                if self.relu {
                    v = _mm256_max_ps(v, _mm256_setzero_ps());
                }
                let lanes = (width - x0).min(LANES8);
                let at = dst.as_mut_ptr().wrapping_add(x0).cast::<f32>();
                if lanes == LANES8 {
                    // SAFETY: `dst[x0..x0 + 8]` is inside the row.
                    unsafe { _mm256_storeu_ps(at, v) };
                } else {
                    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), lane_index);
                    // SAFETY: the mask keeps the store inside `dst[x0..x0 + lanes]`.
                    unsafe { _mm256_maskstore_ps(at, mask, v) };
                }
            }
        }
    }
}
