//! Device-to-host reads, counted: every value the trainer and the optimizer read back from the
//! device goes through [`read`], so that the synchronisations a run costs can be measured.
//!
//! A read makes the host wait until the device has computed the value (on a GPU, until
//! everything queued before it has run), so a training step that reads nothing lets the host
//! queue the next step while the device still runs this one. The trainer reads its losses,
//! metrics and gradient norms back once per logging window and before every checkpoint, and a
//! validation pass once at its end; see [`HostReads`] for what each count means.
//!
//! Reads made inside a policy's forward or an objective (a `MetricValue::to_f64`, an
//! `into_scalar`) are the policy's or objective's own: they are not counted here.
//!
//! The counts are per thread (the trainer runs on the thread that calls `fit`):
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use mine_runtime::sync::{self, ReadReason};
//!
//! let device = Device::flex();
//! let before = sync::reads();
//! let data = sync::read(Tensor::<1>::from_floats([1.0, 2.0], &device), ReadReason::Window);
//! assert_eq!(data.try_to_vec::<f32>().unwrap(), [1.0, 2.0]);
//! assert_eq!(sync::reads().since(&before).window, 1);
//! ```

use std::cell::Cell;
use std::ops::AddAssign;

use burn::tensor::{Tensor, TensorData};

/// Why a value was read back; each reason has its own count in [`HostReads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReason {
    /// The training losses, metrics and gradient norms of a logging window (read at a logged
    /// step, and before a checkpoint so that no checkpoint holds weights that went non-finite).
    Window,
    /// The losses and metrics of a validation pass (read once at its end).
    Validation,
    /// A host report of the optimizer's public API ([`crate::optim::grad_norm`],
    /// [`crate::optim::clip_grad_norm`], [`crate::optim::OptimStep::step`]); the trainer uses
    /// the device-resident forms, which read nothing.
    Optimizer,
}

/// Counts of host synchronisations.
///
/// `window`, `validation` and `optimizer` count calls of [`read`]; `checkpoint` counts weights
/// and checkpoint files written ([`note_checkpoint`]): writing one reads every tensor it holds
/// (weights, optimizer moments, memory) through burn's recorder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostReads {
    /// Reads of training windows ([`ReadReason::Window`]).
    pub window: u64,
    /// Reads of validation passes ([`ReadReason::Validation`]).
    pub validation: u64,
    /// Reads of the optimizer's host reports ([`ReadReason::Optimizer`]).
    pub optimizer: u64,
    /// Weights files and full checkpoints written.
    pub checkpoint: u64,
}

impl HostReads {
    /// The reads counted since `earlier` (an earlier [`reads`] of the same thread).
    pub fn since(&self, earlier: &HostReads) -> HostReads {
        HostReads {
            window: self.window - earlier.window,
            validation: self.validation - earlier.validation,
            optimizer: self.optimizer - earlier.optimizer,
            checkpoint: self.checkpoint - earlier.checkpoint,
        }
    }

    /// Every read of tensor values ([`read`] calls), checkpoints excluded.
    pub fn reads(&self) -> u64 {
        self.window + self.validation + self.optimizer
    }
}

impl AddAssign for HostReads {
    fn add_assign(&mut self, other: HostReads) {
        self.window += other.window;
        self.validation += other.validation;
        self.optimizer += other.optimizer;
        self.checkpoint += other.checkpoint;
    }
}

thread_local! {
    static COUNTS: Cell<HostReads> = Cell::new(HostReads::default());
}

fn count(update: impl FnOnce(&mut HostReads)) {
    COUNTS.with(|counts| {
        let mut value = counts.get();
        update(&mut value);
        counts.set(value);
    });
}

/// Reads `tensor` back to the host (one synchronisation), counting it under `reason`.
pub fn read<const D: usize>(tensor: Tensor<D>, reason: ReadReason) -> TensorData {
    count(|c| match reason {
        ReadReason::Window => c.window += 1,
        ReadReason::Validation => c.validation += 1,
        ReadReason::Optimizer => c.optimizer += 1,
    });
    tracing::trace!(
        ?reason,
        elements = tensor.shape().num_elements(),
        "host read"
    );
    tensor.into_data()
}

/// Reads a tensor's values back as `f32`s (see [`read`]).
pub fn read_f32<const D: usize>(tensor: Tensor<D>, reason: ReadReason) -> Vec<f32> {
    read(tensor, reason).iter::<f32>().collect()
}

/// Counts a weights file or checkpoint written (it reads its tensors through burn's recorder).
pub fn note_checkpoint() {
    count(|c| c.checkpoint += 1);
}

/// The host synchronisations counted on this thread so far.
pub fn reads() -> HostReads {
    COUNTS.with(Cell::get)
}
