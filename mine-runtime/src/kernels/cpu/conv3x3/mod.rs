//! Direct 3x3 convolution (stride 1, padding 1, groups 1) on NCHW f32 slices with AVX-512 (or
//! AVX2, below):
//! no unfolding and no gemm packing, the hot case of the VPT ImpalaCNN.
//!
//! Each image is zero-padded once into a per-thread scratch plane set (`[C][H + 2][W + 2]`);
//! from there every output pixel's 3x3 window is a fixed offset, so a register tile of
//! 8 output channels x 32 pixels accumulates `C_in * 9` broadcast-weight FMAs over
//! unaligned loads of the padded rows. The input gradient is the same kernel on the padded
//! output gradient with the weight flipped and transposed; the weight gradient accumulates
//! tiles of 16 output channels x 3 input channels x 9 taps over a pixel-major transposed
//! output gradient ([`weight_grad()`]). Wide images with 8 or
//! more input channels run the Winograd F(2x2, 3x3) kernel (`winograd.rs`) instead of the
//! direct forward, input-gradient and weight-gradient kernels (`winograd_weight_grad.rs`).
//!
//! Under bf16 autocast, with AVX512_BF16: the direct `vdpbf16ps` kernels ([`dpbf16`],
//! [`dpbf16_weight_grad`]) and, from 64 input and output channels, the Winograd ones
//! ([`winograd_bf16`], [`winograd_bf16_weight_grad`]).
//!
//! [`available`] tells whether the CPU has AVX-512. Without it, where the CPU has AVX2 and FMA
//! ([`handles_f32`]), the f32 kernels run on 8-float registers: the direct forward and input
//! gradient (`forward_avx2.rs`), the direct weight gradient (`weight_grad_avx2.rs`) and
//! Winograd's (`winograd_avx2.rs`, `winograd_weight_grad_avx2.rs`), with Winograd F(4x4, 3x3)
//! for the forward and input gradient where the height is a multiple of 4 and the width of 32
//! (`winograd4_avx2.rs`; its weight gradient stays F(2x2, 3x3)'s, the more accurate); callers
//! fall back to im2col + gemm for the rest.

pub mod dpbf16;
pub mod dpbf16_weight_grad;
mod forward;
mod forward_avx2;
#[cfg(test)]
mod tests;
mod weight_grad;
mod weight_grad_avx2;
mod winograd;
mod winograd4_avx2;
mod winograd_avx2;
pub mod winograd_bf16;
pub mod winograd_bf16_weight_grad;
mod winograd_weight_grad;
mod winograd_weight_grad_avx2;

pub use forward::{forward, input_grad};
#[cfg(target_arch = "x86_64")]
pub(crate) use weight_grad::transpose16;
pub use weight_grad::weight_grad;

use std::cell::RefCell;

use super::lanes::LANES;
use crate::kernels::isa::Isa;

use super::conv::ConvShape;

/// Output channels per forward register tile.
const CB: usize = 8;

/// Whether this CPU runs these kernels.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the f32 kernels' AVX2 forms (8-float registers, the `*_avx2.rs`
/// files): it has AVX2 and FMA (`isa::Isa`'s detection).
pub fn available_avx2() -> bool {
    !matches!(Isa::best(), Isa::Baseline)
}

/// Whether the AVX-512 kernels run (else the AVX2 ones): this thread's instruction set
/// (`Isa::detect`: the CPU's best, or what a test forced on this thread) is AVX-512. Decided on
/// the calling thread, before the work goes to the pool.
fn use_avx512() -> bool {
    matches!(Isa::detect(), Isa::Avx512)
}

/// Whether `s` is a stride-1, padding-1 3x3 convolution.
fn is_same_3x3(s: &ConvShape) -> bool {
    s.kernel == [3, 3]
        && s.stride == [1, 1]
        && s.padding == [1, 1]
        && s.dilation == [1, 1]
        && s.height > 0
        && s.width > 0
}

/// Whether `s` is a convolution these kernels compute, on this CPU: every kernel here
/// (forward, input and weight gradients, Winograd, bf16) where it has AVX-512.
pub fn handles(s: &ConvShape) -> bool {
    is_same_3x3(s) && available()
}

