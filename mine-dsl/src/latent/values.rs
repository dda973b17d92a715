//! Value types carried by the built-in latent keys.

use burn::tensor::Tensor;

/// Log-probabilities of the VPT action head, one distribution per frame.
///
/// `buttons` has shape `[B, T, 1, 8641]` (one class per joint button combination) and
/// `camera` has shape `[B, T, 1, 121]` (one class per pair of quantized pitch/yaw bins).
/// Both hold normalized log-probabilities (the output of a log-softmax).
#[derive(Clone, Debug)]
pub struct PiLogits {
    /// Log-probabilities over the 8641 joint button classes, `[B, T, 1, 8641]`.
    pub buttons: Tensor<4>,
    /// Log-probabilities over the 121 camera classes, `[B, T, 1, 121]`.
    pub camera: Tensor<4>,
}

/// A diagonal Gaussian over a latent code, with the sample drawn from it.
///
/// All three tensors have the same shape, `[B, D]` for GROOT's goal embedding.
#[derive(Clone, Debug)]
pub struct DiagGaussian {
    /// Mean of each dimension.
    pub mu: Tensor<2>,
    /// Natural logarithm of the variance of each dimension.
    pub log_var: Tensor<2>,
    /// The sample `mu + exp(log_var / 2) * eps` (reparameterized), or `mu` in evaluation.
    pub z: Tensor<2>,
}
