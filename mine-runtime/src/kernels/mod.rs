//! Our own CPU kernels for the hot operations of the policies (the VPT image encoder's
//! convolutions, normalizations and poolings, linear layers, residual sums), plugged into
//! burn's flex backend as a backend extension with hand-written backward passes.
//!
//! Models call the functions of [`ops`] (for example [`ops::conv2d`]) instead of burn's: on a
//! flex device with f32 tensors they run the `cpu` kernels, elsewhere (CUDA, wgpu, other
//! dtypes) burn's own differentiable ops, so the GPU path computes the same maths. Under
//! bf16 mixed precision ([`autocast`]) they cast their inputs as PyTorch's autocast does, on
//! every backend. Which kernels run is a [`KernelOptions`] value that only a program changes
//! ([`set_options`], the benchmarks' comparisons) and a thread's [`scope`] overrides (the
//! trainer's `bf16_winograd`).
//!
//! # Adding a kernel
//!
//! A new operation touches four places, in this order:
//!
//! 1. `cpu/<op>.rs` or `cpu/<op>/` (declared in `cpu/mod.rs`): the kernel and its gradient
//!    kernels on plain contiguous f32 slices, independent of burn, with unit tests against a
//!    plain loop on `cpu::test_data` values; every `unsafe` block gets a `// SAFETY:` comment
//!    (clippy denies one without).
//! 2. `flex/mod.rs` and `flex/<op>.rs`: a `cpu_<op>` method of the [`CpuKernels`] extension
//!    trait, implemented for `Flex` (the forward kernel) and for `Autodiff<Flex, C>` (the
//!    forward plus a `Backward` step calling the gradient kernels).
//! 3. `ops/<kind>.rs` (re-exported by `ops/mod.rs`): the tensor-level function, routing flex
//!    f32 tensors ([`ops::uses_kernels`]; inside a bf16 autocast scope the inputs are bf16
//!    and take the other path) to `CpuKernels::cpu_<op>` and everything else to burn's own
//!    differentiable ops, so every backend computes the same maths; the models then call it
//!    instead of burn's op.
//! 4. `tests/kernels/<kind>.rs` (listed in `tests/kernels/main.rs`, whose thread-count test
//!    calls it too): values and gradients against burn's op on flex (odd shapes, batch 1,
//!    with and without autodiff); a hot path also gets a line in `examples/kernel_bench.rs`
//!    and a before/after row in `BENCHMARKS.md`. A variant that the benchmarks compare with
//!    another (as the Winograd convolutions are) gets a [`KernelOptions`] field, on by
//!    default.

pub mod allocator;
pub mod autocast;
mod choices;
#[cfg(feature = "flex")]
#[doc(hidden)] // For the kernel benchmark; models use `ops`.
pub mod cpu;
#[cfg(feature = "flex")]
mod flex;
pub(crate) mod isa;
pub mod ops;
mod options;
mod thread_scope;
pub mod tune;

pub use choices::KernelChoices;
#[cfg(feature = "flex")]
pub use flex::{CpuElementwise, CpuKernels, CpuOptimizer};
pub use options::{KernelOptions, OptionsScope, options, scope, set_options};
pub use thread_scope::ThreadScope;

/// Installs, once per process, the kernels that `mine-dsl`'s backend-generic code offers its
/// tensors to: [`ops::row_entropy`] for the action heads' entropies
/// ([`mine_dsl::action::install_entropy_kernel`]). The trainer calls it; a program that runs
/// objectives outside it (a benchmark, a test) calls it too, or gets burn's ops there.
pub fn install_dsl_kernels() {
    mine_dsl::action::install_entropy_kernel(ops::row_entropy);
}
