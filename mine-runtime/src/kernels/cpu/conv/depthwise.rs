//! Depthwise 2-D convolutions: as many groups as channels, one `kh x kw` filter per channel
//! (EfficientNet's 3x3 and 5x5 at strides 1 and 2), forward, input gradient and weight
//! gradient, on the thread pool. burn's grouped convolution runs these on the calling thread
//! (its weight gradient as a transposed 3-D convolution).
//!
//! Shapes are [`ConvShape`]s with `in_channels == out_channels` and a weight `[C, 1, kh, kw]`.
//! Each task copies its input plane (or accumulates its gradient) in a zero-bordered buffer
//! whose rows are split into the horizontal stride's phases (columns `j * stride + r` in
//! phase `r`), so that every tap reads (or adds to) a contiguous run of a row with no bounds
//! to test, at any stride: the compiler vectorizes those loops. Every output element sums
//! the bias, then the taps row by row in order; the weight gradient sums each tap over a
//! plane in [`LANES`] partial sums and the images in f64, so no result depends on the number
//! of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::ConvShape;
use crate::kernels::cpu::lanes::{LANES, hsum};
use crate::kernels::isa::{Isa, multiversion};

/// Whether these kernels compute `s` with a weight of `weight_len` elements: one filter per
/// channel, as many output channels as input channels, a kernel that fits the padded input.
pub fn handles(s: &ConvShape, weight_len: usize) -> bool {
    s.in_channels == s.out_channels
        && weight_len == s.out_channels * s.kernel[0] * s.kernel[1]
        && s.output_size().is_some()
}

/// One channel plane's geometry, and its padded, phase-split buffer's.
#[derive(Clone, Copy, Debug)]
struct Plane {
    /// Input `[height, width]`.
    input: [usize; 2],
    /// Output `[height, width]`.
    output: [usize; 2],
    /// Padded input height.
    padded_height: usize,
    /// Columns of each phase of a padded row (`ceil(padded width / horizontal stride)`).
    phase_len: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

impl Plane {
    fn of(s: &ConvShape) -> Self {
        let output = s
            .output_size()
            .expect("depthwise conv2d: the kernel does not fit the input");
        Self {
            input: [s.height, s.width],
            output,
            padded_height: s.height + 2 * s.padding[0],
            phase_len: (s.width + 2 * s.padding[1]).div_ceil(s.stride[1]),
            kernel: s.kernel,
            stride: s.stride,
            padding: s.padding,
            dilation: s.dilation,
        }
    }

    fn input_len(&self) -> usize {
        self.input[0] * self.input[1]
    }

