//! Depthwise 2-D convolutions: as many groups as channels, one `kh x kw` filter per channel
//! (EfficientNet's 3x3 and 5x5 at strides 1 and 2), forward, input gradient and weight
//! gradient, channel planes on the thread pool. burn's grouped convolution runs these on the
//! calling thread (its weight gradient as a transposed 3-D convolution).
//!
//! Shapes are [`ConvShape`]s with `in_channels == out_channels` and a weight `[C, 1, kh, kw]`.
//! Each task copies its input plane (or accumulates its input gradient) in a zero-bordered
//! buffer split into the strides' phases: padded element `(y, x)` is in phase
//! `(y % sy, x % sx)` at row `y / sy`, column `x / sx`. Output `(oy, ox)`'s tap `(ky, kx)` then
//! reads element `(oy + a / sy, ox + b / sx)` of phase `(a % sy, b % sx)` (`a = ky * dy`,
//! `b = kx * dx`): for each tap, the whole output plane, laid out with the phases' row pitch,
//! is one contiguous run of a phase, whatever the stride. Each tap is one vectorized pass
//! over that run (the columns past the output's width are computed and dropped, and read as
//! zeros by the gradients), so small planes (EfficientNet's last stages are 8x8 and 4x4) cost
//! a few long loops rather than many short ones.
//!
//! Every output element sums the bias, then the taps in order; the weight gradient sums each
//! tap over a plane in 16 interleaved partial sums and the
//! images in f64, so no result depends on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::ConvShape;
use crate::kernels::cpu::elementwise::{dot_imp, sum_imp};
use crate::kernels::cpu::planes::for_each_plane;
use crate::kernels::isa::{Isa, multiversion};

/// Whether these kernels compute `s` with a weight of `weight_len` elements: one filter per
/// channel, as many output channels as input channels, a kernel that fits the padded input.
pub fn handles(s: &ConvShape, weight_len: usize) -> bool {
    s.in_channels == s.out_channels
        && weight_len == s.out_channels * s.kernel[0] * s.kernel[1]
        && s.output_size().is_some()
}

