//! Winograd F(2x2, 3x3) for the wide 3x3 convolutions: each 2x2 block of output pixels
//! (a tile) costs 16 multiplies per input-output channel pair instead of 36.
//!
//! Per image, row of tiles (two output rows) and chunk of 16 tiles (32 above 32 input
//! channels), the 4x4 input patches of 16 adjacent tiles at a time are gathered from the
//! padded planes with two-source permutes and transformed (`V = Bᵀ d B`) into a scratch laid
//! out `[16][C_in][16 or 32]` (16-32 KiB at the VPT's 16-32 channels); for
//! each block of 8 output channels, 16 small products (`M_ξ = U_ξ V_ξ`, `U = G g Gᵀ` packed
//! once per call) accumulate in registers over the input channels with broadcast weights,
//! like the direct kernel's tiles; the 16 products are then transformed back (`Y = Aᵀ M A`),
//! biased, rectified and interleaved into the two output rows.
//!
//! Only the shapes where it pays are sent here ([`handles`]): at least 8 input channels
//! (below that the transforms outweigh the saved multiplies), an even height and a width that
//! is a multiple of 32 (whole vectors of tiles, no tails).

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::cpu::lanes::LANES;

use super::Padded;

/// Output channels per register tile.
pub(super) const OB: usize = 8;

/// Entries of a transformed 4x4 tile.
pub(super) const XI: usize = 16;

/// `G` of F(2x2, 3x3): `U = G g Gᵀ` turns a 3x3 kernel into its 4x4 transform.
pub(super) const G: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

