//! The built-in latent keys every MineStudio policy and objective knows.

use burn::tensor::Tensor;

use super::values::{DiagGaussian, PiLogits};

crate::latent_key! {
    /// Log-probabilities of the VPT action head: buttons `[B, T, 1, 8641]`, camera `[B, T, 1, 121]`.
    pub pi_logits: PiLogits;
    /// Value prediction per frame, `[B, T, 1]`.
    pub vpred: Tensor<3>;
    /// Posterior over the goal latent (GROOT's video encoder).
    pub posterior_dist: DiagGaussian;
    /// Prior over the goal latent (GROOT's image encoder).
    pub prior_dist: DiagGaussian;
}
