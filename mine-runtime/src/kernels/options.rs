//! Which of our kernels run: all of them unless a program chooses otherwise, for comparisons
//! (the benchmarks' `MINE_KERNELS=burn` and `MINE_WINOGRAD=0`) or, for one thread's work, a
//! trainer's config (`trainer.bf16_winograd`).
//!
//! The choice is a value of the process that only [`set_options`] changes (no library function
//! and no environment variable does), which a [`scope`] overrides on the calling thread while
//! its guard lives. The operations read it on the thread that calls them, before any work goes
//! to a thread pool, in the forward and the backward pass alike: a trainer that runs its
//! forward and backward passes on one thread opens its scope there (as [`autocast`]'s).
//!
//! [`autocast`]: super::autocast

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

use super::thread_scope::ThreadScope;

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
    /// The f32 Winograd kernel transforms 32 tiles at a time (16 accumulator registers per
    /// product tile) at every width, instead of 16 tiles (8 accumulators; a transformed chunk
    /// that stays in L1) up to 32 input channels. Off by default: on AMD Zen 4 the 16-tile
    /// chunks were measured 10-20% faster there (BENCHMARKS.md). A core with two 512-bit FMA
    /// units (Intel Sapphire Rapids) may need the 16 accumulators to keep both busy (a port
    /// model says they add little there): the choice to measure there (`kernel_bench` and
    /// `bench` take it as `MINE_WINOGRAD_WIDE=1` and `--winograd-wide`; `bench --tune` flips it).
    pub winograd_wide: bool,
    /// On CPUs with AVX2 and no AVX-512, Winograd F(4x4, 3x3) for the forward and input
    /// gradient of the 3x3 convolutions whose height is a multiple of 4 and width a multiple
    /// of 32 (2.25 multiply-adds per output instead of F(2x2, 3x3)'s 4; `false`: F(2x2, 3x3)
    /// there too). Measured on AMD Zen 3 (BENCHMARKS.md).
    pub winograd4: bool,
    /// On CPUs with AVX-512 too, the F(4x4, 3x3) forward and input gradient of
    /// [`winograd4`](Self::winograd4) in their AVX2 form (8-float registers), for the shapes
    /// they take, instead of the AVX-512 F(2x2, 3x3) kernels. Off by default: the candidate
    /// per-family choice for AMD Zen 4, which runs 256-bit FMAs at the rate of its 512-bit
    /// ones (so 1.78x fewer multiplies may win over the wider registers), not yet measured
    /// there; on Intel Sapphire Rapids 256-bit FMAs run at half the 512-bit rate
    /// (BENCHMARKS.md; `kernel_bench` and `bench` take it as `MINE_WINOGRAD4_AVX512=1` and
    /// `--winograd4-avx512`). Same values as on a CPU without AVX-512.
    pub winograd4_avx512: bool,
}

impl Default for KernelOptions {
    /// Every kernel on.
    fn default() -> Self {
        Self {
            cpu_kernels: true,
            winograd: true,
            bf16_dot: true,
            bf16_winograd: true,
            winograd_wide: false,
            winograd4: true,
            winograd4_avx512: false,
        }
    }
}

/// Bits of the options that differ from the default (0: the default).
static OFF: AtomicU8 = AtomicU8::new(0);
const CPU_KERNELS_OFF: u8 = 1;
const WINOGRAD_OFF: u8 = 2;
const BF16_DOT_OFF: u8 = 4;
const BF16_WINOGRAD_OFF: u8 = 8;
const WINOGRAD_WIDE_ON: u8 = 16;
const WINOGRAD4_OFF: u8 = 32;
const WINOGRAD4_AVX512_ON: u8 = 64;

thread_local! {
    /// The options of this thread's innermost open [`scope`].
    static SCOPED: Cell<Option<KernelOptions>> = const { Cell::new(None) };
}

/// The kernel options of the calling thread: those of its innermost open [`scope`], else the
/// process's ([`KernelOptions::default`] until [`set_options`]).
pub fn options() -> KernelOptions {
    SCOPED.with(Cell::get).unwrap_or_else(process_options)
}

/// Runs the calling thread's operations with `options` until the returned guard drops (the
/// previous options come back then, unwinding included); other threads keep theirs.
///
/// ```
/// use mine_runtime::kernels::{KernelOptions, options, scope};
///
/// let direct = KernelOptions { bf16_winograd: false, ..options() };
/// {
///     let _guard = scope(direct);
///     assert!(!options().bf16_winograd);
///     std::thread::spawn(|| assert!(options().bf16_winograd)).join().unwrap();
/// }
/// assert!(options().bf16_winograd);
/// ```
pub fn scope(options: KernelOptions) -> OptionsScope {
    ThreadScope::enter(&SCOPED, Some(options))
}

/// The guard of a [`scope`]: restores the calling thread's previous options when dropped (on
/// the thread that opened it: it is not `Send`).
pub type OptionsScope = ThreadScope<Option<KernelOptions>>;

/// The options of the process, [`set_options`]'s.
fn process_options() -> KernelOptions {
    let off = OFF.load(Ordering::Relaxed);
    KernelOptions {
        cpu_kernels: off & CPU_KERNELS_OFF == 0,
        winograd: off & WINOGRAD_OFF == 0,
        bf16_dot: off & BF16_DOT_OFF == 0,
        bf16_winograd: off & BF16_WINOGRAD_OFF == 0,
        winograd_wide: off & WINOGRAD_WIDE_ON != 0,
        winograd4: off & WINOGRAD4_OFF == 0,
        winograd4_avx512: off & WINOGRAD4_AVX512_ON != 0,
    }
}

/// Sets the kernel options of the whole process, for the operations that start afterwards. A
/// program's choice (a benchmark comparing kernels): call it at start, before any tensor work.
pub fn set_options(options: KernelOptions) {
    let bit = |on: bool, bit: u8| if on { 0 } else { bit };
    let off = bit(options.cpu_kernels, CPU_KERNELS_OFF)
        | bit(options.winograd, WINOGRAD_OFF)
        | bit(options.bf16_dot, BF16_DOT_OFF)
        | bit(options.bf16_winograd, BF16_WINOGRAD_OFF)
        | bit(!options.winograd_wide, WINOGRAD_WIDE_ON)
        | bit(options.winograd4, WINOGRAD4_OFF)
        | bit(!options.winograd4_avx512, WINOGRAD4_AVX512_ON);
    OFF.store(off, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_restore_the_outer_options() {
        let outer = KernelOptions {
            winograd: false,
            ..KernelOptions::default()
        };
        let inner = KernelOptions {
            bf16_winograd: false,
            ..outer
        };
        let before = options();
        {
            let _outer = scope(outer);
            {
                let _inner = scope(inner);
                assert_eq!(options(), inner);
            }
            assert_eq!(options(), outer);
        }
        assert_eq!(options(), before);
    }
}
