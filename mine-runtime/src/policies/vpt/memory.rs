//! The recurrent state of a VPT policy: each attention block's keys and values of the most
//! recent past positions, with a validity mask.

use burn::tensor::{Bool, Device, Tensor, TensorData};
use thiserror::Error;

use super::config::VptConfig;

/// Key/value memory of one attention block (MineStudio's `(state_mask, (K, V))`).
///
/// `M` is [`VptConfig::memory_len`]; slot `M - 1` holds the most recent position.
#[derive(Clone, Debug)]
pub struct BlockMemory {
    /// `[B, 1, M]`: whether each memory slot holds a real past position of the same episode.
    pub mask: Tensor<3, Bool>,
    /// `[B, M, hidsize]`: keys of the past positions.
    pub keys: Tensor<3>,
    /// `[B, M, hidsize]`: values of the past positions.
    pub values: Tensor<3>,
}

/// The recurrent state of a VPT policy: one [`BlockMemory`] per attention block.
///
/// Carry it from one forward call to the next within an episode; at an episode start reset
/// the row with [`VptMemory::reset_rows`]. Between training steps, [`VptMemory::detach`] it
/// so that the next step does not backpropagate into the previous one.
#[derive(Clone, Debug)]
pub struct VptMemory {
    /// Memory of each attention block, in block order.
    pub blocks: Vec<BlockMemory>,
}

/// A memory operation got arguments that do not fit the memory.
#[derive(Debug, Error, PartialEq)]
pub enum VptMemoryError {
    /// The row selection has a different length than the memory's batch.
    #[error(
        "VPT memory: {given} reset flags given for a memory of batch size {batch}; pass one flag per row"
    )]
    BatchMismatch {
        /// Number of flags given.
        given: usize,
        /// Batch size of the memory.
        batch: usize,
    },
}

impl VptMemory {
    /// The state before the first frame of an episode, for `batch_size` rows: empty (all
    /// slots invalid, keys and values zero).
    pub fn initial(config: &VptConfig, batch_size: usize, device: &Device) -> Self {
        let m = config.memory_len();
        let blocks = (0..config.n_recurrence_layers)
            .map(|_| BlockMemory {
                mask: Tensor::<3>::zeros([batch_size, 1, m], device).bool(),
                keys: Tensor::zeros([batch_size, m, config.hidsize], device),
                values: Tensor::zeros([batch_size, m, config.hidsize], device),
            })
            .collect();
        Self { blocks }
    }

    /// Number of rows.
    pub fn batch_size(&self) -> usize {
        self.blocks.first().map_or(0, |b| b.mask.dims()[0])
    }

    /// Returns the memory with the rows flagged `true` in `reset` set back to the initial
    /// (empty) state; other rows are unchanged.
    pub fn reset_rows(self, reset: &[bool]) -> Result<Self, VptMemoryError> {
        let batch = self.batch_size();
        if reset.len() != batch {
            return Err(VptMemoryError::BatchMismatch {
                given: reset.len(),
                batch,
            });
        }
        if !reset.contains(&true) {
            return Ok(self);
        }
        let blocks = self
            .blocks
            .into_iter()
            .map(|block| {
                let device = block.keys.device();
                let flags =
                    Tensor::<1, Bool>::from_data(TensorData::new(reset.to_vec(), [batch]), &device)
                        .reshape([batch, 1, 1]);
                let [_, _, m] = block.mask.dims();
                let [_, _, e] = block.keys.dims();
                let kv_flags = flags.clone().expand([batch, m, e]);
                BlockMemory {
                    mask: block.mask.bool_and(flags.expand([batch, 1, m]).bool_not()),
                    keys: block.keys.mask_fill(kv_flags.clone(), 0.0),
                    values: block.values.mask_fill(kv_flags, 0.0),
                }
            })
            .collect();
        Ok(Self { blocks })
    }

    /// Returns the memory cut from the autodiff graph that produced it.
    pub fn detach(self) -> Self {
        let blocks = self
            .blocks
            .into_iter()
            .map(|block| BlockMemory {
                mask: block.mask,
                keys: block.keys.detach(),
                values: block.values.detach(),
            })
            .collect();
        Self { blocks }
    }
}
