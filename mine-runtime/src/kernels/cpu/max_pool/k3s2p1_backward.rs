//! 3×3 / stride 2 / padding 1 backward, written as a gather: every input
//! element is produced once from the (at most 4) outputs whose windows hold it.
//! Input row 2oy is window row 1 of output row oy; input row 2oy+1 is window
//! row 2 of output row oy and window row 0 of output row oy+1. Likewise for
//! columns: column 2j is window column 1 of ox = j, column 2j+1 is window
//! column 2 of ox = j and window column 0 of ox = j+1. Contributions are added
//! in output order, as PyTorch's scatter does, so results are bit-identical.

use std::array::from_fn;
use std::mem::MaybeUninit;

use crate::kernels::cpu::lanes::LANES;
use crate::kernels::isa::multiversion;

multiversion!(pub(super) backward_plane_k3s2p1(
    g: &[f32], arg: &[u8], h: usize, w: usize, dx: &mut [MaybeUninit<f32>]
) => backward_plane_k3s2p1_impl);

/// Backward of one plane: writes all of `dx` (`h × w`; it may start uninitialized).
#[inline(always)]
fn backward_plane_k3s2p1_impl(
    g: &[f32],
    arg: &[u8],
    h: usize,
    w: usize,
    dx: &mut [MaybeUninit<f32>],
) {
    let (ho, wo) = (h.div_ceil(2), w.div_ceil(2));
    let out_row = |oy: usize, base: u8| {
        (
            &g[oy * wo..(oy + 1) * wo],
            &arg[oy * wo..(oy + 1) * wo],
            base,
        )
    };
    for (r, row) in dx.chunks_exact_mut(w).take(h).enumerate() {
        let oy = r / 2;
        if r % 2 == 0 {
            unpool_row([out_row(oy, 3)], w, row);
        } else if oy + 1 < ho {
            unpool_row([out_row(oy, 6), out_row(oy + 1, 0)], w, row);
        } else {
            unpool_row([out_row(oy, 6)], w, row);
        }
    }
}

/// One output row as seen by an input row: `(grad, argmax, base)` with
/// `base = 3 · dy` the window-row offset of the input row in its windows.
type SrcRow<'a> = (&'a [f32], &'a [u8], u8);

/// Writes input row `row` (`w` wide) from the output rows in `src`.
#[inline(always)]
fn unpool_row<const P: usize>(src: [SrcRow<'_>; P], w: usize, row: &mut [MaybeUninit<f32>]) {
    let wo = w.div_ceil(2);
    // Column pairs (2j, 2j+1), j < pairs, in fixed-width chunks (the last one
    // overlapping its predecessor if needed: the values are pure writes).
    let pairs = w / 2;
    let mut j0 = 0;
    while pairs >= LANES && j0 < pairs {
        j0 = j0.min(pairs - LANES);
        unpool_chunk(&src, j0, wo, &mut row[2 * j0..2 * (j0 + LANES)]);
        j0 += LANES;
    }
    for j in j0..pairs {
        let (mut even, mut odd) = (0.0f32, 0.0f32);
        for (g, a, base) in src {
            even += pick(g[j], a[j], base + 1);
            odd += pick(g[j], a[j], base + 2);
            if j + 1 < wo {
                odd += pick(g[j + 1], a[j + 1], base);
            }
        }
        row[2 * j].write(even);
        row[2 * j + 1].write(odd);
    }
    // Odd width: the last column 2j (j = wo − 1) is window column 1 of ox = j only.
    if w % 2 == 1 {
        let j = wo - 1;
        let mut even = 0.0f32;
        for (g, a, base) in src {
            even += pick(g[j], a[j], base + 1);
        }
        row[2 * j].write(even);
    }
}

/// Columns `2·j0 .. 2·(j0 + LANES)` of an input row (see [`unpool_row`]);
/// needs `j0 + LANES <= wo`.
#[inline(always)]
fn unpool_chunk<const P: usize>(
    src: &[SrcRow<'_>; P],
    j0: usize,
    wo: usize,
    out: &mut [MaybeUninit<f32>],
) {
    let mut even = [0.0f32; LANES];
    let mut odd = [0.0f32; LANES];
    for &(g, a, base) in src {
        let (g0, _) = g[j0..]
            .split_first_chunk::<LANES>()
            .expect("j0 + LANES <= wo");
        let (a0, _) = a[j0..]
            .split_first_chunk::<LANES>()
            .expect("j0 + LANES <= wo");
        // Outputs ox = j+1: the chunk shifted by one lane; past the row end
        // they do not exist (zero gradient, an index that never matches).
        let (g_next, a_next) = if j0 + LANES < wo {
            (g[j0 + LANES], a[j0 + LANES])
        } else {
            (0.0, u8::MAX)
        };
        let g1: [f32; LANES] = from_fn(|l| if l + 1 < LANES { g0[l + 1] } else { g_next });
        let a1: [u8; LANES] = from_fn(|l| if l + 1 < LANES { a0[l + 1] } else { a_next });
        for l in 0..LANES {
            even[l] += pick(g0[l], a0[l], base + 1);
            odd[l] += pick(g0[l], a0[l], base + 2);
            odd[l] += pick(g1[l], a1[l], base);
        }
    }
    for (pair, (&e, &o)) in out.chunks_exact_mut(2).zip(even.iter().zip(&odd)) {
        pair[0].write(e);
        pair[1].write(o);
    }
}

/// The gradient `g` if the saved window index `a` is `k`, else 0.
#[inline(always)]
fn pick(g: f32, a: u8, k: u8) -> f32 {
    if a == k { g } else { 0.0 }
}
