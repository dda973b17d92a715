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
#[cfg(target_arch = "x86_64")]
use std::ops::Range;

use super::bf16;
use super::linear::{LinearShape, column_sums};
#[cfg(target_arch = "x86_64")]
use super::linear::{Shared, blocks, for_each_block};

/// Whether this CPU runs these kernels (AVX-512 F/BW/VL and BF16).
pub fn available() -> bool {
    super::conv3x3::dpbf16::available()
}

/// `C = A B` into `out` (`rows x cols`, row-major), by blocks of columns on the thread pool.
#[cfg(target_arch = "x86_64")]
fn by_columns(p: tile::Product, rows: usize, bias: Option<&[f32]>, out: &mut [MaybeUninit<f32>]) {
    let dst = Shared::new(out);
    let macs = rows * p.cols * 2 * p.pairs;
    let run = |cols: Range<usize>| {
        let block = tile::Product {
            b: &p.b[cols.start.min(p.b.len())..],
            cols: cols.len(),
            ..p
        };
        let store = tile::Store {
            out: dst.ptr().wrapping_add(cols.start),
            row: p.cols,
            bias: bias.map(|b| &b[cols.clone()]),
        };
        // SAFETY: `available` was checked by the caller; the packs hold every pair; this
        // task alone writes columns `cols` of every row.
        unsafe { block.rows(0..rows, store) };
    };
    for_each_block(blocks(p.cols, macs, usize::MAX, 64), run);
}

/// `out = left · B (+ bias)`, rounded to bf16: `left` (`[rows, k]` row-major f32, rounded and
/// paired along `k` here) times a `B` already packed in pairs along `k` (`[k / 2][cols]`).
#[cfg(target_arch = "x86_64")]
fn times_packed(
    left: &[f32],
    [rows, k]: [usize; 2],
    b: &[u32],
    cols: usize,
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    // SAFETY: every caller checked `available`.
    let a = unsafe { pack::column_pairs(left, rows, k) };
    let p = tile::Product {
        a: &a,
        a_row: k.div_ceil(2),
        a_pair: 1,
        b,
        b_row: cols,
        pairs: k.div_ceil(2),
        cols,
    };
    by_columns(p, rows, bias, out);
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
        let b = unsafe { pack::row_pairs(weight, d_in, d_out) };
        times_packed(x, [rows, d_in], &b, d_out, bias.as_deref(), out);
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
        let b = unsafe { pack::transposed_column_pairs(weight, d_in, d_out) };
        times_packed(grad_out, [rows, d_out], &b, d_in, None, grad_x);
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
        // The column sums of the rounded gradient, rounded.
        column_sums(grad_out, d_out, bf16::round, db);
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
        let dst = Shared::new(grad_weight);
        let run = |block: Range<usize>| {
            let store = tile::Store {
                out: dst.ptr(),
                row: d_out,
                bias: None,
            };
            // SAFETY: `available` was checked; this task alone writes rows `block`.
            unsafe { p.rows(block, store) };
        };
        for_each_block(blocks(d_in, s.macs(), usize::MAX, 4), run);
    }
}
