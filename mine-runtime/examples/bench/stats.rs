//! Step timings and their medians.

use serde::{Deserialize, Serialize};

/// Seconds spent in the parts of one training step.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct StepTimes {
    /// Policy forward and loss.
    pub forward: f64,
    /// Backward pass.
    pub backward: f64,
    /// Gradient clipping, AdamW and zeroing/dropping the gradients.
    pub optimizer: f64,
    /// The whole step.
    pub total: f64,
    /// CPU time of the thread that runs the step (ours): the step's work that no thread of
    /// the pool takes, which more threads do not shorten. 0 where not measured (the
    /// reference).
    #[serde(default)]
    pub calling_thread: f64,
}

/// What a step server answers to `run N`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunReply {
    /// One entry per step.
    pub steps: Vec<StepTimes>,
    /// Each step's loss (ours; none from the reference).
    #[serde(default)]
    pub losses: Vec<f32>,
    /// The server process's peak resident memory so far.
    pub peak_rss_mib: f64,
    /// What the GPU's allocator holds (PyTorch: its peak reserved bytes), in MiB; absent on
    /// the CPU.
    #[serde(default)]
    pub device_mib: Option<f64>,
}

/// The median of `xs` (NaN when empty).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Per-part medians of `steps`.
pub fn medians(steps: &[StepTimes]) -> StepTimes {
    let part = |f: fn(&StepTimes) -> f64| median(steps.iter().map(f).collect());
    StepTimes {
        forward: part(|s| s.forward),
        backward: part(|s| s.backward),
        optimizer: part(|s| s.optimizer),
        total: part(|s| s.total),
        calling_thread: part(|s| s.calling_thread),
    }
}

/// CPU seconds the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes the struct it is given; the clock id is valid on Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return f64::NAN;
    }
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}
