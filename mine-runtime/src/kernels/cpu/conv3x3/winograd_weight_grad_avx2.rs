//! The Winograd weight gradient (`winograd_weight_grad.rs`'s scheme) for CPUs with AVX2 and
//! FMA but no AVX-512: per image and chunk of `S` tiles of one tile row (16 where they divide
//! the row, else 8), `V` as in the AVX2 forward (`[16][C_in][S]`), the chunk's two
//! output-gradient rows transposed in 8x8 blocks and transformed into `dM` (`[16][S][16]`
//! for each block of 16 output channels, two registers); then for each `ξ` and group of up
//! to 6 input channels, 2 accumulators per input channel (lanes over output channels) sum
//! `dM_ξ(t) V_ξ(c, t)` over the chunk's tiles into `dU` (`[16][C_in][lanes]`, as the AVX-512
//! kernel's).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::weight_grad_avx2::transpose_grad;
use super::winograd::XI;
use super::winograd_avx2::{LANES8, input_transform};
use super::winograd_weight_grad::{GradImage, Tile};

impl GradImage<'_> {
    /// Adds the image's `dU` to `du` (`[16][C_in][lanes]`); `scratch` holds at least
    /// `scratch_len` floats.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub fn run_avx2(&self, scratch: &mut [f32], du: &mut [f32]) {
        match (self.p.width / 2).is_multiple_of(2 * LANES8) {
            true => self.chunks_avx2::<{ 2 * LANES8 }>(scratch, du),
            false => self.chunks_avx2::<LANES8>(scratch, du),
        }
    }

    /// [`run_avx2`](Self::run_avx2) in chunks of `S` tiles (`S` divides the tiles of a row).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn chunks_avx2<const S: usize>(&self, scratch: &mut [f32], du: &mut [f32]) {
        let (p, lanes) = (self.p, self.lanes);
        let (gt, rest) = scratch.split_at_mut(4 * S * lanes);
        let (v, dm) = rest.split_at_mut(XI * p.channels * S);
        let dm = &mut dm[..XI * S * 2 * LANES8];
        let hw = p.height * p.width;
        for ty in 0..p.height / 2 {
            for t0 in (0..p.width / 2).step_by(S) {
                // The chunk's output-gradient pixels: rows 2ty and 2ty + 1, columns
                // 2t0 .. 2t0 + 2S, transposed as two runs.
                for a in 0..2 {
                    let start = (2 * ty + a) * p.width + 2 * t0;
                    let dst = &mut gt[a * 2 * S * lanes..][..2 * S * lanes];
                    let pixels = start..start + 2 * S;
                    transpose_grad(self.grad, self.out_channels, hw, pixels, lanes, dst);
                }
                input_transform(p, self.padded, ty, t0..t0 + S, v, S);
                for block in 0..lanes / (2 * LANES8) {
                    self.grad_transform_avx2::<S>(gt, block, dm);
                    for xi in 0..XI {
                        let mut c = 0;
                        while c < p.channels {
                            let at = Tile { xi, block, c0: c };
                            c += match p.channels - c {
                                6.. => self.accumulate_avx2::<S, 6>(v, dm, at, du),
                                4.. => self.accumulate_avx2::<S, 4>(v, dm, at, du),
                                2.. => self.accumulate_avx2::<S, 2>(v, dm, at, du),
                                _ => self.accumulate_avx2::<S, 1>(v, dm, at, du),
                            };
                        }
                    }
                }
            }
        }
    }

    /// `dM = A dY Aᵀ` of the chunk's `S` tiles for output channels `16 * block ..` (two
    /// registers), into `dm` (`[16][S][16]`), from the transposed gradient `gt`
    /// (`[2][2S][lanes]`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn grad_transform_avx2<const S: usize>(&self, gt: &[f32], block: usize, dm: &mut [f32]) {
        let lanes = self.lanes;
        let row = 2 * S * lanes;
        assert!(dm.len() >= XI * S * 2 * LANES8);
        assert!(gt.len() >= 2 * row && (block + 1) * 2 * LANES8 <= lanes);
        let zero = _mm256_setzero_ps();
        for t in 0..S {
            for half in 0..2 {
                // SAFETY: pixels (a, 2t + b) of the two rows, 8 channels from
                // `16 * block + 8 * half`, lie inside `gt` (asserted above).
                let [y00, y01, y10, y11] = unsafe {
                    let src = gt.as_ptr().add(2 * t * lanes + (2 * block + half) * LANES8);
                    [
                        _mm256_loadu_ps(src),
                        _mm256_loadu_ps(src.add(lanes)),
                        _mm256_loadu_ps(src.add(row)),
                        _mm256_loadu_ps(src.add(row + lanes)),
                    ]
                };
                // A = [[1, 0], [1, 1], [1, -1], [0, -1]]: P = A y, then dM = P Aᵀ.
                let rows = [
                    [y00, y01],
                    [_mm256_add_ps(y00, y10), _mm256_add_ps(y01, y11)],
                    [_mm256_sub_ps(y00, y10), _mm256_sub_ps(y01, y11)],
                    [_mm256_sub_ps(zero, y10), _mm256_sub_ps(zero, y11)],
                ];
                for (i, [p0, p1]) in rows.into_iter().enumerate() {
                    let values = [
                        p0,
                        _mm256_add_ps(p0, p1),
                        _mm256_sub_ps(p0, p1),
                        _mm256_sub_ps(zero, p1),
                    ];
                    for (k, value) in values.into_iter().enumerate() {
                        let at = ((i * 4 + k) * S + t) * 2 * LANES8 + half * LANES8;
                        // SAFETY: entry (ξ, t) of `dm`, 16 floats, is inside it (asserted
                        // above).
                        unsafe { _mm256_storeu_ps(dm.as_mut_ptr().add(at), value) };
                    }
                }
            }
        }
    }

    /// `du[ξ][c0 + c][16 * block ..] += Σ_t dM_ξ(t) V_ξ(c0 + c, t)` for `c < N` (`N x 2`
    /// accumulators: two gradient loads and `N` broadcasts per `2N` multiply-adds); returns
    /// `N`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn accumulate_avx2<const S: usize, const N: usize>(
        &self,
        v: &[f32],
        dm: &[f32],
        at: Tile,
        du: &mut [f32],
    ) -> usize {
        let Tile { xi, block, c0 } = at;
        let (channels, lanes) = (self.p.channels, self.lanes);
        assert!(c0 + N <= channels && (block + 1) * 2 * LANES8 <= lanes);
        let grads = &dm[xi * S * 2 * LANES8..][..S * 2 * LANES8];
        let vs = &v[(xi * channels + c0) * S..][..N * S];
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        for t in 0..S {
            // SAFETY: tile `t < S` of `grads` (16 floats) and of input channel `c < N` of `vs`
            // (`vs[c * S + t]`) are inside the slices.
            unsafe {
                let g = grads.as_ptr().add(t * 2 * LANES8);
                let (g0, g1) = (_mm256_loadu_ps(g), _mm256_loadu_ps(g.add(LANES8)));
                let x = vs.as_ptr().add(t);
                for (c, acc) in acc.iter_mut().enumerate() {
                    let xv = _mm256_set1_ps(*x.add(c * S));
                    acc[0] = _mm256_fmadd_ps(xv, g0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(xv, g1, acc[1]);
                }
            }
        }
        for (c, sums) in acc.iter().enumerate() {
            let at = (xi * channels + c0 + c) * lanes + block * 2 * LANES8;
            let dst = &mut du[at..at + 2 * LANES8];
            for (half, sum) in sums.iter().enumerate() {
                // SAFETY: `dst` holds 16 floats.
                unsafe {
                    let d = dst.as_mut_ptr().add(half * LANES8);
                    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), *sum));
                }
            }
        }
        N
    }
}
