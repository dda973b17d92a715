//! Fully connected layers on contiguous row-major f32 slices: `out = x W + b` with `x`
//! `[rows, d_in]`, `W` `[d_in, d_out]` (burn's orientation) and `b` `[d_out]`, and its
//! gradients.
//!
//! The policies' linear layers multiply few rows (`B * T`, 32 in the small VPT step) by
//! large weights (8192x256 after the image encoder, 256x8641 for the button head). For such
//! skinny products the `gemm` crate's own threading is slow (its serial operand packing, a
//! weight gradient of 9.9 ms where one thread takes 2.6), and a transposed weight view as
//! the right operand (`dx = dy Wᵀ`) costs it 3-8x a contiguous one. Here every product is
//! cut into blocks of output columns (or rows), one single-threaded `gemm` call per block
//! on the thread pool, and the input gradient multiplies by a transposed copy of each
//! weight block made in a per-thread scratch buffer.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::gemm::{View, matmul_raw};

/// The geometry of one linear layer call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    /// Rows of `x` (every leading dimension flattened).
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
}

impl LinearShape {
    pub(super) fn macs(&self) -> usize {
        self.rows * self.d_in * self.d_out
    }

    pub(super) fn check(&self, x: usize, weight: usize, out: usize) {
        assert_eq!(x, self.rows * self.d_in, "linear: input length");
        assert_eq!(weight, self.d_in * self.d_out, "linear: weight length");
        assert_eq!(out, self.rows * self.d_out, "linear: output length");
    }
}

/// Products below this many multiply-adds run on the calling thread.
const MIN_PARALLEL_MACS: usize = 1 << 20;
/// Block widths are multiples of this (one AVX-512 vector of f32).
const BLOCK_ALIGN: usize = 16;
/// Target size of one transposed weight block of the input gradient, in floats.
const SCRATCH_FLOATS: usize = 64 * 1024;

thread_local! {
    /// The calling thread's transposition buffer, grown on demand and reused.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A destination shared by tasks that write disjoint blocks of it.
#[derive(Clone, Copy)]
pub(super) struct Shared(*mut f32);
// SAFETY: the tasks given a `Shared` write disjoint elements (see each use).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(super) fn new(v: &mut [MaybeUninit<f32>]) -> Self {
        Self(v.as_mut_ptr().cast())
    }

    /// The destination's first element (a method, so closures capture the whole `Shared`).
    pub(super) fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// `0..len` cut into blocks of a multiple of `align` (the last one shorter): two per thread
/// for products of at least [`MIN_PARALLEL_MACS`], blocks of at most `max_width` elements,
/// one block otherwise.
pub(super) fn blocks(len: usize, macs: usize, max_width: usize, align: usize) -> Vec<Range<usize>> {
    let tasks = if macs < MIN_PARALLEL_MACS {
        1
    } else {
        2 * rayon::current_num_threads()
    };
    let width = len
        .div_ceil(tasks)
        .min(max_width)
        .next_multiple_of(align)
        .max(align);
    (0..len)
        .step_by(width)
        .map(|start| start..(start + width).min(len))
        .collect()
}

/// Runs `f` on every block, on the thread pool when there are several.
pub(super) fn for_each_block(blocks: Vec<Range<usize>>, f: impl Fn(Range<usize>) + Sync + Send) {
    if blocks.len() == 1 {
        blocks.into_iter().for_each(f);
    } else {
        blocks.into_par_iter().for_each(f);
    }
}

/// `out = x W + b` (no bias term when `bias` is `None`). Every element of `out` is written
/// (it may start uninitialized).
pub fn linear_forward(
    s: &LinearShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    s.check(x.len(), weight.len(), out.len());
    if let Some(bias) = bias {
        assert_eq!(bias.len(), s.d_out, "linear: bias length");
    }
    let &LinearShape { rows, d_in, d_out } = s;
    let dst = Shared::new(out);
    for_each_block(blocks(d_out, s.macs(), usize::MAX, BLOCK_ALIGN), |cols| {
        for r in 0..rows {
            // SAFETY: row `r`'s elements `cols` lie inside `out` and belong to this block.
            let row: &mut [MaybeUninit<f32>] = unsafe {
                std::slice::from_raw_parts_mut(
                    dst.ptr().add(r * d_out + cols.start).cast(),
                    cols.len(),
                )
            };
            for (j, v) in cols.clone().zip(row) {
                v.write(bias.map_or(0.0, |b| b[j]));
            }
        }
        if rows > 0 && d_in > 0 {
            let w = View {
                data: &weight[cols.start..],
                rows: d_in,
                cols: cols.len(),
                row_stride: d_out,
                col_stride: 1,
            };
            // SAFETY: the block's columns of every row, initialized just above; no other
            // task touches them.
            unsafe {
                matmul_raw(
                    dst.ptr().add(cols.start),
                    d_out,
                    View::row_major(x, rows, d_in),
                    w,
                    true,
                )
            };
        }
    });
}

