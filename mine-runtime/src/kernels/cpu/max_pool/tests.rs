//! Max-pool against a naive PyTorch-style loop, bit for bit, on every compiled instruction set.

use super::*;

use crate::kernels::cpu::as_uninit;
use crate::kernels::cpu::test_data::Rng;
use crate::kernels::isa::for_each_isa;

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
        max_pool_forward_with(p, false, x, n, c, h, w, &mut out, &mut arg);
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
        max_pool_backward_with(p, &g, &arg, n, c, h, w, as_uninit(&mut dx));
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
    max_pool_backward(&g, &arg, n, c, h, w, as_uninit(&mut dx));
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
    max_pool_backward_with(p, &[], &[], 1, 1, 2, 2, as_uninit(&mut dx));
    assert_eq!(dx, vec![0.0; 4]);
}

/// The fused ReLU: values `relu(max_pool(x))` (NaN kept) and gradients routed only through
/// positive outputs, bit for bit against the reference, on the fast and the generic paths.
#[test]
fn fused_relu_matches_reference() {
    let params = [
        MaxPoolParams::K3S2P1,
        MaxPoolParams {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
    ];
    let mut seed = 500;
    for p in params {
        for (h, w) in SIZES {
            seed += 1;
            let mut rng = Rng(seed);
            // Values in [-2, 2) with exact zeros and ties (ties() - 1 is -1, 0 or 1), a NaN.
            let mut x = rng.uniform(2 * 3 * h * w);
            let ties = rng.ties(x.len());
            for (i, v) in x.iter_mut().enumerate() {
                if i % 3 == 0 {
                    *v = ties[i] - 1.0;
                }
            }
            let middle = x.len() / 2;
            x[middle] = f32::NAN;
            let (n, c, planes) = (2, 3, 6);
            let (r_out, r_idx) = ref_forward(p, &x, planes, h, w);
            let olen = r_out.len();
            let g = Rng(seed).uniform(olen);
            let masked: Vec<f32> = g
                .iter()
                .zip(&r_out)
                .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
                .collect();
            let r_dx = ref_backward(&masked, &r_idx, planes, h, w);
            let shape = format!("{p:?} {h}x{w}");
            for_each_isa(|| {
                let (mut out, mut arg) = (vec![7.0f32; olen], vec![0u8; olen]);
                max_pool_forward_with(p, true, &x, n, c, h, w, &mut out, &mut arg);
                for (o, (&got, &want)) in out.iter().zip(&r_out).enumerate() {
                    let want = if want <= 0.0 { 0.0 } else { want };
                    assert!(same_bits(got, want), "{shape} out[{o}]: {got} vs {want}");
                }
                let mut dx = vec![f32::NAN; planes * h * w];
                max_pool_backward_with(p, &g, &arg, n, c, h, w, as_uninit(&mut dx));
                for (i, (&a, &b)) in dx.iter().zip(&r_dx).enumerate() {
                    assert!(a.to_bits() == b.to_bits(), "{shape} dx[{i}]: {a} vs {b}");
                }
            });
        }
    }
}