    fn output_len(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// A padded row: the stride's phases one after the other.
    fn row_len(&self) -> usize {
        self.stride[1] * self.phase_len
    }

    fn padded_len(&self) -> usize {
        self.padded_height * self.row_len()
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Where tap column `kx` of output column 0 is in a padded row: the column
    /// `kx * dilation` is in phase `kx * dilation % stride`, at `kx * dilation / stride`; the
    /// next output columns follow it.
    fn tap_offset(&self, kx: usize) -> usize {
        let (column, stride) = (kx * self.dilation[1], self.stride[1]);
        column % stride * self.phase_len + column / stride
    }

    /// Calls `visit(x, offset)` for each input column `x` and its place in a padded row,
    /// phase by phase (no division per column).
    #[inline(always)]
    fn columns(&self, mut visit: impl FnMut(usize, usize)) {
        let (w, px, stride) = (self.input[1], self.padding[1], self.stride[1]);
        for phase in 0..stride {
            // The first padded column of this phase that holds an input column.
            let skip = px.saturating_sub(phase).div_ceil(stride);
            for j in skip..self.phase_len {
                let column = j * stride + phase;
                if column >= px + w {
                    break;
                }
                visit(column - px, phase * self.phase_len + j);
            }
        }
    }

    /// The padded row that output row `oy`'s tap row `ky` reads.
    fn row_index(&self, oy: usize, ky: usize) -> usize {
        oy * self.stride[0] + ky * self.dilation[0]
    }

    /// Copies `plane` into `padded`, zero-bordered and phase-split.
    fn pad(&self, plane: &[f32], padded: &mut [f32]) {
        let [h, w] = self.input;
        let (py, px, row_len) = (self.padding[0], self.padding[1], self.row_len());
        padded.fill(0.0);
        for (y, src) in plane.chunks_exact(w).take(h).enumerate() {
            let row = &mut padded[(py + y) * row_len..][..row_len];
            if self.stride[1] == 1 {
                row[px..px + w].copy_from_slice(src);
            } else {
                self.columns(|x, offset| row[offset] = src[x]);
            }
        }
    }
}

/// Checks the slice lengths against the shape (a bug in the caller otherwise).
fn check(s: &ConvShape, x: usize, weight: usize, out: usize) {
    assert!(
        handles(s, weight),
        "depthwise conv2d: {s:?} with {weight} weights"
    );
    let plane = Plane::of(s);
    let planes = s.batch * s.in_channels;
    assert_eq!(
        x,
        planes * plane.input_len(),
        "depthwise conv2d: input length"
    );
    assert_eq!(
        out,
        planes * plane.output_len(),
        "depthwise conv2d: output length"
    );
}

/// Planes per parallel task: about 16K output elements.
fn planes_per_task(plane: &Plane) -> usize {
    (1 << 14) / plane.output_len().max(1) + 1
}

multiversion!(forward_imp(p: &Plane, padded: &[f32], w: &[f32], bias: f32, relu: bool, acc: &mut [f32], out: &mut [MaybeUninit<f32>]) => forward_body);

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_body(
    p: &Plane,
    padded: &[f32],
    w: &[f32],
    bias: f32,
    relu: bool,
    acc: &mut [f32],
    out: &mut [MaybeUninit<f32>],
) {
    let [oh, ow] = p.output;
    let [kh, kw] = p.kernel;
    let (acc, row_len) = (&mut acc[..ow], p.row_len());
    for (oy, out) in out.chunks_exact_mut(ow).take(oh).enumerate() {
        acc.fill(bias);
        for ky in 0..kh {
            let row = &padded[p.row_index(oy, ky) * row_len..][..row_len];
            for kx in 0..kw {
                let (wv, src) = (w[ky * kw + kx], &row[p.tap_offset(kx)..][..ow]);
                for (a, v) in acc.iter_mut().zip(src) {
                    *a += wv * v;
                }
            }
        }
        for (o, &a) in out.iter_mut().zip(acc.iter()) {
            o.write(if relu { a.max(0.0) } else { a });
        }
    }
}

/// `out = depthwise_conv2d(x, weight) + bias`, NCHW, then `max(out, 0)` when `relu`; every
/// element of `out` is written.
pub fn depthwise_forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    check(s, x.len(), weight.len(), out.len());
    let (p, channels, isa) = (Plane::of(s), s.in_channels, Isa::detect());
    let per = planes_per_task(&p);
    let (in_len, out_len) = (p.input_len(), p.output_len());
    if out_len == 0 {
        return;
    }
    out.par_chunks_mut(per * out_len)
        .enumerate()
        .for_each(|(task, out)| {
            let (mut padded, mut acc) = (vec![0.0; p.padded_len()], vec![0.0; p.output[1]]);
            for (i, out) in out.chunks_exact_mut(out_len).enumerate() {
                let plane = task * per + i;
                let c = plane % channels;
                p.pad(&x[plane * in_len..][..in_len], &mut padded);
                let w = &weight[c * p.taps()..][..p.taps()];
                let b = bias.map_or(0.0, |b| b[c]);
                forward_imp(isa, &p, &padded, w, b, relu, &mut acc, out);
            }
        });
}

multiversion!(input_grad_imp(p: &Plane, g: &[f32], w: &[f32], padded: &mut [f32]) => input_grad_body);

#[inline(always)]
fn input_grad_body(p: &Plane, g: &[f32], w: &[f32], padded: &mut [f32]) {
    let [oh, ow] = p.output;
    let [kh, kw] = p.kernel;
    let row_len = p.row_len();
    padded.fill(0.0);
    for (oy, g) in g.chunks_exact(ow).take(oh).enumerate() {
        for ky in 0..kh {
            let row = &mut padded[p.row_index(oy, ky) * row_len..][..row_len];
            for kx in 0..kw {
                let (wv, dst) = (w[ky * kw + kx], &mut row[p.tap_offset(kx)..][..ow]);
                for (d, v) in dst.iter_mut().zip(g) {
                    *d += wv * v;
                }
            }
        }
    }
}

/// The input gradient of [`depthwise_forward`]; every element of `grad_x` is written.
pub fn depthwise_input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    check(s, grad_x.len(), weight.len(), grad_out.len());
    let (p, channels, isa) = (Plane::of(s), s.in_channels, Isa::detect());
    let per = planes_per_task(&p);
    let (in_len, out_len) = (p.input_len(), p.output_len());
    if in_len == 0 {
        return;
    }
    let [h, w] = p.input;
    let (py, px, row_len) = (p.padding[0], p.padding[1], p.row_len());
    grad_x
        .par_chunks_mut(per * in_len)
        .enumerate()
        .for_each(|(task, grad_x)| {
            let mut padded = vec![0.0; p.padded_len()];
            for (i, dx) in grad_x.chunks_exact_mut(in_len).enumerate() {
                let plane = task * per + i;
                let c = plane % channels;
                let wc = &weight[c * p.taps()..][..p.taps()];
                let g = &grad_out[plane * out_len..][..out_len];
                input_grad_imp(isa, &p, g, wc, &mut padded);
                for (y, dx) in dx.chunks_exact_mut(w).take(h).enumerate() {
                    let row = &padded[(py + y) * row_len..][..row_len];
                    if p.stride[1] == 1 {
                        for (d, &v) in dx.iter_mut().zip(&row[px..px + w]) {
                            d.write(v);
                        }
                    } else {
                        p.columns(|x, offset| {
                            dx[x].write(row[offset]);
                        });
                    }
                }
            }
        });
}

multiversion!(weight_grad_imp(p: &Plane, padded: &[f32], g: &[f32], acc: &mut [[f32; LANES]], rest: &mut [f32]) => weight_grad_body);

/// Adds one plane's products into each tap's lane sums `acc` (`[kh * kw + 1]`, the last the
/// bias's) and `rest` (the columns past the last whole vector of a row).
#[inline(always)]
fn weight_grad_body(
    p: &Plane,
    padded: &[f32],
    g: &[f32],
    acc: &mut [[f32; LANES]],
    rest: &mut [f32],
) {
    let [oh, ow] = p.output;
    let [kh, kw] = p.kernel;
    let (whole, row_len, bias) = (ow / LANES * LANES, p.row_len(), kh * kw);
    for (oy, g) in g.chunks_exact(ow).take(oh).enumerate() {
        add_terms(&mut acc[bias], &mut rest[bias], g, whole, |i| g[i]);
        for ky in 0..kh {
            let row = &padded[p.row_index(oy, ky) * row_len..][..row_len];
            for kx in 0..kw {
                let (t, src) = (ky * kw + kx, &row[p.tap_offset(kx)..][..ow]);
                add_terms(&mut acc[t], &mut rest[t], g, whole, |i| g[i] * src[i]);
            }
        }
    }
}

/// `acc[l] += term(i)` over the whole vectors of a row (`i < whole`), `rest += term(i)` over
/// the columns after them (`i < g.len()`).
#[inline(always)]
fn add_terms(
    acc: &mut [f32; LANES],
    rest: &mut f32,
    g: &[f32],
    whole: usize,
    term: impl Fn(usize) -> f32,
) {
    for base in (0..whole).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += term(base + l);
        }
    }
    for i in whole..g.len() {
        *rest += term(i);
    }
}

