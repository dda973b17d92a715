//! Winograd F(2x2, 3x3) for CPUs with AVX2 and FMA but no AVX-512 (`winograd.rs`'s scheme
//! on 8-float registers): per row of tiles and chunk of 16 tiles (8 where 16 do not divide
//! the row), the 4x4 input patches are gathered with in-lane shuffles and transformed
//! (`V = Bᵀ d B`) into `[16][C_in][16]`; for each group of 4 output channels, the 16 products
//! accumulate in 4 x 2 registers over the input channels (two input loads and 4 broadcast
//! weights per 8 multiply-adds: fewer instructions per multiply than 8 x 1, which Zen 3's
//! 6-wide dispatch needs), then `Y = Aᵀ M A`, bias and ReLU are interleaved into the two
//! output rows.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::cpu::conv::ConvShape;

use super::Padded;
use super::winograd::{OB, Winograd, XI, with_transformed};
use super::winograd4_avx2;

/// f32 per AVX2 register.
pub(super) const LANES8: usize = 8;

/// Output channels per register tile (half of the packed weight's block of `OB`).
pub(super) const CO: usize = 4;

/// Whether the AVX2 Winograd kernel computes `s` (a stride-1, padding-1 3x3 convolution on a
/// CPU with AVX2 and FMA): at least 8 input channels, an even height and a width that is a
/// multiple of 16 (whole registers of 2x2 tiles). Off with
/// [`KernelOptions::winograd`](crate::kernels::KernelOptions::winograd).
pub(super) fn handles(s: &ConvShape) -> bool {
    crate::kernels::options().winograd
        && s.in_channels >= 8
        && s.height.is_multiple_of(2)
        && s.width.is_multiple_of(2 * LANES8)
}

impl Winograd<'_> {
    /// One image with AVX2 and FMA, by F(4x4, 3x3) with `f4` (`self.packed` then
    /// `winograd4_avx2::transform_weight`'s), else F(2x2, 3x3): `padded` is its zero-padded
    /// input, `out` its `[C_out][H][W]` output (every element written).
    pub fn image_avx2(&self, padded: &[f32], out: &mut [MaybeUninit<f32>], f4: bool) {
        debug_assert!(!self.round, "the AVX2 kernel does not round to bf16");
        let entries = if f4 { winograd4_avx2::XI } else { XI };
        with_transformed(entries * self.p.channels * 2 * LANES8, |v| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked that the CPU has AVX2 and FMA
            // (`super::handles_f32`).
            unsafe {
                match f4 {
                    true => self.chunks4(padded, v, out),
                    false => self.chunks_avx2(padded, v, out),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("conv3x3 runs only where `available_avx2` is true");
        })
    }

    /// The image chunk by chunk of 16 tiles (8 where 16 do not divide a row of tiles).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn chunks_avx2(&self, padded: &[f32], v: &mut [f32], out: &mut [MaybeUninit<f32>]) {
        let tiles = self.p.width / 2;
        let span = match tiles.is_multiple_of(2 * LANES8) {
            true => 2 * LANES8,
            false => LANES8,
        };
        for ty in 0..self.p.height / 2 {
            for t0 in (0..tiles).step_by(span) {
                input_transform(self.p, padded, ty, t0..t0 + span, v, span);
                for group in 0..self.out_channels.div_ceil(CO) {
                    match span {
                        16 => self.tile_avx2::<2>(v, group, ty, t0, out),
                        _ => self.tile_avx2::<1>(v, group, ty, t0, out),
                    }
                }
            }
        }
    }

    /// Output channels `group * CO ..` of tiles `t0 .. t0 + NV * 8` of row `ty`: `CO x NV`
    /// accumulators per entry ξ (`NV` loads and `CO` broadcasts per `CO * NV` multiply-adds).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)] // `o` and `j` index the inner dimensions of `m`.
    fn tile_avx2<const NV: usize>(
        &self,
        v: &[f32],
        group: usize,
        ty: usize,
        t0: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        // Written whole by `products` before it is read: zeroing its 2-4 KiB first was a
        // memset per call, 3% of the small VPT's step on a Zen 3.
        let mut m = [const { MaybeUninit::uninit() }; XI];
        let m = products::<XI, NV>(self.packed, v, self.p.channels, group, false, &mut m);
        let width = self.p.width;
        for o in 0..CO {
            let Some((bias, plane)) = self.output_plane(group * CO + o, out) else {
                break;
            };
            let b = _mm256_set1_ps(bias);
            for j in 0..NV {
                // Aᵀ M: rows (m0 + m1 + m2, m1 - m2 - m3), then the same on columns.
                let mut f = [[_mm256_setzero_ps(); 2]; 4];
                for (k, f) in f.iter_mut().enumerate() {
                    let [m0, m1, m2, m3] =
                        [m[k][o][j], m[4 + k][o][j], m[8 + k][o][j], m[12 + k][o][j]];
                    *f = [
                        _mm256_add_ps(_mm256_add_ps(m0, m1), m2),
                        _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3),
                    ];
                }
                for a in 0..2 {
                    let [f0, f1, f2, f3] = [f[0][a], f[1][a], f[2][a], f[3][a]];
                    let mut y0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(f0, f1), f2), b);
                    let mut y1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(f1, f2), f3), b);
                    if self.relu {
                        y0 = _mm256_max_ps(y0, _mm256_setzero_ps());
                        y1 = _mm256_max_ps(y1, _mm256_setzero_ps());
                    }
                    // Tile l's two pixels are columns 2(t0 + 8j + l) and 2(t0 + 8j + l) + 1.
                    let (lo, hi) = (_mm256_unpacklo_ps(y0, y1), _mm256_unpackhi_ps(y0, y1));
                    let x0 = 2 * (t0 + j * LANES8);
                    let dst = &mut plane[(2 * ty + a) * width + x0..][..2 * LANES8];
                    // SAFETY: `dst` holds 16 floats; f32 stores initialize them.
                    unsafe {
                        let at = dst.as_mut_ptr().cast::<f32>();
                        _mm256_storeu_ps(at, _mm256_permute2f128_ps::<0x20>(lo, hi));
                        _mm256_storeu_ps(at.add(LANES8), _mm256_permute2f128_ps::<0x31>(lo, hi));
                    }
                }
            }
        }
    }
}