thread_local! {
    /// The calling thread's transformed input of one chunk of tiles (`[16][C_in][32]` at
    /// most; `[C_in][36][16]` for F(4x4, 3x3)).
    pub(super) static TRANSFORMED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` floats of this thread's [`TRANSFORMED`] scratch (grown on demand).
pub(super) fn with_transformed<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    TRANSFORMED.with(|cell| {
        let mut v = cell.borrow_mut();
        if v.len() < len {
            v.resize(len, 0.0);
        }
        f(&mut v[..len])
    })
}

/// Whether the Winograd kernel computes `s` (already known to be a stride-1, padding-1 3x3
/// convolution on an AVX-512 CPU) faster than the direct one. Off with
/// [`KernelOptions::winograd`](crate::kernels::KernelOptions::winograd) (the direct kernel then
/// computes every shape), for comparisons.
pub(super) fn handles(s: &ConvShape) -> bool {
    crate::kernels::options().winograd && s.in_channels >= 8 && fits(s)
}

/// Whether `s`'s image tiles into whole vectors of 2x2 tiles: an even height and a width that
/// is a multiple of 32.
pub(super) fn fits(s: &ConvShape) -> bool {
    s.height.is_multiple_of(2) && s.width.is_multiple_of(2 * LANES)
}

/// The weight `[C_out][C_in][3][3]` as `U = G g Gᵀ`, packed `[C_out / OB][16][C_in][OB]`
/// (output channels padded with zeros to a multiple of `OB`).
pub(super) fn transform_weight(
    weight: &[f32],
    out_channels: usize,
    in_channels: usize,
) -> Vec<f32> {
    transform_weight_by(&G, weight, out_channels, in_channels)
}

/// The weight `[C_out][C_in][3][3]` as `U = G g Gᵀ` for an `N x 3` matrix `G` (F(N - 2, 3)'s),
/// packed `[C_out / OB][N * N][C_in][OB]` (output channels padded with zeros to a multiple of
/// `OB`): entry `ξ = i * N + l` holds `U[i][l]`.
///
/// The blocks of output channels are transformed on the thread pool (a call per convolution,
/// forward and input gradient, which the calling thread would otherwise make alone).
pub(super) fn transform_weight_by<const N: usize>(
    gm: &[[f32; 3]; N],
    weight: &[f32],
    out_channels: usize,
    in_channels: usize,
) -> Vec<f32> {
    let (blocks, xis) = (out_channels.div_ceil(OB), N * N);
    let mut packed = vec![0.0; blocks * xis * in_channels * OB];
    if packed.is_empty() {
        return packed;
    }
    let transform_block = |(block, packed): (usize, &mut [f32])| {
        for o in block * OB..out_channels.min((block + 1) * OB) {
            let lane = o % OB;
            for c in 0..in_channels {
                let g = &weight[(o * in_channels + c) * 9..][..9];
                // t = G g (N x 3), then u = t Gᵀ (N x N).
                let t: [[f32; 3]; N] = std::array::from_fn(|i| {
                    std::array::from_fn(|k| (0..3).map(|j| gm[i][j] * g[j * 3 + k]).sum())
                });
                for i in 0..N {
                    for l in 0..N {
                        let u: f32 = (0..3).map(|k| t[i][k] * gm[l][k]).sum();
                        packed[((i * N + l) * in_channels + c) * OB + lane] = u;
                    }
                }
            }
        }
    };
    packed
        .par_chunks_mut(xis * in_channels * OB)
        .enumerate()
        .for_each(transform_block);
    packed
}

/// One call's geometry and operands, for the per-image work.
pub(super) struct Winograd<'a> {
    /// The padded input planes' geometry.
    pub p: Padded,
    /// Output channels.
    pub out_channels: usize,
    /// The transformed weight: [`transform_weight`]'s, or for F(4x4, 3x3) (the AVX2
    /// kernel's `image_avx2` with `f4`) `winograd4_avx2::transform_weight`'s.
    pub packed: &'a [f32],
    /// Per-output-channel bias.
    pub bias: Option<&'a [f32]>,
    /// Whether the outputs are rectified.
    pub relu: bool,
    /// Whether the outputs are rounded to bf16 (under bf16 autocast).
    pub round: bool,
    /// Chunks of 32 tiles at every width
    /// ([`KernelOptions::winograd_wide`](crate::kernels::KernelOptions::winograd_wide)).
    pub wide: bool,
}

impl Winograd<'_> {
    /// The bias of output channel `channel` and its `[H][W]` plane of `out`, or `None` past
    /// the last channel (a register tile's padding channels).
    pub(super) fn output_plane<'o>(
        &self,
        channel: usize,
        out: &'o mut [MaybeUninit<f32>],
    ) -> Option<(f32, &'o mut [MaybeUninit<f32>])> {
        let hw = self.p.height * self.p.width;
        (channel < self.out_channels).then(|| {
            let bias = self.bias.map_or(0.0, |b| b[channel]);
            (bias, &mut out[channel * hw..][..hw])
        })
    }

    /// One image: `padded` is its zero-padded input, `out` its `[C_out][H][W]` output
    /// (every element written).
    pub fn image(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        with_transformed(XI * self.p.channels * 2 * LANES, |v| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked that the CPU has AVX-512F (`super::handles`).
            unsafe {
                // Chunks of 16 tiles up to 16 input channels (the transformed chunk, 16 KiB,
                // stays in L1: 10-20% faster than 32 tiles there), 32 tiles above (fewer
                // weight broadcasts per multiply; the same speed or better at 32 channels).
                if self.p.channels <= 32 && !self.wide {
                    self.image_avx512::<1>(padded, v, out)
                } else {
                    self.image_avx512::<2>(padded, v, out)
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("conv3x3 runs only where `available` is true");
        })
    }

    /// The image chunk by chunk of `NV * 16` tiles (the last chunk of a row may be 16).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn image_avx512<const NV: usize>(
        &self,
        padded: &[f32],
        v: &mut [f32],
        out: &mut [MaybeUninit<f32>],
    ) {
        let tiles = self.p.width / 2;
        for ty in 0..self.p.height / 2 {
            let mut t0 = 0;
            while t0 < tiles {
                let wide = tiles - t0 >= NV * LANES;
                let span = if wide { NV * LANES } else { LANES };
                input_transform(self.p, padded, ty, t0..t0 + span, v, span);
                for block in 0..self.out_channels.div_ceil(OB) {
                    if wide {
                        self.tile::<NV>(v, block, ty, t0, out);
                    } else {
                        self.tile::<1>(v, block, ty, t0, out);
                    }
                }
                t0 += span;
            }
        }
    }

    /// Output channels `block * OB ..` of tiles `t0 .. t0 + NV * 16` of row `ty`: the 16
    /// products over the input channels, then `Aᵀ M A`, bias and ReLU into `out`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const NV: usize>(
        &self,
        v: &[f32],
        block: usize,
        ty: usize,
        t0: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        let channels = self.p.channels;
        let weights = &self.packed[block * XI * channels * OB..][..XI * channels * OB];
        // Written whole below before it is read (no zeroing of its 8-16 KiB).
        let mut m = [const { MaybeUninit::<[[__m512; NV]; OB]>::uninit() }; XI];
        for (xi, m) in m.iter_mut().enumerate() {
            let mut acc = [[_mm512_setzero_ps(); NV]; OB];
            for c in 0..channels {
                let at = (xi * channels + c) * NV * LANES;
                let src = &v[at..at + NV * LANES];
                let mut xs = [_mm512_setzero_ps(); NV];
                for (j, x) in xs.iter_mut().enumerate() {
                    // SAFETY: `src` holds NV * 16 floats.
                    *x = unsafe { _mm512_loadu_ps(src.as_ptr().add(j * LANES)) };
                }
                let w = &weights[(xi * channels + c) * OB..][..OB];
                for o in 0..OB {
                    let wv = _mm512_set1_ps(w[o]);
                    for j in 0..NV {
                        acc[o][j] = _mm512_fmadd_ps(wv, xs[j], acc[o][j]);
                    }
                }
            }
            m.write(acc);
        }
        // SAFETY: every entry of `m` was written in the loop above.
        let m = unsafe { &*m.as_ptr().cast::<[[[__m512; NV]; OB]; XI]>() };
        self.output_transform(m, block, ty, t0, out);
    }

    /// `Y = Aᵀ M A` (+ bias, ReLU) of a register tile's products, interleaved into output
    /// rows `2ty` and `2ty + 1`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::needless_range_loop)] // `o` and `j` index the inner dimensions of `m`.
    pub(super) fn output_transform<const NV: usize>(
        &self,
        m: &[[[__m512; NV]; OB]; XI],
        block: usize,
        ty: usize,
        t0: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        let width = self.p.width;
        let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        for o in 0..OB {
            let Some((bias, plane)) = self.output_plane(block * OB + o, out) else {
                break;
            };
            let b = _mm512_set1_ps(bias);
            for j in 0..NV {
                // Aᵀ M: rows (m0 + m1 + m2, m1 - m2 - m3), then the same on columns. (Plain
                // loops: closures would not inherit this function's AVX-512.)
                let mut f = [[_mm512_setzero_ps(); 2]; 4];
                for (k, f) in f.iter_mut().enumerate() {
                    let [m0, m1, m2, m3] =
                        [m[k][o][j], m[4 + k][o][j], m[8 + k][o][j], m[12 + k][o][j]];
                    *f = [
                        _mm512_add_ps(_mm512_add_ps(m0, m1), m2),
                        _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3),
                    ];
                }
                for a in 0..2 {
                    let [f0, f1, f2, f3] = [f[0][a], f[1][a], f[2][a], f[3][a]];
                    let mut y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(f0, f1), f2), b);
                    let mut y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(f1, f2), f3), b);
                    if self.relu {
                        y0 = _mm512_max_ps(y0, _mm512_setzero_ps());
                        y1 = _mm512_max_ps(y1, _mm512_setzero_ps());
                    }
                    if self.round {
                        (y0, y1) = (bf16::round_lanes(y0), bf16::round_lanes(y1));
                    }
                    let x0 = 2 * (t0 + j * LANES);
                    let dst = &mut plane[(2 * ty + a) * width + x0..][..2 * LANES];
                    let (lo, hi) = (
                        _mm512_permutex2var_ps(y0, low, y1),
                        _mm512_permutex2var_ps(y0, high, y1),
                    );
                    // SAFETY: `dst` holds 32 floats; f32 stores initialize them.
                    unsafe {
                        _mm512_storeu_ps(dst.as_mut_ptr().cast::<f32>(), lo);
                        _mm512_storeu_ps(dst.as_mut_ptr().add(LANES).cast::<f32>(), hi);
                    }
                }
            }
        }
    }
}

/// `V = Bᵀ d B` of tiles `tiles` (16 at a time) of row `ty` of the padded planes, into
/// `v[(ξ * C_in + c) * stride + t - tiles.start]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn input_transform(
    p: Padded,
    padded: &[f32],
    ty: usize,
    tiles: std::ops::Range<usize>,
    v: &mut [f32],
    stride: usize,
) {
    let channels = p.channels;
    for c in 0..channels {
        for t in tiles.clone().step_by(LANES) {
            let values = tile_input(p, padded, c, ty, t);
            // Entry ξ goes to `v[(ξ * C + c) * stride + t - tiles.start ..][..16]`: one
            // pointer stepping by `C * stride` (16 slice bounds checks spilled the loop).
            let first = c * stride + t - tiles.start;
            let step = channels * stride;
            assert!(first + (XI - 1) * step + LANES <= v.len());
            let mut dst = v[first..].as_mut_ptr();
            for value in values {
                // SAFETY: the 16 floats at `dst` are inside `v` (asserted above for the last
                // entry, and the entries before it are lower).
                unsafe {
                    _mm512_storeu_ps(dst, value);
                    dst = dst.wrapping_add(step);
                }
            }
        }
    }
}

/// `V = Bᵀ d B` of tiles `t .. t + 16` of row `ty` of padded channel `c`: its 16 entries,
/// lane `l` for tile `t + l`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn tile_input(p: Padded, padded: &[f32], c: usize, ty: usize, t: usize) -> [__m512; XI] {
    let (row, plane) = (p.row(), p.plane());
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // d[r][j]: lane l holds padded pixel (2ty + r, 2(t + l) + j).
    let mut d = [[_mm512_setzero_ps(); 4]; 4];
    for (r, d) in d.iter_mut().enumerate() {
        let start = c * plane + (2 * ty + r) * row + 2 * t;
        // Columns 2t .. 2t + 34 of a padded row of width + 2 >= 2t + 34.
        let src = &padded[start..start + 2 * LANES + 2];
        // SAFETY: every load reads 16 floats inside `src`.
        let [a, b, a2, b2] = unsafe {
            let at = src.as_ptr();
            [
                _mm512_loadu_ps(at),
                _mm512_loadu_ps(at.add(LANES)),
                _mm512_loadu_ps(at.add(2)),
                _mm512_loadu_ps(at.add(LANES + 2)),
            ]
        };
        *d = [
            _mm512_permutex2var_ps(a, even, b),
            _mm512_permutex2var_ps(a, odd, b),
            _mm512_permutex2var_ps(a2, even, b2),
            _mm512_permutex2var_ps(a2, odd, b2),
        ];
    }
    bt_d_b(&d)
}

/// `Bᵀ d B` of a 4x4 tile (each entry a vector of 16 independent lanes), row-major.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn bt_d_b(d: &[[__m512; 4]; 4]) -> [__m512; XI] {
    // Bᵀ d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3), then the same on columns.
    let mut e = [[_mm512_setzero_ps(); 4]; 4];
    for (j, e) in e.iter_mut().enumerate() {
        let [d0, d1, d2, d3] = [d[0][j], d[1][j], d[2][j], d[3][j]];
        *e = [
            _mm512_sub_ps(d0, d2),
            _mm512_add_ps(d1, d2),
            _mm512_sub_ps(d2, d1),
            _mm512_sub_ps(d1, d3),
        ];
    }
    let mut v = [_mm512_setzero_ps(); XI];
    for i in 0..4 {
        let [e0, e1, e2, e3] = [e[0][i], e[1][i], e[2][i], e[3][i]];
        v[i * 4] = _mm512_sub_ps(e0, e2);
        v[i * 4 + 1] = _mm512_add_ps(e1, e2);
        v[i * 4 + 2] = _mm512_sub_ps(e2, e1);
        v[i * 4 + 3] = _mm512_sub_ps(e1, e3);
    }
    v
}
