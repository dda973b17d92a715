//! 3×3 / stride 2 / padding 1 forward.
//!
//! Output (oy, ox) reads input rows 2oy−1, 2oy, 2oy+1 and columns 2ox−1, 2ox,
//! 2ox+1. Each input row is split once into its even columns `e[j] = row[2j]`
//! (`wo` of them) and its odd columns shifted by one with `-inf` padding,
//! `o[0] = -inf, o[j + 1] = row[2j + 1]` (`wo + 1`, trailing `-inf` if `w` is
//! odd), so that window column dx = 0, 1, 2 of output `ox` is `o[ox]`, `e[ox]`,
//! `o[ox + 1]`: three contiguous streams per row.

use std::array::from_fn;

use crate::kernels::cpu::lanes::LANES;
use crate::kernels::isa::multiversion;

multiversion!(pub(super) forward_plane_k3s2p1(
    x: &[f32], h: usize, w: usize, out: &mut [f32], arg: &mut [u8], scratch: &mut [f32]
) -> bool => forward_plane_k3s2p1_impl);

/// Forward of one plane; `scratch` holds `4 · (2·wo + 1)` floats: three split
/// rows (input row `r` in slot `r % 3`) and one all-`-inf` padding row.
///
/// The row kernel ignores NaN (plain `v > best`, half the work of PyTorch's
/// `v > best || isnan(v)`), so it returns `true` if the plane held a NaN (or
/// an infinity: the check lumps them together), and the caller must then redo
/// the plane with [`forward_plane_generic`](super::forward_plane_generic).
#[inline(always)]
fn forward_plane_k3s2p1_impl(
    x: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    arg: &mut [u8],
    scratch: &mut [f32],
) -> bool {
    let (ho, wo) = (h.div_ceil(2), w.div_ceil(2));
    let len = 2 * wo + 1;
    scratch[3 * len..4 * len].fill(f32::NEG_INFINITY);
    // Non-finite values are tracked row by row, just before a row is split
    // (it is then in L1), and checked once at the end.
    let mut finite_check = [0.0f32; LANES];
    track_non_finite(&mut finite_check, &x[..w]);
    split_row(&x[..w], &mut scratch[..len]);
    let outs = out.chunks_exact_mut(wo).zip(arg.chunks_exact_mut(wo));
    for (oy, (o_row, a_row)) in outs.take(ho).enumerate() {
        // Rows 2oy−1 and 2oy are already split; split 2oy+1 (if any) and, for
        // oy > 0, 2oy (row 2oy−1 was the previous bottom row).
        for r in (2 * oy).max(1)..(2 * oy + 2).min(h) {
            let row = &x[r * w..(r + 1) * w];
            track_non_finite(&mut finite_check, row);
            let slot = (r % 3) * len;
            split_row(row, &mut scratch[slot..slot + len]);
        }
        let slot = |r: usize| &scratch[(r % 3) * len..(r % 3 + 1) * len];
        let pad = &scratch[3 * len..4 * len];
        let top = if oy > 0 { slot(2 * oy - 1) } else { pad };
        let bottom = if 2 * oy + 1 < h {
            slot(2 * oy + 1)
        } else {
            pad
        };
        let k0 = if oy > 0 { 0 } else { 3 };
        pool_row([top, slot(2 * oy), bottom], k0, wo, o_row, a_row);
    }
    saw_non_finite(&finite_check)
}

/// Splits an input row into `e` (even columns, `wo`) followed by the shifted,
/// padded odd columns `o` (`wo + 1`).
#[inline(always)]
fn split_row(row: &[f32], dst: &mut [f32]) {
    let wo = row.len().div_ceil(2);
    let (e, o) = dst.split_at_mut(wo);
    o[0] = f32::NEG_INFINITY;
    let o = &mut o[1..];
    let (pairs, last) = row.as_chunks::<2>();
    let (chunks, tail) = pairs.as_chunks::<LANES>();
    let dst_chunks = e.chunks_exact_mut(LANES).zip(o.chunks_exact_mut(LANES));
    for (ch, (ec, oc)) in chunks.iter().zip(dst_chunks) {
        for l in 0..LANES {
            ec[l] = ch[l][0];
            oc[l] = ch[l][1];
        }
    }
    let done = chunks.len() * LANES;
    for (j, p) in tail.iter().enumerate() {
        e[done + j] = p[0];
        o[done + j] = p[1];
    }
    if let [v] = last {
        e[wo - 1] = *v;
        o[wo - 1] = f32::NEG_INFINITY;
    }
}

