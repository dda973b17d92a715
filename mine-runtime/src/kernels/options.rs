//! Which of our kernels run: all of them unless a program chooses otherwise, for comparisons
//! (the benchmarks' `MINE_KERNELS=burn` and `MINE_WINOGRAD=0`).
//!
//! The choice is a value of the process (the operations read it wherever they run, thread pools
//! and backward passes included) that only [`set_options`] changes: no library function and no
//! environment variable does.

use std::sync::atomic::{AtomicU8, Ordering};

/// The kernels the operations of [`ops`](super::ops) may use.
///
/// ```
/// use mine_runtime::kernels::{KernelOptions, options};
/// assert_eq!(options(), KernelOptions::default());
/// assert!(KernelOptions::default().cpu_kernels && KernelOptions::default().winograd);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelOptions {
    /// Our CPU kernels on flex f32 tensors (`false`: burn's own operations everywhere).
    pub cpu_kernels: bool,
    /// The Winograd 3x3 convolutions for the shapes where they are faster (`false`: the direct
    /// kernels for every shape).
    pub winograd: bool,
    /// Under bf16 autocast, the `vdpbf16ps` 3x3 convolutions where the CPU has AVX512_BF16
    /// (`false`: the f32 kernels on operands rounded to bf16, the same values).
    pub bf16_dot: bool,
    /// Under bf16 autocast, the Winograd `vdpbf16ps` kernels for the wide 3x3 convolutions
    /// (64 input and output channels and more: the published VPT widths), forward, input and
    /// weight gradients, which round the transformed operands instead of the operands
    /// (`false`: the direct `vdpbf16ps` kernels, which round as PyTorch's CPU autocast does).
    /// See [`winograd_bf16`](crate::kernels::cpu::conv3x3::winograd_bf16) and
    /// [`winograd_bf16_weight_grad`](crate::kernels::cpu::conv3x3::winograd_bf16_weight_grad).
    pub bf16_winograd: bool,
}

impl Default for KernelOptions {
    /// Every kernel on.
    fn default() -> Self {
        Self {
            cpu_kernels: true,
            winograd: true,
            bf16_dot: true,
            bf16_winograd: true,
        }
    }
}

/// Bits of the kernels turned off (0: the default, all on).
static OFF: AtomicU8 = AtomicU8::new(0);
const CPU_KERNELS_OFF: u8 = 1;
const WINOGRAD_OFF: u8 = 2;
const BF16_DOT_OFF: u8 = 4;
const BF16_WINOGRAD_OFF: u8 = 8;

/// The kernel options of the process ([`KernelOptions::default`] until [`set_options`]).
pub fn options() -> KernelOptions {
    let off = OFF.load(Ordering::Relaxed);
    KernelOptions {
        cpu_kernels: off & CPU_KERNELS_OFF == 0,
        winograd: off & WINOGRAD_OFF == 0,
        bf16_dot: off & BF16_DOT_OFF == 0,
        bf16_winograd: off & BF16_WINOGRAD_OFF == 0,
    }
}

/// Sets the kernel options of the whole process, for the operations that start afterwards. A
/// program's choice (a benchmark comparing kernels): call it at start, before any tensor work.
pub fn set_options(options: KernelOptions) {
    let bit = |on: bool, bit: u8| if on { 0 } else { bit };
    let off = bit(options.cpu_kernels, CPU_KERNELS_OFF)
        | bit(options.winograd, WINOGRAD_OFF)
        | bit(options.bf16_dot, BF16_DOT_OFF)
        | bit(options.bf16_winograd, BF16_WINOGRAD_OFF);
    OFF.store(off, Ordering::Relaxed);
}
