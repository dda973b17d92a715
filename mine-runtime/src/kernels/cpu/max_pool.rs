//! 2-D max pooling on contiguous NCHW `f32` slices, forward and backward.
//!
//! Semantics follow PyTorch's CPU `max_pool2d` (square kernel, no dilation,
//! `ceil_mode = false`): padding behaves as `-inf`, the output size is
//! `(len + 2·padding − kernel) / stride + 1`, ties go to the *first* maximum in
//! row-major window order, and NaN propagates (the *last* NaN of a window is
//! selected, as PyTorch's `val > max || isnan(val)` rule does). A window whose
//! values are all `-inf` selects its first in-bounds element, as PyTorch does.
//!
//! The selected element of each window is saved as a `u8` **window index**
//! `dy · kernel + dx` (row `dy`, column `dx` inside the window, counted from the
//! padded window origin `(oy·stride − padding, ox·stride − padding)`); use
//! [`argmax_flat_index`] to turn it into PyTorch's flat index in the input plane.
//!
//! The backward writes every input gradient once, as a gather from the (at most
//! four) outputs whose windows hold the element, adding them in output order:
//! the result is bit-identical to PyTorch's zero-then-scatter-add, and the
//! gradient buffer need not be zeroed.
//!
//! The model's configuration, 3×3 / stride 2 / padding 1 ([`MaxPoolParams::K3S2P1`]),
//! has vectorised row kernels (compiled for SSE2, AVX2 and AVX-512, chosen at run
//! time). They skip PyTorch's NaN test; a plane holding a NaN or an infinity is
//! redone by the scalar loop (exact semantics, slower), which also serves all
//! other parameters. Work is parallelised with rayon over the `n · c` planes.

use rayon::prelude::*;
use std::array::from_fn;

use super::isa::{Isa, multiversion};

/// Minimum input elements per rayon task, to keep scheduling overhead negligible.
const MIN_TASK_ELEMS: usize = 1 << 15;

/// Square max-pool window: `kernel × kernel`, `stride` and `padding` on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolParams {
    /// Window side, `1..=16` (window indices must fit a `u8`).
    pub kernel: usize,
    /// Step between windows, `>= 1`.
    pub stride: usize,
    /// Implicit `-inf` border, `<= kernel / 2` (as PyTorch requires).
    pub padding: usize,
}

impl MaxPoolParams {
    /// 3×3 window, stride 2, padding 1: the VPT ImpalaCNN pooling (fast path).
    pub const K3S2P1: Self = Self {
        kernel: 3,
        stride: 2,
        padding: 1,
    };

    /// Output length along an axis of input length `len` (0 if no window fits).
    pub fn out_len(&self, len: usize) -> usize {
        let padded = len + 2 * self.padding;
        if len == 0 || padded < self.kernel {
            0
        } else {
            (padded - self.kernel) / self.stride + 1
        }
    }

    /// Panics unless the parameters are ones this module supports.
    /// Whether the kernels handle these parameters: window `1..=16`, stride `>= 1`, padding
    /// at most half the window.
    pub fn supported(&self) -> bool {
        (1..=16).contains(&self.kernel) && self.stride >= 1 && self.padding <= self.kernel / 2
    }

    fn validate(&self) {
        assert!(self.supported(), "unsupported max-pool parameters {self:?}");
    }
}

/// Flat index `ih · w + iw` in the input plane (width `w`) of the element that
/// output `(oy, ox)` selected, given its saved window index `k` (PyTorch's
/// `indices` convention).
pub fn argmax_flat_index(params: MaxPoolParams, w: usize, oy: usize, ox: usize, k: u8) -> usize {
    let (dy, dx) = (
        usize::from(k) / params.kernel,
        usize::from(k) % params.kernel,
    );
    let ih = oy * params.stride + dy - params.padding;
    let iw = ox * params.stride + dx - params.padding;
    ih * w + iw
}

/// Max-pool forward, 3×3 window, stride 2, padding 1 (see [`max_pool_forward_with`]).
///
/// Output size is `ho = (h + 1) / 2`, `wo = (w + 1) / 2`.
#[allow(clippy::too_many_arguments)]
pub fn max_pool_forward(
    x: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    max_pool_forward_with(MaxPoolParams::K3S2P1, x, n, c, h, w, out, argmax);
}

