//! bf16 rounding for mixed precision on the CPU.
//!
//! Under bf16 autocast our convolution and linear kernels compute what PyTorch's CPU autocast
//! computes: operands rounded to bf16, products accumulated in f32, the result rounded to bf16
//! once. The tensors stay f32 (a bf16 value is an f32 value whose low 16 bits are zero), so the
//! f32 operations around them (normalizations, softmax, residual sums) read them without casts.
//! Rounding is to nearest, ties to even, as `c10::BFloat16` and `vcvtneps2bf16` round; a NaN
//! stays a (quiet) NaN.

use rayon::prelude::*;

use super::isa::{Isa, multiversion};
use super::lanes::lane_sum_of;

/// Elements per task when a slice is rounded on the thread pool.
const CHUNK: usize = 1 << 16;

/// `x` rounded to the nearest bf16 value (ties to even), as an f32.
///
/// ```
/// use mine_runtime::kernels::cpu::bf16::round;
/// assert_eq!(round(1.0 + 1.0 / 256.0), 1.0); // a tie: to the even neighbour
/// assert_eq!(round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
/// assert!(round(f32::NAN).is_nan());
/// ```
#[inline(always)]
pub fn round(x: f32) -> f32 {
    let bits = x.to_bits();
    if x.is_nan() {
        return f32::from_bits((bits | 0x0040_0000) & 0xffff_0000);
    }
    let lsb = (bits >> 16) & 1;
    f32::from_bits(bits.wrapping_add(0x7fff + lsb) & 0xffff_0000)
}

/// [`round`] of 16 lanes at once, bit for bit (plain AVX-512F: for kernels that cannot assume
/// AVX512_BF16's `vcvtneps2bf16`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn round_lanes(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let bits = _mm512_castps_si512(v);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    let bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb);
    // NaN: quieted instead (the sum could carry into the exponent and give infinity).
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    let quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x0040_0000));
    let summed = _mm512_mask_blend_epi32(nan, _mm512_add_epi32(bits, bias), quiet);
    _mm512_castsi512_ps(_mm512_and_si512(summed, _mm512_set1_epi32(-65536)))
}

multiversion!(round_slice_imp(v: &mut [f32]) => round_slice_body);

#[inline(always)]
fn round_slice_body(v: &mut [f32]) {
    for x in v {
        *x = round(*x);
    }
}

/// Rounds every element of `v` to bf16 in place (on the thread pool for long slices).
pub fn round_in_place(v: &mut [f32]) {
    let isa = Isa::detect();
    if v.len() <= CHUNK {
        round_slice_imp(isa, v);
    } else {
        v.par_chunks_mut(CHUNK)
            .for_each(|chunk| round_slice_imp(isa, chunk));
    }
}

multiversion!(round_into_imp(src: &[f32], dst: &mut [std::mem::MaybeUninit<f32>]) => round_into);

#[inline(always)]
fn round_into(src: &[f32], dst: &mut [std::mem::MaybeUninit<f32>]) {
    for (d, x) in dst.iter_mut().zip(src) {
        d.write(round(*x));
    }
}

/// A copy of `v` rounded to bf16 (one pass, on the thread pool for long slices).
pub fn rounded(v: &[f32]) -> Vec<f32> {
    let isa = Isa::detect();
    // `round_into` writes every element of its chunk.
    super::written_vec(v.len(), |dst| {
        if v.len() <= CHUNK {
            round_into_imp(isa, v, dst);
        } else {
            dst.par_chunks_mut(CHUNK)
                .zip(v.par_chunks(CHUNK))
                .for_each(|(d, s)| round_into_imp(isa, s, d));
        }
    })
}

multiversion!(rounded_sum_imp(xs: &[f32]) -> f32 => rounded_sum_body);

#[inline(always)]
fn rounded_sum_body(xs: &[f32]) -> f32 {
    lane_sum_of(xs, round)
}

/// The sum of `xs` rounded to bf16 element by element (the bias gradient of a bf16
/// convolution), in 16 interleaved partial sums as `elementwise::sum`.
pub fn rounded_sum(xs: &[f32]) -> f32 {
    rounded_sum_imp(Isa::detect(), xs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_data::Rng;
    use crate::kernels::isa::for_each_isa;

    /// burn's bf16 type's conversion (the `half` crate's) as the reference.
    fn reference(x: f32) -> f32 {
        burn::tensor::bf16::from_f32(x).to_f32()
    }

    #[test]
    fn rounds_to_nearest_even_like_the_half_crate() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -1.0 - 1.0 / 256.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            3.389_531_4e38, // rounds up to infinity
        ];
        let mut rng = Rng(7);
        let mut all: Vec<f32> = specials.to_vec();
        all.extend(rng.uniform(100_000).iter().map(|v| v * 1e3));
        all.extend((0..10_000).map(|_| f32::from_bits(rng.next_u32())));
        for_each_isa(|| {
            let mut got = all.clone();
            round_in_place(&mut got);
            for (x, r) in all.iter().zip(&got) {
                let want = reference(*x);
                if want.is_nan() {
                    assert!(r.is_nan(), "{x}: {r}");
                } else {
                    assert_eq!(r.to_bits(), want.to_bits(), "{x:e}");
                }
            }
        });
        assert_eq!(
            rounded(&[1.0 + 1.0 / 128.0 + 1.0 / 256.0]),
            [1.0 + 2.0 / 128.0]
        );
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            for lanes in all.chunks_exact(16) {
                let mut got = [0.0f32; 16];
                // SAFETY: AVX-512F checked above; 16 floats read and written.
                unsafe {
                    use std::arch::x86_64::*;
                    let v = round_lanes(_mm512_loadu_ps(lanes.as_ptr()));
                    _mm512_storeu_ps(got.as_mut_ptr(), v);
                }
                for (x, r) in lanes.iter().zip(&got) {
                    assert_eq!(r.to_bits(), round(*x).to_bits(), "round_lanes({x:e})");
                }
            }
        }
    }
}
