//! The operands rounded to bf16 and packed in pairs along the dimension a product sums over:
//! one 32-bit lane per pair, the first of the two values in the low half (as `vdpbf16ps`
//! reads them). A missing last partner (an odd count) is zero. Large packs run on the thread
//! pool, each task writing its own rows of the pack; every lane of a pack is written once
//! (none is zeroed first).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::kernels::cpu::conv3x3::dpbf16::{pair, to_pairs};
use crate::kernels::cpu::conv3x3::transpose16;
use crate::kernels::cpu::lanes::LANES;
use crate::kernels::cpu::written_vec;

/// Lanes below which a pack runs on the calling thread.
const MIN_PARALLEL: usize = 1 << 16;

/// One lane of a pack being written.
type Lane = MaybeUninit<u32>;

/// A pack of `n` lanes whose every `len`-lane chunk (the last may be shorter) `f(index,
/// chunk)` writes whole, on the thread pool when the pack is large.
fn packed(n: usize, len: usize, f: impl Fn(usize, &mut [Lane]) + Sync + Send) -> Vec<u32> {
    let len = len.max(1);
    written_vec(n, |out| match n < MIN_PARALLEL {
        true => out.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c)),
        false => out
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
    })
}

/// `rows x cols` row-major `m` as `[rows.div_ceil(2)][cols]`: lane `(q, j)` pairs `m[2q][j]`
/// and `m[2q + 1][j]` (for sums over rows: the weight in the forward, the input and the output
/// gradient in the weight gradient).
///
/// # Safety
/// The CPU has AVX-512 F/BW and BF16.
pub(super) unsafe fn row_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    packed(rows.div_ceil(2) * cols, cols, |q, dst| {
        let even = &m[2 * q * cols..][..cols];
        let odd = (2 * q + 1 < rows).then(|| &m[(2 * q + 1) * cols..][..cols]);
        // SAFETY: the caller's promise.
        unsafe { interleave_rows(even, odd, dst) }
    })
}

/// `dst[j]` = the pair of `even[j]` and `odd[j]` (zero without `odd`).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn interleave_rows(even: &[f32], odd: Option<&[f32]>, dst: &mut [Lane]) {
    let whole = dst.len() / LANES * LANES;
    for j in (0..whole).step_by(LANES) {
        // SAFETY: `j + 16 <= whole <= dst.len()`, the length of both rows.
        unsafe {
            let e = _mm512_loadu_ps(even.as_ptr().add(j));
            let o = odd.map_or(_mm512_setzero_ps(), |o| _mm512_loadu_ps(o.as_ptr().add(j)));
            _mm512_storeu_si512(dst.as_mut_ptr().add(j).cast(), to_pairs(e, o));
        }
    }
    for j in whole..dst.len() {
        dst[j].write(pair(even[j], odd.map_or(0.0, |o| o[j])));
    }
}

/// `rows x cols` row-major `m` as `[rows][cols.div_ceil(2)]`: lane `(i, q)` pairs `m[i][2q]`
/// and `m[i][2q + 1]` (each row rounded in place order; for sums over columns: the input in
/// the forward and the output gradient in the input gradient).
///
/// # Safety
/// The CPU has AVX-512 F/BW and BF16.
pub(super) unsafe fn column_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    packed(rows * cols.div_ceil(2), cols.div_ceil(2), |i, dst| {
        // SAFETY: the caller's promise.
        unsafe { pair_columns(&m[i * cols..][..cols], dst) }
    })
}

/// `dst[q]` = the pair of `src[2q]` and `src[2q + 1]`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn pair_columns(src: &[f32], dst: &mut [Lane]) {
    let whole = src.len() / (2 * LANES) * (2 * LANES);
    for j in (0..whole).step_by(2 * LANES) {
        // SAFETY: `j + 32 <= whole <= src.len()`; the 16 lanes stored start at `j / 2`.
        unsafe {
            let at = src.as_ptr().add(j);
            let lanes = even_odd_pairs(_mm512_loadu_ps(at), _mm512_loadu_ps(at.add(LANES)));
            _mm512_storeu_si512(dst.as_mut_ptr().add(j / 2).cast(), lanes);
        }
    }
    for q in whole / 2..dst.len() {
        dst[q].write(pair(src[2 * q], src.get(2 * q + 1).copied().unwrap_or(0.0)));
    }
}

/// `rows x cols` row-major `m` as `[cols.div_ceil(2)][rows]`: lane `(q, i)` pairs `m[i][2q]`
/// and `m[i][2q + 1]` ([`column_pairs`] transposed: the weight in the input gradient, which
/// sums over the weight's columns while its lanes run over the rows). Tasks take 16 pairs
/// each: 16 rows by 32 columns are rounded, paired and transposed in registers.
///
/// # Safety
/// The CPU has AVX-512 F/BW and BF16.
pub(super) unsafe fn transposed_column_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    packed(cols.div_ceil(2) * rows, LANES * rows, |block, dst| {
        // SAFETY: the caller's promise.
        unsafe { transpose_block(m, rows, cols, block * LANES, dst) }
    })
}

/// Pairs `q0 .. q0 + dst.len() / rows` of [`transposed_column_pairs`] into `dst`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn transpose_block(m: &[f32], rows: usize, cols: usize, q0: usize, dst: &mut [Lane]) {
    let pairs = dst.len() / rows.max(1);
    let whole_rows = match pairs == LANES && 2 * (q0 + LANES) <= cols {
        true => rows / LANES * LANES,
        false => 0,
    };
    for i0 in (0..whole_rows).step_by(LANES) {
        let tile: [__m512; LANES] = std::array::from_fn(|r| {
            // SAFETY: row `i0 + r < rows`, columns `2 q0 .. 2 q0 + 32 <= cols`.
            unsafe {
                let at = m.as_ptr().add((i0 + r) * cols + 2 * q0);
                let lanes = even_odd_pairs(_mm512_loadu_ps(at), _mm512_loadu_ps(at.add(LANES)));
                _mm512_castsi512_ps(lanes)
            }
        });
        for (k, lanes) in transpose16(tile).into_iter().enumerate() {
            // SAFETY: pair `k < 16 = pairs`, rows `i0 .. i0 + 16 <= rows`.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(k * rows + i0).cast(), lanes) };
        }
    }
    // The rows past the last whole 16 (all of them in a partial block).
    for k in 0..pairs {
        let q = q0 + k;
        for i in whole_rows..rows {
            let hi = if 2 * q + 1 < cols {
                m[i * cols + 2 * q + 1]
            } else {
                0.0
            };
            dst[k * rows + i].write(pair(m[i * cols + 2 * q], hi));
        }
    }
}

/// The 16 pairs of 32 consecutive values `a, b`: lane `l` holds values `2l` and `2l + 1`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
fn even_odd_pairs(a: __m512, b: __m512) -> __m512i {
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let (even, odd) = (
        _mm512_permutex2var_ps(a, evens, b),
        _mm512_permutex2var_ps(a, odds, b),
    );
    to_pairs(even, odd)
}
