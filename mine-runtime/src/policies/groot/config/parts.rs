//! The parts both GROOT architectures are built from, in our vocabulary: the posterior and
//! prior encoders, the fuser and the decoder ([`MineStudioGrootConfig`](super::MineStudioGrootConfig)
//! maps MineStudio's keyword arguments onto them).

use serde::{Deserialize, Serialize};

/// The posterior (video) encoder: spatial then temporal Transformer pooling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoEncoderConfig {
    /// Transformer layers pooling each frame's tokens.
    pub spatial_layers: usize,
    /// Transformer layers over the pooled frames.
    pub temporal_layers: usize,
    /// Attention heads; must divide `hiddim`.
    pub heads: usize,
    /// Dropout inside the Transformer layers, in `[0, 1)`.
    pub dropout: f64,
}

/// The prior (first-frame) encoder: Transformer pooling of one frame's tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageEncoderConfig {
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads; must divide `hiddim`.
    pub heads: usize,
    /// Dropout inside the Transformer layers, in `[0, 1)`.
    pub dropout: f64,
}

/// The fuser: Transformer over a frame's tokens and the goal token, mean-pooled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FuserConfig {
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads; must divide `hiddim`.
    pub heads: usize,
    /// Dropout inside the Transformer layers, in `[0, 1)`.
    pub dropout: f64,
}

/// The decoder: VPT's residual masked-attention blocks with key/value memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderConfig {
    /// Number of recurrent blocks.
    pub layers: usize,
    /// Attention heads; must divide `hiddim`.
    pub heads: usize,
    /// Frames per training window the attention is sized for.
    pub timesteps: usize,
    /// Past positions kept in each block's memory (each query sees itself and `mem_len - 1`
    /// earlier positions).
    pub mem_len: usize,
}

impl Default for VideoEncoderConfig {
    fn default() -> Self {
        Self {
            spatial_layers: 2,
            temporal_layers: 4,
            heads: 8,
            dropout: 0.1,
        }
    }
}

impl Default for ImageEncoderConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 8,
            dropout: 0.1,
        }
    }
}

impl Default for FuserConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 8,
            dropout: 0.1,
        }
    }
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            layers: 4,
            heads: 8,
            timesteps: 128,
            mem_len: 128,
        }
    }
}
