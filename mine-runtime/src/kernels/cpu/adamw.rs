//! One AdamW step over a parameter tensor in a single pass (parameter, gradient and both
//! moments read once, written once), with exactly the f32 operations of
//! [`TorchAdamW`](crate::optim::TorchAdamW)'s tensor path, so the result is bit-identical.

use rayon::prelude::*;

use super::isa::{Isa, multiversion};

/// The step's scalars, already converted to f32 as the tensor path converts them.
#[derive(Clone, Copy, Debug)]
pub struct AdamWScalars {
    /// `1 - lr * weight_decay` (applied only when `decay`).
    pub decay_factor: f32,
    /// Whether weight decay is on.
    pub decay: bool,
    /// `1 - beta_1`.
    pub weight_1: f32,
    /// `beta_2`.
    pub beta_2: f32,
    /// `1 - beta_2`.
    pub weight_2: f32,
    /// `sqrt(1 - beta_2^t)`.
    pub sqrt_correction_2: f32,
    /// `eps`.
    pub eps: f32,
    /// `lr / (1 - beta_1^t)`.
    pub step_size: f32,
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

multiversion!(step_imp(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamWScalars) => step_body);

#[inline(always)]
fn step_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamWScalars) {
    let n = p.len().min(g.len()).min(m.len()).min(v.len());
    let (p, g, m, v) = (&mut p[..n], &g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let param = if s.decay { p[i] * s.decay_factor } else { p[i] };
        let moment_1 = m[i] + (g[i] - m[i]) * s.weight_1;
        let moment_2 = v[i] * s.beta_2 + g[i] * s.weight_2 * g[i];
        let denom = moment_2.sqrt() / s.sqrt_correction_2 + s.eps;
        p[i] = param - moment_1 / denom * s.step_size;
        m[i] = moment_1;
        v[i] = moment_2;
    }
}

/// Updates parameter `p` and moments `m` (`exp_avg`), `v` (`exp_avg_sq`) in place from
/// gradient `g` (all the same length; zero moments for the first step).
pub fn adamw_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamWScalars) {
    assert!(
        g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "adamw_step: lengths differ"
    );
    let isa = Isa::detect();
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| step_imp(isa, p, g, m, v, s));
}
