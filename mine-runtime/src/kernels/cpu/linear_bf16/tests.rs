use super::*;
use crate::kernels::cpu::as_uninit;
use crate::kernels::cpu::bf16::rounded;
use crate::kernels::cpu::linear::{linear_forward, linear_input_grad, linear_weight_grad};
use crate::kernels::cpu::test_data::values;

/// Small and odd (one task, partial registers, odd sums), rows in fours and not, enough
/// multiply-adds for parallel blocks with ragged last blocks, a zero-width input, no rows.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (3, 5, 7),
    (4, 33, 17),
    (7, 64, 80),
    (5, 100, 3),
    (32, 257, 130),
    (33, 1030, 70),
    (4, 0, 9),
    (0, 8, 5),
];

/// Each element of `got` (bf16) within one bf16 unit of `want`'s, relative to the larger of
/// the two or to `floor` (sums that cancel).
fn within_a_unit(got: &[f32], want: &[f32], floor: f32, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_eq!(bf16::round(g), g, "{what}[{i}]: {g} is not bf16");
        let unit = g.abs().max(w.abs()).max(floor) / 128.0;
        assert!((g - w).abs() <= unit, "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn products_match_the_f32_kernels_on_rounded_operands() {
    if !available() {
        eprintln!("no AVX512_BF16 on this CPU: the bf16 linear kernels are not tested");
        return;
    }
    for (rows, d_in, d_out) in SHAPES {
        let s = LinearShape { rows, d_in, d_out };
        let what = format!("{s:?}");
        let (x, w, b, dy) = (
            values(rows * d_in, 1),
            values(d_in * d_out, 2),
            values(d_out, 3),
            values(rows * d_out, 4),
        );
        // Sums of about sqrt(terms) magnitude can cancel to nearly zero: a unit of their
        // scale is the fair floor there.
        let floor = |terms: usize| (terms as f32).sqrt() * 0.05;

        let mut ours = vec![f32::NAN; rows * d_out];
        forward(&s, &x, &w, Some(&b), as_uninit(&mut ours));
        let mut want = vec![f32::NAN; rows * d_out];
        let (xr, wr, br) = (rounded(&x), rounded(&w), rounded(&b));
        linear_forward(&s, &xr, &wr, Some(&br), as_uninit(&mut want));
        within_a_unit(
            &ours,
            &rounded(&want),
            floor(d_in),
            &format!("{what} forward"),
        );

        let mut ours = vec![f32::NAN; rows * d_in];
        input_grad(&s, &dy, &w, as_uninit(&mut ours));
        let mut want = vec![f32::NAN; rows * d_in];
        linear_input_grad(&s, &rounded(&dy), &wr, as_uninit(&mut want));
        within_a_unit(
            &ours,
            &rounded(&want),
            floor(d_out),
            &format!("{what} input grad"),
        );

        let (mut ours, mut db) = (vec![f32::NAN; d_in * d_out], vec![f32::NAN; d_out]);
        weight_grad(&s, &x, &dy, as_uninit(&mut ours), Some(&mut db));
        let (mut want, mut want_db) = (vec![f32::NAN; d_in * d_out], vec![f32::NAN; d_out]);
        linear_weight_grad(
            &s,
            &xr,
            &rounded(&dy),
            as_uninit(&mut want),
            Some(&mut want_db),
        );
        within_a_unit(
            &ours,
            &rounded(&want),
            floor(rows),
            &format!("{what} weight grad"),
        );
        // The same sums in the same order: the same bits.
        assert_eq!(db, rounded(&want_db), "{what} bias grad");
    }
}

/// Without a bias the forward is the product alone; a result is rounded once (ties to even),
/// not truncated.
#[test]
fn no_bias_and_rounding_to_nearest() {
    if !available() {
        return;
    }
    // 1 * (1 + 2^-8 + 2^-9) rounds up to 1 + 2^-7 (truncation would give 1).
    let s = LinearShape {
        rows: 1,
        d_in: 2,
        d_out: 1,
    };
    let (x, w) = ([1.0, 1.0], [1.0, 1.0 / 256.0 + 1.0 / 512.0]);
    let w = [w[0], bf16::round(w[1])];
    let mut out = [f32::NAN];
    forward(&s, &x, &w, None, as_uninit(&mut out));
    assert_eq!(out[0], bf16::round(1.0 + w[1]));
    assert_eq!(out[0], 1.0 + 1.0 / 128.0);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn packs_pair_the_summed_dimension() {
    use crate::kernels::cpu::conv3x3::dpbf16::pair;
    if !available() {
        return;
    }
    for (rows, cols) in [(1, 1), (3, 5), (16, 32), (35, 67), (48, 96)] {
        let m = values(rows * cols, 7);
        let at = |i: usize, j: usize| match i < rows && j < cols {
            true => m[i * cols + j],
            false => 0.0,
        };
        // SAFETY: `available` checked the instructions.
        let (by_rows, by_cols, transposed) = unsafe {
            (
                pack::row_pairs(&m, rows, cols),
                pack::column_pairs(&m, rows, cols),
                pack::transposed_column_pairs(&m, rows, cols),
            )
        };
        let half = cols.div_ceil(2);
        for q in 0..rows.div_ceil(2) {
            for j in 0..cols {
                assert_eq!(by_rows[q * cols + j], pair(at(2 * q, j), at(2 * q + 1, j)));
            }
        }
        for i in 0..rows {
            for q in 0..half {
                let want = pair(at(i, 2 * q), at(i, 2 * q + 1));
                assert_eq!(by_cols[i * half + q], want, "{rows}x{cols} ({i}, {q})");
                assert_eq!(transposed[q * rows + i], want, "{rows}x{cols} ({q}, {i})");
            }
        }
    }
}
