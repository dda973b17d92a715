//! 2-D convolution (groups 1) on contiguous NCHW f32 slices: forward, input gradient and
//! weight gradient, as im2col + AVX-512 gemm over bands of output rows.
//!
//! Each image is processed on one thread (rayon over the batch); a band of output rows is
//! unfolded into a per-thread scratch buffer that is reused from call to call and fully
//! overwritten (never zeroed), sized to stay in the core's L2 cache, and multiplied with the
//! weight directly into (or out of) the NCHW tensor: no layout changes, no per-call copies of
//! the input, the output or the weight.

use std::cell::RefCell;

use rayon::prelude::*;

use super::elementwise::sum;

use super::conv3x3;
use super::gemm::{View, matmul};

/// The geometry of one convolution: `[batch, in_channels, height, width]` input,
/// `[out_channels, in_channels, kernel[0], kernel[1]]` weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Zero padding on each side `[vertical, horizontal]`.
    pub padding: [usize; 2],
    /// Dilation `[vertical, horizontal]`.
    pub dilation: [usize; 2],
}

impl ConvShape {
    /// Output `[height, width]`, or `None` when the kernel does not fit the padded input or a
    /// stride or dilation is zero.
    pub fn output_size(&self) -> Option<[usize; 2]> {
        let side = |i: usize| {
            let input = [self.height, self.width][i] + 2 * self.padding[i];
            let reach = self.dilation[i] * (self.kernel[i].checked_sub(1)?) + 1;
            if self.stride[i] == 0 || self.dilation[i] == 0 || reach > input {
                return None;
            }
            Some((input - reach) / self.stride[i] + 1)
        };
        Some([side(0)?, side(1)?])
    }

    /// Rows of the unfolded input (and columns of the flattened weight): `C_in * kh * kw`.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    fn input_len(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    fn output_pixels(&self) -> usize {
        self.output_size().map_or(0, |[h, w]| h * w)
    }

    /// Output rows per band: the unfolded band (`patch_len x rows * out_width` floats) stays
    /// within about 512 KiB.
    fn band_rows(&self) -> usize {
        let [oh, ow] = self.output_size().unwrap_or([1, 1]);
        let per_row = (self.patch_len() * ow).max(1);
        (BAND_FLOATS / per_row).clamp(1, oh.max(1))
    }
}

/// Target size of one unfolded band, in floats.
const BAND_FLOATS: usize = 128 * 1024;

