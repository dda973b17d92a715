//! Reductions over vectors of [`LANES`] accumulators, written so that LLVM maps them to
//! full-width registers in whichever instruction set the calling kernel is compiled for
//! (they are `#[inline(always)]`: call them from multiversioned bodies).

use std::array::from_fn;

/// Accumulators per reduction, and f32 per AVX-512 register.
pub const LANES: usize = 16;

/// Sum of `x` with [`LANES`] independent accumulators.
#[inline(always)]
pub fn lane_sum(x: &[f32]) -> f32 {
    lane_sum_of(x, |v| v)
}

/// Sum of `f(v)` over `x` with [`LANES`] independent accumulators.
#[inline(always)]
pub fn lane_sum_of(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for ch in chunks {
        add_lanes(&mut acc, &from_fn(|l| f(ch[l])));
    }
    hsum(&acc) + rest.iter().map(|&v| f(v)).sum::<f32>()
}

/// `acc[l] += v[l]`. Reductions are written as whole-array steps like this
/// (temporaries built with `from_fn`), which LLVM maps to full-width vector
/// registers; per-lane scalar statements get badly SLP-vectorised instead.
#[inline(always)]
pub fn add_lanes(acc: &mut [f32; LANES], v: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] += v[l];
    }
}

/// Horizontal sum of the accumulator lanes.
///
/// The `black_box` is an optimisation barrier only (no effect on the result):
/// without it LLVM's SLP vectoriser pairs the accumulation loops with this
/// horizontal sum and emits 2-wide or scalar code instead of full-width vectors.
#[inline(always)]
pub fn hsum(acc: &[f32; LANES]) -> f32 {
    let acc = std::hint::black_box(*acc);
    let half: [f32; LANES / 2] = from_fn(|l| acc[l] + acc[l + LANES / 2]);
    half.iter().sum()
}

/// `Σ a[i] b[i]` over the shorter of the two, with [`LANES`] independent accumulators.
#[inline(always)]
pub fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (a, b) in ac.iter().zip(bc) {
        add_lanes(&mut acc, &from_fn(|l| a[l] * b[l]));
    }
    hsum(&acc) + ar.iter().zip(br).map(|(a, b)| a * b).sum::<f32>()
}
