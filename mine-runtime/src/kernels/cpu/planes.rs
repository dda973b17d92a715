//! A channel gate of `[N, C, H, W]` tensors (a squeeze-excitation's `x * gate`, `gate`
//! `[N, C, 1, 1]`), planes on the thread pool, forward and backward. burn computes it as a
//! broadcast product and, backward, a product and a reduction on the calling thread.
//!
//! (The squeeze-excitation's global average stays burn's `mean_dim(2).mean_dim(3)`: a kernel
//! summing in another order moved a bias of the ROCKET-1 golden past its tolerance after 3
//! AdamW steps, as Adam magnifies rounding in near-zero gradients.)

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::lane_dot;

/// Planes per parallel task: about 16K elements.
fn per_task(plane: usize) -> usize {
    (1 << 14) / plane.max(1) + 1
}

multiversion!(dot_imp(a: &[f32], b: &[f32]) -> f32 => lane_dot);
multiversion!(scaled_imp(x: &[f32], factor: f32, out: &mut [MaybeUninit<f32>]) => scaled_body);

/// `out = x * factor`.
#[inline(always)]
fn scaled_body(x: &[f32], factor: f32, out: &mut [MaybeUninit<f32>]) {
    let n = out.len().min(x.len());
    for (o, &v) in out[..n].iter_mut().zip(&x[..n]) {
        o.write(v * factor);
    }
}

/// Writes each plane `p` of `out` (`plane` elements each) as `x * factors[p]`.
fn scaled_planes(x: &[f32], factors: &[f32], plane: usize, out: &mut [MaybeUninit<f32>]) {
    if plane == 0 {
        return;
    }
    let isa = Isa::detect();
    let per = per_task(plane);
    out.par_chunks_mut(per * plane)
        .enumerate()
        .for_each(|(task, block)| {
            for (i, out) in block.chunks_exact_mut(plane).enumerate() {
                let p = task * per + i;
                scaled_imp(isa, &x[p * plane..][..plane], factors[p], out);
            }
        });
}

/// `out = x * gate[p]` over each plane `p`; every element of `out` is written.
pub fn scale_planes(x: &[f32], gate: &[f32], plane: usize, out: &mut [MaybeUninit<f32>]) {
    scaled_planes(x, gate, plane, out);
}

/// The gradients of [`scale_planes`] for the output gradient `g`: `dx = g * gate[p]` (when
/// asked; every element written) and `dgate[p] = Σ g x` over plane `p` (when asked).
pub fn scale_planes_backward(
    g: &[f32],
    x: &[f32],
    gate: &[f32],
    plane: usize,
    dx: Option<&mut [MaybeUninit<f32>]>,
    dgate: Option<&mut [f32]>,
) {
    if let Some(dx) = dx {
        scaled_planes(g, gate, plane, dx);
    }
    if let Some(dgate) = dgate {
        let isa = Isa::detect();
        dgate.par_iter_mut().enumerate().for_each(|(p, d)| {
            *d = dot_imp(isa, &g[p * plane..][..plane], &x[p * plane..][..plane]);
        });
    }
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
                scale_planes_backward(&g, &x, &gate, plane, Some(&mut dx), Some(&mut dgate));
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
