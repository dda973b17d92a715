//! What a GROOT policy carries between batches: each decoder block's key/value memory
//! (Transformer-XL style) and, in goal-conditioned inference, the goal encoded from a
//! reference video.

use burn::tensor::{Bool, Device, Tensor};
use mine_dsl::Memory;
use mine_dsl::latent::DiagGaussian;

use crate::policies::vpt::BlockMemory;

/// Key/value memory of one decoder block (batch dimension first).
///
/// `M` is the decoder's `mem_len`; slot `M - 1` holds the most recent position.
#[derive(Clone, Debug, Memory)]
pub struct GrootLayerMemory {
    /// `[B, 1, M]`: whether each slot holds a real past position of the same episode.
    pub mask: Tensor<3, Bool>,
    /// `[B, M, hiddim]`: keys of the past positions.
    pub keys: Tensor<3>,
    /// `[B, M, hiddim]`: values of the past positions.
    pub values: Tensor<3>,
}

impl GrootLayerMemory {
    /// The empty memory (all slots invalid, keys and values zero) for `batch_size` rows.
    pub fn empty(batch_size: usize, mem_len: usize, hiddim: usize, device: &Device) -> Self {
        Self {
            mask: Tensor::<3>::zeros([batch_size, 1, mem_len], device).bool(),
            keys: Tensor::zeros([batch_size, mem_len, hiddim], device),
            values: Tensor::zeros([batch_size, mem_len, hiddim], device),
        }
    }
}

impl From<GrootLayerMemory> for BlockMemory {
    fn from(m: GrootLayerMemory) -> Self {
        BlockMemory {
            mask: m.mask,
            keys: m.keys,
            values: m.values,
        }
    }
}

impl From<BlockMemory> for GrootLayerMemory {
    fn from(m: BlockMemory) -> Self {
        GrootLayerMemory {
            mask: m.mask,
            keys: m.keys,
            values: m.values,
        }
    }
}

/// A diagonal Gaussian held in memory (the [`DiagGaussian`] latent, as a [`Memory`](mine_dsl::memory::Memory)).
#[derive(Clone, Debug, Memory)]
pub struct GaussianMemory {
    /// Mean, `[B, hiddim]`.
    pub mu: Tensor<2>,
    /// Log-variance, `[B, hiddim]`.
    pub log_var: Tensor<2>,
    /// The goal latent the decoder is conditioned on, `[B, hiddim]`.
    pub z: Tensor<2>,
}

impl From<DiagGaussian> for GaussianMemory {
    fn from(d: DiagGaussian) -> Self {
        Self {
            mu: d.mu,
            log_var: d.log_var,
            z: d.z,
        }
    }
}

impl From<GaussianMemory> for DiagGaussian {
    fn from(m: GaussianMemory) -> Self {
        Self {
            mu: m.mu,
            log_var: m.log_var,
            z: m.z,
        }
    }
}

/// A goal encoded from a reference video by
/// [`GrootPolicy::encode_goal`](super::GrootPolicy::encode_goal): MineStudio's inference-mode
/// condition. The decoder is conditioned on `posterior.z`.
#[derive(Clone, Debug, Memory)]
pub struct GoalCondition {
    /// The video encoder's distribution over the whole reference.
    pub posterior: GaussianMemory,
    /// The image encoder's distribution over the reference's first frame.
    pub prior: GaussianMemory,
}

/// The memory of a [`GrootPolicy`](super::GrootPolicy).
///
/// `layers` holds one [`GrootLayerMemory`] per decoder block. `goal` is `None` in training,
/// where the goal is encoded from each batch's own frames; set it with
/// [`GrootMemory::with_goal`] to condition inference on a reference video instead.
///
/// Resetting rows ([`Memory::reset_rows`](mine_dsl::memory::Memory::reset_rows)) empties their decoder memory and replaces their
/// goal by the initial memory's: to keep a goal across episode starts, reset against an
/// initial memory that carries it (`policy.initial_memory(b, &device).with_goal(goal)`).
#[derive(Clone, Debug, Memory)]
pub struct GrootMemory {
    /// Each decoder block's key/value memory.
    pub layers: Vec<GrootLayerMemory>,
    /// The goal the decoder is conditioned on, when it comes from a reference video.
    pub goal: Option<GoalCondition>,
}

impl GrootMemory {
    /// Conditions every later forward on `goal` (whose batch size must match).
    pub fn with_goal(mut self, goal: GoalCondition) -> Self {
        self.goal = Some(goal);
        self
    }

    /// Number of rows.
    pub fn batch_size(&self) -> usize {
        self.layers.first().map_or(0, |l| l.mask.dims()[0])
    }
}