/// One channel plane's geometry, and its phase-split buffer's.
#[derive(Clone, Copy, Debug)]
struct Plane {
    /// Input `[height, width]`.
    input: [usize; 2],
    /// Output `[height, width]`.
    output: [usize; 2],
    /// Columns of a phase's rows (`ceil(padded width / sx)`): the output's row pitch too.
    pitch: usize,
    /// Elements of one phase: `ceil(padded height / sy) + 1` rows (the last one zeros, which
    /// a tap's run may reach past the output's last row).
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
        let padded = [0, 1].map(|i| [s.height, s.width][i] + 2 * s.padding[i]);
        let pitch = padded[1].div_ceil(s.stride[1]);
        Self {
            input: [s.height, s.width],
            output,
            pitch,
            phase_len: (padded[0].div_ceil(s.stride[0]) + 1) * pitch,
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

    /// The output plane laid out with the phases' pitch: a tap's run.
    fn run_len(&self) -> usize {
        self.output[0] * self.pitch
    }

    fn buffer_len(&self) -> usize {
        self.stride[0] * self.stride[1] * self.phase_len
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Where padded element `(y, x)` is in the buffer.
    #[inline(always)]
    fn at(&self, y: usize, x: usize) -> usize {
        let [sy, sx] = self.stride;
        (y % sy * sx + x % sx) * self.phase_len + y / sy * self.pitch + x / sx
    }

    /// Where tap `(ky, kx)`'s run starts in the buffer (its element for output `(0, 0)`).
    fn tap(&self, ky: usize, kx: usize) -> usize {
        self.at(ky * self.dilation[0], kx * self.dilation[1])
    }

    /// Calls `copy(input offset, buffer offset, count, step)` for runs of the input plane:
    /// `count` input elements `step` apart, contiguous in the buffer (a row at stride 1, a
    /// row's columns of one phase otherwise).
    #[inline(always)]
    fn runs(&self, mut copy: impl FnMut(usize, usize, usize, usize)) {
        let [h, w] = self.input;
        let ([py, px], sx) = (self.padding, self.stride[1]);
        for y in 0..h {
            for phase in 0..sx {
                // The first column of this phase: `(x + px) % sx == phase`.
                let x0 = (phase + sx - px % sx) % sx;
                if x0 < w {
                    copy(
                        y * w + x0,
                        self.at(y + py, x0 + px),
                        (w - x0).div_ceil(sx),
                        sx,
                    );
                }
            }
        }
    }

    /// Copies `plane` into `buffer`, zero-bordered and phase-split.
    fn pad(&self, plane: &[f32], buffer: &mut [f32]) {
        buffer.fill(0.0);
        self.runs(|from, at, count, step| {
            let dst = &mut buffer[at..][..count];
            if step == 1 {
                dst.copy_from_slice(&plane[from..][..count]);
            } else {
                for (d, s) in dst.iter_mut().zip(plane[from..].iter().step_by(step)) {
                    *d = *s;
                }
            }
        });
    }

    /// Writes `plane` (every element) from the middle of `buffer`: [`pad`](Self::pad)'s inverse.
    fn unpad(&self, buffer: &[f32], plane: &mut [MaybeUninit<f32>]) {
        self.runs(|to, at, count, step| {
            let src = &buffer[at..][..count];
            for (d, s) in plane[to..].iter_mut().step_by(step).zip(src) {
                d.write(*s);
            }
        });
    }

    /// `plane` (an `[oh][ow]` output or its gradient) at the phases' pitch in `run`, zeros in
    /// the columns past the output's width.
    fn spread(&self, plane: &[f32], run: &mut [f32]) {
        let ow = self.output[1];
        for (dst, src) in run.chunks_exact_mut(self.pitch).zip(plane.chunks_exact(ow)) {
            dst[..ow].copy_from_slice(src);
            dst[ow..].fill(0.0);
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

multiversion!(axpy_imp(w: f32, x: &[f32], acc: &mut [f32]) => axpy_body);

/// `acc += w * x`.
#[inline(always)]
fn axpy_body(w: f32, x: &[f32], acc: &mut [f32]) {
    let n = acc.len().min(x.len());
    for (a, v) in acc[..n].iter_mut().zip(&x[..n]) {
        *a += w * v;
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
    let (in_len, run, [kh, kw], ow) = (p.input_len(), p.run_len(), p.kernel, p.output[1]);
    let scratch = p.buffer_len() + run;
    for_each_plane(out, p.output_len(), scratch, |plane, scratch, out| {
        let c = plane % channels;
        let (buffer, acc) = scratch.split_at_mut(p.buffer_len());
        p.pad(&x[plane * in_len..][..in_len], buffer);
        acc.fill(bias.map_or(0.0, |b| b[c]));
        let w = &weight[c * p.taps()..][..p.taps()];
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = &buffer[p.tap(ky, kx)..][..run];
                axpy_imp(isa, w[ky * kw + kx], tap, acc);
            }
        }
        for (out, acc) in out.chunks_exact_mut(ow).zip(acc.chunks_exact(p.pitch)) {
            let out = out.iter_mut().zip(acc);
            match relu {
                true => out.for_each(|(o, &a)| _ = o.write(a.max(0.0))),
                false => out.for_each(|(o, &a)| _ = o.write(a)),
            }
        }
    });
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
    let (out_len, run, [kh, kw]) = (p.output_len(), p.run_len(), p.kernel);
    let scratch = p.buffer_len() + run;
    for_each_plane(grad_x, p.input_len(), scratch, |plane, scratch, dx| {
        let c = plane % channels;
        let (buffer, g) = scratch.split_at_mut(p.buffer_len());
        p.spread(&grad_out[plane * out_len..][..out_len], g);
        buffer.fill(0.0);
        let w = &weight[c * p.taps()..][..p.taps()];
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = &mut buffer[p.tap(ky, kx)..][..run];
                axpy_imp(isa, w[ky * kw + kx], g, tap);
            }
        }
        p.unpad(buffer, dx);
    });
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
    let (in_len, out_len, run, taps) = (p.input_len(), p.output_len(), p.run_len(), p.taps());
    let [kh, kw] = p.kernel;
    let mut bias = vec![0.0f32; channels];
    if taps > 0 {
        grad_weight
            .par_chunks_mut(taps)
            .zip(bias.par_iter_mut())
            .enumerate()
            .for_each(|(c, (dw, db))| {
                let (mut buffer, mut g) = (vec![0.0; p.buffer_len()], vec![0.0; run]);
                let mut sums = vec![0.0f64; taps + 1];
                for n in 0..s.batch {
                    let plane = n * channels + c;
                    p.pad(&x[plane * in_len..][..in_len], &mut buffer);
                    p.spread(&grad_out[plane * out_len..][..out_len], &mut g);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let tap = &buffer[p.tap(ky, kx)..][..run];
                            sums[ky * kw + kx] += f64::from(dot_imp(isa, &g, tap));
                        }
                    }
                    sums[taps] += f64::from(sum_imp(isa, &g));
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
mod tests;
