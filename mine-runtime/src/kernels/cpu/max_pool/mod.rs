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
//! With `relu`, the forward also rectifies its output, `relu(max_pool(x))` (which equals
//! `max_pool(relu(x))`: both are monotone), and an output that is not positive saves
//! [`NO_MAX`] instead of a window index, so the backward routes it no gradient (ReLU's
//! derivative there is zero).
//!
//! The model's configuration, 3×3 / stride 2 / padding 1 ([`MaxPoolParams::K3S2P1`]),
//! has vectorised row kernels (compiled for SSE2, AVX2 and AVX-512, chosen at run
//! time). They skip PyTorch's NaN test; a plane holding a NaN or an infinity is
//! redone by the scalar loop (exact semantics, slower), which also serves all
//! other parameters. Work is parallelised with rayon over the `n · c` planes.

mod k3s2p1_backward;
mod k3s2p1_forward;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::write_zeros;
use k3s2p1_backward::backward_plane_k3s2p1;
use k3s2p1_forward::forward_plane_k3s2p1;

/// The window index saved for a rectified output that is not positive (no gradient flows
/// through it). Fused ReLUs need windows of at most 15x15, whose indices stay below it.
pub const NO_MAX: u8 = u8::MAX;

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

    /// Whether [`max_pool_forward_with`] can also fuse a ReLU: [`supported`](Self::supported)
    /// with a window of at most 15 (so that [`NO_MAX`] is no window index).
    pub fn supported_with_relu(&self) -> bool {
        self.supported() && self.kernel < 16
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
    max_pool_forward_with(MaxPoolParams::K3S2P1, false, x, n, c, h, w, out, argmax);
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
    grad_x: &mut [MaybeUninit<f32>],
) {
    max_pool_backward_with(MaxPoolParams::K3S2P1, grad_out, argmax, n, c, h, w, grad_x);
}

/// Max-pool forward with arbitrary (supported) parameters.
///
/// * `x`: `[n, c, h, w]`.
/// * `out`: `[n, c, ho, wo]` with `ho = params.out_len(h)`, `wo = params.out_len(w)`.
/// * `argmax`: `[n, c, ho, wo]` window indices `dy · kernel + dx` of the selected
///   elements (or [`NO_MAX`] for the outputs a `relu` zeroed); keep it for the backward.
/// * `relu`: rectify the output (needs [`MaxPoolParams::supported_with_relu`]).
///
/// Every element of `out` and `argmax` is written; they need not be zeroed.
#[allow(clippy::too_many_arguments)]
pub fn max_pool_forward_with(
    params: MaxPoolParams,
    relu: bool,
    x: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    params.validate();
    assert!(
        !relu || params.supported_with_relu(),
        "max-pool: a fused ReLU needs a window of at most 15"
    );
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
                if relu {
                    rectify(isa, op, ap);
                }
            },
        );
    } else {
        let isa = Isa::detect();
        planes.for_each(|((xp, op), ap)| {
            forward_plane_generic(params, xp, h, w, op, ap);
            if relu {
                rectify(isa, op, ap);
            }
        });
    }
}

multiversion!(rectify(out: &mut [f32], argmax: &mut [u8]) => rectify_body);

/// ReLU on a pooled plane (still in cache): outputs that are not positive become 0 (NaN
/// stays NaN, as in PyTorch) and save [`NO_MAX`]: ReLU's gradient is zero there. Written
/// with selects, not branches (signs are unpredictable: a branch cost more than the pass).
#[inline(always)]
fn rectify_body(out: &mut [f32], argmax: &mut [u8]) {
    for (v, a) in out.iter_mut().zip(argmax.iter_mut()) {
        let value = *v;
        *a = if value > 0.0 { *a } else { NO_MAX };
        *v = if value <= 0.0 { 0.0 } else { value };
    }
}

/// Max-pool backward with arbitrary (supported) parameters.
///
/// * `grad_out`, `argmax`: `[n, c, ho, wo]`, `argmax` as saved by
///   [`max_pool_forward_with`] with the same parameters and shape.
/// * `grad_x`: `[n, c, h, w]`, **overwritten** (may start uninitialized): each input
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
    grad_x: &mut [MaybeUninit<f32>],
) {
    params.validate();
    let (ho, wo) = (params.out_len(h), params.out_len(w));
    debug_assert_eq!(grad_out.len(), n * c * ho * wo);
    debug_assert_eq!(argmax.len(), n * c * ho * wo);
    debug_assert_eq!(grad_x.len(), n * c * h * w);
    if ho == 0 || wo == 0 {
        write_zeros(grad_x);
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
fn backward_plane_generic(
    p: MaxPoolParams,
    g: &[f32],
    arg: &[u8],
    w: usize,
    dx: &mut [MaybeUninit<f32>],
) {
    let dx = write_zeros(dx);
    let wo = p.out_len(w);
    // `NO_MAX` marks rectified outputs only where a ReLU can be fused (else it is an index).
    let may_be_rectified = p.supported_with_relu();
    for (i, (&gv, &k)) in g.iter().zip(arg).enumerate() {
        if k != NO_MAX || !may_be_rectified {
            dx[argmax_flat_index(p, w, i / wo, i % wo, k)] += gv;
        }
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
