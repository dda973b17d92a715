//! BatchNorm of `[N, C, H, W]` with the batch's statistics (training), forward and backward,
//! on the thread pool: the per-channel sums with one task per channel (its `N` planes), the
//! element-wise passes with one task per block of planes. burn's batch normalization is a
//! chain of single-threaded reductions, permutes and element-wise ops, forward and backward.
//!
//! Forward: `mean` and the biased variance `var` per channel (each plane summed in
//! 16 interleaved partial sums, the planes in f64, the variance from the
//! deviations), then `y = x * scale + shift` with `scale = gamma * rstd`,
//! `rstd = 1 / sqrt(var + eps)`, `shift = beta - mean * scale`. Backward, with
//! `M = N * H * W`, `sg = Σ g` and `sgd = Σ g (x - mean)`: `dbeta = sg`, `dgamma = sgd * rstd`,
//! and `dx = (g - sg / M - (x - mean) * k) * rstd * gamma` with `k = sgd * rstd² / M`, from the
//! deviation `x - mean` (a slope times `x` plus an offset would cancel digits when the mean is
//! large against the spread). Both in the order of PyTorch's CPU kernels. No result depends
//! on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::lane_sum_of;
use super::planes::for_each_plane;

/// `[N, C, H, W]` as the kernels see it.
#[derive(Clone, Copy, Debug)]
pub struct Planes {
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Elements per plane (`H * W`).
    pub hw: usize,
}

impl Planes {
    /// Plane `(image, channel)` of `t`.
    fn plane(self, t: &[f32], image: usize, channel: usize) -> &[f32] {
        &t[(image * self.c + channel) * self.hw..][..self.hw]
    }

    /// Elements per channel.
    fn count(self) -> f64 {
        (self.n * self.hw) as f64
    }

    /// `f` of every plane of each channel, summed in f64 over the images, one task per channel.
    fn channel_sums(self, f: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
        (0..self.c)
            .into_par_iter()
            .map(|ch| (0..self.n).map(|i| f(i, ch)).sum())
            .collect()
    }

    /// Writes `dst`, plane by plane (`write(channel, plane's offset, plane of dst)`), blocks
    /// of planes on the thread pool.
    fn write_planes(
        self,
        dst: &mut [MaybeUninit<f32>],
        write: impl Fn(usize, usize, &mut [MaybeUninit<f32>]) + Sync,
    ) {
        for_each_plane(dst, self.hw, 0, |index, _, plane| {
            write(index % self.c, index * self.hw, plane)
        });
    }
}

multiversion!(sum_imp(x: &[f32], shift: f32, square: bool) -> f32 => sum_body);

/// `Σ (x - shift)`, or `Σ (x - shift)²` when `square`.
#[inline(always)]
fn sum_body(x: &[f32], shift: f32, square: bool) -> f32 {
    match square {
        true => lane_sum_of(x, |v| (v - shift) * (v - shift)),
        false => lane_sum_of(x, |v| v - shift),
    }
}

multiversion!(dot_imp(g: &[f32], x: &[f32], mean: f32) -> f32 => dot_body);

