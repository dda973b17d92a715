//! The direct 3x3 convolution in bf16 with `vdpbf16ps` (AVX512_BF16: Zen 4, Sapphire Rapids
//! and later): the forward and the input gradient under bf16 autocast.
//!
//! `vdpbf16ps` multiplies two pairs of bf16 values per 32-bit lane and adds both products to an
//! f32 accumulator: twice the multiply-adds of an f32 FMA per instruction. Each image is
//! rounded to bf16 while it is padded, into planes of input-channel pairs (`[C / 2][H + 2][W +
//! 2]` 32-bit lanes, the even channel in the low half), so that one unaligned load gives 16
//! pixels of two channels; the weight is packed into the same pairs, broadcast per output
//! channel. The register tile is the f32 direct kernel's (8 output channels x 32 pixels), over
//! half as many steps. The result is rounded to bf16 on store: the values the f32 kernels give
//! on rounded operands (up to the order of the f32 sums).

use std::cell::RefCell;
use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::kernels::cpu::bf16;
use crate::kernels::cpu::conv::ConvShape;
use crate::kernels::cpu::lanes::LANES;

use super::{CB, Padded, flip_weight, handles, image_lens};

/// Whether this CPU has the instructions (AVX-512 F/BW/VL and BF16; every CPU with
/// AVX512_BF16 has VL, which the weight gradient's half-register loads use).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

thread_local! {
    /// The calling thread's padded channel-pair planes, grown on demand and reused.
    static PAIRS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Two bf16 values in one 32-bit lane: `lo` in the low half (the even channel).
pub(crate) fn pair(lo: f32, hi: f32) -> u32 {
    (bf16::round(lo).to_bits() >> 16) | (bf16::round(hi).to_bits() & 0xffff_0000)
}

/// The weight `[C_out][C_in][3][3]` rounded to bf16 and packed `[C_out / CB][C_in / 2][9][CB]`
/// in channel pairs (output channels padded with zeros to a multiple of `CB`).
fn pack_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<u32> {
    let (blocks, pairs) = (out_channels.div_ceil(CB), in_channels.div_ceil(2));
    let mut packed = vec![0; blocks * pairs * 9 * CB];
    let w = |o: usize, c: usize, tap: usize| match c < in_channels {
        true => weight[(o * in_channels + c) * 9 + tap],
        false => 0.0,
    };
    for o in 0..out_channels {
        let (block, lane) = (o / CB, o % CB);
        for p in 0..pairs {
            for tap in 0..9 {
                packed[((block * pairs + p) * 9 + tap) * CB + lane] =
                    pair(w(o, 2 * p, tap), w(o, 2 * p + 1, tap));
            }
        }
    }
    packed
}

/// `out = conv3x3(x, weight) + bias` (then ReLU when `relu`) on operands rounded to bf16, the
/// result rounded to bf16; NCHW, every element of `out` written. Needs [`available`].
pub fn forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(
        handles(s) && available(),
        "dpbf16::forward: unsupported {s:?}"
    );
    let (in_len, out_len) = image_lens(s, x.len(), out.len(), "dpbf16");
    if in_len == 0 || out_len == 0 {
        out.iter_mut().for_each(|v| {
            v.write(0.0);
        });
        return;
    }
    let bias: Option<Vec<f32>> = bias.map(bf16::rounded);
    let job = Job {
        // One padded plane per pair of input channels (32-bit lanes, as the f32 planes).
        p: Padded {
            channels: s.in_channels.div_ceil(2),
            height: s.height,
            width: s.width,
        },
        in_channels: s.in_channels,
        out_channels: s.out_channels,
        packed: &pack_weight(weight, s.out_channels, s.in_channels),
        bias: bias.as_deref(),
        relu,
    };
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(out, image)| job.image(image, out));
}

/// The input gradient of [`forward`] in bf16 (the gradient and the weight rounded, the result
/// rounded); every element of `grad_x` is written.
pub fn input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    let flipped = flip_weight(weight, s.out_channels, s.in_channels);
    forward(&s.transposed(), grad_out, &flipped, None, false, grad_x);
}

