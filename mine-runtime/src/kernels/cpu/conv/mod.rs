//! 2-D convolution (groups 1) on contiguous NCHW f32 slices: forward, input gradient and
//! weight gradient, as im2col + AVX-512 gemm over bands of output rows.
//!
//! Each image is processed on one thread (rayon over the batch); a band of output rows is
//! unfolded into a per-thread scratch buffer that is reused from call to call and fully
//! overwritten (never zeroed), sized to stay in the core's L2 cache, and multiplied with the
//! weight directly into (or out of) the NCHW tensor: no layout changes, no per-call copies of
//! the input, the output or the weight.

pub mod depthwise;
mod im2col;
#[cfg(test)]
pub(crate) mod tests;

pub use im2col::{im2col_forward, im2col_input_grad, im2col_weight_grad};

use std::mem::MaybeUninit;

use super::conv3x3::{self, dpbf16, dpbf16_weight_grad, winograd_bf16, winograd_bf16_weight_grad};
use super::{assume_written, bf16, write_zeros};

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
    /// A 3x3, stride-1, padding-1 convolution ("same" size) of `batch` images
    /// `in_channels x height x width` to `out_channels` channels: the VPT's shape.
    pub fn same_3x3(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        [height, width]: [usize; 2],
    ) -> Self {
        Self {
            batch,
            in_channels,
            height,
            width,
            out_channels,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
        }
    }

    /// The shape whose forward computes this stride-1 "same" convolution's input gradient (with
    /// the weight flipped and transposed): input and output channels swapped.
    pub fn transposed(&self) -> Self {
        Self {
            in_channels: self.out_channels,
            out_channels: self.in_channels,
            ..*self
        }
    }

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
/// `out` is written (it may start uninitialized; see [`as_uninit`](super::as_uninit) for initialized buffers).
/// 3x3 stride-1 convolutions run the kernels of [`super::conv3x3`] where the CPU has AVX-512
/// or AVX2 and FMA, everything else im2col + gemm.
pub fn conv2d_forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    if conv3x3::handles_f32(s) {
        check(s, x.len(), weight.len(), out.len());
        conv3x3::forward(s, x, weight, bias, relu, out);
    } else {
        im2col_forward(s, x, weight, bias, relu, write_zeros(out));
    }
}

/// The input gradient of [`conv2d_forward`]: `grad_x = conv2d_transposed(grad_out, weight)`.
/// Every element of `grad_x` is written (it may start uninitialized).
pub fn conv2d_input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    if conv3x3::handles_f32(s) {
        check(s, grad_x.len(), weight.len(), grad_out.len());
        conv3x3::input_grad(s, grad_out, weight, grad_x);
    } else {
        im2col_input_grad(s, grad_out, weight, write_zeros(grad_x));
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
    if conv3x3::handles_f32(s) {
        check(s, x.len(), grad_weight.len(), grad_out.len());
        conv3x3::weight_grad(s, x, grad_out, grad_weight, grad_bias);
    } else {
        im2col_weight_grad(s, x, grad_out, grad_weight, grad_bias);
    }
}

/// Whether the `vdpbf16ps` kernels compute the bf16 forms of `s` on this CPU (a 3x3 "same"
/// convolution, AVX512_BF16, and [`KernelOptions::bf16_dot`](crate::kernels::KernelOptions)).
fn dot_bf16(s: &ConvShape) -> bool {
    crate::kernels::options().bf16_dot && conv3x3::handles(s) && dpbf16::available()
}

/// [`conv2d_forward`] under bf16 autocast: the operands rounded to bf16, products accumulated
/// in f32, the result rounded to bf16 (PyTorch's CPU autocast). The `vdpbf16ps` kernel where
/// the CPU has it, the f32 kernels on rounded copies otherwise.
pub fn conv2d_forward_bf16(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    if dot_bf16(s) && winograd_bf16::handles_bf16(s) {
        check(s, x.len(), weight.len(), out.len());
        return winograd_bf16::forward(s, x, weight, bias, relu, out);
    }
    if dot_bf16(s) {
        check(s, x.len(), weight.len(), out.len());
        return dpbf16::forward(s, x, weight, bias, relu, out);
    }
    let bias = bias.map(bf16::rounded);
    let (x, weight) = (bf16::rounded(x), bf16::rounded(weight));
    conv2d_forward(s, &x, &weight, bias.as_deref(), relu, out);
    // SAFETY: `conv2d_forward` writes every element.
    bf16::round_in_place(unsafe { assume_written(out) });
}

/// [`conv2d_input_grad`] under bf16 autocast (see [`conv2d_forward_bf16`]).
pub fn conv2d_input_grad_bf16(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    if dot_bf16(s) && winograd_bf16::handles_bf16(&s.transposed()) {
        check(s, grad_x.len(), weight.len(), grad_out.len());
        return winograd_bf16::input_grad(s, grad_out, weight, grad_x);
    }
    if dot_bf16(s) {
        check(s, grad_x.len(), weight.len(), grad_out.len());
        return dpbf16::input_grad(s, grad_out, weight, grad_x);
    }
    let (grad_out, weight) = (bf16::rounded(grad_out), bf16::rounded(weight));
    conv2d_input_grad(s, &grad_out, &weight, grad_x);
    // SAFETY: `conv2d_input_grad` writes every element.
    bf16::round_in_place(unsafe { assume_written(grad_x) });
}

/// [`conv2d_weight_grad`] under bf16 autocast: the operands rounded to bf16, the gradients
/// rounded to bf16. The `vdpbf16ps` kernels where the CPU has them (3x3, even widths; the
/// Winograd one where `winograd_bf16_weight_grad` runs), the f32 kernels on rounded copies
/// otherwise.
pub fn conv2d_weight_grad_bf16(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    mut grad_bias: Option<&mut [f32]>,
) {
    if dot_bf16(s) && winograd_bf16_weight_grad::handles_weight_grad(s) {
        check(s, x.len(), grad_weight.len(), grad_out.len());
        return winograd_bf16_weight_grad::weight_grad(s, x, grad_out, grad_weight, grad_bias);
    }
    if crate::kernels::options().bf16_dot && dpbf16_weight_grad::handles_weight_grad(s) {
        check(s, x.len(), grad_weight.len(), grad_out.len());
        return dpbf16_weight_grad::weight_grad(s, x, grad_out, grad_weight, grad_bias);
    }
    let (x, grad_out) = (bf16::rounded(x), bf16::rounded(grad_out));
    conv2d_weight_grad(s, &x, &grad_out, grad_weight, grad_bias.as_deref_mut());
    bf16::round_in_place(grad_weight);
    if let Some(db) = grad_bias {
        bf16::round_in_place(db);
    }
}
