//! The depthwise kernels against their definition in f64.
use super::*;
use crate::kernels::cpu::test_data::values;
use crate::kernels::isa::for_each_isa;

fn shape(
    batch: usize,
    c: usize,
    [h, w]: [usize; 2],
    k: usize,
    stride: usize,
    pad: usize,
    dil: usize,
) -> ConvShape {
    ConvShape {
        batch,
        in_channels: c,
        height: h,
        width: w,
        out_channels: c,
        kernel: [k, k],
        stride: [stride, stride],
        padding: [pad, pad],
        dilation: [dil, dil],
    }
}

/// The input element tap `(ky, kx)` of output `(oy, ox)` reads, if inside the input.
fn source(s: &ConvShape, [oy, ox]: [usize; 2], [ky, kx]: [usize; 2]) -> Option<usize> {
    let y = (oy * s.stride[0] + ky * s.dilation[0]).checked_sub(s.padding[0])?;
    let x = (ox * s.stride[1] + kx * s.dilation[1]).checked_sub(s.padding[1])?;
    (y < s.height && x < s.width).then_some(y * s.width + x)
}

/// Forward, input, weight and bias gradients in f64, from the definition.
fn reference(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32], g: &[f32]) -> [Vec<f64>; 4] {
    let [oh, ow] = s.output_size().unwrap();
    let (c, [kh, kw]) = (s.in_channels, s.kernel);
    let mut out = vec![0.0; s.batch * c * oh * ow];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; c];
    for plane in 0..s.batch * c {
        let ch = plane % c;
        let (xp, base) = (plane * s.height * s.width, plane * oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let o = base + oy * ow + ox;
                out[o] = f64::from(b[ch]);
                db[ch] += f64::from(g[o]);
                for ky in 0..kh {
                    for kx in 0..kw {
                        let Some(i) = source(s, [oy, ox], [ky, kx]) else {
                            continue;
                        };
                        let t = ch * kh * kw + ky * kw + kx;
                        out[o] += f64::from(w[t]) * f64::from(x[xp + i]);
                        dx[xp + i] += f64::from(w[t]) * f64::from(g[o]);
                        dw[t] += f64::from(g[o]) * f64::from(x[xp + i]);
                    }
                }
            }
        }
    }
    [out, dx, dw, db]
}

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5 * scale,
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn written(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    // SAFETY: the kernels under test write every element.
    v.into_iter().map(|v| unsafe { v.assume_init() }).collect()
}

#[test]
fn depthwise_kernels_match_the_definition() {
    let shapes = [
        shape(2, 3, [9, 7], 3, 1, 1, 1),   // EfficientNet's 3x3, stride 1
        shape(1, 4, [16, 16], 3, 2, 1, 1), // 3x3, stride 2
        shape(2, 2, [11, 13], 5, 2, 2, 1), // 5x5, stride 2, odd sizes
        shape(1, 2, [8, 9], 5, 1, 2, 1),   // 5x5, stride 1
        shape(1, 3, [10, 10], 3, 1, 2, 2), // dilation 2
        shape(3, 1, [4, 5], 3, 1, 0, 1),   // no padding
        shape(1, 2, [2, 2], 3, 2, 1, 1),   // a 1x1 output
        shape(2, 40, [8, 8], 3, 1, 1, 1),  // several planes per task
        // A rectangular kernel, stride and dilation.
        ConvShape {
            kernel: [3, 5],
            stride: [2, 1],
            padding: [1, 2],
            dilation: [1, 2],
            ..shape(1, 3, [9, 11], 3, 1, 1, 1)
        },
    ];
    for_each_isa(|| {
        for s in &shapes {
            let [oh, ow] = s.output_size().unwrap();
            let c = s.in_channels;
            let x = values(s.batch * c * s.height * s.width, 1);
            let w = values(c * s.kernel[0] * s.kernel[1], 2);
            let b = values(c, 3);
            let g = values(s.batch * c * oh * ow, 4);
            let [out, dx, dw, db] = reference(s, &x, &w, &b, &g);
            let mut got = vec![MaybeUninit::uninit(); out.len()];
            depthwise_forward(s, &x, &w, Some(&b), false, &mut got);
            assert_close(&format!("{s:?} forward"), &written(got), &out);
            let mut got = vec![MaybeUninit::uninit(); out.len()];
            depthwise_forward(s, &x, &w, Some(&b), true, &mut got);
            let relu: Vec<f64> = out.iter().map(|v| v.max(0.0)).collect();
            assert_close(&format!("{s:?} forward + relu"), &written(got), &relu);
            let mut got = vec![MaybeUninit::uninit(); dx.len()];
            depthwise_input_grad(s, &g, &w, &mut got);
            assert_close(&format!("{s:?} input grad"), &written(got), &dx);
            let (mut gw, mut gb) = (vec![f32::NAN; dw.len()], vec![f32::NAN; c]);
            depthwise_weight_grad(s, &x, &g, &mut gw, Some(&mut gb));
            assert_close(&format!("{s:?} weight grad"), &gw, &dw);
            assert_close(&format!("{s:?} bias grad"), &gb, &db);
        }
    });
}

#[test]
fn the_weight_gradient_does_not_depend_on_the_threads() {
    let s = shape(4, 6, [20, 20], 3, 1, 1, 1);
    let (x, g) = (values(4 * 6 * 400, 5), values(4 * 6 * 400, 6));
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.expect("a thread pool").install(|| {
            let mut gw = vec![0.0; 6 * 9];
            depthwise_weight_grad(&s, &x, &g, &mut gw, None);
            gw.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        })
    };
    let one = on(1);
    for threads in [2, 5] {
        assert_eq!(on(threads), one, "{threads} threads");
    }
}
