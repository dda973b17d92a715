//! Kernels on plain contiguous f32 slices (NCHW), independent of burn: what the flex
//! backend's extension ops call.

pub mod adamw;
pub mod batch_norm;
pub mod bf16;
pub mod conv;
pub mod conv3x3;
pub mod elementwise;
pub mod entropy;
pub mod family;
pub mod gemm;
pub mod group_norm;
pub mod layer_norm;
use super::isa;
mod lanes;
pub mod linear;
pub mod linear_bf16;
pub mod log_softmax;
pub mod max_pool;
pub mod planes;
pub mod silu;

use std::mem::MaybeUninit;

/// `v` as the kernels' output type (they write every element of their outputs, which may
/// start uninitialized). The kernels only ever write initialized values, so viewing
/// initialized floats this way cannot de-initialize them.
pub fn as_uninit(v: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: same size and alignment; the callee only writes valid f32s (see above).
    unsafe { &mut *(v as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// Zeroes `v` (which may start uninitialized) and returns it initialized: for the kernels
/// that accumulate into their output. Large outputs are zeroed on the thread pool, which
/// also spreads the first touch of freshly mapped pages (their faults) over its threads.
pub fn write_zeros(v: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let zero = |chunk: &mut [MaybeUninit<f32>]| chunk.iter_mut().for_each(|x| _ = x.write(0.0));
    if v.len() > CHUNK {
        v.par_chunks_mut(CHUNK).for_each(zero);
    } else {
        zero(v);
    }
    // SAFETY: every element was written just above.
    unsafe { &mut *(v as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// A vector of `n` elements (floats, or the bf16 pairs of the packs) that `write` produces;
/// `write` must write every element (the kernels passed here document that they do).
pub fn written_vec<T>(n: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: `write` initialized all `n` elements (its contract above).
    unsafe { v.set_len(n) };
    v
}

/// `v` as initialized floats, after a kernel wrote every element.
///
/// # Safety
/// Every element of `v` must have been written.
pub unsafe fn assume_written(v: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: the caller guarantees every element is initialized; same layout.
    unsafe { &mut *(v as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Deterministic test data for the kernels' tests.
#[cfg(test)]
pub(crate) mod test_data {
    /// `len` values in `[-0.5, 0.5)` from a multiplicative hash of the index and `seed`.
    pub fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let v = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                (v >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// `‖a − exact‖ / ‖exact‖` (root mean squares, in f64).
    pub fn relative_rms(a: &[f32], exact: &[f32]) -> f64 {
        let sq = |it: &mut dyn Iterator<Item = f64>| it.map(|v| v * v).sum::<f64>().sqrt();
        let diff = sq(&mut a.iter().zip(exact).map(|(a, b)| f64::from(a - b)));
        diff / sq(&mut exact.iter().map(|&v| f64::from(v)))
    }

    /// Deterministic xorshift generator of test data.
    pub struct Rng(pub u64);

    impl Rng {
        fn step(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in `[0, 1)`.
        pub fn next_f32(&mut self) -> f32 {
            (self.step() >> 40) as f32 / (1u64 << 24) as f32
        }

        /// 32 random bits.
        pub fn next_u32(&mut self) -> u32 {
            (self.step() >> 32) as u32
        }

        /// `len` values uniform in `[lo, hi)`.
        pub fn vec(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
            (0..len).map(|_| lo + (hi - lo) * self.next_f32()).collect()
        }

        /// `len` values uniform in `[-2, 2]`.
        pub fn uniform(&mut self, len: usize) -> Vec<f32> {
            (0..len)
                .map(|_| self.next_u32() as f32 / u32::MAX as f32 * 4.0 - 2.0)
                .collect()
        }

        /// `len` values among 0, 1 and 2: many ties.
        pub fn ties(&mut self, len: usize) -> Vec<f32> {
            (0..len).map(|_| (self.next_u32() % 3) as f32).collect()
        }
    }
}