/// Accumulates `v · 0` (±0 if `v` is finite, NaN otherwise) of `x` into the
/// lanes of `acc`. Per-lane float sums vectorise well, whereas integer or
/// boolean reductions get vectorised across chunks with gathers or scalarised.
#[inline(always)]
fn track_non_finite(acc: &mut [f32; LANES], x: &[f32]) {
    let (chunks, rest) = x.as_chunks::<LANES>();
    for ch in chunks {
        let zero_if_finite: [f32; LANES] = from_fn(|l| ch[l] * 0.0);
        for l in 0..LANES {
            acc[l] += zero_if_finite[l];
        }
    }
    for (a, v) in acc.iter_mut().zip(rest) {
        *a += v * 0.0;
    }
}

/// Whether [`track_non_finite`] saw a NaN or an infinity. (The `black_box`
/// only stops LLVM from fusing this final reduction into the loops.)
#[inline(always)]
fn saw_non_finite(acc: &[f32; LANES]) -> bool {
    let acc = std::hint::black_box(*acc);
    let half: [f32; LANES / 2] = from_fn(|l| acc[l] + acc[l + LANES / 2]);
    let quarter: [f32; LANES / 4] = from_fn(|l| half[l] + half[l + LANES / 4]);
    !quarter.iter().sum::<f32>().is_finite()
}

/// Pools one output row of `wo` outputs from the split window rows
/// `[top, mid, bottom]` (padding rows are all `-inf`). `k0` is the window index
/// of the first in-bounds row's first column (0, or 3 when the top row is padding).
#[inline(always)]
fn pool_row(rows: [&[f32]; 3], k0: u8, wo: usize, out: &mut [f32], arg: &mut [u8]) {
    // The 9 window candidates in row-major order, as (split row, offset).
    let [t, m, b] = rows;
    let (r0, r1, r2) = (t.split_at(wo), m.split_at(wo), b.split_at(wo));
    let cands = [
        r0.1,
        r0.0,
        &r0.1[1..],
        r1.1,
        r1.0,
        &r1.1[1..],
        r2.1,
        r2.0,
        &r2.1[1..],
    ];
    // Fixed-width chunks, the last one overlapping its predecessor if needed.
    let mut ox0 = 0;
    while wo >= LANES && ox0 < wo {
        ox0 = ox0.min(wo - LANES);
        let (best, best_k) = pool_chunk(&cands, ox0, k0);
        out[ox0..ox0 + LANES].copy_from_slice(&best);
        for (a, &k) in arg[ox0..ox0 + LANES].iter_mut().zip(&best_k) {
            *a = k as u8;
        }
        ox0 += LANES;
    }
    for ox in ox0..wo {
        let mut best = f32::NEG_INFINITY;
        let mut best_k = k0;
        for (k, cand) in cands.iter().enumerate() {
            if cand[ox] > best {
                best = cand[ox];
                best_k = k as u8;
            }
        }
        out[ox] = best;
        arg[ox] = best_k;
    }
    // At ox = 0 window column 0 is padding: if nothing was selected (all -inf),
    // the first in-bounds element is column 1.
    if arg[0] == k0 {
        arg[0] = k0 + 1;
    }
}

/// First maximum and its window index for outputs `ox0 .. ox0 + LANES`
/// of a row (`cands` as in [`pool_row`]). "First maximum" (strict `>` keeps the
/// earlier candidate) is associative, so the 9 candidates are reduced as a
/// shallow tree (3 independent row maxima, then across rows) rather than one
/// serial chain.
#[inline(always)]
fn pool_chunk(cands: &[&[f32]; 9], ox0: usize, k0: u8) -> ([f32; LANES], [u32; LANES]) {
    let (mut best, mut best_k) = row_max(cands, 0, ox0);
    for (m, k) in [row_max(cands, 1, ox0), row_max(cands, 2, ox0)] {
        for l in 0..LANES {
            if m[l] > best[l] {
                best[l] = m[l];
                best_k[l] = k[l];
            }
        }
    }
    // All -inf: PyTorch selects the first in-bounds element.
    for l in 0..LANES {
        if best[l] == f32::NEG_INFINITY {
            best_k[l] = u32::from(k0);
        }
    }
    (best, best_k)
}

/// First maximum and window index over the 3 candidates of window row `r`.
/// (A function, not a closure: closures do not inherit the caller's target
/// features, so a non-inlined one would run baseline code.)
#[inline(always)]
fn row_max(cands: &[&[f32]; 9], r: usize, ox0: usize) -> ([f32; LANES], [u32; LANES]) {
    let lanes =
        |i: usize| -> &[f32; LANES] { cands[i][ox0..].first_chunk().expect("ox0 + LANES <= len") };
    let (a, b, c) = (lanes(3 * r), lanes(3 * r + 1), lanes(3 * r + 2));
    let mut m = *a;
    let mut k = [3 * r as u32; LANES];
    for l in 0..LANES {
        if b[l] > m[l] {
            m[l] = b[l];
            k[l] = 3 * r as u32 + 1;
        }
        if c[l] > m[l] {
            m[l] = c[l];
            k[l] = 3 * r as u32 + 2;
        }
    }
    (m, k)
}