/// `Σ g (x - mean)` in lane partial sums.
#[inline(always)]
fn dot_body(g: &[f32], x: &[f32], mean: f32) -> f32 {
    use super::lanes::{LANES, add_lanes, hsum};
    let n = g.len().min(x.len());
    let (gc, gr) = g[..n].as_chunks::<LANES>();
    let (xc, xr) = x[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (g, x) in gc.iter().zip(xc) {
        add_lanes(&mut acc, &std::array::from_fn(|l| g[l] * (x[l] - mean)));
    }
    hsum(&acc) + gr.iter().zip(xr).map(|(g, x)| g * (x - mean)).sum::<f32>()
}

multiversion!(affine_imp(x: &[f32], scale: f32, shift: f32, out: &mut [MaybeUninit<f32>]) => affine_body);

/// `out = x * scale + shift`.
#[inline(always)]
fn affine_body(x: &[f32], scale: f32, shift: f32, out: &mut [MaybeUninit<f32>]) {
    let n = out.len().min(x.len());
    for (o, &v) in out[..n].iter_mut().zip(&x[..n]) {
        o.write(v * scale + shift);
    }
}

/// One channel's constants of the input gradient.
#[derive(Clone, Copy, Debug)]
struct GradTerms {
    mean: f32,
    /// `Σ g / M`.
    mean_g: f32,
    /// `sgd * rstd² / M`.
    k: f32,
    /// `rstd * gamma`.
    scale: f32,
}

multiversion!(grad_imp(g: &[f32], x: &[f32], t: GradTerms, dx: &mut [MaybeUninit<f32>]) => grad_body);

/// `dx = (g - mean_g - (x - mean) * k) * scale`.
#[inline(always)]
fn grad_body(g: &[f32], x: &[f32], t: GradTerms, dx: &mut [MaybeUninit<f32>]) {
    let n = dx.len().min(g.len()).min(x.len());
    for ((d, &g), &x) in dx[..n].iter_mut().zip(&g[..n]).zip(&x[..n]) {
        d.write((g - t.mean_g - (x - t.mean) * t.k) * t.scale);
    }
}

/// Normalizes `x` with its batch statistics and the affine `gamma`, `beta` (`[C]`) into
/// `out` (every element written), and writes each channel's mean, biased variance and
/// reciprocal standard deviation.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward(
    p: Planes,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    out: &mut [MaybeUninit<f32>],
    mean: &mut [f32],
    var: &mut [f32],
    rstd: &mut [f32],
) {
    let isa = Isa::detect();
    let count = p.count().max(1.0);
    let sums = p.channel_sums(|i, ch| f64::from(sum_imp(isa, p.plane(x, i, ch), 0.0, false)));
    for (m, s) in mean.iter_mut().zip(&sums) {
        *m = (s / count) as f32;
    }
    let mean_of = &*mean;
    let squares =
        p.channel_sums(|i, ch| f64::from(sum_imp(isa, p.plane(x, i, ch), mean_of[ch], true)));
    for ch in 0..p.c {
        let v = squares[ch] / count;
        var[ch] = v as f32;
        rstd[ch] = (1.0 / (v + eps).sqrt()) as f32;
    }
    let scale: Vec<f32> = (0..p.c).map(|ch| gamma[ch] * rstd[ch]).collect();
    let shift: Vec<f32> = (0..p.c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    p.write_planes(out, |ch, at, out| {
        affine_imp(isa, &x[at..][..p.hw], scale[ch], shift[ch], out)
    });
}

/// The backward of [`batch_norm_forward`] for the output gradient `g`: writes `dx` (every
/// element) and each channel's `dgamma` and `dbeta`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    p: Planes,
    g: &[f32],
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [MaybeUninit<f32>],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let isa = Isa::detect();
    let count = p.count().max(1.0);
    let sg = p.channel_sums(|i, ch| f64::from(sum_imp(isa, p.plane(g, i, ch), 0.0, false)));
    let sgd = p.channel_sums(|i, ch| {
        f64::from(dot_imp(isa, p.plane(g, i, ch), p.plane(x, i, ch), mean[ch]))
    });
    let terms: Vec<GradTerms> = (0..p.c)
        .map(|ch| {
            let r = f64::from(rstd[ch]);
            dbeta[ch] = sg[ch] as f32;
            dgamma[ch] = (sgd[ch] * r) as f32;
            GradTerms {
                mean: mean[ch],
                mean_g: (sg[ch] / count) as f32,
                k: (sgd[ch] * r * r / count) as f32,
                scale: rstd[ch] * gamma[ch],
            }
        })
        .collect();
    p.write_planes(dx, |ch, at, dx| {
        grad_imp(isa, &g[at..][..p.hw], &x[at..][..p.hw], terms[ch], dx)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;
    use crate::kernels::isa::for_each_isa;

    fn written(v: Vec<MaybeUninit<f32>>) -> Vec<f64> {
        // SAFETY: the kernels under test write every element.
        v.into_iter()
            .map(|v| f64::from(unsafe { v.assume_init() }))
            .collect()
    }

    #[test]
    fn batch_norm_matches_the_f64_definition() {
        for_each_isa(|| {
            for p in [
                Planes { n: 2, c: 3, hw: 35 },
                Planes { n: 1, c: 2, hw: 1 },
                Planes {
                    n: 3,
                    c: 40,
                    hw: 64,
                },
                Planes {
                    n: 2,
                    c: 2,
                    hw: 5000,
                },
            ] {
                let len = p.n * p.c * p.hw;
                // Non-zero means: the variance from the deviations, not from the squares.
                let x: Vec<f32> = values(len, 1).iter().map(|v| v * 3.0 + 2.0).collect();
                let g = values(len, 2);
                let (gamma, beta) = (values(p.c, 3), values(p.c, 4));
                let eps = 1e-5;
                let mut out = vec![MaybeUninit::uninit(); len];
                let (mut mean, mut var, mut rstd) =
                    (vec![0.0; p.c], vec![0.0; p.c], vec![0.0; p.c]);
                batch_norm_forward(
                    p, &x, &gamma, &beta, eps, &mut out, &mut mean, &mut var, &mut rstd,
                );
                let mut dx = vec![MaybeUninit::uninit(); len];
                let (mut dgamma, mut dbeta) = (vec![0.0; p.c], vec![0.0; p.c]);
                batch_norm_backward(
                    p,
                    &g,
                    &x,
                    &gamma,
                    &mean,
                    &rstd,
                    &mut dx,
                    &mut dgamma,
                    &mut dbeta,
                );
                let (out, dx) = (written(out), written(dx));
                let m = (p.n * p.hw) as f64;
                for ch in 0..p.c {
                    let idx: Vec<usize> = (0..p.n)
                        .flat_map(|i| ((i * p.c + ch) * p.hw..).take(p.hw))
                        .collect();
                    let mu = idx.iter().map(|&i| f64::from(x[i])).sum::<f64>() / m;
                    let v = idx
                        .iter()
                        .map(|&i| (f64::from(x[i]) - mu).powi(2))
                        .sum::<f64>()
                        / m;
                    let r = 1.0 / (v + eps).sqrt();
                    let (gm, bt) = (f64::from(gamma[ch]), f64::from(beta[ch]));
                    let close = |got: f64, want: f64, scale: f64, what: &str| {
                        assert!(
                            (got - want).abs() <= 2e-5 * scale.max(1.0),
                            "{p:?} {what} ch {ch}: {got} vs {want}"
                        );
                    };
                    close(f64::from(mean[ch]), mu, mu.abs(), "mean");
                    close(f64::from(var[ch]), v, v, "var");
                    let xhat = |i: usize| (f64::from(x[i]) - mu) * r;
                    let sg: f64 = idx.iter().map(|&i| f64::from(g[i])).sum();
                    let sgx: f64 = idx.iter().map(|&i| f64::from(g[i]) * xhat(i)).sum();
                    let gscale = idx.iter().map(|&i| f64::from(g[i]).abs()).sum::<f64>();
                    close(f64::from(dbeta[ch]), sg, gscale, "dbeta");
                    close(f64::from(dgamma[ch]), sgx, gscale * 2.0, "dgamma");
                    for &i in &idx {
                        close(out[i], xhat(i) * gm + bt, 2.0, "out");
                        let want = gm * r * (f64::from(g[i]) - sg / m - xhat(i) * sgx / m);
                        close(dx[i], want, gm.abs() * r, "dx");
                    }
                }
            }
        });
    }
}