/// Max-pool backward, 3×3 window, stride 2, padding 1 (see [`max_pool_backward_with`]).
#[allow(clippy::too_many_arguments)]
pub fn max_pool_backward(
    grad_out: &[f32],
    argmax: &[u8],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    grad_x: &mut [f32],
) {
    max_pool_backward_with(MaxPoolParams::K3S2P1, grad_out, argmax, n, c, h, w, grad_x);
}

/// Max-pool forward with arbitrary (supported) parameters.
///
/// * `x`: `[n, c, h, w]`.
/// * `out`: `[n, c, ho, wo]` with `ho = params.out_len(h)`, `wo = params.out_len(w)`.
/// * `argmax`: `[n, c, ho, wo]` window indices `dy · kernel + dx` of the selected
///   elements; keep it for the backward.
///
/// Every element of `out` and `argmax` is written; they need not be zeroed.
#[allow(clippy::too_many_arguments)]
pub fn max_pool_forward_with(
    params: MaxPoolParams,
    x: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    params.validate();
    let (ho, wo) = (params.out_len(h), params.out_len(w));
    debug_assert_eq!(x.len(), n * c * h * w);
    debug_assert_eq!(out.len(), n * c * ho * wo);
    debug_assert_eq!(argmax.len(), n * c * ho * wo);
    if ho == 0 || wo == 0 {
        return;
    }
    let planes = x
        .par_chunks(h * w)
        .zip(out.par_chunks_mut(ho * wo))
        .zip(argmax.par_chunks_mut(ho * wo));
    let planes = planes.with_min_len(min_planes(h * w));
    if params == MaxPoolParams::K3S2P1 {
        let isa = Isa::detect();
        planes.for_each_init(
            || vec![0.0f32; 4 * (2 * wo + 1)],
            |scratch, ((xp, op), ap)| {
                if forward_plane_k3s2p1(isa, xp, h, w, op, ap, scratch) {
                    forward_plane_generic(params, xp, h, w, op, ap);
                }
            },
        );
    } else {
        planes.for_each(|((xp, op), ap)| forward_plane_generic(params, xp, h, w, op, ap));
    }
}

/// Max-pool backward with arbitrary (supported) parameters.
///
/// * `grad_out`, `argmax`: `[n, c, ho, wo]`, `argmax` as saved by
///   [`max_pool_forward_with`] with the same parameters and shape.
/// * `grad_x`: `[n, c, h, w]`, **overwritten** (need not be zeroed): each input
///   element receives the sum of the gradients of the outputs that selected it,
///   added in output order as PyTorch does (bit-identical results).
#[allow(clippy::too_many_arguments)]
pub fn max_pool_backward_with(
    params: MaxPoolParams,
    grad_out: &[f32],
    argmax: &[u8],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    grad_x: &mut [f32],
) {
    params.validate();
    let (ho, wo) = (params.out_len(h), params.out_len(w));
    debug_assert_eq!(grad_out.len(), n * c * ho * wo);
    debug_assert_eq!(argmax.len(), n * c * ho * wo);
    debug_assert_eq!(grad_x.len(), n * c * h * w);
    if ho == 0 || wo == 0 {
        grad_x.fill(0.0);
        return;
    }
    let planes = grad_x
        .par_chunks_mut(h * w)
        .zip(grad_out.par_chunks(ho * wo))
        .zip(argmax.par_chunks(ho * wo));
    let planes = planes.with_min_len(min_planes(h * w));
    if params == MaxPoolParams::K3S2P1 {
        let isa = Isa::detect();
        planes.for_each(|((dxp, gp), ap)| backward_plane_k3s2p1(isa, gp, ap, h, w, dxp));
    } else {
        planes.for_each(|((dxp, gp), ap)| backward_plane_generic(params, gp, ap, w, dxp));
    }
}

/// Planes per rayon task so that a task covers at least [`MIN_TASK_ELEMS`] inputs.
fn min_planes(plane_elems: usize) -> usize {
    MIN_TASK_ELEMS.div_ceil(plane_elems.max(1)).max(1)
}

