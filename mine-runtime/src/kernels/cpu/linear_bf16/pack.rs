//! The operands rounded to bf16 and packed in pairs along the dimension a product sums over:
//! one 32-bit lane per pair, the first of the two values in the low half (as `vdpbf16ps`
//! reads them). A missing last partner (an odd count) is zero.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::cpu::conv3x3::dpbf16::{pair, to_pairs};
use crate::kernels::cpu::conv3x3::transpose16;
use crate::kernels::cpu::lanes::LANES;

/// `rows x cols` row-major `m` as `[rows.div_ceil(2)][cols]`: lane `(q, j)` pairs `m[2q][j]`
/// and `m[2q + 1][j]` (for sums over rows: the weight in the forward, the input and the output
/// gradient in the weight gradient).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) fn row_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    let mut out = vec![0u32; rows.div_ceil(2) * cols];
    let whole = cols / LANES * LANES;
    for (q, dst) in out
        .chunks_exact_mut(cols.max(1))
        .enumerate()
        .take(rows.div_ceil(2))
    {
        let even = &m[2 * q * cols..][..cols];
        let odd = (2 * q + 1 < rows).then(|| &m[(2 * q + 1) * cols..][..cols]);
        for j in (0..whole).step_by(LANES) {
            // SAFETY: `j + 16 <= whole <= cols`, inside both rows and `dst`.
            unsafe {
                let e = _mm512_loadu_ps(even.as_ptr().add(j));
                let o = odd.map_or(_mm512_setzero_ps(), |o| _mm512_loadu_ps(o.as_ptr().add(j)));
                _mm512_storeu_si512(dst.as_mut_ptr().add(j).cast(), to_pairs(e, o));
            }
        }
        for j in whole..cols {
            dst[j] = pair(even[j], odd.map_or(0.0, |o| o[j]));
        }
    }
    out
}

/// `rows x cols` row-major `m` as `[rows][cols.div_ceil(2)]`: lane `(i, q)` pairs `m[i][2q]`
/// and `m[i][2q + 1]` (the bf16 rounding of each row in place order; for sums over columns,
/// the input in the forward and the output gradient in the input gradient).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) fn column_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    let half = cols.div_ceil(2);
    let mut out = vec![0u32; rows * half];
    let whole = cols / (2 * LANES) * (2 * LANES);
    for (src, dst) in m
        .chunks_exact(cols.max(1))
        .zip(out.chunks_exact_mut(half.max(1)))
    {
        for j in (0..whole).step_by(2 * LANES) {
            // SAFETY: `j + 32 <= whole <= cols`; the 16 lanes stored start at `j / 2`.
            unsafe {
                let (a, b) = (
                    _mm512_loadu_ps(src.as_ptr().add(j)),
                    _mm512_loadu_ps(src.as_ptr().add(j + LANES)),
                );
                let even = _mm512_permutex2var_ps(a, evens(), b);
                let odd = _mm512_permutex2var_ps(a, odds(), b);
                _mm512_storeu_si512(dst.as_mut_ptr().add(j / 2).cast(), to_pairs(even, odd));
            }
        }
        for q in whole / 2..half {
            dst[q] = pair(src[2 * q], src.get(2 * q + 1).copied().unwrap_or(0.0));
        }
    }
    out
}

/// `rows x cols` row-major `m` as `[cols.div_ceil(2)][rows]`: lane `(q, i)` pairs `m[i][2q]`
/// and `m[i][2q + 1]` ([`column_pairs`] transposed: the weight in the input gradient, which
/// sums over the weight's columns while its lanes run over the rows).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) fn transposed_column_pairs(m: &[f32], rows: usize, cols: usize) -> Vec<u32> {
    assert_eq!(m.len(), rows * cols);
    let half = cols.div_ceil(2);
    let mut out = vec![0u32; half * rows];
    let (whole_rows, whole_cols) = (rows / LANES * LANES, cols / (2 * LANES) * (2 * LANES));
    for i0 in (0..whole_rows).step_by(LANES) {
        for j0 in (0..whole_cols).step_by(2 * LANES) {
            // 16 rows x 16 pairs, transposed into 16 pairs x 16 rows.
            let tile: [__m512; LANES] = std::array::from_fn(|r| {
                // SAFETY: row `i0 + r < rows`, columns `j0 .. j0 + 32 <= cols`.
                unsafe {
                    let at = m.as_ptr().add((i0 + r) * cols + j0);
                    let (a, b) = (_mm512_loadu_ps(at), _mm512_loadu_ps(at.add(LANES)));
                    let even = _mm512_permutex2var_ps(a, evens(), b);
                    let odd = _mm512_permutex2var_ps(a, odds(), b);
                    _mm512_castsi512_ps(to_pairs(even, odd))
                }
            });
            for (k, lanes) in transpose16(tile).into_iter().enumerate() {
                let at = (j0 / 2 + k) * rows + i0;
                // SAFETY: pair `j0 / 2 + k < half`, rows `i0 .. i0 + 16 <= rows`.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(at).cast(), lanes) };
            }
        }
    }
    // The edges: rows past the last 16, pairs past the last 16.
    for i in 0..rows {
        let from = if i < whole_rows { whole_cols / 2 } else { 0 };
        for q in from..half {
            let hi = if 2 * q + 1 < cols {
                m[i * cols + 2 * q + 1]
            } else {
                0.0
            };
            out[q * rows + i] = pair(m[i * cols + 2 * q], hi);
        }
    }
    out
}

/// Lane indices of the even elements of two concatenated registers.
#[target_feature(enable = "avx512f")]
fn evens() -> __m512i {
    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
}

/// Lane indices of the odd elements of two concatenated registers.
#[target_feature(enable = "avx512f")]
fn odds() -> __m512i {
    _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
}
