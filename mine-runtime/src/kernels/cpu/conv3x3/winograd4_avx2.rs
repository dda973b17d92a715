//! Winograd F(4x4, 3x3) for CPUs with AVX2 and FMA but no AVX-512: 4x4 output tiles from
//! 6x6 input patches, 36 products per tile and channel pair where F(2x2, 3x3) needs 64 for the
//! same 16 outputs (2.25 multiply-adds per output instead of 4; the direct kernel needs 9).
//!
//! Per chunk of 16 tiles (of one row, or of two rows of 8 tiles; 8 for the rest of a row), the
//! 6x6 patches of 8 tiles are gathered with a 4x4 transposition inside each 128-bit half
//! (lanes hold the tiles in the order 0 2 4 6 1 3 5 7, which the same transposition undoes on
//! the output rows) and transformed (`V = Bᵀ d B`) into `[C_in][36][16]`; the products run in
//! `winograd_avx2`'s register tiles of 4 output channels x 2 registers of tiles, then
//! `Y = Aᵀ M A`, bias and ReLU go to the four output rows.
//!
//! The larger transform constants (up to 8 in `A`, 5 in `B`) cost accuracy: 1.04e-5 from the
//! exact outputs on the 16->32 @64 convolution with values in [-1, 1], where F(2x2, 3x3) gives
//! 5.1e-7 and im2col + gemm 1.5e-6 (`tests::avx2_winograd4_stays_near_the_exact_convolution`).
//! The weight gradient stays F(2x2, 3x3)'s: an F(4x4, 3x3) form was 2.5x less accurate there.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::cpu::conv::ConvShape;

use super::Padded;
use super::winograd::{Winograd, transform_weight_by};
use super::winograd_avx2::LANES8;
#[cfg(target_arch = "x86_64")]
use super::winograd_avx2::{CO, products};

/// Entries of a transformed 6x6 patch.
pub(super) const XI: usize = 36;

