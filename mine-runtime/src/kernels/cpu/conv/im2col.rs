//! im2col + gemm convolutions for any geometry (and for CPUs without AVX-512): bands of
//! output rows unfolded into a reused per-thread buffer and multiplied with the weight.

use std::cell::RefCell;

use rayon::prelude::*;

use super::{ConvShape, check};
use crate::kernels::cpu::elementwise::sum;
use crate::kernels::cpu::gemm::{View, matmul};

impl ConvShape {
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

/// Whether `s` is a pointwise convolution (1x1 kernel, stride 1, no padding): its unfolded
/// input is the image itself, `[C_in, H * W]`, which the gemms then read in place.
fn pointwise(s: &ConvShape) -> bool {
    s.kernel == [1, 1] && s.stride == [1, 1] && s.padding == [0, 0]
}

/// `image`'s unfolded output rows `rows` for gemm, `[C_in * kh * kw, rows * ow]`: the image's
/// own planes for a pointwise convolution, else [`im2col`]'s copy in `col`.
fn unfolded<'a>(
    s: &ConvShape,
    image: &'a [f32],
    rows: std::ops::Range<usize>,
    col: &'a mut [f32],
) -> View<'a> {
    let [_, ow] = s.output_size().unwrap_or([0, 0]);
    let (k, pixels) = (s.patch_len(), rows.len() * ow);
    if pointwise(s) {
        return View {
            data: &image[rows.start * ow..],
            rows: k,
            cols: pixels,
            row_stride: s.height * s.width,
            col_stride: 1,
        };
    }
    im2col(s, image, rows, col);
    View::row_major(col, k, pixels)
}

/// [`conv2d_forward`](super::conv2d_forward) as im2col + gemm (any geometry).
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
                let scratch = if pointwise(s) { 0 } else { k * rows.len() * ow };
                with_scratch(scratch, |col| {
                    let dst = &mut out[rows.start * ow..];
                    matmul(dst, p, w, unfolded(s, image, rows.clone(), col), false);
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

/// [`conv2d_input_grad`](super::conv2d_input_grad) as gemm + col2im (any geometry).
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
                let g = View {
                    data: &g[rows.start * ow..],
                    rows: s.out_channels,
                    cols: pixels,
                    row_stride: p,
                    col_stride: 1,
                };
                if pointwise(s) {
                    // The gradient's columns are the image's own (each band its own pixels).
                    matmul(&mut image[rows.start * ow..], p, wt, g, true);
                    continue;
                }
                with_scratch(k * pixels, |col| {
                    matmul(col, pixels, wt, g, false);
                    col2im_add(s, col, rows.clone(), image);
                });
            }
        });
}

/// [`conv2d_weight_grad`](super::conv2d_weight_grad) as im2col + gemm (any geometry).
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
                    let scratch = if pointwise(s) { 0 } else { k * pixels };
                    with_scratch(scratch, |col| {
                        let g = View {
                            data: &g[rows.start * ow..],
                            rows: co,
                            cols: pixels,
                            row_stride: p,
                            col_stride: 1,
                        };
                        let x = unfolded(s, image, rows.clone(), col);
                        matmul(&mut dw, k, g, x.t(), true);
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