/// Whether the f32 kernels (`forward`, `input_grad`, `weight_grad`) compute `s` on
/// this CPU: with AVX-512 (every kernel of [`handles`]), or with AVX2 and FMA (8-float tiles:
/// the direct and the Winograd kernels).
pub fn handles_f32(s: &ConvShape) -> bool {
    is_same_3x3(s) && (available() || available_avx2())
}

thread_local! {
    /// The calling thread's padded planes, grown on demand and reused.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Geometry of one padded plane set.
#[derive(Clone, Copy)]
struct Padded {
    channels: usize,
    height: usize,
    width: usize,
}

impl Padded {
    /// The padded planes of `s`'s input, one per input channel.
    fn input(s: &ConvShape) -> Self {
        Self {
            channels: s.in_channels,
            height: s.height,
            width: s.width,
        }
    }

    fn row(&self) -> usize {
        self.width + 2
    }
    fn plane(&self) -> usize {
        (self.height + 2) * self.row()
    }
    /// Floats to allocate: the planes plus one register of slack for the loads of a last,
    /// partial vector (their extra lanes are never stored).
    fn len(&self) -> usize {
        self.channels * self.plane() + LANES
    }
}

/// Elements of one input and one output image of `s`, having checked that slices of `x_len`
/// and `out_len` elements hold `s.batch` of each (`what` names the kernel if not).
fn image_lens(s: &ConvShape, x_len: usize, out_len: usize, what: &str) -> (usize, usize) {
    let hw = s.height * s.width;
    let (input, output) = (s.in_channels * hw, s.out_channels * hw);
    assert_eq!(x_len, s.batch * input, "{what}: input length");
    assert_eq!(out_len, s.batch * output, "{what}: output length");
    (input, output)
}

/// Copies `image` (`[C][H][W]`) into `dst` (`C` padded planes) with a zero border of one
/// pixel.
fn pad_planes(p: Padded, image: &[f32], dst: &mut [f32]) {
    let (row, plane, hw) = (p.row(), p.plane(), p.height * p.width);
    for (c, src) in image.chunks_exact(hw).enumerate() {
        let dst = &mut dst[c * plane..(c + 1) * plane];
        dst[..row].fill(0.0);
        dst[(p.height + 1) * row..].fill(0.0);
        for (y, src_row) in src.chunks_exact(p.width).enumerate() {
            let r = &mut dst[(y + 1) * row..(y + 2) * row];
            r[0] = 0.0;
            r[1..=p.width].copy_from_slice(src_row);
            r[p.width + 1] = 0.0;
        }
    }
}

/// Runs `f` on `image` zero-padded into this thread's scratch.
fn with_padded<R>(p: Padded, image: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
    PADDED.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < p.len() {
            buffer.resize(p.len(), 0.0);
        }
        let planes = p.channels * p.plane();
        pad_planes(p, image, &mut buffer[..planes]);
        buffer[planes..p.len()].fill(0.0);
        f(&buffer[..p.len()])
    })
}

/// The weight `[C_out][C_in][3][3]` regrouped as `[C_out / CB][C_in][9][CB]` (output
/// channels padded with zeros to a multiple of `CB`), so a tile's 8 weights of one tap are
/// adjacent.
fn pack_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let blocks = out_channels.div_ceil(CB);
    let mut packed = vec![0.0; blocks * in_channels * 9 * CB];
    for o in 0..out_channels {
        let (block, lane) = (o / CB, o % CB);
        for c in 0..in_channels {
            for tap in 0..9 {
                packed[((block * in_channels + c) * 9 + tap) * CB + lane] =
                    weight[(o * in_channels + c) * 9 + tap];
            }
        }
    }
    packed
}

/// The weight of the input gradient: `w'[c][o][ky][kx] = w[o][c][2 - ky][2 - kx]`.
fn flip_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let mut flipped = vec![0.0; weight.len()];
    for o in 0..out_channels {
        for c in 0..in_channels {
            for tap in 0..9 {
                flipped[(c * out_channels + o) * 9 + (8 - tap)] =
                    weight[(o * in_channels + c) * 9 + tap];
            }
        }
    }
    flipped
}
