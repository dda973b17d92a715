use super::*;
use crate::kernels::cpu::as_uninit;
use crate::kernels::cpu::test_data::values;

/// Direct definition, f64 accumulation (the other convolution tests' exact reference too).
pub(crate) fn reference(s: &ConvShape, x: &[f32], w: &[f32]) -> Vec<f64> {
    let [oh, ow] = s.output_size().unwrap();
    let [kh, kw] = s.kernel;
    let mut out = vec![0.0; s.batch * s.out_channels * oh * ow];
    for n in 0..s.batch {
        for o in 0..s.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0f64;
                    for c in 0..s.in_channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * s.stride[0] + ky * s.dilation[0]) as isize
                                    - s.padding[0] as isize;
                                let ix = (ox * s.stride[1] + kx * s.dilation[1]) as isize
                                    - s.padding[1] as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= s.height as isize
                                    || ix >= s.width as isize
                                {
                                    continue;
                                }
                                let xi = ((n * s.in_channels + c) * s.height + iy as usize)
                                    * s.width
                                    + ix as usize;
                                let wi = ((o * s.in_channels + c) * kh + ky) * kw + kx;
                                acc += x[xi] as f64 * w[wi] as f64;
                            }
                        }
                    }
                    out[((n * s.out_channels + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    out
}

fn shapes() -> Vec<ConvShape> {
    let base = ConvShape::same_3x3(3, 3, 4, [7, 5]);
    vec![
        base,
        ConvShape { batch: 1, ..base },
        ConvShape {
            height: 33,
            width: 17,
            in_channels: 16,
            out_channels: 8,
            ..base
        },
        ConvShape {
            stride: [2, 1],
            padding: [0, 2],
            ..base
        },
        ConvShape {
            kernel: [2, 4],
            dilation: [2, 1],
            stride: [1, 3],
            ..base
        },
        ConvShape {
            kernel: [4, 4],
            stride: [4, 4],
            padding: [0, 0],
            height: 16,
            width: 12,
            ..base
        },
        ConvShape {
            height: 130,
            width: 128,
            batch: 2,
            ..base
        },
    ]
}

fn close(got: f32, want: f64, what: &str) {
    let tol = 1e-4 * (1.0 + want.abs());
    assert!((got as f64 - want).abs() <= tol, "{what}: {got} vs {want}");
}

#[test]
fn forward_matches_the_definition() {
    for s in shapes() {
        let x = values(s.batch * s.input_len(), 1);
        let w = values(s.out_channels * s.patch_len(), 2);
        let bias = values(s.out_channels, 3);
        let want = reference(&s, &x, &w);
        let p = s.output_pixels();
        for relu in [false, true] {
            let mut out = vec![f32::NAN; s.batch * s.out_channels * p];
            conv2d_forward(&s, &x, &w, Some(&bias), relu, as_uninit(&mut out));
            for (i, (&g, &r)) in out.iter().zip(&want).enumerate() {
                let r = r + bias[(i / p) % s.out_channels] as f64;
                let r = if relu { r.max(0.0) } else { r };
                close(g, r, &format!("{s:?} relu {relu} out[{i}]"));
            }
        }
    }
}

/// Both gradients satisfy the adjoint identities of a linear map:
/// `<conv(x, w), g> = <x, dx(g, w)> = <w, dw(x, g)>`, checked per element through unit
/// vectors on small shapes and through random vectors on the rest.
#[test]
fn gradients_are_the_adjoints_of_the_forward() {
    for s in shapes() {
        let x = values(s.batch * s.input_len(), 4);
        let w = values(s.out_channels * s.patch_len(), 5);
        let g = values(s.batch * s.out_channels * s.output_pixels(), 6);
        let conv = reference(&s, &x, &w);
        let lhs: f64 = conv.iter().zip(&g).map(|(a, b)| a * *b as f64).sum();

        let mut dx = vec![f32::NAN; x.len()];
        conv2d_input_grad(&s, &g, &w, as_uninit(&mut dx));
        let via_x: f64 = dx.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
        let mut dw = vec![f32::NAN; w.len()];
        let mut db = vec![f32::NAN; s.out_channels];
        conv2d_weight_grad(&s, &x, &g, &mut dw, Some(&mut db));
        let via_w: f64 = dw.iter().zip(&w).map(|(a, b)| *a as f64 * *b as f64).sum();
        let scale = 1e-4 * (1.0 + lhs.abs()) * (x.len() as f64).sqrt();
        assert!((lhs - via_x).abs() <= scale, "{s:?}: dx {via_x} vs {lhs}");
        assert!((lhs - via_w).abs() <= scale, "{s:?}: dw {via_w} vs {lhs}");
        let p = s.output_pixels();
        for (o, &b) in db.iter().enumerate() {
            let planes = || g.chunks(p).skip(o).step_by(s.out_channels).flatten();
            let want: f64 = planes().map(|v| *v as f64).sum();
            // An f32 sum's error grows with the sum of the magnitudes, not with the result.
            let magnitude: f64 = planes().map(|v| v.abs() as f64).sum();
            assert!(
                (b as f64 - want).abs() <= 1e-6 * magnitude + 1e-5,
                "{s:?}: bias grad {b} vs {want}"
            );
        }
        // Element-wise on the small shapes: dx[i] = <conv(e_i, w), g>, dw[j] = <conv(x, e_j), g>.
        if x.len() <= 400 {
            for i in 0..x.len() {
                let mut e = vec![0.0; x.len()];
                e[i] = 1.0;
                let want: f64 = reference(&s, &e, &w)
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| a * *b as f64)
                    .sum();
                close(dx[i], want, "dx");
            }
            for j in 0..w.len() {
                let mut e = vec![0.0; w.len()];
                e[j] = 1.0;
                let want: f64 = reference(&s, &x, &e)
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| a * *b as f64)
                    .sum();
                close(dw[j], want, "dw");
            }
        }
    }
}
