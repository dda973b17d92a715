//! GroupNorm against naive f64 references, on every compiled instruction set: the
//! references and the harness here; the tests by concept in the submodules.

mod accuracy;
mod gradients;
mod reference;

use super::*;

use crate::kernels::cpu::as_uninit;
use crate::kernels::cpu::test_data::Rng;
use crate::kernels::isa::for_each_isa;

struct Shape {
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
}

/// Naive f64 forward: returns (out, mean, rstd).
fn ref_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &Shape,
    eps: f64,
    relu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let cg = s.c / s.groups;
    let m = cg * s.hw;
    let mut out = vec![0.0; x.len()];
    let (mut means, mut rstds) = (vec![], vec![]);
    for u in 0..s.n * s.groups {
        let xs: Vec<f64> = x[u * m..(u + 1) * m].iter().map(|&v| v as f64).collect();
        let mean = xs.iter().sum::<f64>() / m as f64;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for (i, v) in xs.iter().enumerate() {
            let ch = (u % s.groups) * cg + i / s.hw;
            let y = gamma[ch] as f64 * (v - mean) * rstd + beta[ch] as f64;
            out[u * m + i] = if relu { y.max(0.0) } else { y };
        }
        means.push(mean);
        rstds.push(rstd);
    }
    (out, means, rstds)
}

/// Naive f64 backward; `mask` is the ReLU mask source (`out > 0`) if fused.
fn ref_backward(
    g: &[f32],
    x: &[f32],
    mask: Option<&[f32]>,
    gamma: &[f32],
    s: &Shape,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let cg = s.c / s.groups;
    let m = cg * s.hw;
    let (_, means, rstds) = ref_forward(x, gamma, gamma, s, eps, false);
    let mut dx = vec![0.0; x.len()];
    let (mut dgamma, mut dbeta) = (vec![0.0; s.c], vec![0.0; s.c]);
    for u in 0..s.n * s.groups {
        let (mean, rstd) = (means[u], rstds[u]);
        let ch_of = |i: usize| (u % s.groups) * cg + i / s.hw;
        let gp: Vec<f64> = (0..m)
            .map(|i| {
                let keep = mask.is_none_or(|y| y[u * m + i] > 0.0);
                if keep { g[u * m + i] as f64 } else { 0.0 }
            })
            .collect();
        let xhat: Vec<f64> = (0..m)
            .map(|i| (x[u * m + i] as f64 - mean) * rstd)
            .collect();
        let (mut a, mut b) = (0.0, 0.0);
        for i in 0..m {
            let gam = gamma[ch_of(i)] as f64;
            a += gam * gp[i] / m as f64;
            b += gam * gp[i] * xhat[i] / m as f64;
            dbeta[ch_of(i)] += gp[i];
            dgamma[ch_of(i)] += gp[i] * xhat[i];
        }
        for i in 0..m {
            dx[u * m + i] = rstd * (gamma[ch_of(i)] as f64 * gp[i] - a - xhat[i] * b);
        }
    }
    (dx, dgamma, dbeta)
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let err = (a as f64 - b).abs();
        assert!(
            err <= tol * (1.0 + b.abs()),
            "{what}[{i}]: got {a}, want {b} (err {err:e})"
        );
    }
}

/// All kernel outputs of one forward + backward call.
type Outputs = [Vec<f32>; 6];

