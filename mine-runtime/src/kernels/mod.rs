//! Our own CPU kernels for the hot operations of the policies (the VPT image encoder's
//! convolutions, normalizations and poolings, linear layers, residual sums), plugged into
//! burn's flex backend as a backend extension with hand-written backward passes.
//!
//! Models call the functions of [`ops`] (for example [`ops::conv2d`]) instead of burn's: on a
//! flex device with f32 tensors they run [`cpu`]'s kernels, elsewhere (CUDA, wgpu, other
//! dtypes) burn's own differentiable ops, so the GPU path computes the same maths. Under
//! bf16 mixed precision ([`autocast`]) they cast their inputs as PyTorch's autocast does, on
//! every backend.

pub mod allocator;
pub mod autocast;
#[cfg(feature = "flex")]
pub mod cpu;
#[cfg(feature = "flex")]
mod flex;
pub mod ops;
mod options;

#[cfg(feature = "flex")]
pub use flex::{CpuKernels, CpuOptimizer};
pub use options::{KernelOptions, options, set_options};