/// The products `M[ξ][o][j] = Σ_c U[ξ][c][o] V[ξ][c][j]` of a register tile, for the `X`
/// entries ξ of a Winograd transform, output channels `group * CO ..` of `packed` (a
/// `[C_out / OB][X][C_in][OB]` transformed weight) and the `NV * 8` tiles of `v` (a
/// `[X][C_in][NV * 8]` transformed input chunk, or `[C_in][X][NV * 8]` with `channel_major`),
/// into `m`: `CO x NV` accumulators per entry
/// (`NV` loads and `CO` broadcast weights per `CO * NV` multiply-adds).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::needless_range_loop)] // `o` picks the weight and the accumulator row.
pub(super) fn products<'m, const X: usize, const NV: usize>(
    packed: &[f32],
    v: &[f32],
    channels: usize,
    group: usize,
    channel_major: bool,
    m: &'m mut [MaybeUninit<[[__m256; NV]; CO]>; X],
) -> &'m [[[__m256; NV]; CO]; X] {
    let (block, first) = (group * CO / OB, group * CO % OB);
    let weights = &packed[block * X * channels * OB..][..X * channels * OB];
    assert!(v.len() >= X * channels * NV * LANES8);
    let entry = NV * LANES8;
    let (xi_step, c_step) = match channel_major {
        true => (entry, X * entry),
        false => (channels * entry, entry),
    };
    for (xi, m) in m.iter_mut().enumerate() {
        let mut acc = [[_mm256_setzero_ps(); NV]; CO];
        let xs = v.as_ptr().wrapping_add(xi * xi_step);
        let ws = weights.as_ptr().wrapping_add(xi * channels * OB + first);
        for c in 0..channels {
            // SAFETY: entry (ξ, c) of `v` (`NV * 8` floats, asserted above) and the `CO`
            // weights of entry (ξ, c) from `first` (inside the block's slice).
            unsafe {
                let mut x = [_mm256_setzero_ps(); NV];
                for (j, x) in x.iter_mut().enumerate() {
                    *x = _mm256_loadu_ps(xs.add(c * c_step + j * LANES8));
                }
                for o in 0..CO {
                    let w = _mm256_set1_ps(*ws.add(c * OB + o));
                    for j in 0..NV {
                        acc[o][j] = _mm256_fmadd_ps(w, x[j], acc[o][j]);
                    }
                }
            }
        }
        m.write(acc);
    }
    // SAFETY: every entry of `m` was written in the loop above.
    unsafe { &*m.as_ptr().cast::<[[[__m256; NV]; CO]; X]>() }
}