/// Runs forward then backward with the current kernel variant.
#[allow(clippy::too_many_arguments)]
fn run(
    s: &Shape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    g: &[f32],
    eps: f32,
    relu: Relus,
    prior: Option<&[f32]>,
) -> Outputs {
    let len = x.len();
    let (mut out, mut mean, mut rstd) = (
        vec![f32::NAN; len],
        vec![f32::NAN; s.n * s.groups],
        vec![f32::NAN; s.n * s.groups],
    );
    group_norm_forward(
        x,
        gamma,
        beta,
        s.n,
        s.c,
        s.hw,
        s.groups,
        eps,
        relu,
        as_uninit(&mut out),
        &mut mean,
        &mut rstd,
    );
    let (mut dx, mut dgamma, mut dbeta) = (
        vec![f32::NAN; len],
        vec![f32::NAN; s.c],
        vec![f32::NAN; s.c],
    );
    let out_arg: &[f32] = if relu.output { &out } else { &[] };
    group_norm_backward(
        g,
        x,
        out_arg,
        gamma,
        &mean,
        &rstd,
        s.n,
        s.c,
        s.hw,
        s.groups,
        relu,
        as_uninit(&mut dx),
        prior,
        &mut dgamma,
        &mut dbeta,
    );
    [out, mean, rstd, dx, dgamma, dbeta]
}

/// Runs forward and backward on random data with every kernel variant,
/// checks them against the references and checks that all variants agree
/// bit for bit.
/// With `relu.input`, the references see `relu(x)` and their input gradient is masked by
/// `x > 0`.
fn check(s: &Shape, relu: Relus, offset: f32, seed: u64) {
    let mut rng = Rng(seed);
    let len = s.n * s.c * s.hw;
    let x = rng.vec(len, offset - 2.0, offset + 2.0);
    let gamma = rng.vec(s.c, 0.5, 1.5);
    let beta = rng.vec(s.c, -0.5, 0.5);
    let g = rng.vec(len, -1.0, 1.0);
    let eps = 1e-5;
    let mut results: Vec<Outputs> = vec![];
    for_each_isa(|| results.push(run(s, &x, &gamma, &beta, &g, eps, relu, None)));
    let [out, mean, rstd, dx, dgamma, dbeta] = &results[0];
    let x_ref: Vec<f32> = x
        .iter()
        .map(|&v| if relu.input { v.max(0.0) } else { v })
        .collect();
    let (r_out, r_mean, r_rstd) = ref_forward(&x_ref, &gamma, &beta, s, eps as f64, relu.output);
    assert_close("out", out, &r_out, 1e-5);
    assert_close("mean", mean, &r_mean, 1e-5);
    assert_close("rstd", rstd, &r_rstd, 1e-5);
    let (mut r_dx, r_dgamma, r_dbeta) = ref_backward(
        &g,
        &x_ref,
        relu.output.then_some(&out[..]),
        &gamma,
        s,
        eps as f64,
    );
    if relu.input {
        for (d, &v) in r_dx.iter_mut().zip(&x) {
            if v <= 0.0 {
                *d = 0.0;
            }
        }
    }
    assert_close("dx", dx, &r_dx, 1e-4);
    assert_close("dgamma", dgamma, &r_dgamma, 1e-4);
    assert_close("dbeta", dbeta, &r_dbeta, 1e-4);
    for other in &results[1..] {
        for (a, b) in results[0].iter().zip(other) {
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "kernel variants disagree"
            );
        }
    }
    // With a prior gradient of `x`, `dx + prior` as burn's accumulation adds it, bit for bit,
    // and the other outputs unchanged.
    let prior = rng.vec(len, -1.0, 1.0);
    let summed: Vec<u32> = dx
        .iter()
        .zip(&prior)
        .map(|(d, p)| (d + p).to_bits())
        .collect();
    for_each_isa(|| {
        let with = run(s, &x, &gamma, &beta, &g, eps, relu, Some(&prior));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&with[3]), summed, "dx with a prior");
        for i in [0, 1, 2, 4, 5] {
            assert_eq!(
                bits(&with[i]),
                bits(&results[0][i]),
                "output {i} with a prior"
            );
        }
    });
}

/// No ReLU, one on the output, one on the input.
const RELUS: [Relus; 3] = [
    Relus {
        input: false,
        output: false,
    },
    Relus {
        input: false,
        output: true,
    },
    Relus {
        input: true,
        output: false,
    },
];
