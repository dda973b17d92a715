//! Carrying a policy's memory from one batch to the next over long trajectories.
//!
//! Port of MineStudio's `MineLightning._make_memory`: per batch row, a row whose first
//! timestamp is not the previous batch's last timestamp + 1 begins an episode, and its memory
//! is reset to the initial memory. The last timestamps start at 0, so on the very first batch
//! a row starting at timestamp 1 counts as continuing; its memory is the initial memory either
//! way. After the forward, the memory is detached (truncated backpropagation through time) and
//! kept for the next batch.

use burn::tensor::Device;
use mine_dsl::batch::BatchInfo;

use crate::trainer::config::MemoryMode;
use mine_dsl::memory::{Memory, MemoryState, MemoryStateError};

/// The memory carried between the batches of one stream (train or validation).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::batch::BatchInfo;
/// use mine_runtime::trainer::memory_manager::MemoryManager;
///
/// let device = Device::flex();
/// let info = |ts: [[i64; 2]; 2]| BatchInfo {
///     timestamp: ts.iter().map(|r| r.to_vec()).collect(),
///     ..BatchInfo::default()
/// };
/// let initial = |b: usize| Tensor::<2>::zeros([b, 1], &device);
/// let mut manager = MemoryManager::<Tensor<2>>::new();
///
/// let prepared = manager.prepare(&info([[0, 1], [5, 6]]), 2, initial);
/// assert_eq!(prepared.episode_starts, [true, true]);
/// manager.store(Tensor::ones([2, 1], &device)); // the forward's memory out
///
/// // Row 0 continues (2 = 1 + 1); row 1 jumps to another window: reset.
/// let prepared = manager.prepare(&info([[2, 3], [0, 1]]), 2, initial);
/// assert_eq!(prepared.episode_starts, [false, true]);
/// let rows: Vec<f32> = prepared.memory.into_data().try_to_vec().unwrap();
/// assert_eq!(rows, [1.0, 0.0]);
///
/// // The ablation: every batch starts from the initial memory.
/// use mine_runtime::trainer::config::MemoryMode;
/// let mut reset = MemoryManager::<Tensor<2>>::new().with_mode(MemoryMode::Reset);
/// reset.prepare(&info([[0, 1], [5, 6]]), 2, initial);
/// reset.store(Tensor::ones([2, 1], &device));
/// assert_eq!(reset.prepare(&info([[2, 3], [7, 8]]), 2, initial).episode_starts, [true, true]);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryManager<M: Memory> {
    memory: Option<M>,
    initial: Option<M>,
    last_timestamp: Vec<i64>,
    mode: MemoryMode,
}

/// The memory for one batch, and which rows begin an episode.
#[derive(Debug, Clone)]
pub struct PreparedMemory<M> {
    /// The memory to feed to the policy's forward.
    pub memory: M,
    /// Per row: whether the row's memory was reset to the initial memory.
    pub episode_starts: Vec<bool>,
}

/// What a checkpoint stores of a [`MemoryManager`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemorySnapshot {
    /// The carried memory (`None` before the first batch).
    pub memory: Option<MemoryState>,
    /// The last timestamp of each row of the previous batch.
    pub last_timestamp: Vec<i64>,
}

impl<M: Memory> Default for MemoryManager<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Memory> MemoryManager<M> {
    /// A manager that has seen no batch: the first batch gets the initial memory.
    pub fn new() -> Self {
        Self {
            memory: None,
            initial: None,
            last_timestamp: Vec::new(),
            mode: MemoryMode::Carry,
        }
    }

    /// The same manager in `mode`: with [`MemoryMode::Reset`] every row of every batch starts
    /// an episode (its memory is the initial memory).
    pub fn with_mode(mut self, mode: MemoryMode) -> Self {
        self.mode = mode;
        self
    }

    /// The memory for a batch of `batch_size` rows described by `info`.
    ///
    /// `initial(batch_size)` builds the initial memory (the policy's `initial_memory`); it is
    /// called once, and again only if the batch size changes. A batch whose size differs from
    /// the previous one, or that carries no timestamps, starts an episode in every row.
    pub fn prepare(
        &mut self,
        info: &BatchInfo,
        batch_size: usize,
        initial: impl FnOnce(usize) -> M,
    ) -> PreparedMemory<M> {
        if self.last_timestamp.len() != batch_size {
            if !self.last_timestamp.is_empty() {
                tracing::debug!(
                    from = self.last_timestamp.len(),
                    to = batch_size,
                    "batch size changed: every row starts an episode"
                );
            }
            self.memory = None;
            self.initial = None;
            self.last_timestamp = vec![0; batch_size];
        }
        let initial = self.initial.get_or_insert_with(|| initial(batch_size));
        let memory = self.memory.take().unwrap_or_else(|| initial.clone());
        let episode_starts: Vec<bool> = if self.mode == MemoryMode::Reset {
            vec![true; batch_size]
        } else if info.timestamp.len() == batch_size {
            info.timestamp
                .iter()
                .zip(&self.last_timestamp)
                .map(|(row, &last)| row.first().is_none_or(|&first| first != last + 1))
                .collect()
        } else {
            vec![true; batch_size]
        };
        for (last, row) in self.last_timestamp.iter_mut().zip(&info.timestamp) {
            if let Some(&end) = row.last() {
                *last = end;
            }
        }
        let memory = memory.reset_rows(&episode_starts, initial);
        PreparedMemory {
            memory,
            episode_starts,
        }
    }

    /// Keeps the forward's memory for the next batch, detached from the autodiff graph.
    pub fn store(&mut self, memory: M) {
        self.memory = Some(memory.detach());
    }

    /// The carried memory, if a batch has been processed.
    pub fn memory(&self) -> Option<&M> {
        self.memory.as_ref()
    }

    /// The last timestamp of each row of the previous batch.
    pub fn last_timestamp(&self) -> &[i64] {
        &self.last_timestamp
    }

    /// The state a checkpoint stores: the memory's tensors and the last timestamps.
    pub fn snapshot(&self) -> MemorySnapshot {
        MemorySnapshot {
            memory: self.memory.as_ref().map(|m| {
                let mut state = MemoryState::new();
                m.save_state(&mut state);
                state
            }),
            last_timestamp: self.last_timestamp.clone(),
        }
    }

    /// A manager continuing from `snapshot`, with its memory on `device`. The initial memory is
    /// rebuilt from the policy on the next batch.
    pub fn restore(snapshot: MemorySnapshot, device: &Device) -> Result<Self, MemoryStateError> {
        let memory = match snapshot.memory {
            None => None,
            Some(mut state) => {
                let memory = M::load_state(&mut state, device)?;
                state.finish()?;
                Some(memory)
            }
        };
        Ok(Self {
            memory,
            initial: None,
            last_timestamp: snapshot.last_timestamp,
            mode: MemoryMode::Carry,
        })
    }
}
