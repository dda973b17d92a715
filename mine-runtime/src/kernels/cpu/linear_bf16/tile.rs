//! The register tile: `MR` rows of the result by `NV` registers of 16 columns, summed over
//! bf16 pairs with `vdpbf16ps`, then biased, rounded to bf16 and stored.

use std::arch::x86_64::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv3x3::dpbf16::as_bh;
use crate::kernels::cpu::lanes::LANES;

/// One product `C = A B` over `pairs` bf16 pairs: `A(i, q)` at `a[i * a_row + q * a_pair]`
/// (broadcast), `B(q, j..j + 16)` at `b[q * b_row + j..]` (loaded).
#[derive(Clone, Copy)]
pub(super) struct Product<'a> {
    pub a: &'a [u32],
    pub a_row: usize,
    pub a_pair: usize,
    pub b: &'a [u32],
    pub b_row: usize,
    pub pairs: usize,
    /// Columns of `C` (and of `B`'s rows that are read).
    pub cols: usize,
}

/// Where a tile's results go: `C(i, j)` at `out[i * row + j]`, plus `bias[j]` when given.
#[derive(Clone, Copy)]
pub(super) struct Store<'a> {
    pub out: *mut f32,
    pub row: usize,
    pub bias: Option<&'a [f32]>,
}

/// The lanes of the register starting at column `j` that lie inside `cols`.
fn mask(j: usize, cols: usize) -> __mmask16 {
    match cols - j {
        n if n >= LANES => !0,
        n => (1u16 << n) - 1,
    }
}

impl Product<'_> {
    /// Rows `rows` of `C` (every column), in tiles of 4 rows by 4 registers.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW and BF16; `A` and `B` hold every element the product reads;
    /// `store` has room for rows `rows` of `cols` columns, which no one else writes.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn rows(&self, rows: std::ops::Range<usize>, store: Store) {
        let mut i = rows.start;
        while i < rows.end {
            let four = rows.end - i >= 4;
            let mut j = 0;
            while j < self.cols {
                // Four registers when more than three start inside the row.
                let wide = self.cols - j > 3 * LANES;
                // SAFETY: forwarded (the tile reads and writes columns `j..` of rows `i..`,
                // masked to `cols`).
                unsafe {
                    match (four, wide) {
                        (true, true) => self.tile::<4, 4>(i, j, store),
                        (true, false) => self.tile::<4, 1>(i, j, store),
                        (false, true) => self.tile::<1, 4>(i, j, store),
                        (false, false) => self.tile::<1, 1>(i, j, store),
                    }
                }
                j += if wide { 4 * LANES } else { LANES };
            }
            i += if four { 4 } else { 1 };
        }
    }

    /// `MR` rows from `i`, `NV` registers of columns from `j` (the last masked to `cols`).
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[inline]
    unsafe fn tile<const MR: usize, const NV: usize>(&self, i: usize, j: usize, store: Store) {
        let masks: [__mmask16; NV] = std::array::from_fn(|v| mask(j + v * LANES, self.cols));
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        let mut b = self.b.as_ptr().wrapping_add(j);
        let a = self.a.as_ptr().wrapping_add(i * self.a_row);
        for q in 0..self.pairs {
            // SAFETY: `B(q, j + 16v ..)` lies inside `b` where the mask is set; `A(i + m, q)`
            // inside `a` (the caller's promise).
            unsafe {
                let bv: [__m512bh; NV] = std::array::from_fn(|v| {
                    as_bh(_mm512_maskz_loadu_epi32(masks[v], b.add(v * LANES).cast()))
                });
                for (m, acc) in acc.iter_mut().enumerate() {
                    let av = as_bh(_mm512_set1_epi32(
                        *a.add(m * self.a_row + q * self.a_pair) as i32
                    ));
                    for v in 0..NV {
                        acc[v] = _mm512_dpbf16_ps(acc[v], av, bv[v]);
                    }
                }
            }
            b = b.wrapping_add(self.b_row);
        }
        for (m, acc) in acc.iter().enumerate() {
            for v in 0..NV {
                let col = j + v * LANES;
                let mut y = acc[v];
                if let Some(bias) = store.bias {
                    // SAFETY: the mask keeps the load inside `bias` (`cols` long).
                    y = _mm512_add_ps(y, unsafe {
                        _mm512_maskz_loadu_ps(masks[v], bias.as_ptr().add(col))
                    });
                }
                // SAFETY: the caller's promise on `store`, the mask keeps the store in the row.
                unsafe {
                    let dst = store.out.add((i + m) * store.row + col);
                    _mm512_mask_storeu_ps(dst, masks[v], bf16::round_lanes(y));
                }
            }
        }
    }
}