/// The weight gradient of [`depthwise_forward`] (`[C, 1, kh, kw]`, written whole) and, when
/// asked, the bias gradient (`[C]`): one channel per task, its images in order.
pub fn depthwise_weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    check(s, x.len(), grad_weight.len(), grad_out.len());
    let (p, channels, isa) = (Plane::of(s), s.in_channels, Isa::detect());
    let (in_len, out_len, taps) = (p.input_len(), p.output_len(), p.taps());
    let mut bias = vec![0.0f32; channels];
    if taps > 0 {
        grad_weight
            .par_chunks_mut(taps)
            .zip(bias.par_iter_mut())
            .enumerate()
            .for_each(|(c, (dw, db))| {
                let mut padded = vec![0.0; p.padded_len()];
                let mut sums = vec![0.0f64; taps + 1];
                for n in 0..s.batch {
                    let plane = n * channels + c;
                    p.pad(&x[plane * in_len..][..in_len], &mut padded);
                    let g = &grad_out[plane * out_len..][..out_len];
                    let (mut acc, mut rest) = (vec![[0.0; LANES]; taps + 1], vec![0.0; taps + 1]);
                    weight_grad_imp(isa, &p, &padded, g, &mut acc, &mut rest);
                    for ((sum, acc), rest) in sums.iter_mut().zip(&acc).zip(&rest) {
                        *sum += f64::from(hsum(acc) + rest);
                    }
                }
                for (d, s) in dw.iter_mut().zip(&sums) {
                    *d = *s as f32;
                }
                *db = sums[taps] as f32;
            });
    }
    if let Some(grad_bias) = grad_bias {
        grad_bias.copy_from_slice(&bias);
    }
}

#[cfg(test)]
mod tests {
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
}
