//! Kernels on plain contiguous f32 slices (NCHW), independent of burn: what the flex
//! backend's extension ops call.

pub mod adamw;
pub mod conv;
pub mod conv3x3;
pub mod elementwise;
pub mod gemm;
pub mod group_norm;
mod isa;
pub mod max_pool;

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
}