thread_local! {
    /// The calling thread's unfolding buffer, grown on demand and reused.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a scratch slice of at least `len` floats (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// For kernel offset `k` along one axis: the output positions whose input position
/// `o * stride + k * dilation - padding` lies inside `0..input`, as a range.
fn valid_range(
    out: usize,
    input: usize,
    stride: usize,
    offset: usize,
    pad: usize,
) -> (usize, usize) {
    // o * stride + offset >= pad  and  o * stride + offset < input + pad
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    let hi = if input + pad > offset {
        (input + pad - offset).div_ceil(stride)
    } else {
        0
    };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// Unfolds output rows `rows` of one image into `col` (`patch_len x pixels` row-major, one
/// column per output pixel of the band).
fn im2col(s: &ConvShape, image: &[f32], rows: std::ops::Range<usize>, col: &mut [f32]) {
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let pixels = rows.len() * ow;
    let [kh, kw] = s.kernel;
    for ci in 0..s.in_channels {
        let plane = &image[ci * s.height * s.width..][..s.height * s.width];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = (ci * kh + ky) * kw + kx;
                let dst = &mut col[row * pixels..][..pixels];
                let (lo, hi) =
                    valid_range(ow, s.width, s.stride[1], kx * s.dilation[1], s.padding[1]);
                for (band_row, oy) in rows.clone().enumerate() {
                    let seg = &mut dst[band_row * ow..][..ow];
                    let iy = (oy * s.stride[0] + ky * s.dilation[0]).checked_sub(s.padding[0]);
                    let Some(iy) = iy.filter(|&iy| iy < s.height) else {
                        seg.fill(0.0);
                        continue;
                    };
                    let src = &plane[iy * s.width..][..s.width];
                    seg[..lo].fill(0.0);
                    seg[hi..].fill(0.0);
                    if lo == hi {
                        continue;
                    }
                    let first = lo * s.stride[1] + kx * s.dilation[1] - s.padding[1];
                    if s.stride[1] == 1 {
                        seg[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                    } else {
                        for (j, v) in seg[lo..hi].iter_mut().enumerate() {
                            *v = src[first + j * s.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of `col` into the image position it was read
/// from.
fn col2im_add(s: &ConvShape, col: &[f32], rows: std::ops::Range<usize>, image: &mut [f32]) {
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let pixels = rows.len() * ow;
    let [kh, kw] = s.kernel;
    for ci in 0..s.in_channels {
        let plane = &mut image[ci * s.height * s.width..][..s.height * s.width];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = (ci * kh + ky) * kw + kx;
                let src = &col[row * pixels..][..pixels];
                let (lo, hi) =
                    valid_range(ow, s.width, s.stride[1], kx * s.dilation[1], s.padding[1]);
                for (band_row, oy) in rows.clone().enumerate() {
                    let iy = (oy * s.stride[0] + ky * s.dilation[0]).checked_sub(s.padding[0]);
                    let Some(iy) = iy.filter(|&iy| iy < s.height && lo < hi) else {
                        continue;
                    };
                    let seg = &src[band_row * ow..][..ow];
                    let dst = &mut plane[iy * s.width..][..s.width];
                    let first = lo * s.stride[1] + kx * s.dilation[1] - s.padding[1];
                    if s.stride[1] == 1 {
                        for (d, v) in dst[first..first + (hi - lo)].iter_mut().zip(&seg[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        for (j, v) in seg[lo..hi].iter().enumerate() {
                            dst[first + j * s.stride[1]] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The bands of output rows of one image.
fn bands(s: &ConvShape) -> impl Iterator<Item = std::ops::Range<usize>> {
    let [oh, _] = s.output_size().unwrap_or([0, 0]);
    let step = s.band_rows();
    (0..oh)
        .step_by(step.max(1))
        .map(move |r| r..(r + step).min(oh))
}

/// Checks the slice lengths against the shape (a bug in the caller otherwise).
fn check(s: &ConvShape, x: usize, weight: usize, out: usize) {
    assert!(
        s.output_size().is_some(),
        "conv2d: the kernel does not fit {s:?}"
    );
    assert_eq!(x, s.batch * s.input_len(), "conv2d: input length");
    assert_eq!(
        weight,
        s.out_channels * s.patch_len(),
        "conv2d: weight length"
    );
    assert_eq!(
        out,
        s.batch * s.out_channels * s.output_pixels(),
        "conv2d: output length"
    );
}

/// `out = conv2d(x, weight) + bias`, NCHW, then `max(out, 0)` when `relu`. Every element of
/// `out` is written. 3x3 stride-1 convolutions run the direct AVX-512 kernels of
/// [`super::conv3x3`] where the CPU has them, everything else im2col + gemm.
pub fn conv2d_forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    if conv3x3::handles(s) {
        check(s, x.len(), weight.len(), out.len());
        conv3x3::forward(s, x, weight, bias, relu, as_uninit(out));
    } else {
        im2col_forward(s, x, weight, bias, relu, out);
    }
}

/// The input gradient of [`conv2d_forward`]: `grad_x = conv2d_transposed(grad_out, weight)`.
/// Every element of `grad_x` is written.
pub fn conv2d_input_grad(s: &ConvShape, grad_out: &[f32], weight: &[f32], grad_x: &mut [f32]) {
    if conv3x3::handles(s) {
        check(s, grad_x.len(), weight.len(), grad_out.len());
        conv3x3::input_grad(s, grad_out, weight, as_uninit(grad_x));
    } else {
        im2col_input_grad(s, grad_out, weight, grad_x);
    }
}

/// The weight gradient of [`conv2d_forward`] (`[C_out, C_in, kh, kw]`, written whole) and,
/// when asked, the bias gradient (`[C_out]`).
pub fn conv2d_weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    if conv3x3::handles(s) {
        check(s, x.len(), grad_weight.len(), grad_out.len());
        conv3x3::weight_grad(s, x, grad_out, grad_weight, grad_bias);
    } else {
        im2col_weight_grad(s, x, grad_out, grad_weight, grad_bias);
    }
}

/// `v` as the kernels' output type. The kernels only ever write initialized values, so
/// viewing initialized floats this way cannot de-initialize them.
fn as_uninit(v: &mut [f32]) -> &mut [std::mem::MaybeUninit<f32>] {
    // SAFETY: same size and alignment; the callee only writes valid f32s (see above).
    unsafe { &mut *(v as *mut [f32] as *mut [std::mem::MaybeUninit<f32>]) }
}

/// [`conv2d_forward`] as im2col + gemm (any geometry).
pub fn im2col_forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    check(s, x.len(), weight.len(), out.len());
    let (k, p) = (s.patch_len(), s.output_pixels());
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let w = View::row_major(weight, s.out_channels, k);
    let image_out = s.out_channels * p;
    if image_out == 0 {
        return;
    }
    out.par_chunks_mut(image_out)
        .zip(x.par_chunks(s.input_len().max(1)))
        .for_each(|(out, image)| {
            for rows in bands(s) {
                let pixels = rows.len() * ow;
                with_scratch(k * pixels, |col| {
                    im2col(s, image, rows.clone(), col);
                    let dst = &mut out[rows.start * ow..];
                    matmul(dst, p, w, View::row_major(col, k, pixels), false);
                });
            }
            for (c, plane) in out.chunks_mut(p).enumerate() {
                let b = bias.map_or(0.0, |bias| bias[c]);
                match (relu, b != 0.0) {
                    (true, _) => plane.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
                    (false, true) => plane.iter_mut().for_each(|v| *v += b),
                    (false, false) => {}
                }
            }
        });
}

/// [`conv2d_input_grad`] as gemm + col2im (any geometry).
pub fn im2col_input_grad(s: &ConvShape, grad_out: &[f32], weight: &[f32], grad_x: &mut [f32]) {
    check(s, grad_x.len(), weight.len(), grad_out.len());
    let (k, p) = (s.patch_len(), s.output_pixels());
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let wt = View::row_major(weight, s.out_channels, k).t();
    if s.input_len() == 0 {
        return;
    }
    grad_x
        .par_chunks_mut(s.input_len())
        .zip(grad_out.par_chunks((s.out_channels * p).max(1)))
        .for_each(|(image, g)| {
            image.fill(0.0);
            for rows in bands(s) {
                let pixels = rows.len() * ow;
                with_scratch(k * pixels, |col| {
                    let g = View {
                        data: &g[rows.start * ow..],
                        rows: s.out_channels,
                        cols: pixels,
                        row_stride: p,
                        col_stride: 1,
                    };
                    matmul(col, pixels, wt, g, false);
                    col2im_add(s, col, rows.clone(), image);
                });
            }
        });
}

/// [`conv2d_weight_grad`] as im2col + gemm (any geometry).
pub fn im2col_weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    check(s, x.len(), grad_weight.len(), grad_out.len());
    let (k, p) = (s.patch_len(), s.output_pixels());
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let co = s.out_channels;
    let threads = rayon::current_num_threads().clamp(1, s.batch.max(1));
    let per = s.batch.div_ceil(threads).max(1);
    let in_len = s.input_len().max(1);
    let out_len = (co * p).max(1);
    let partials: Vec<Vec<f32>> = x
        .par_chunks(per * in_len)
        .zip(grad_out.par_chunks(per * out_len))
        .map(|(images, grads)| {
            let mut dw = vec![0.0f32; co * k];
            for (image, g) in images.chunks(in_len).zip(grads.chunks(out_len)) {
                for rows in bands(s) {
                    let pixels = rows.len() * ow;
                    with_scratch(k * pixels, |col| {
                        im2col(s, image, rows.clone(), col);
                        let g = View {
                            data: &g[rows.start * ow..],
                            rows: co,
                            cols: pixels,
                            row_stride: p,
                            col_stride: 1,
                        };
                        matmul(&mut dw, k, g, View::row_major(col, k, pixels).t(), true);
                    });
                }
            }
            dw
        })
        .collect();
    grad_weight.fill(0.0);
    for partial in &partials {
        grad_weight
            .iter_mut()
            .zip(partial)
            .for_each(|(d, v)| *d += v);
    }
    if let Some(grad_bias) = grad_bias {
        grad_bias.fill(0.0);
        for g in grad_out.chunks(out_len) {
            for (b, plane) in grad_bias.iter_mut().zip(g.chunks(p.max(1))) {
                *b += sum(plane);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::values;

    /// Direct definition, f64 accumulation.
    fn reference(s: &ConvShape, x: &[f32], w: &[f32]) -> Vec<f64> {
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
        let base = ConvShape {
            batch: 3,
            in_channels: 3,
            height: 7,
            width: 5,
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
        };
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
                conv2d_forward(&s, &x, &w, Some(&bias), relu, &mut out);
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
            conv2d_input_grad(&s, &g, &w, &mut dx);
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
}
