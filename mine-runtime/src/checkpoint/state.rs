//! `state.json`: the counters and positions a resumed run continues from.

use serde::{Deserialize, Serialize};

use crate::kernels::KernelChoices;
use crate::metrics::MetricsMark;

/// Format version written into every checkpoint's `state.json`: 2, a checkpoint with a
/// `SHA256SUMS` manifest and a [`MetricsMark`]. Format 1 (neither) is still read.
pub const STATE_FORMAT: u32 = 2;
/// The oldest format still read: checkpoints written before checksums.
pub const OLDEST_STATE_FORMAT: u32 = 1;

/// Where a run stands: what a full checkpoint records besides tensors.
///
/// Random numbers: the trainer reseeds the device from `(seed, step)` before every batch and
/// validation pass, so `seed` and `step` are the whole random state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingState {
    /// [`STATE_FORMAT`] of the writer.
    pub format: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of that epoch already consumed: the data position to resume at.
    pub batch_in_epoch: usize,
    /// Batches trained on since the start of the run.
    pub batches_seen: u64,
    /// Frames (`B * T`) trained on since the start of the run.
    pub frames_seen: u64,
    /// Seed of the device's random numbers.
    pub seed: u64,
    /// Whether the checkpoint holds EMA weights (`ema.bpk`).
    pub has_ema: bool,
    /// Whether the checkpoint holds the training memory (`memory.bpk`).
    pub has_memory: bool,
    /// Last timestamp of each row of the last training batch (the memory manager's state).
    pub last_timestamp: Vec<i64>,
    /// Where the run directory's metric files stood when the checkpoint was written (absent
    /// in format 1): a run resumed in the same directory cuts them back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsMark>,
    /// Data-parallel ranks of the run (`trainer.devices` entries; 1 in checkpoints written
    /// before data parallel). A run resumes only with as many ranks: each rank's data shard
    /// and memory depend on it.
    #[serde(default = "one_rank")]
    pub world_size: usize,
    /// The memory of ranks 1 and up (rank 0's is `has_memory` and `last_timestamp`), in
    /// `memory-rank-<r>.bpk` files ([`rank_memory_file`](super::rank_memory_file)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_ranks: Vec<RankMemory>,
    /// The kernel choices the run's `tune_kernels` measured, which a run resumed on the same
    /// kind of machine keeps instead of tuning again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<TunedKernels>,
}

/// A run's tuned kernel choices and the machine they were measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunedKernels {
    /// The choice, every option set.
    pub choices: KernelChoices,
    /// The machine as [`kernels::tune::machine`](crate::kernels::tune::machine) describes
    /// it (CPU family, instruction set, threads): on another, the run tunes again.
    pub machine: String,
}

/// What a checkpoint records of one rank's memory besides its tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankMemory {
    /// Whether the checkpoint holds the rank's memory file.
    pub has_memory: bool,
    /// Last timestamp of each row of the rank's last training batch.
    pub last_timestamp: Vec<i64>,
}

fn one_rank() -> usize {
    1
}

impl TrainingState {
    /// The state of a run that has not started.
    pub fn start(seed: u64) -> Self {
        Self {
            format: STATE_FORMAT,
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            batches_seen: 0,
            frames_seen: 0,
            seed,
            has_ema: false,
            has_memory: false,
            last_timestamp: Vec::new(),
            metrics: None,
            world_size: 1,
            other_ranks: Vec::new(),
            kernels: None,
        }
    }
}
