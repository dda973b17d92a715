//! Kernels on plain contiguous f32 slices (NCHW), independent of burn: what the flex
//! backend's extension ops call.

pub mod conv;
pub mod conv3x3;
pub mod gemm;
pub mod group_norm;
pub mod max_pool;