/// `V = Bᵀ d B` of tiles `tiles` (8 at a time) of row `ty` of the padded planes, into
/// `v[(ξ * C_in + c) * stride + t - tiles.start]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn input_transform(
    p: Padded,
    padded: &[f32],
    ty: usize,
    tiles: std::ops::Range<usize>,
    v: &mut [f32],
    stride: usize,
) {
    let channels = p.channels;
    let step = channels * stride;
    assert!(tiles.len() <= stride && (XI - 1) * step + (channels - 1) * stride + stride <= v.len());
    for c in 0..channels {
        for t in tiles.clone().step_by(LANES8) {
            let values = tile_input(p, padded, c, ty, t);
            // Entry ξ goes to `v[(ξ * C + c) * stride + t - tiles.start ..][..8]`.
            let mut dst = v.as_mut_ptr().wrapping_add(c * stride + t - tiles.start);
            for value in values {
                // SAFETY: the 8 floats at `dst` are inside `v` (asserted above for the last
                // entry of the last channel; the others are lower).
                unsafe {
                    _mm256_storeu_ps(dst, value);
                    dst = dst.wrapping_add(step);
                }
            }
        }
    }
}

/// The even and the odd lanes of `a` then `b`: `(a0 a2 .. a6 b0 .. b6, a1 a3 .. a7 b1 .. b7)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn deinterleave(a: __m256, b: __m256) -> (__m256, __m256) {
    // Per 128-bit half: (a0 a2 b0 b2 | a4 a6 b4 b6), then 64-bit pairs reordered 0, 2, 1, 3.
    // (No closure: it would not inherit this function's AVX2.)
    let even = _mm256_castps_pd(_mm256_shuffle_ps::<0b10_00_10_00>(a, b));
    let odd = _mm256_castps_pd(_mm256_shuffle_ps::<0b11_01_11_01>(a, b));
    (
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(even)),
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(odd)),
    )
}

/// `V = Bᵀ d B` of tiles `t .. t + 8` of row `ty` of padded channel `c`: its 16 entries, lane
/// `l` for tile `t + l`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tile_input(p: Padded, padded: &[f32], c: usize, ty: usize, t: usize) -> [__m256; XI] {
    let (row, plane) = (p.row(), p.plane());
    // d[r][j]: lane l holds padded pixel (2ty + r, 2(t + l) + j).
    let mut d = [[_mm256_setzero_ps(); 4]; 4];
    for (r, d) in d.iter_mut().enumerate() {
        let start = c * plane + (2 * ty + r) * row + 2 * t;
        // Columns 2t .. 2t + 18 of a padded row of width + 2 >= 2t + 18.
        let src = &padded[start..start + 2 * LANES8 + 2];
        // SAFETY: every load reads 8 floats inside `src`.
        let [a, b, a2, b2] = unsafe {
            let at = src.as_ptr();
            [
                _mm256_loadu_ps(at),
                _mm256_loadu_ps(at.add(LANES8)),
                _mm256_loadu_ps(at.add(2)),
                _mm256_loadu_ps(at.add(LANES8 + 2)),
            ]
        };
        let ((d0, d1), (d2, d3)) = (deinterleave(a, b), deinterleave(a2, b2));
        *d = [d0, d1, d2, d3];
    }
    // Bᵀ d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3), then the same on columns.
    let mut e = [[_mm256_setzero_ps(); 4]; 4];
    for (j, e) in e.iter_mut().enumerate() {
        let [d0, d1, d2, d3] = [d[0][j], d[1][j], d[2][j], d[3][j]];
        *e = [
            _mm256_sub_ps(d0, d2),
            _mm256_add_ps(d1, d2),
            _mm256_sub_ps(d2, d1),
            _mm256_sub_ps(d1, d3),
        ];
    }
    let mut v = [_mm256_setzero_ps(); XI];
    for i in 0..4 {
        let [e0, e1, e2, e3] = [e[0][i], e[1][i], e[2][i], e[3][i]];
        v[i * 4] = _mm256_sub_ps(e0, e2);
        v[i * 4 + 1] = _mm256_add_ps(e1, e2);
        v[i * 4 + 2] = _mm256_sub_ps(e2, e1);
        v[i * 4 + 3] = _mm256_sub_ps(e1, e3);
    }
    v
}
