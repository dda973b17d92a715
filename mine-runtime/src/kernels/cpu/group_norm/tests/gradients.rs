//! The backward pass against finite differences, and the fused input ReLU against a rectified input.

use super::*;

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
            None,
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
        let fused = run(&s, &x, &gamma, &beta, &g, 1e-5, input, None);
        let mut plain = run(
            &s,
            &rectified,
            &gamma,
            &beta,
            &g,
            1e-5,
            Relus::on_output(false),
            None,
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
