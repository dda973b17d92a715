//! GroupNorm against naive f64 references, on every compiled instruction set.

use super::*;

use crate::kernels::cpu::as_uninit;
use crate::kernels::cpu::isa::for_each_isa;
use crate::kernels::cpu::test_data::Rng;

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
fn run(
    s: &Shape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    g: &[f32],
    eps: f32,
    relu: Relus,
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
    for_each_isa(|| results.push(run(s, &x, &gamma, &beta, &g, eps, relu)));
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

#[test]
fn matches_reference_on_small_shapes() {
    let mut seed = 1;
    for n in [1, 3] {
        for c in [3, 16, 32] {
            for (h, w) in [(7, 5), (33, 17), (1, 1), (64, 64)] {
                for groups in [1, if c % 2 == 0 { 2 } else { 3 }, c] {
                    for relu in RELUS {
                        seed += 1;
                        check(
                            &Shape {
                                n,
                                c,
                                hw: h * w,
                                groups,
                            },
                            relu,
                            0.0,
                            seed,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn matches_reference_on_model_shapes() {
    // The full batch of 32 in optimised builds; a smaller one keeps debug runs quick.
    let n = if cfg!(debug_assertions) { 4 } else { 32 };
    for (c, hw) in [(16, 64 * 64), (32, 32 * 32), (32, 16 * 16)] {
        for relu in RELUS {
            check(
                &Shape {
                    n,
                    c,
                    hw,
                    groups: 1,
                },
                relu,
                0.0,
                7 + c as u64,
            );
        }
    }
    check(
        &Shape {
            n: 32,
            c: 32,
            hw: 17 * 9,
            groups: 32,
        },
        Relus::on_output(true),
        0.0,
        99,
    );
}

#[test]
fn accurate_with_large_mean() {
    for offset in [10.0, -30.0] {
        check(
            &Shape {
                n: 2,
                c: 16,
                hw: 33 * 31,
                groups: 1,
            },
            Relus::on_output(false),
            offset,
            5,
        );
        check(
            &Shape {
                n: 2,
                c: 16,
                hw: 33 * 31,
                groups: 4,
            },
            Relus::on_output(true),
            offset,
            6,
        );
    }
}

/// The statistics stay accurate (to f32 rounding) for badly conditioned
/// data: a huge outlier first, channel means far apart, tiny spread inside
/// channels.
#[test]
fn accurate_on_ill_conditioned_data() {
    let (n, c, hw) = (2, 4, 3000);
    let mut rng = Rng(11);
    let mut x = rng.vec(n * c * hw, -0.01, 0.01);
    for (i, v) in x.iter_mut().enumerate() {
        *v += [50.0, -20.0, 51.0, 49.5][(i / hw) % c];
    }
    x[0] = 1e4;
    x[5000] = -3e3;
    let gamma = vec![1.0; c];
    let beta = vec![0.0; c];
    for groups in [1, 2, 4] {
        let s = Shape { n, c, hw, groups };
        let (mut out, mut mean, mut rstd) = (
            vec![0.0; x.len()],
            vec![0.0; n * groups],
            vec![0.0; n * groups],
        );
        group_norm_forward(
            &x,
            &gamma,
            &beta,
            n,
            c,
            hw,
            groups,
            1e-5,
            Relus::on_output(false),
            as_uninit(&mut out),
            &mut mean,
            &mut rstd,
        );
        let (r_out, r_mean, r_rstd) = ref_forward(&x, &gamma, &beta, &s, 1e-5, false);
        // Only the statistics are checked: with |μ|/σ ≈ 8000 the f32 rounding
        // of μ alone moves the outputs by ~3e-4 (the inputs themselves are
        // only resolved to ulp(51)/σ ≈ 7e-4 σ).
        let _ = r_out;
        assert_close("mean", &mean, &r_mean, 1e-7);
        let rel: Vec<f64> = rstd
            .iter()
            .zip(&r_rstd)
            .map(|(&a, &b)| a as f64 / b)
            .collect();
        assert_close("rstd ratio", &vec![1.0; rel.len()], &rel, 1e-6);
    }
}

#[test]
fn constant_input_is_finite() {
    let (n, c, hw) = (2, 4, 9);
    let x = vec![3.0f32; n * c * hw];
    let gamma = vec![1.0; c];
    let beta = vec![0.25; c];
    let (mut out, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; n], vec![0.0; n]);
    group_norm_forward(
        &x,
        &gamma,
        &beta,
        n,
        c,
        hw,
        1,
        1e-5,
        Relus::on_output(false),
        as_uninit(&mut out),
        &mut mean,
        &mut rstd,
    );
    assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6), "{out:?}");
    assert!(mean.iter().all(|&m| m == 3.0));
}

/// Central finite differences of `L = Σ g · out` computed with the f64 reference.
#[test]
fn backward_matches_finite_differences() {
    for (relu, groups) in [(false, 1), (false, 2), (true, 1), (true, 4)] {
        let s = Shape {
            n: 2,
            c: 4,
            hw: 3 * 2,
            groups,
        };
        let mut rng = Rng(42 + groups as u64);
        let len = s.n * s.c * s.hw;
        let x = rng.vec(len, -2.0, 2.0);
        let gamma = rng.vec(s.c, 0.5, 1.5);
        let beta = rng.vec(s.c, -0.2, 0.2);
        let g = rng.vec(len, -1.0, 1.0);
        let eps = 1e-5f32;
        let (mut out, mut mean, mut rstd) = (
            vec![0.0; len],
            vec![0.0; s.n * groups],
            vec![0.0; s.n * groups],
        );
        group_norm_forward(
            &x,
            &gamma,
            &beta,
            s.n,
            s.c,
            s.hw,
            groups,
            eps,
            Relus::on_output(relu),
            as_uninit(&mut out),
            &mut mean,
            &mut rstd,
        );
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; len], vec![0.0; s.c], vec![0.0; s.c]);
        group_norm_backward(
            &g,
            &x,
            &out,
            &gamma,
            &mean,
            &rstd,
            s.n,
            s.c,
            s.hw,
            groups,
            Relus::on_output(relu),
            as_uninit(&mut dx),
            &mut dgamma,
            &mut dbeta,
        );

        let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
            // An f64 re-implementation (the reference takes f32 inputs,
            // which would round the perturbations away).
            let cg = s.c / groups;
            let m = cg * s.hw;
            let mut l = 0.0;
            for u in 0..s.n * groups {
                let xs = &x[u * m..(u + 1) * m];
                let mu = xs.iter().sum::<f64>() / m as f64;
                let var = xs.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / m as f64;
                for (i, v) in xs.iter().enumerate() {
                    let ch = (u % groups) * cg + i / s.hw;
                    let y = gamma[ch] * (v - mu) / (var + eps as f64).sqrt() + beta[ch];
                    l += g[u * m + i] as f64 * if relu { y.max(0.0) } else { y };
                }
            }
            l
        };
        let to64 = |v: &[f32]| v.iter().map(|&t| t as f64).collect::<Vec<f64>>();
        let (x64, g64, b64) = (to64(&x), to64(&gamma), to64(&beta));
        let h = 1e-5;
        let fd = |which: usize, i: usize| {
            let mut p = [x64.clone(), g64.clone(), b64.clone()];
            let mut q = p.clone();
            p[which][i] += h;
            q[which][i] -= h;
            (loss(&p[0], &p[1], &p[2]) - loss(&q[0], &q[1], &q[2])) / (2.0 * h)
        };
        let want_dx: Vec<f64> = (0..len).map(|i| fd(0, i)).collect();
        let want_dgamma: Vec<f64> = (0..s.c).map(|i| fd(1, i)).collect();
        let want_dbeta: Vec<f64> = (0..s.c).map(|i| fd(2, i)).collect();
        assert_close("fd dx", &dx, &want_dx, 1e-3);
        assert_close("fd dgamma", &dgamma, &want_dgamma, 1e-3);
        assert_close("fd dbeta", &dbeta, &want_dbeta, 1e-3);
    }
}

#[test]
fn empty_batch_is_a_no_op() {
    let (mut mean, mut rstd) = (vec![], vec![]);
    group_norm_forward(
        &[],
        &[1.0; 4],
        &[0.0; 4],
        0,
        4,
        16,
        2,
        1e-5,
        Relus::on_output(true),
        &mut [],
        &mut mean,
        &mut rstd,
    );
    let (mut dg, mut db) = (vec![1.0; 4], vec![1.0; 4]);
    group_norm_backward(
        &[],
        &[],
        &[],
        &[1.0; 4],
        &[],
        &[],
        0,
        4,
        16,
        2,
        Relus::on_output(true),
        &mut [],
        &mut dg,
        &mut db,
    );
    assert_eq!((dg, db), (vec![0.0; 4], vec![0.0; 4]));
}

/// Normalizing `relu(x)` through the fused input ReLU gives the bits of normalizing the
/// rectified tensor (the same sums in the same order), forward and backward (`dx` masked).
#[test]
fn fused_input_relu_gives_the_bits_of_a_rectified_input() {
    let s = Shape {
        n: 3,
        c: 16,
        hw: 33 * 31,
        groups: 2,
    };
    let mut rng = Rng(77);
    let len = s.n * s.c * s.hw;
    let x = rng.vec(len, -2.0, 2.0);
    let rectified: Vec<f32> = x.iter().map(|&v| v.max(0.0)).collect();
    let (gamma, beta, g) = (
        rng.vec(s.c, 0.5, 1.5),
        rng.vec(s.c, -0.5, 0.5),
        rng.vec(len, -1.0, 1.0),
    );
    for_each_isa(|| {
        let input = Relus {
            input: true,
            output: false,
        };
        let fused = run(&s, &x, &gamma, &beta, &g, 1e-5, input);
        let mut plain = run(
            &s,
            &rectified,
            &gamma,
            &beta,
            &g,
            1e-5,
            Relus::on_output(false),
        );
        for (d, &v) in plain[3].iter_mut().zip(&x) {
            if v <= 0.0 {
                *d = 0.0;
            }
        }
        for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "output {i} differs"
            );
        }
    });
}