// ---------------------------------------------------------------------------
// Generic parameters: scalar loops mirroring PyTorch's CPU kernel.

/// Forward of one plane for any supported `params`.
fn forward_plane_generic(
    p: MaxPoolParams,
    x: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    arg: &mut [u8],
) {
    let wo = p.out_len(w);
    for (i, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
        let (oy, ox) = (i / wo, i % wo);
        let (y0, y1) = window_range(p, oy, h);
        let (x0, x1) = window_range(p, ox, w);
        let mut best = f32::NEG_INFINITY;
        let mut best_k = (y0 * p.kernel + x0) as u8;
        for dy in y0..y1 {
            let row = &x[(oy * p.stride + dy - p.padding) * w..];
            for dx in x0..x1 {
                let v = row[ox * p.stride + dx - p.padding];
                if v > best || v.is_nan() {
                    best = v;
                    best_k = (dy * p.kernel + dx) as u8;
                }
            }
        }
        *o = best;
        *a = best_k;
    }
}

/// Backward of one plane for any supported `params` (zero, then scatter-add).
fn backward_plane_generic(p: MaxPoolParams, g: &[f32], arg: &[u8], w: usize, dx: &mut [f32]) {
    dx.fill(0.0);
    let wo = p.out_len(w);
    for (i, (&gv, &k)) in g.iter().zip(arg).enumerate() {
        dx[argmax_flat_index(p, w, i / wo, i % wo, k)] += gv;
    }
}

/// In-bounds window offsets `d0..d1` (relative to the padded window origin) of
/// output position `o` along an axis of length `len`.
fn window_range(p: MaxPoolParams, o: usize, len: usize) -> (usize, usize) {
    let start = o * p.stride; // padded coordinate of the window origin
    let d0 = p.padding.saturating_sub(start);
    let d1 = p.kernel.min(len + p.padding - start);
    (d0, d1)
}

// ---------------------------------------------------------------------------
// 3×3 / stride 2 / padding 1 forward.
//
// Output (oy, ox) reads input rows 2oy−1, 2oy, 2oy+1 and columns 2ox−1, 2ox,
// 2ox+1. Each input row is split once into its even columns `e[j] = row[2j]`
// (`wo` of them) and its odd columns shifted by one with `-inf` padding,
// `o[0] = -inf, o[j + 1] = row[2j + 1]` (`wo + 1`, trailing `-inf` if `w` is
// odd), so that window column dx = 0, 1, 2 of output `ox` is `o[ox]`, `e[ox]`,
// `o[ox + 1]`: three contiguous streams per row.

multiversion!(forward_plane_k3s2p1(
    x: &[f32], h: usize, w: usize, out: &mut [f32], arg: &mut [u8], scratch: &mut [f32]
) -> bool => forward_plane_k3s2p1_impl);