/// `G` of F(4x4, 3x3): `U = G g Gᵀ` turns a 3x3 kernel into its 6x6 transform.
const G: [[f32; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Whether F(4x4, 3x3) may compute `s` (a stride-1, padding-1 3x3 convolution on a CPU with
/// AVX2 and FMA; with AVX-512 only under
/// [`KernelOptions::winograd4_avx512`](crate::kernels::KernelOptions::winograd4_avx512), which
/// the caller checks): at least 8 input channels, a height that is a multiple of 4 and a
/// width that is a multiple of 32 (whole registers of 4x4 tiles). Off with
/// [`KernelOptions::winograd`](crate::kernels::KernelOptions::winograd) or
/// [`KernelOptions::winograd4`](crate::kernels::KernelOptions::winograd4).
pub(super) fn handles(s: &ConvShape) -> bool {
    let options = crate::kernels::options();
    options.winograd
        && options.winograd4
        && s.in_channels >= 8
        && s.height.is_multiple_of(4)
        && s.width.is_multiple_of(4 * LANES8)
}

/// The weight `[C_out][C_in][3][3]` as `U = G g Gᵀ`, packed `[C_out / 8][36][C_in][8]`.
pub(super) fn transform_weight(
    weight: &[f32],
    out_channels: usize,
    in_channels: usize,
) -> Vec<f32> {
    transform_weight_by(&G, weight, out_channels, in_channels)
}

impl Winograd<'_> {
    /// One image with F(4x4, 3x3) (`self.packed` is [`transform_weight`]'s; `padded` its
    /// zero-padded input, `v` `36 * C_in * 16` floats of scratch, `out` its
    /// `[C_out][H][W]` output, every element written), chunk by chunk of 16 tiles: of one
    /// row, or of two rows where a row has 8 (8 tiles alone for the rest of a row).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn chunks4(&self, padded: &[f32], v: &mut [f32], out: &mut [MaybeUninit<f32>]) {
        let (tiles, rows) = (self.p.width / 4, self.p.height / 4);
        let mut ty = 0;
        while ty < rows {
            if tiles == LANES8 && ty + 1 < rows {
                // Rows ty and ty + 1 as the two registers of the chunk: 2 x 4 accumulators
                // where one row alone would give 1 x 4 (a load per 4 multiply-adds).
                for (half, row) in [ty, ty + 1].into_iter().enumerate() {
                    input_transform(self.p, padded, row, 0..LANES8, v, 2 * LANES8, half);
                }
                for group in 0..self.out_channels.div_ceil(CO) {
                    self.tile4::<2>(v, group, [(ty, 0), (ty + 1, 0)], out);
                }
                ty += 2;
                continue;
            }
            let mut t0 = 0;
            while t0 < tiles {
                let span = match tiles - t0 >= 2 * LANES8 {
                    true => 2 * LANES8,
                    false => LANES8,
                };
                input_transform(self.p, padded, ty, t0..t0 + span, v, span, 0);
                for group in 0..self.out_channels.div_ceil(CO) {
                    match span {
                        16 => self.tile4::<2>(v, group, [(ty, t0), (ty, t0 + LANES8)], out),
                        _ => self.tile4::<1>(v, group, [(ty, t0)], out),
                    }
                }
                t0 += span;
            }
            ty += 1;
        }
    }

    /// Output channels `group * CO ..` of the chunk's `NV` registers of 8 tiles, register `j`
    /// holding tiles `at[j].1 .. + 8` of tile row `at[j].0`: the 36 products over the input
    /// channels, then `Aᵀ M A`, bias and ReLU into the tiles' four output rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::needless_range_loop)] // `o` and `j` index the inner dimensions of `m`.
    fn tile4<const NV: usize>(
        &self,
        v: &[f32],
        group: usize,
        at: [(usize, usize); NV],
        out: &mut [MaybeUninit<f32>],
    ) {
        let mut m = [const { MaybeUninit::uninit() }; XI];
        let m = products::<XI, NV>(self.packed, v, self.p.channels, group, true, &mut m);
        let width = self.p.width;
        for o in 0..CO {
            let Some((bias, plane)) = self.output_plane(group * CO + o, out) else {
                break;
            };
            let b = _mm256_set1_ps(bias);
            for j in 0..NV {
                // Aᵀ M over the rows of each column k, then over the columns of each row.
                let mut f = [[_mm256_setzero_ps(); 6]; 4];
                for k in 0..6 {
                    let mut column = [_mm256_setzero_ps(); 6];
                    for i in 0..6 {
                        column[i] = m[i * 6 + k][o][j];
                    }
                    let y = output_1d(column);
                    for a in 0..4 {
                        f[a][k] = y[a];
                    }
                }
                let (ty, x0) = (at[j].0, 4 * at[j].1);
                for (a, f) in f.into_iter().enumerate() {
                    let mut y = output_1d(f);
                    for y in &mut y {
                        *y = _mm256_add_ps(*y, b);
                        if self.relu {
                            *y = _mm256_max_ps(*y, _mm256_setzero_ps());
                        }
                    }
                    // Lanes hold tiles 0 2 4 6 1 3 5 7: the transposition gives pixels in
                    // order, 8 at a time.
                    let pixels = transpose4_halves(y);
                    let dst = &mut plane[(4 * ty + a) * width + x0..][..4 * LANES8];
                    for (q, value) in pixels.into_iter().enumerate() {
                        // SAFETY: `dst` holds 32 floats; f32 stores initialize them.
                        unsafe {
                            _mm256_storeu_ps(dst.as_mut_ptr().cast::<f32>().add(q * LANES8), value)
                        };
                    }
                }
            }
        }
    }
}

/// `V = Bᵀ d B` of tiles `tiles` (8 at a time) of tile row `ty` of the padded planes, into
/// `v[(c * 36 + ξ) * stride + 8 * half + t - tiles.start]` (lanes in the order
/// 0 2 4 6 1 3 5 7).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn input_transform(
    p: Padded,
    padded: &[f32],
    ty: usize,
    tiles: std::ops::Range<usize>,
    v: &mut [f32],
    stride: usize,
    half: usize,
) {
    let channels = p.channels;
    assert!(half * LANES8 + tiles.len() <= stride && channels * XI * stride <= v.len());
    for c in 0..channels {
        for t in tiles.clone().step_by(LANES8) {
            let values = tile_input(p, padded, c, ty, t);
            let lane = half * LANES8 + t - tiles.start;
            let dst = v.as_mut_ptr().wrapping_add(c * XI * stride + lane);
            for (xi, value) in values.into_iter().enumerate() {
                // SAFETY: the 8 floats from lane `lane < stride - 7` of entry (c, ξ) are
                // inside `v` (asserted above).
                unsafe { _mm256_storeu_ps(dst.add(xi * stride), value) };
            }
        }
    }
}

