//! The weight gradient of the Winograd F(2x2, 3x3) convolution: `dU_ξ = Σ_tiles dM_ξ V_ξᵀ`
//! with `dM = A dY Aᵀ` (each 2x2 output-gradient tile spread to 4x4) and `V = Bᵀ d B` (the
//! forward's input transform), then `dW = Gᵀ dU G`: 16 multiplies per tile and channel pair
//! instead of the direct reduction's 36.
//!
//! Per image and chunk of `S` tiles of one tile row (`S` = 32 where it divides the row's
//! tiles, else 16):
//! `V` as in the forward (`[16][C_in][S]`, tiles in lanes), the chunk's two output-gradient
//! rows transposed to pixel-major and transformed into `dM` (`[16][S][16 output channels]`);
//! then for each `ξ`, block of 16 output channels and block of up to 16 input channels, 16
//! vector accumulators (one per input channel, lanes over output channels) sum
//! `dM_ξ(t) * V_ξ(c, t)` over the chunk's tiles, `V` broadcast from fixed offsets of one
//! pointer (`S` is a constant).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::cpu::lanes::LANES;

use super::Padded;
use super::weight_grad::transpose_grad;
use super::winograd::{G, XI, input_transform};
use super::winograd_bf16_weight_grad as bf16_form;

/// Scratch floats one image needs ([`GradImage::run`]'s `scratch`) for `p` and `lanes`
/// output channels (rounded up to 16): the transposed gradient of a chunk (4 pixels a
/// tile), `V` and `dM`.
pub(super) fn scratch_len(p: Padded, lanes: usize) -> usize {
    let s = 2 * LANES;
    4 * s * lanes + XI * p.channels * s + XI * s * LANES
}

/// `dW = Gᵀ dU G` of a `[16][C_in][lanes]` accumulator, added to `dwt` (`[C_in][9][lanes]`).
pub(super) fn add_to_direct_layout(du: &[f32], channels: usize, lanes: usize, dwt: &mut [f32]) {
    for c in 0..channels {
        for j in 0..3 {
            for l in 0..3 {
                let dst = &mut dwt[(c * 9 + j * 3 + l) * lanes..][..lanes];
                for i in 0..4 {
                    for k in 0..4 {
                        let coef = G[i][j] * G[k][l];
                        if coef == 0.0 {
                            continue;
                        }
                        let src = &du[((i * 4 + k) * channels + c) * lanes..][..lanes];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += coef * s);
                    }
                }
            }
        }
    }
}

/// One image of the Winograd weight gradient.
pub(super) struct GradImage<'a> {
    /// The padded input planes' geometry.
    pub p: Padded,
    /// Output channels.
    pub out_channels: usize,
    /// Output channels rounded up to 16.
    pub lanes: usize,
    /// The image's padded input.
    pub padded: &'a [f32],
    /// The image's output gradient, `[C_out][H][W]`.
    pub grad: &'a [f32],
}

