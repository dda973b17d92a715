//! The linear layers under bf16 autocast with `vdpbf16ps` (AVX512_BF16): `out = x W + b`,
//! its input gradient and its weight gradient, on operands rounded to bf16, products summed
//! in f32 two at a time, results rounded to bf16. The values of [`super::linear`]'s f32
//! kernels on rounded copies (up to the order of the f32 sums), without the copies: each
//! operand is rounded straight into bf16 pairs along the dimension its product sums over
//! (half the bytes of an f32 copy to write and to read back), and the products take half the
//! instructions.
//!
//! Each product is cut into blocks of output columns (the forward and the input gradient:
//! few rows) or rows (the weight gradient: `d_in` rows), one per task on the thread pool, and
//! each block into register tiles of 4 rows by 64 columns (`tile.rs`).

#[cfg(target_arch = "x86_64")]
mod pack;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod tile;

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::bf16;
use super::linear::LinearShape;

/// Whether this CPU runs these kernels (AVX-512 F/BW/VL and BF16).
pub fn available() -> bool {
    super::conv3x3::dpbf16::available()
}

/// Products below this many multiply-adds run on the calling thread.
const MIN_PARALLEL_MACS: usize = 1 << 20;

/// `0..len` cut into blocks of a multiple of `align` (the last one shorter): two per
/// thread for products of at least [`MIN_PARALLEL_MACS`], one block otherwise.
fn blocks(len: usize, macs: usize, align: usize) -> Vec<Range<usize>> {
    let tasks = match macs < MIN_PARALLEL_MACS {
        true => 1,
        false => 2 * rayon::current_num_threads(),
    };
    let width = len.div_ceil(tasks).next_multiple_of(align).max(align);
    (0..len)
        .step_by(width)
        .map(|start| start..(start + width).min(len))
        .collect()
}

/// The destination that the tasks write disjoint blocks of.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: the tasks given a `Shared` write disjoint elements (see each use).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// Element `at` (a method, so closures capture the whole `Shared`).
    fn at(self, at: usize) -> *mut f32 {
        self.0.wrapping_add(at)
    }
}

/// `C = A B` into `out` (`rows x cols`, row-major), by blocks of columns on the thread pool.
#[cfg(target_arch = "x86_64")]
fn by_columns(p: tile::Product, rows: usize, bias: Option<&[f32]>, out: &mut [MaybeUninit<f32>]) {
    let dst = Shared(out.as_mut_ptr().cast());
    let macs = rows * p.cols * 2 * p.pairs;
    let run = |cols: Range<usize>| {
        let block = tile::Product {
            b: &p.b[cols.start.min(p.b.len())..],
            cols: cols.len(),
            ..p
        };
        let store = tile::Store {
            out: dst.at(cols.start),
            row: p.cols,
            bias: bias.map(|b| &b[cols.clone()]),
        };
        // SAFETY: `available` was checked by the caller; the packs hold every pair; this
        // task alone writes columns `cols` of every row.
        unsafe { block.rows(0..rows, store) };
    };
    let blocks = blocks(p.cols, macs, 64);
    match blocks.len() {
        1 => blocks.into_iter().for_each(run),
        _ => blocks.into_par_iter().for_each(run),
    }
}

/// `out = x W + b` on `x`, `W`, `b` rounded to bf16, rounded to bf16 (every element written).
/// Needs [`available`].
pub fn forward(
    s: &LinearShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(available(), "linear_bf16 needs AVX512_BF16");
    s.check(x.len(), weight.len(), out.len());
    let bias = bias.map(|b| {
        assert_eq!(b.len(), s.d_out, "linear: bias length");
        bf16::rounded(b)
    });
    #[cfg(target_arch = "x86_64")]
    {
        let &LinearShape { rows, d_in, d_out } = s;
        // SAFETY: `available` checked the instructions.
        let (a, b) = unsafe {
            (
                pack::column_pairs(x, rows, d_in),
                pack::row_pairs(weight, d_in, d_out),
            )
        };
        let p = tile::Product {
            a: &a,
            a_row: d_in.div_ceil(2),
            a_pair: 1,
            b: &b,
            b_row: d_out,
            pairs: d_in.div_ceil(2),
            cols: d_out,
        };
        by_columns(p, rows, bias.as_deref(), out);
    }
}

/// The input gradient `grad_x = grad_out Wᵀ` on rounded operands, rounded to bf16 (every
/// element written). Needs [`available`].
pub fn input_grad(
    s: &LinearShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    assert!(available(), "linear_bf16 needs AVX512_BF16");
    s.check(grad_x.len(), weight.len(), grad_out.len());
    #[cfg(target_arch = "x86_64")]
    {
        let &LinearShape { rows, d_in, d_out } = s;
        // SAFETY: `available` checked the instructions.
        let (a, b) = unsafe {
            (
                pack::column_pairs(grad_out, rows, d_out),
                pack::transposed_column_pairs(weight, d_in, d_out),
            )
        };
        let p = tile::Product {
            a: &a,
            a_row: d_out.div_ceil(2),
            a_pair: 1,
            b: &b,
            b_row: d_in,
            pairs: d_out.div_ceil(2),
            cols: d_in,
        };
        by_columns(p, rows, None, grad_x);
    }
}

/// The weight gradient `grad_weight = xᵀ grad_out` (`[d_in, d_out]`, written whole) on
/// rounded operands, rounded to bf16, and when asked the bias gradient (the column sums of
/// the rounded `grad_out`, rounded). Needs [`available`].
pub fn weight_grad(
    s: &LinearShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [MaybeUninit<f32>],
    grad_bias: Option<&mut [f32]>,
) {
    assert!(available(), "linear_bf16 needs AVX512_BF16");
    s.check(x.len(), grad_weight.len(), grad_out.len());
    let &LinearShape { rows, d_in, d_out } = s;
    if let Some(db) = grad_bias {
        assert_eq!(db.len(), d_out, "linear: bias gradient length");
        db.fill(0.0);
        for row in grad_out.chunks_exact(d_out.max(1)) {
            for (acc, &g) in db.iter_mut().zip(row) {
                *acc += bf16::round(g);
            }
        }
        bf16::round_in_place(db);
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available` checked the instructions.
        let (a, b) = unsafe {
            (
                pack::row_pairs(x, rows, d_in),
                pack::row_pairs(grad_out, rows, d_out),
            )
        };
        let p = tile::Product {
            a: &a,
            a_row: 1,
            a_pair: d_in,
            b: &b,
            b_row: d_out,
            pairs: rows.div_ceil(2),
            cols: d_out,
        };
        let dst = Shared(grad_weight.as_mut_ptr().cast());
        let run = |block: Range<usize>| {
            let store = tile::Store {
                out: dst.at(0),
                row: d_out,
                bias: None,
            };
            // SAFETY: `available` was checked; this task alone writes rows `block`.
            unsafe { p.rows(block, store) };
        };
        let blocks = blocks(d_in, s.macs(), 4);
        match blocks.len() {
            1 => blocks.into_iter().for_each(run),
            _ => blocks.into_par_iter().for_each(run),
        }
    }
}
