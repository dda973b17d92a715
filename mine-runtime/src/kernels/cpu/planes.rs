//! Work over the `[H, W]` planes of `[N, C, H, W]` tensors on the thread pool: the blocking
//! that the depthwise convolutions and BatchNorm share (`for_each_plane`), and a channel gate
//! (a squeeze-excitation's `x * gate`, `gate` `[N, C, 1, 1]`), forward and backward, which
//! burn computes as a broadcast product and, backward, a product and a reduction on the calling
//! thread.
//!
//! (The squeeze-excitation's global average stays burn's `mean_dim(2).mean_dim(3)`: a kernel
//! summing in another order moved a bias of the ROCKET-1 golden past its tolerance after 3
//! AdamW steps, as Adam magnifies rounding in near-zero gradients.)

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::elementwise::dot_imp;
use super::isa::{Isa, multiversion};

/// Runs `work(plane index, task's scratch, plane of dst)` over `dst`'s planes of `len`
/// elements, blocks of about 16K elements on the thread pool, each task with its own scratch
/// of `scratch` floats.
pub(super) fn for_each_plane(
    dst: &mut [MaybeUninit<f32>],
    len: usize,
    scratch: usize,
    work: impl Fn(usize, &mut [f32], &mut [MaybeUninit<f32>]) + Sync,
) {
    if len == 0 {
        return;
    }
    let per = (1 << 14) / len + 1;
    dst.par_chunks_mut(per * len)
        .enumerate()
        .for_each(|(task, block)| {
            let mut scratch = vec![0.0; scratch];
            for (i, plane) in block.chunks_exact_mut(len).enumerate() {
                work(task * per + i, &mut scratch, plane);
            }
        });
}

multiversion!(scaled_imp(x: &[f32], factor: f32, out: &mut [MaybeUninit<f32>]) => scaled_body);

/// `out = x * factor`.
#[inline(always)]
fn scaled_body(x: &[f32], factor: f32, out: &mut [MaybeUninit<f32>]) {
    let n = out.len().min(x.len());
    for (o, &v) in out[..n].iter_mut().zip(&x[..n]) {
        o.write(v * factor);
    }
}

/// `out = x * gate[p]` over each plane `p` of `plane` elements; every element of `out` is
/// written. With the output gradient for `x`, it is also the gate's input gradient.
pub fn scale_planes(x: &[f32], gate: &[f32], plane: usize, out: &mut [MaybeUninit<f32>]) {
    let isa = Isa::detect();
    for_each_plane(out, plane, 0, |p, _, out| {
        scaled_imp(isa, &x[p * plane..][..plane], gate[p], out)
    });
}

/// The gate's gradient in [`scale_planes`] for the output gradient `g`: `dgate[p] = Σ g x` over
/// plane `p`.
pub fn gate_grad(g: &[f32], x: &[f32], plane: usize, dgate: &mut [f32]) {
    let isa = Isa::detect();
    dgate.par_iter_mut().enumerate().for_each(|(p, d)| {
        *d = dot_imp(isa, &g[p * plane..][..plane], &x[p * plane..][..plane]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;
    use crate::kernels::isa::for_each_isa;

    fn written(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: the kernels under test write every element.
        v.into_iter().map(|v| unsafe { v.assume_init() }).collect()
    }

    #[test]
    fn the_channel_gate_matches_its_definition() {
        for_each_isa(|| {
            for (planes, plane) in [(6, 35), (3, 1), (40, 64), (2, 20_000)] {
                let (x, g) = (values(planes * plane, 1), values(planes * plane, 2));
                let gate = values(planes, 3);
                let mut out = vec![MaybeUninit::uninit(); x.len()];
                scale_planes(&x, &gate, plane, &mut out);
                let (mut dx, mut dgate) = (vec![MaybeUninit::uninit(); x.len()], vec![0.0; planes]);
                scale_planes(&g, &gate, plane, &mut dx);
                gate_grad(&g, &x, plane, &mut dgate);
                let (out, dx) = (written(out), written(dx));
                for p in 0..planes {
                    let r = p * plane..(p + 1) * plane;
                    let dot: f64 = r.clone().map(|i| f64::from(g[i]) * f64::from(x[i])).sum();
                    let dabs: f64 = r.clone().map(|i| f64::from((g[i] * x[i]).abs())).sum();
                    assert!(
                        (f64::from(dgate[p]) - dot).abs() <= 1e-6 * dabs + 1e-9,
                        "plane {p}"
                    );
                    for i in r {
                        assert_eq!(out[i], x[i] * gate[p]);
                        assert_eq!(dx[i], g[i] * gate[p]);
                    }
                }
            }
        });
    }
}