/// What one call computes, for the per-image tiles.
struct Job<'a> {
    /// The padded planes, one per pair of input channels.
    p: Padded,
    /// Input channels (the last pair's high half is zero when odd).
    in_channels: usize,
    out_channels: usize,
    packed: &'a [u32],
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl Job<'_> {
    /// One image `[C_in][H][W]` into its `[C_out][H][W]` output.
    fn image(&self, image: &[f32], out: &mut [MaybeUninit<f32>]) {
        PAIRS.with(|cell| {
            let mut buffer = cell.borrow_mut();
            if buffer.len() < self.p.len() {
                buffer.resize(self.p.len(), 0);
            }
            let padded = &mut buffer[..self.p.len()];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `forward` checked that the CPU has AVX-512 F/BW and BF16.
            unsafe {
                pad_pairs(self.p, self.in_channels, image, padded);
                self.tiles(padded, out);
            }
        });
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("dpbf16 runs only where `available` is true");
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn tiles(&self, padded: &[u32], out: &mut [MaybeUninit<f32>]) {
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
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[inline]
    fn tile<const NV: usize>(
        &self,
        padded: &[u32],
        out: &mut [MaybeUninit<f32>],
        block: usize,
        y: usize,
        x: usize,
    ) {
        let p = self.p;
        let (row, plane, pairs) = (p.row(), p.plane(), p.channels);
        let weights = &self.packed[block * pairs * 9 * CB..][..pairs * 9 * CB];
        let mut acc = [[_mm512_setzero_ps(); NV]; CB];
        for c in 0..pairs {
            let base = c * plane + y * row + x;
            for ky in 0..3 {
                for kx in 0..3 {
                    let start = base + ky * row + kx;
                    // The last vector of a partial tile may read past the row (into the next
                    // row, or the slack): those lanes are never stored.
                    let src = &padded[start..start + NV * LANES];
                    let mut xs = [_mm512_setzero_si512(); NV];
                    for (j, v) in xs.iter_mut().enumerate() {
                        // SAFETY: `src` holds NV * 16 lanes.
                        *v = unsafe { _mm512_loadu_si512(src.as_ptr().add(j * LANES).cast()) };
                    }
                    let w = &weights[(c * 9 + ky * 3 + kx) * CB..][..CB];
                    for o in 0..CB {
                        let wv = as_bh(_mm512_set1_epi32(w[o] as i32));
                        for j in 0..NV {
                            acc[o][j] = _mm512_dpbf16_ps(acc[o][j], as_bh(xs[j]), wv);
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
                // Rounded to bf16 (nearest even) and widened back to f32.
                // SAFETY: 256 bits of plain data either way.
                let rounded: __m256i = unsafe { std::mem::transmute(_mm512_cvtneps_pbh(v)) };
                let v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(rounded), 16));
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

/// 32 bf16 values, as `vdpbf16ps` takes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
pub(crate) fn as_bh(v: __m512i) -> __m512bh {
    // SAFETY: both are 512 bits of plain data.
    unsafe { std::mem::transmute(v) }
}

/// 16 lanes of bf16 pairs: lane `i` holds `even[i]` rounded to bf16 in its low half and
/// `odd[i]` in its high half (as [`pair`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
pub(crate) fn to_pairs(even: __m512, odd: __m512) -> __m512i {
    // Element i of the result takes bf16 element i (the even value) and 16 + i (the odd one).
    let interleave = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    );
    // SAFETY: 512 bits of plain data either way.
    let both: __m512i = unsafe { std::mem::transmute(_mm512_cvtne2ps_pbh(odd, even)) };
    _mm512_permutexvar_epi16(interleave, both)
}

/// Rounds `image` (`[C][H][W]`) to bf16 into `dst`: channel pairs interleaved per pixel, with a
/// zero border of one pixel (and a zero high half in the last pair when `C` is odd).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn pad_pairs(p: Padded, in_channels: usize, image: &[f32], dst: &mut [u32]) {
    let (row, plane, hw) = (p.row(), p.plane(), p.height * p.width);
    for c in 0..p.channels {
        let plane_dst = &mut dst[c * plane..(c + 1) * plane];
        plane_dst[..row].fill(0);
        plane_dst[(p.height + 1) * row..].fill(0);
        let even = &image[2 * c * hw..][..hw];
        let odd = (2 * c + 1 < in_channels).then(|| &image[(2 * c + 1) * hw..][..hw]);
        for y in 0..p.height {
            let r = &mut plane_dst[(y + 1) * row..(y + 2) * row];
            r[0] = 0;
            r[p.width + 1] = 0;
            let mut x = 0;
            while x < p.width {
                let lanes = (p.width - x).min(LANES);
                let mask: __mmask16 = if lanes == LANES {
                    !0
                } else {
                    (1u16 << lanes) - 1
                };
                let at = y * p.width + x;
                // SAFETY: the masks keep the loads inside the rows of `even` / `odd` and the
                // store inside `r[1 + x..1 + x + lanes]`.
                unsafe {
                    let e = _mm512_maskz_loadu_ps(mask, even.as_ptr().add(at));
                    let o = match odd {
                        Some(odd) => _mm512_maskz_loadu_ps(mask, odd.as_ptr().add(at)),
                        None => _mm512_setzero_ps(),
                    };
                    let pairs = to_pairs(e, o);
                    _mm512_mask_storeu_epi32(r.as_mut_ptr().add(1 + x).cast(), mask, pairs);
                }
                x += LANES;
            }
        }
    }
    dst[p.channels * plane..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::conv3x3;
    use crate::kernels::cpu::conv3x3::tests::SHAPES;
    use crate::kernels::cpu::test_data::values;

    fn init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        // SAFETY: the kernels write every element (started from NaN: a missed one shows).
        v.into_iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    /// The f32 direct kernel on operands rounded to bf16, its result rounded: what the bf16
    /// kernel computes, up to the order of the f32 sums.
    fn emulated(s: &ConvShape, x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool) -> Vec<f32> {
        let mut out =
            vec![MaybeUninit::new(f32::NAN); s.batch * s.out_channels * s.height * s.width];
        let b = b.map(bf16::rounded);
        conv3x3::forward(
            s,
            &bf16::rounded(x),
            &bf16::rounded(w),
            b.as_deref(),
            relu,
            &mut out,
        );
        let mut out = init(out);
        bf16::round_in_place(&mut out);
        out
    }

    /// Within one bf16 unit (2^-7 relative: one rounding the other way) of the largest output,
    /// and bf16 values.
    fn close(ours: &[f32], want: &[f32], what: &str) {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(want).enumerate() {
            assert_eq!(bf16::round(*a), *a, "{what}[{i}] is not bf16");
            assert!((a - b).abs() <= scale / 128.0, "{what}[{i}]: {a} vs {b}");
        }
    }

    #[test]
    fn forward_and_input_grad_match_the_f32_kernel_on_rounded_operands() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the dpbf16 kernel is not tested");
            return;
        }
        // The f32 kernels' test shapes, and one input channel (a pair's high half zero).
        let shapes = SHAPES.into_iter().chain([(1, 1, 2, 4, 17)]);
        for (n, ci, co, h, w) in shapes {
            let s = ConvShape::same_3x3(n, ci, co, [h, w]);
            let x = values(n * ci * h * w, 1);
            let wt = values(co * ci * 9, 2);
            let bias = values(co, 3);
            let g = values(n * co * h * w, 4);
            for relu in [false, true] {
                let mut out = vec![MaybeUninit::new(f32::NAN); n * co * h * w];
                forward(&s, &x, &wt, Some(&bias), relu, &mut out);
                let want = emulated(&s, &x, &wt, Some(&bias), relu);
                close(&init(out), &want, &format!("forward {s:?} relu {relu}"));
            }
            let mut dx = vec![MaybeUninit::new(f32::NAN); n * ci * h * w];
            input_grad(&s, &g, &wt, &mut dx);
            let transposed = ConvShape {
                in_channels: co,
                out_channels: ci,
                ..s
            };
            let flipped = flip_weight(&wt, co, ci);
            let want = emulated(&transposed, &g, &flipped, None, false);
            close(&init(dx), &want, &format!("input grad {s:?}"));
        }
    }
}
