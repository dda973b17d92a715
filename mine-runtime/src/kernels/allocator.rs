//! Keeping freed tensor buffers for reuse instead of returning them to the kernel.
//!
//! A training step allocates and frees hundreds of activation and gradient buffers of several
//! MiB. glibc's allocator serves such sizes with fresh `mmap`s and unmaps them when freed, so
//! every step pays a page fault (and a page clear) for every 4 KiB it touches: about a tenth
//! of a small-VPT step on our CPUs. [`keep_freed_memory`] raises the mmap and trim thresholds
//! so that freed buffers stay in the heap and the next step reuses them (the process's peak
//! resident memory does not grow: the same buffers are reused).

use std::sync::Once;

/// Tunes the process's allocator for training (once; later calls do nothing). Only glibc on
/// Linux is tuned; elsewhere this does nothing.
///
/// A setting of the whole process, so a program's choice: the library never calls it; the
/// `mine-train` program, the examples and the benchmark call it first thing in `main`.
pub fn keep_freed_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator thresholds; it is called before the
        // training allocations and is thread-safe in glibc.
        unsafe {
            // Blocks up to 1 GiB come from the heap, which is never trimmed back below 4 GiB.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    });
}
