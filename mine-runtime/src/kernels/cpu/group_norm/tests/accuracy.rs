//! Accuracy of the statistics on data that defeats naive formulas (large means, outliers, constants).

use super::*;

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