/// `V = Bᵀ d B` of tiles `t .. t + 8` of tile row `ty` of padded channel `c`: its 36 entries
/// (`ξ = 6i + k`), lane `l` for tile `t + [0, 2, 4, 6, 1, 3, 5, 7][l]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::needless_range_loop)] // `r`, `j` and `i` index two dimensions of `d` and `e`.
fn tile_input(p: Padded, padded: &[f32], c: usize, ty: usize, t: usize) -> [__m256; XI] {
    let (row, plane) = (p.row(), p.plane());
    // d[j][r]: column j of the tiles' patch row r.
    let mut d = [[_mm256_setzero_ps(); 6]; 6];
    for r in 0..6 {
        let start = c * plane + (4 * ty + r) * row + 4 * t;
        // Columns 4t .. 4t + 36: 4t + 34 <= width + 2 are the row's, the last 2 the next
        // row's or the planes' slack (16 floats), read into lanes that are dropped.
        let src = &padded[start..start + 4 * LANES8 + 4];
        // (Plain loops, no closures: they would not inherit this function's AVX2.)
        let (mut a, mut b) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
        for k in 0..4 {
            // SAFETY: both loads read 8 floats inside `src` (36 floats).
            unsafe {
                a[k] = _mm256_loadu_ps(src.as_ptr().add(k * LANES8));
                b[k] = _mm256_loadu_ps(src.as_ptr().add(4 + k * LANES8));
            }
        }
        // Columns 4t' + j of the 8 tiles for j < 4, and 4t' + 4 + j for the next two.
        let [d0, d1, d2, d3] = transpose4_halves(a);
        let [d4, d5, _, _] = transpose4_halves(b);
        for (j, value) in [d0, d1, d2, d3, d4, d5].into_iter().enumerate() {
            d[j][r] = value;
        }
    }
    let mut e = [[_mm256_setzero_ps(); 6]; 6];
    for j in 0..6 {
        let column = input_1d(d[j]);
        for i in 0..6 {
            e[i][j] = column[i];
        }
    }
    let mut v = [_mm256_setzero_ps(); XI];
    for i in 0..6 {
        let values = input_1d(e[i]);
        v[i * 6..i * 6 + 6].copy_from_slice(&values);
    }
    v
}

/// `Bᵀ d` of F(4x4, 3x3) on six registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn input_1d(d: [__m256; 6]) -> [__m256; 6] {
    let (four, five) = (_mm256_set1_ps(4.0), _mm256_set1_ps(5.0));
    // Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
    //       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    let p = _mm256_fnmadd_ps(four, d[2], d[4]); // d4 - 4 d2
    let q = _mm256_fnmadd_ps(four, d[1], d[3]); // d3 - 4 d1
    let r = _mm256_sub_ps(d[4], d[2]);
    let s = _mm256_sub_ps(d[3], d[1]);
    let s = _mm256_add_ps(s, s);
    [
        _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4])),
        _mm256_add_ps(p, q),
        _mm256_sub_ps(p, q),
        _mm256_add_ps(r, s),
        _mm256_sub_ps(r, s),
        _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5])),
    ]
}

/// `Aᵀ m` of F(4x4, 3x3) on six registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn output_1d(m: [__m256; 6]) -> [__m256; 4] {
    // Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    let (sum12, diff12) = (_mm256_add_ps(m[1], m[2]), _mm256_sub_ps(m[1], m[2]));
    let (sum34, diff34) = (_mm256_add_ps(m[3], m[4]), _mm256_sub_ps(m[3], m[4]));
    [
        _mm256_add_ps(_mm256_add_ps(m[0], sum12), sum34),
        _mm256_fmadd_ps(_mm256_set1_ps(2.0), diff34, diff12),
        _mm256_fmadd_ps(_mm256_set1_ps(4.0), sum34, sum12),
        _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0), diff34, diff12), m[5]),
    ]
}

/// The 4x4 transposition of each 128-bit half of four registers: with `x[k]` holding groups
/// `2k` and `2k + 1` of four floats, result `q` holds float `q` of groups 0 2 4 6 then 1 3 5 7
/// (and back: the transposition is its own inverse).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose4_halves(x: [__m256; 4]) -> [__m256; 4] {
    let (lo01, hi01) = (
        _mm256_unpacklo_ps(x[0], x[1]),
        _mm256_unpackhi_ps(x[0], x[1]),
    );
    let (lo23, hi23) = (
        _mm256_unpacklo_ps(x[2], x[3]),
        _mm256_unpackhi_ps(x[2], x[3]),
    );
    let (lo01, lo23) = (_mm256_castps_pd(lo01), _mm256_castps_pd(lo23));
    let (hi01, hi23) = (_mm256_castps_pd(hi01), _mm256_castps_pd(hi23));
    [
        _mm256_castpd_ps(_mm256_unpacklo_pd(lo01, lo23)),
        _mm256_castpd_ps(_mm256_unpackhi_pd(lo01, lo23)),
        _mm256_castpd_ps(_mm256_unpacklo_pd(hi01, hi23)),
        _mm256_castpd_ps(_mm256_unpackhi_pd(hi01, hi23)),
    ]
}
