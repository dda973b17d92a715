//! The recurrent state of a VPT policy: each attention block's keys and values of the most
//! recent past positions, with a validity mask.

use burn::tensor::{Bool, Device, Tensor};
use mine_dsl::Memory;

use super::config::VptConfig;

/// Key/value memory of one attention block (MineStudio's `(state_mask, (K, V))`).
///
/// `M` is [`VptConfig::memory_len`]; slot `M - 1` holds the most recent position.
#[derive(Clone, Debug, Memory)]
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
/// the row to [`VptMemory::initial`] with [`Memory::reset_rows`](mine_dsl::memory::Memory::reset_rows).
/// Between training steps, [`Memory::detach`](mine_dsl::memory::Memory::detach) it so that the
/// next step does not backpropagate into the previous one (the trainer does both).
#[derive(Clone, Debug, Memory)]
pub struct VptMemory {
    /// Memory of each attention block, in block order.
    pub blocks: Vec<BlockMemory>,
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
}