/// Forward of one plane; `scratch` holds `4 · (2·wo + 1)` floats: three split
/// rows (input row `r` in slot `r % 3`) and one all-`-inf` padding row.
///
/// The row kernel ignores NaN (plain `v > best`, half the work of PyTorch's
/// `v > best || isnan(v)`), so it returns `true` if the plane held a NaN (or
/// an infinity: the check lumps them together), and the caller must then redo
/// the plane with [`forward_plane_generic`].
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
    let mut finite_check = [0.0f32; POOL_LANES];
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
    let (chunks, tail) = pairs.as_chunks::<POOL_LANES>();
    let dst_chunks = e
        .chunks_exact_mut(POOL_LANES)
        .zip(o.chunks_exact_mut(POOL_LANES));
    for (ch, (ec, oc)) in chunks.iter().zip(dst_chunks) {
        for l in 0..POOL_LANES {
            ec[l] = ch[l][0];
            oc[l] = ch[l][1];
        }
    }
    let done = chunks.len() * POOL_LANES;
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
fn track_non_finite(acc: &mut [f32; POOL_LANES], x: &[f32]) {
    let (chunks, rest) = x.as_chunks::<POOL_LANES>();
    for ch in chunks {
        let zero_if_finite: [f32; POOL_LANES] = from_fn(|l| ch[l] * 0.0);
        for l in 0..POOL_LANES {
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
fn saw_non_finite(acc: &[f32; POOL_LANES]) -> bool {
    let acc = std::hint::black_box(*acc);
    let half: [f32; POOL_LANES / 2] = from_fn(|l| acc[l] + acc[l + POOL_LANES / 2]);
    let quarter: [f32; POOL_LANES / 4] = from_fn(|l| half[l] + half[l + POOL_LANES / 4]);
    !quarter.iter().sum::<f32>().is_finite()
}

/// Outputs handled together by [`pool_row`] (a fixed width the compiler vectorises).
const POOL_LANES: usize = 16;

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
    while wo >= POOL_LANES && ox0 < wo {
        ox0 = ox0.min(wo - POOL_LANES);
        let (best, best_k) = pool_chunk(&cands, ox0, k0);
        out[ox0..ox0 + POOL_LANES].copy_from_slice(&best);
        for (a, &k) in arg[ox0..ox0 + POOL_LANES].iter_mut().zip(&best_k) {
            *a = k as u8;
        }
        ox0 += POOL_LANES;
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

/// First maximum and its window index for outputs `ox0 .. ox0 + POOL_LANES`
/// of a row (`cands` as in [`pool_row`]). "First maximum" (strict `>` keeps the
/// earlier candidate) is associative, so the 9 candidates are reduced as a
/// shallow tree (3 independent row maxima, then across rows) rather than one
/// serial chain.
#[inline(always)]
fn pool_chunk(cands: &[&[f32]; 9], ox0: usize, k0: u8) -> ([f32; POOL_LANES], [u32; POOL_LANES]) {
    let (mut best, mut best_k) = row_max(cands, 0, ox0);
    for (m, k) in [row_max(cands, 1, ox0), row_max(cands, 2, ox0)] {
        for l in 0..POOL_LANES {
            if m[l] > best[l] {
                best[l] = m[l];
                best_k[l] = k[l];
            }
        }
    }
    // All -inf: PyTorch selects the first in-bounds element.
    for l in 0..POOL_LANES {
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
fn row_max(cands: &[&[f32]; 9], r: usize, ox0: usize) -> ([f32; POOL_LANES], [u32; POOL_LANES]) {
    let lanes = |i: usize| -> &[f32; POOL_LANES] {
        cands[i][ox0..]
            .first_chunk()
            .expect("ox0 + POOL_LANES <= len")
    };
    let (a, b, c) = (lanes(3 * r), lanes(3 * r + 1), lanes(3 * r + 2));
    let mut m = *a;
    let mut k = [3 * r as u32; POOL_LANES];
    for l in 0..POOL_LANES {
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
// ---------------------------------------------------------------------------
// 3×3 / stride 2 / padding 1 backward, written as a gather: every input
// element is produced once from the (at most 4) outputs whose windows hold it.
// Input row 2oy is window row 1 of output row oy; input row 2oy+1 is window
// row 2 of output row oy and window row 0 of output row oy+1. Likewise for
// columns: column 2j is window column 1 of ox = j, column 2j+1 is window
// column 2 of ox = j and window column 0 of ox = j+1. Contributions are added
// in output order, as PyTorch's scatter does, so results are bit-identical.

multiversion!(backward_plane_k3s2p1(
    g: &[f32], arg: &[u8], h: usize, w: usize, dx: &mut [f32]
) => backward_plane_k3s2p1_impl);

/// Backward of one plane: writes all of `dx` (`h × w`).
#[inline(always)]
fn backward_plane_k3s2p1_impl(g: &[f32], arg: &[u8], h: usize, w: usize, dx: &mut [f32]) {
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
fn unpool_row<const P: usize>(src: [SrcRow<'_>; P], w: usize, row: &mut [f32]) {
    let wo = w.div_ceil(2);
    // Column pairs (2j, 2j+1), j < pairs, in fixed-width chunks (the last one
    // overlapping its predecessor if needed: the values are pure writes).
    let pairs = w / 2;
    let mut j0 = 0;
    while pairs >= POOL_LANES && j0 < pairs {
        j0 = j0.min(pairs - POOL_LANES);
        unpool_chunk(&src, j0, wo, &mut row[2 * j0..2 * (j0 + POOL_LANES)]);
        j0 += POOL_LANES;
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
        row[2 * j] = even;
        row[2 * j + 1] = odd;
    }
    // Odd width: the last column 2j (j = wo − 1) is window column 1 of ox = j only.
    if w % 2 == 1 {
        let j = wo - 1;
        let mut even = 0.0f32;
        for (g, a, base) in src {
            even += pick(g[j], a[j], base + 1);
        }
        row[2 * j] = even;
    }
}

/// Columns `2·j0 .. 2·(j0 + POOL_LANES)` of an input row (see [`unpool_row`]);
/// needs `j0 + POOL_LANES <= wo`.
#[inline(always)]
fn unpool_chunk<const P: usize>(src: &[SrcRow<'_>; P], j0: usize, wo: usize, out: &mut [f32]) {
    let mut even = [0.0f32; POOL_LANES];
    let mut odd = [0.0f32; POOL_LANES];
    for &(g, a, base) in src {
        let (g0, _) = g[j0..]
            .split_first_chunk::<POOL_LANES>()
            .expect("j0 + POOL_LANES <= wo");
        let (a0, _) = a[j0..]
            .split_first_chunk::<POOL_LANES>()
            .expect("j0 + POOL_LANES <= wo");
        // Outputs ox = j+1: the chunk shifted by one lane; past the row end
        // they do not exist (zero gradient, an index that never matches).
        let (g_next, a_next) = if j0 + POOL_LANES < wo {
            (g[j0 + POOL_LANES], a[j0 + POOL_LANES])
        } else {
            (0.0, u8::MAX)
        };
        let g1: [f32; POOL_LANES] = from_fn(|l| {
            if l + 1 < POOL_LANES {
                g0[l + 1]
            } else {
                g_next
            }
        });
        let a1: [u8; POOL_LANES] = from_fn(|l| {
            if l + 1 < POOL_LANES {
                a0[l + 1]
            } else {
                a_next
            }
        });
        for l in 0..POOL_LANES {
            even[l] += pick(g0[l], a0[l], base + 1);
            odd[l] += pick(g0[l], a0[l], base + 2);
            odd[l] += pick(g1[l], a1[l], base);
        }
    }
    for (pair, (&e, &o)) in out.chunks_exact_mut(2).zip(even.iter().zip(&odd)) {
        pair[0] = e;
        pair[1] = o;
    }
}

/// The gradient `g` if the saved window index `a` is `k`, else 0.
#[inline(always)]
fn pick(g: f32, a: u8, k: u8) -> f32 {
    if a == k { g } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernels::cpu::isa::for_each_isa;
    use crate::kernels::cpu::test_data::Rng;

    /// PyTorch's CPU loop, written naively: (values, flat indices in the plane).
    fn ref_forward(
        p: MaxPoolParams,
        x: &[f32],
        planes: usize,
        h: usize,
        w: usize,
    ) -> (Vec<f32>, Vec<usize>) {
        let (ho, wo) = (p.out_len(h), p.out_len(w));
        let (mut vals, mut idx) = (vec![], vec![]);
        for pl in 0..planes {
            let xp = &x[pl * h * w..(pl + 1) * h * w];
            for oy in 0..ho {
                for ox in 0..wo {
                    let y0 = oy as isize * p.stride as isize - p.padding as isize;
                    let x0 = ox as isize * p.stride as isize - p.padding as isize;
                    let (ys, ye) = (y0.max(0), (y0 + p.kernel as isize).min(h as isize));
                    let (xs, xe) = (x0.max(0), (x0 + p.kernel as isize).min(w as isize));
                    let mut best = f32::NEG_INFINITY;
                    let mut best_i = (ys * w as isize + xs) as usize;
                    for iy in ys..ye {
                        for ix in xs..xe {
                            let i = (iy * w as isize + ix) as usize;
                            if xp[i] > best || xp[i].is_nan() {
                                best = xp[i];
                                best_i = i;
                            }
                        }
                    }
                    vals.push(best);
                    idx.push(best_i);
                }
            }
        }
        (vals, idx)
    }

    /// PyTorch's backward: zero, then `grad_x[idx] += grad_out` in output order.
    fn ref_backward(g: &[f32], idx: &[usize], planes: usize, h: usize, w: usize) -> Vec<f32> {
        let per = g.len() / planes.max(1);
        let mut dx = vec![0.0f32; planes * h * w];
        for (o, (&gv, &i)) in g.iter().zip(idx).enumerate() {
            dx[(o / per) * h * w + i] += gv;
        }
        dx
    }

    fn same_bits(a: f32, b: f32) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    /// Checks forward and backward, with every kernel variant, against the
    /// references (values, indices and gradients bit for bit); for K3S2P1 also
    /// checks that the generic scalar path agrees with the fast path.
    fn check(p: MaxPoolParams, x: &[f32], n: usize, c: usize, h: usize, w: usize, seed: u64) {
        let (ho, wo) = (p.out_len(h), p.out_len(w));
        let planes = n * c;
        let olen = planes * ho * wo;
        let (r_out, r_idx) = ref_forward(p, x, planes, h, w);
        let g = Rng(seed).uniform(olen);
        let r_dx = ref_backward(&g, &r_idx, planes, h, w);
        let shape = format!("{p:?} {n}x{c}x{h}x{w}");
        let mut arg = vec![255u8; olen];
        for_each_isa(|| {
            let mut out = vec![7.0f32; olen];
            max_pool_forward_with(p, x, n, c, h, w, &mut out, &mut arg);
            let plane_out = (ho * wo).max(1);
            for o in 0..olen {
                let (oy, ox) = ((o % plane_out) / wo, o % wo);
                assert!(
                    same_bits(out[o], r_out[o]),
                    "{shape} out[{o}]: {} vs {}",
                    out[o],
                    r_out[o]
                );
                let flat = argmax_flat_index(p, w, oy, ox, arg[o]);
                assert_eq!(flat, r_idx[o], "{shape} argmax[{o}] (k = {})", arg[o]);
            }
            let mut dx = vec![f32::NAN; planes * h * w];
            max_pool_backward_with(p, &g, &arg, n, c, h, w, &mut dx);
            for (i, (&a, &b)) in dx.iter().zip(&r_dx).enumerate() {
                assert!(a.to_bits() == b.to_bits(), "{shape} dx[{i}]: {a} vs {b}");
            }
        });
        if p == MaxPoolParams::K3S2P1 {
            let (mut out2, mut arg2) = (vec![0.0f32; olen], vec![0u8; olen]);
            let plane_in = h * w;
            for pl in 0..planes {
                let r = pl * ho * wo..(pl + 1) * ho * wo;
                forward_plane_generic(
                    p,
                    &x[pl * plane_in..(pl + 1) * plane_in],
                    h,
                    w,
                    &mut out2[r.clone()],
                    &mut arg2[r],
                );
            }
            assert!(
                out2.iter().zip(&r_out).all(|(&a, &b)| same_bits(a, b)),
                "{shape}: generic path values"
            );
            assert_eq!(arg, arg2, "{shape}: generic path indices");
        }
    }

    const SIZES: [(usize, usize); 12] = [
        (1, 1),
        (1, 6),
        (6, 1),
        (2, 2),
        (3, 3),
        (4, 5),
        (7, 5),
        (5, 7),
        (2, 9),
        (33, 17),
        (17, 33),
        (64, 64),
    ];

    #[test]
    fn k3s2p1_matches_reference() {
        let mut seed = 1;
        for n in [1, 3] {
            for c in [3, 16] {
                for (h, w) in SIZES {
                    seed += 1;
                    let mut rng = Rng(seed);
                    check(
                        MaxPoolParams::K3S2P1,
                        &rng.uniform(n * c * h * w),
                        n,
                        c,
                        h,
                        w,
                        seed,
                    );
                    check(
                        MaxPoolParams::K3S2P1,
                        &rng.ties(n * c * h * w),
                        n,
                        c,
                        h,
                        w,
                        seed,
                    );
                }
            }
        }
    }

    #[test]
    fn k3s2p1_matches_reference_on_model_shapes() {
        // The full batch of 32 in optimised builds; a smaller one keeps debug runs quick.
        let big = if cfg!(debug_assertions) { 4 } else { 32 };
        for (n, c, h) in [
            (big, 16, 128),
            (big, 32, 64),
            (32, 32, 32),
            (1, 16, 128),
            (3, 32, 128),
        ] {
            let mut rng = Rng(h as u64 + n as u64);
            let x = rng.ties(n * c * h * h);
            check(MaxPoolParams::K3S2P1, &x, n, c, h, h, 3);
        }
    }

    #[test]
    fn special_values() {
        let (n, c, h, w) = (1, 2, 9, 8);
        let mut rng = Rng(5);
        let mut x = rng.ties(n * c * h * w);
        // A plane of -inf (selects the first in-bounds element of every window),
        // then NaNs (the last NaN of a window wins) and -inf among finite values.
        x[..h * w].fill(f32::NEG_INFINITY);
        for i in (h * w..2 * h * w).step_by(7) {
            x[i] = f32::NAN;
        }
        for i in (h * w + 3..2 * h * w).step_by(5) {
            x[i] = f32::NEG_INFINITY;
        }
        x[h * w + 12] = f32::INFINITY;
        for p in [
            MaxPoolParams::K3S2P1,
            MaxPoolParams {
                kernel: 2,
                stride: 2,
                padding: 1,
            },
        ] {
            check(p, &x, n, c, h, w, 9);
        }
    }

    #[test]
    fn generic_params_match_reference() {
        let params = [
            (1, 1, 0),
            (2, 2, 0),
            (2, 1, 1),
            (3, 1, 1),
            (3, 3, 0),
            (4, 2, 2),
            (5, 3, 2),
            (3, 2, 0),
            (16, 4, 8),
        ];
        let mut seed = 100;
        for (kernel, stride, padding) in params {
            let p = MaxPoolParams {
                kernel,
                stride,
                padding,
            };
            for (h, w) in SIZES {
                seed += 1;
                let mut rng = Rng(seed);
                check(p, &rng.ties(3 * h * w), 1, 3, h, w, seed);
                check(p, &rng.uniform(2 * 3 * h * w), 2, 3, h, w, seed);
            }
        }
    }

    /// dL/dx of L = Σ g · out by central differences on distinct values.
    #[test]
    fn backward_matches_finite_differences() {
        let (n, c, h, w) = (1usize, 2usize, 7usize, 6usize);
        let mut rng = Rng(77);
        // Distinct values, at least 1e-2 apart, in random order.
        let mut x: Vec<f32> = (0..n * c * h * w).map(|i| i as f32 * 0.01).collect();
        for i in (1..x.len()).rev() {
            x.swap(i, rng.next_u32() as usize % (i + 1));
        }
        let (ho, wo) = (h.div_ceil(2), w.div_ceil(2));
        let g = rng.uniform(n * c * ho * wo);
        let loss = |x: &[f32]| {
            let (mut out, mut arg) = (vec![0.0; g.len()], vec![0; g.len()]);
            max_pool_forward(x, n, c, h, w, &mut out, &mut arg);
            out.iter()
                .zip(&g)
                .map(|(&o, &gv)| o as f64 * gv as f64)
                .sum::<f64>()
        };
        let (mut out, mut arg) = (vec![0.0; g.len()], vec![0; g.len()]);
        max_pool_forward(&x, n, c, h, w, &mut out, &mut arg);
        let mut dx = vec![0.0; x.len()];
        max_pool_backward(&g, &arg, n, c, h, w, &mut dx);
        let step = 1e-3f32;
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += step;
            xm[i] -= step;
            let fd = (loss(&xp) - loss(&xm)) / (xp[i] as f64 - xm[i] as f64);
            assert!(
                (fd - dx[i] as f64).abs() < 1e-3,
                "dx[{i}]: {} vs fd {fd}",
                dx[i]
            );
        }
    }

    #[test]
    fn empty_inputs_are_no_ops() {
        max_pool_forward(&[], 0, 3, 8, 8, &mut [], &mut []);
        max_pool_forward(&[], 2, 3, 0, 8, &mut [], &mut []);
        let mut dx = vec![1.0; 4];
        let p = MaxPoolParams {
            kernel: 5,
            stride: 1,
            padding: 0,
        };
        max_pool_backward_with(p, &[], &[], 1, 1, 2, 2, &mut dx);
        assert_eq!(dx, vec![0.0; 4]);
    }
}
