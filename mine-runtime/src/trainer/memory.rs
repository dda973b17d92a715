//! Memory carried across the batches of long trajectories (MineStudio's `_make_memory`).

use mine_dsl::batch::BatchInfo;
use mine_dsl::memory::Memory;

/// The memory of one stream of batches (training or validation), carried per batch row.
///
/// A row whose first timestamp is not the previous batch's last timestamp + 1 starts an
/// episode: its memory is reset to the initial memory. Last timestamps start at 0, as in
/// MineStudio, so a first batch starting at timestamp 1 continues the initial memory.
#[derive(Clone, Debug)]
pub struct MemoryStream<M> {
    memory: Option<M>,
    last_timestamps: Vec<i64>,
}

impl<M> Default for MemoryStream<M> {
    fn default() -> Self {
        Self {
            memory: None,
            last_timestamps: Vec::new(),
        }
    }
}

/// Which rows of a batch start an episode, given the previous batch's last timestamps.
pub fn episode_starts(info: &BatchInfo, last_timestamps: &[i64]) -> Vec<bool> {
    info.timestamp
        .iter()
        .enumerate()
        .map(|(row, stamps)| {
            let last = last_timestamps.get(row).copied().unwrap_or(0);
            stamps.first().is_none_or(|&first| first != last + 1)
        })
        .collect()
}

impl<M: Memory> MemoryStream<M> {
    /// The memory for this batch: the carried one with episode-start rows reset to `initial`,
    /// or the initial memory for the first batch and whenever the batch size changes.
    pub fn prepare(&mut self, info: &BatchInfo, initial: impl FnOnce(usize) -> M) -> M {
        let rows = info.timestamp.len();
        let starts = episode_starts(info, &self.last_timestamps);
        let same_rows = self.last_timestamps.len() == rows;
        self.last_timestamps = info
            .timestamp
            .iter()
            .map(|stamps| stamps.last().copied().unwrap_or(-1))
            .collect();
        let initial = initial(rows);
        match self.memory.take() {
            Some(memory) if same_rows => memory.reset_rows(&starts, &initial),
            _ => initial,
        }
    }

    /// Keeps the memory a step returned for the next batch, cut from the autodiff graph
    /// (truncated backpropagation through time).
    pub fn keep(&mut self, memory: M) {
        self.memory = Some(memory.detach());
    }

    /// Forgets the carried memory and timestamps (a new pass over the data).
    pub fn clear(&mut self) {
        self.memory = None;
        self.last_timestamps.clear();
    }

    /// The carried memory and last timestamps, for a checkpoint.
    pub fn parts(&self) -> (Option<&M>, &[i64]) {
        (self.memory.as_ref(), &self.last_timestamps)
    }

    /// Restores a stream from checkpointed parts.
    pub fn from_parts(memory: Option<M>, last_timestamps: Vec<i64>) -> Self {
        Self {
            memory,
            last_timestamps,
        }
    }
}