/// The input gradient `grad_x = grad_out Wᵀ` (`[rows, d_in]`). Every element of `grad_x`
/// is written (it may start uninitialized).
pub fn linear_input_grad(
    s: &LinearShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    s.check(grad_x.len(), weight.len(), grad_out.len());
    let &LinearShape { rows, d_in, d_out } = s;
    if d_out == 0 {
        grad_x.iter_mut().for_each(|v| {
            v.write(0.0);
        });
        return;
    }
    let dst = Shared::new(grad_x);
    let max_width = SCRATCH_FLOATS / d_out;
    for_each_block(blocks(d_in, s.macs(), max_width, BLOCK_ALIGN), |cols| {
        if rows == 0 {
            return;
        }
        let width = cols.len();
        SCRATCH.with(|cell| {
            let mut buffer = cell.borrow_mut();
            if buffer.len() < width * d_out {
                buffer.resize(width * d_out, 0.0);
            }
            let transposed = &mut buffer[..width * d_out];
            transpose(
                &weight[cols.start * d_out..cols.end * d_out],
                width,
                d_out,
                transposed,
            );
            // SAFETY: the block's columns of every row of `grad_x` (inside it, written only
            // by this task); `accumulate` is off, so nothing is read from them.
            unsafe {
                matmul_raw(
                    dst.ptr().add(cols.start),
                    d_in,
                    View::row_major(grad_out, rows, d_out),
                    View::row_major(transposed, d_out, width),
                    false,
                )
            };
        });
    });
}

/// `dst[j * rows + i] = src[i * cols + j]`: the `cols x rows` transpose of the row-major
/// `rows x cols` matrix `src`, through 16x16 tiles (contiguous reads and writes of 16
/// floats; a tile stays in L1).
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const T: usize = BLOCK_ALIGN;
    debug_assert!(src.len() == rows * cols && dst.len() == rows * cols);
    let mut tile = [[0.0f32; T]; T];
    for i0 in (0..rows).step_by(T) {
        let ni = T.min(rows - i0);
        for j0 in (0..cols).step_by(T) {
            let nj = T.min(cols - j0);
            for (i, row) in tile.iter_mut().take(ni).enumerate() {
                row[..nj].copy_from_slice(&src[(i0 + i) * cols + j0..][..nj]);
            }
            for j in 0..nj {
                let out = &mut dst[(j0 + j) * rows + i0..][..ni];
                for (i, v) in out.iter_mut().enumerate() {
                    *v = tile[i][j];
                }
            }
        }
    }
}

/// `sums[j] = Σ_r f(grad_out[r][j])` over the rows of `grad_out` (`[rows, d_out]`), in row
/// order: the bias gradient.
pub(super) fn column_sums(grad_out: &[f32], d_out: usize, f: fn(f32) -> f32, sums: &mut [f32]) {
    assert_eq!(sums.len(), d_out, "linear: bias gradient length");
    sums.fill(0.0);
    for row in grad_out.chunks_exact(d_out.max(1)) {
        for (acc, &g) in sums.iter_mut().zip(row) {
            *acc += f(g);
        }
    }
}

