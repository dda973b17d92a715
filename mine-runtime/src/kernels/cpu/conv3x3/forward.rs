//! The forward kernel and the input gradient (the same kernel on the padded output gradient
//! with the weight flipped and transposed).

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::lanes::LANES;

use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::options;

use super::winograd::{self, Winograd};
use super::winograd_avx2;
use super::winograd4_avx2;
use super::{
    CB, Padded, flip_weight, handles_f32, image_lens, pack_weight, use_avx512, with_padded,
};

/// What one forward call computes, for the per-image tiles.
pub(super) struct Forward<'a> {
    pub(super) p: Padded,
    pub(super) out_channels: usize,
    pub(super) packed: &'a [f32],
    pub(super) bias: Option<&'a [f32]>,
    pub(super) relu: bool,
    /// Whether the AVX-512 tiles run (else the AVX2 ones).
    pub(super) avx512: bool,
}

/// `out = conv3x3(x, weight) + bias` (then ReLU when `relu`), NCHW; every element of `out`
/// is written (it may start uninitialized).
pub fn forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(handles_f32(s), "conv3x3::forward: unsupported {s:?}");
    let p = Padded::input(s);
    let (in_len, out_len) = image_lens(s, x.len(), out.len(), "conv3x3");
    if in_len == 0 || out_len == 0 {
        out.iter_mut().for_each(|v| {
            v.write(0.0);
        });
        return;
    }
    let images = out.par_chunks_mut(out_len).zip(x.par_chunks(in_len));
    let avx512 = use_avx512();
    // F(4x4, 3x3) has only an AVX2 form; an AVX-512 CPU runs it when its options say so.
    let winograd4 = winograd4_avx2::handles(s) && (!avx512 || options().winograd4_avx512);
    let winograd = winograd4
        || match avx512 {
            true => winograd::handles(s),
            false => winograd_avx2::handles(s),
        };
    if winograd {
        let packed = match winograd4 {
            true => winograd4_avx2::transform_weight(weight, s.out_channels, s.in_channels),
            false => winograd::transform_weight(weight, s.out_channels, s.in_channels),
        };
        let job = Winograd {
            p,
            out_channels: s.out_channels,
            packed: &packed,
            bias,
            relu,
            round: false,
            wide: avx512 && options().winograd_wide,
        };
        images.for_each(|(out, image)| {
            with_padded(p, image, |padded| match avx512 && !winograd4 {
                true => job.image(padded, out),
                false => job.image_avx2(padded, out, winograd4),
            })
        });
    } else {
        let packed = pack_weight(weight, s.out_channels, s.in_channels);
        let job = Forward {
            p,
            out_channels: s.out_channels,
            packed: &packed,
            bias,
            relu,
            avx512,
        };
        images.for_each(|(out, image)| with_padded(p, image, |padded| job.image(padded, out)));
    }
}

/// The input gradient of [`forward`]; every element of `grad_x` is written (it may start
/// uninitialized).
pub fn input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    let flipped = flip_weight(weight, s.out_channels, s.in_channels);
    forward(&s.transposed(), grad_out, &flipped, None, false, grad_x);
}

impl Forward<'_> {
    /// One image: `padded` is its input, `out` its `[C_out][H][W]` output.
    fn image(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `handles_f32` checked that the CPU has AVX-512F, or else AVX2 and FMA.
        unsafe {
            if self.avx512 {
                self.image_avx512(padded, out)
            } else {
                self.image_avx2(padded, out)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("conv3x3 runs only where `available` is true");
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn image_avx512(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        let Padded { height, width, .. } = self.p;
        for block in 0..self.out_channels.div_ceil(CB) {
            for y in 0..height {
                let mut x = 0;
                while x < width {
                    if width - x > LANES {
                        self.tile::<2>(padded, out, block, y, x);
                        x += 2 * LANES;
                    } else {
                        self.tile::<1>(padded, out, block, y, x);
                        x += LANES;
                    }
                }
            }
        }
    }

    /// `CB` output channels of block `block` at row `y`, pixels `x..x + NV * 16` (clipped to
    /// the row).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const NV: usize>(
        &self,
        padded: &[f32],
        out: &mut [MaybeUninit<f32>],
        block: usize,
        y: usize,
        x: usize,
    ) {
        let p = self.p;
        let (row, plane) = (p.row(), p.plane());
        let weights = &self.packed[block * p.channels * 9 * CB..][..p.channels * 9 * CB];
        let mut acc = [[_mm512_setzero_ps(); NV]; CB];
        for c in 0..p.channels {
            let base = c * plane + y * row + x;
            for ky in 0..3 {
                for kx in 0..3 {
                    let start = base + ky * row + kx;
                    // The last vector of a partial tile may read past the row (into the next
                    // row, or the slack): those lanes are never stored.
                    let src = &padded[start..start + NV * LANES];
                    // No closures here: they would not inherit this function's AVX-512.
                    let mut xs = [_mm512_setzero_ps(); NV];
                    for (j, v) in xs.iter_mut().enumerate() {
                        // SAFETY: `src` holds NV * 16 floats.
                        *v = unsafe { _mm512_loadu_ps(src.as_ptr().add(j * LANES)) };
                    }
                    let w = &weights[(c * 9 + ky * 3 + kx) * CB..][..CB];
                    for o in 0..CB {
                        let wv = _mm512_set1_ps(w[o]);
                        for j in 0..NV {
                            acc[o][j] = _mm512_fmadd_ps(wv, xs[j], acc[o][j]);
                        }
                    }
                }
            }
        }
        let (hw, width) = (p.height * p.width, p.width);
        for (o, acc) in acc.iter().enumerate() {
            let channel = block * CB + o;
            if channel >= self.out_channels {
                break;
            }
            let b = _mm512_set1_ps(self.bias.map_or(0.0, |b| b[channel]));
            let dst = &mut out[channel * hw + y * width..][..width];
            for (j, v) in acc.iter().enumerate() {
                let x0 = x + j * LANES;
                if x0 >= width {
                    break;
                }
                let mut v = _mm512_add_ps(*v, b);
                if self.relu {
                    v = _mm512_max_ps(v, _mm512_setzero_ps());
                }
                let lanes = (width - x0).min(LANES);
                let mask: __mmask16 = if lanes == LANES {
                    !0
                } else {
                    (1u16 << lanes) - 1
                };
                // SAFETY: the mask keeps the store inside `dst[x0..x0 + lanes]`.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(x0).cast::<f32>(), mask, v) };
            }
        }
    }
}