impl GradImage<'_> {
    /// Adds the image's `dU` to `du` (`[16][C_in][lanes]`); `scratch` holds at least
    /// [`scratch_len`] floats.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub fn run(&self, scratch: &mut [f32], du: &mut [f32]) {
        match self.wide_chunks() {
            true => self.run_chunks::<{ 2 * LANES }, false>(scratch, &mut [], du),
            false => self.run_chunks::<LANES, false>(scratch, &mut [], du),
        }
    }

    /// [`run`](Self::run) with the transforms rounded to bf16 and `vdpbf16ps` products
    /// (`winograd_bf16_weight_grad`); `pairs` holds at least its `pairs_len` lanes.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW and AVX512_BF16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub unsafe fn run_bf16(&self, scratch: &mut [f32], pairs: &mut [u32], du: &mut [f32]) {
        match self.wide_chunks() {
            true => self.run_chunks::<{ 2 * LANES }, true>(scratch, pairs, du),
            false => self.run_chunks::<LANES, true>(scratch, pairs, du),
        }
    }

    /// Whether chunks of 32 tiles divide a row of tiles (else chunks of 16).
    fn wide_chunks(&self) -> bool {
        (self.p.width / 2).is_multiple_of(2 * LANES)
    }

    /// [`run`](Self::run) in chunks of `S` tiles (`S` divides the tiles of a row); with
    /// `BF16` (the caller checked AVX512_BF16), [`run_bf16`](Self::run_bf16)'s products.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn run_chunks<const S: usize, const BF16: bool>(
        &self,
        scratch: &mut [f32],
        pairs: &mut [u32],
        du: &mut [f32],
    ) {
        let (p, lanes) = (self.p, self.lanes);
        let (gt, rest) = scratch.split_at_mut(4 * S * lanes);
        let (v, dm) = rest.split_at_mut(XI * p.channels * S);
        let dm = &mut dm[..XI * S * LANES];
        let hw = p.height * p.width;
        for ty in 0..p.height / 2 {
            for t0 in (0..p.width / 2).step_by(S) {
                // The chunk's output-gradient pixels: rows 2ty and 2ty + 1, columns
                // 2t0 .. 2t0 + 2S, transposed as two runs.
                for a in 0..2 {
                    let start = (2 * ty + a) * p.width + 2 * t0;
                    let dst = &mut gt[a * 2 * S * lanes..][..2 * S * lanes];
                    transpose_grad(
                        self.grad,
                        self.out_channels,
                        hw,
                        start..start + 2 * S,
                        lanes,
                        dst,
                    );
                }
                if BF16 {
                    // SAFETY: the caller checked AVX512_BF16 (`run_bf16`).
                    unsafe { bf16_form::chunk::<S>(self, gt, ty, t0, pairs, du) };
                    continue;
                }
                input_transform(p, self.padded, ty, t0..t0 + S, v, S);
                for block in 0..lanes / LANES {
                    self.grad_transform::<S>(gt, block, dm);
                    for xi in 0..XI {
                        let mut c = 0;
                        while c < p.channels {
                            let at = Tile { xi, block, c0: c };
                            c += match p.channels - c {
                                16.. => self.accumulate::<S, 16>(v, dm, at, du),
                                8.. => self.accumulate::<S, 8>(v, dm, at, du),
                                4.. => self.accumulate::<S, 4>(v, dm, at, du),
                                _ => self.accumulate::<S, 1>(v, dm, at, du),
                            };
                        }
                    }
                }
            }
        }
    }

    /// `dM = A dY Aᵀ` of the chunk's `S` tiles for output channels `16 * block ..`, into
    /// `dm` (`[16][S][16]`), from the transposed gradient `gt` (`[2][2S][lanes]`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn grad_transform<const S: usize>(&self, gt: &[f32], block: usize, dm: &mut [f32]) {
        assert!(dm.len() >= XI * S * LANES);
        for t in 0..S {
            let values = self.tile_gradient::<S>(gt, block, t);
            let dst = dm.as_mut_ptr().wrapping_add(t * LANES);
            for (xi, value) in values.into_iter().enumerate() {
                // SAFETY: entry (ξ, t) of `dm`, 16 floats at `(ξ * S + t) * 16`, is inside it
                // (asserted above).
                unsafe { _mm512_storeu_ps(dst.add(xi * S * LANES), value) };
            }
        }
    }

    /// `dM = A dY Aᵀ` of tile `t` of the chunk (of `S` tiles) for output channels `16 * block
    /// ..` (lanes), from the transposed gradient `gt` (`[2][2S][lanes]`): its 16 entries.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn tile_gradient<const S: usize>(
        &self,
        gt: &[f32],
        block: usize,
        t: usize,
    ) -> [__m512; XI] {
        let lanes = self.lanes;
        let row = 2 * S * lanes;
        assert!(t < S && gt.len() >= 2 * row && block * LANES + LANES <= lanes);
        let zero = _mm512_setzero_ps();
        // SAFETY: pixels (a, 2t + b) of the two rows, 16 channels from `16 * block`, lie
        // inside `gt` (asserted above).
        let [y00, y01, y10, y11] = unsafe {
            let src = gt.as_ptr().add(2 * t * lanes + block * LANES);
            [
                _mm512_loadu_ps(src),
                _mm512_loadu_ps(src.add(lanes)),
                _mm512_loadu_ps(src.add(row)),
                _mm512_loadu_ps(src.add(row + lanes)),
            ]
        };
        // A = [[1, 0], [1, 1], [1, -1], [0, -1]]: P = A y, then dM = P Aᵀ.
        let p = [
            [y00, y01],
            [_mm512_add_ps(y00, y10), _mm512_add_ps(y01, y11)],
            [_mm512_sub_ps(y00, y10), _mm512_sub_ps(y01, y11)],
            [_mm512_sub_ps(zero, y10), _mm512_sub_ps(zero, y11)],
        ];
        let mut values = [zero; XI];
        for (i, [p0, p1]) in p.into_iter().enumerate() {
            values[i * 4] = p0;
            values[i * 4 + 1] = _mm512_add_ps(p0, p1);
            values[i * 4 + 2] = _mm512_sub_ps(p0, p1);
            values[i * 4 + 3] = _mm512_sub_ps(zero, p1);
        }
        values
    }

    /// `du[ξ][c0 + c][16 * block ..] += Σ_t dM_ξ(t) V_ξ(c0 + c, t)` for `c < N`; returns `N`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn accumulate<const S: usize, const N: usize>(
        &self,
        v: &[f32],
        dm: &[f32],
        at: Tile,
        du: &mut [f32],
    ) -> usize {
        let Tile { xi, block, c0 } = at;
        let (channels, lanes) = (self.p.channels, self.lanes);
        assert!(c0 + N <= channels && block * LANES + LANES <= lanes);
        let grads = &dm[xi * S * LANES..][..S * LANES];
        let vs = &v[(xi * channels + c0) * S..][..N * S];
        let mut acc = [_mm512_setzero_ps(); N];
        for t in 0..S {
            // SAFETY: tile `t < S` of `grads` (16 floats) and of input channel `c < N` of
            // `vs` (`vs[c * S + t]`) are inside the slices.
            unsafe {
                let g = _mm512_loadu_ps(grads.as_ptr().add(t * LANES));
                let x = vs.as_ptr().add(t);
                for (c, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*x.add(c * S)), g, *acc);
                }
            }
        }
        self.add_sums(&acc, at, du);
        N
    }

    /// `du[ξ][c0 + c][16 * block ..] += sums[c]` (`at` = `(ξ, block, c0)`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn add_sums(&self, sums: &[__m512], at: Tile, du: &mut [f32]) {
        let Tile { xi, block, c0 } = at;
        let (channels, lanes) = (self.p.channels, self.lanes);
        for (c, sum) in sums.iter().enumerate() {
            let at = (xi * channels + c0 + c) * lanes + block * LANES;
            let dst = &mut du[at..at + LANES];
            // SAFETY: `dst` holds 16 floats.
            unsafe {
                let total = _mm512_add_ps(_mm512_loadu_ps(dst.as_ptr()), *sum);
                _mm512_storeu_ps(dst.as_mut_ptr(), total);
            }
        }
    }
}

/// Which accumulators a chunk's products sum: entry `xi`, output channels `16 * block ..`,
/// input channels from `c0`.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    /// The entry ξ of the 4x4 transform.
    pub xi: usize,
    /// The block of 16 output channels.
    pub block: usize,
    /// The first input channel.
    pub c0: usize,
}