/// The weight gradient `grad_weight = xᵀ grad_out` (`[d_in, d_out]`, written whole; it
/// may start uninitialized) and, when asked, the bias gradient (the column sums of
/// `grad_out`, `[d_out]`).
pub fn linear_weight_grad(
    s: &LinearShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [MaybeUninit<f32>],
    grad_bias: Option<&mut [f32]>,
) {
    s.check(x.len(), grad_weight.len(), grad_out.len());
    let &LinearShape { rows, d_in, d_out } = s;
    if let Some(grad_bias) = grad_bias {
        column_sums(grad_out, d_out, |g| g, grad_bias);
    }
    if d_out == 0 {
        return;
    }
    let block_rows = blocks(d_in, s.macs(), usize::MAX, BLOCK_ALIGN)
        .first()
        .map_or(1, |r| r.len());
    let work = |(b, block): (usize, &mut [MaybeUninit<f32>])| {
        let (start, len) = (b * block_rows, block.len() / d_out);
        if rows == 0 {
            block.iter_mut().for_each(|v| {
                v.write(0.0);
            });
            return;
        }
        let xt = View {
            data: &x[start..],
            rows: len,
            cols: rows,
            row_stride: 1,
            col_stride: d_in,
        };
        let dy = View::row_major(grad_out, rows, d_out);
        // SAFETY: `block` is this task's own rows of `grad_weight`, contiguous with row
        // stride `d_out`; `accumulate` is off, so nothing is read from it.
        unsafe { matmul_raw(block.as_mut_ptr().cast(), d_out, xt, dy, false) };
    };
    let chunk = block_rows * d_out;
    if grad_weight.len() <= chunk {
        grad_weight
            .chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(work);
    } else {
        grad_weight.par_chunks_mut(chunk).enumerate().for_each(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::as_uninit;
    use crate::kernels::cpu::test_data::values;

    fn close(got: &[f32], want: &[f64], what: &str) {
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * scale,
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn products_match_the_definitions() {
        // Small (one block), odd, and large enough to run in parallel blocks with ragged
        // last blocks; a zero-width input; a single row.
        for (rows, d_in, d_out) in [
            (3, 5, 7),
            (33, 300, 129),
            (32, 1030, 70),
            (1, 2000, 600),
            (4, 0, 9),
            (0, 8, 5),
        ] {
            let s = LinearShape { rows, d_in, d_out };
            let what = format!("{s:?}");
            let (x, w, b) = (
                values(rows * d_in, 1),
                values(d_in * d_out, 2),
                values(d_out, 3),
            );
            let dy = values(rows * d_out, 4);
            let mut out = vec![f32::NAN; rows * d_out];
            linear_forward(&s, &x, &w, Some(&b), as_uninit(&mut out));
            let want: Vec<f64> = (0..rows * d_out)
                .map(|e| {
                    let (r, j) = (e / d_out, e % d_out);
                    b[j] as f64
                        + (0..d_in)
                            .map(|i| x[r * d_in + i] as f64 * w[i * d_out + j] as f64)
                            .sum::<f64>()
                })
                .collect();
            close(&out, &want, &format!("{what} out"));
            let mut no_bias = vec![f32::NAN; rows * d_out];
            linear_forward(&s, &x, &w, None, as_uninit(&mut no_bias));
            let want: Vec<f64> = want
                .iter()
                .enumerate()
                .map(|(e, v)| v - b[e % d_out] as f64)
                .collect();
            close(&no_bias, &want, &format!("{what} out without bias"));

            let mut dx = vec![f32::NAN; rows * d_in];
            linear_input_grad(&s, &dy, &w, as_uninit(&mut dx));
            let want: Vec<f64> = (0..rows * d_in)
                .map(|e| {
                    let (r, i) = (e / d_in.max(1), e % d_in.max(1));
                    (0..d_out)
                        .map(|j| dy[r * d_out + j] as f64 * w[i * d_out + j] as f64)
                        .sum()
                })
                .collect();
            close(&dx, &want, &format!("{what} dx"));

            let (mut dw, mut db) = (vec![f32::NAN; d_in * d_out], vec![f32::NAN; d_out]);
            linear_weight_grad(&s, &x, &dy, as_uninit(&mut dw), Some(&mut db));
            let want: Vec<f64> = (0..d_in * d_out)
                .map(|e| {
                    let (i, j) = (e / d_out, e % d_out);
                    (0..rows)
                        .map(|r| x[r * d_in + i] as f64 * dy[r * d_out + j] as f64)
                        .sum()
                })
                .collect();
            close(&dw, &want, &format!("{what} dW"));
            let want: Vec<f64> = (0..d_out)
                .map(|j| (0..rows).map(|r| dy[r * d_out + j] as f64).sum())
                .collect();
            close(&db, &want, &format!("{what} db"));
        }
    }

    #[test]
    fn blocks_cover_the_range_in_aligned_pieces() {
        for (len, macs, max) in [
            (0, 1, 64),
            (5, 1, 64),
            (8192, 1 << 26, usize::MAX),
            (256, 1 << 21, 16),
        ] {
            let b = blocks(len, macs, max, BLOCK_ALIGN);
            assert_eq!(b.iter().map(|r| r.len()).sum::<usize>(), len);
            for pair in b.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[0].len() % BLOCK_ALIGN, 0);
            }
        }
    }
}
