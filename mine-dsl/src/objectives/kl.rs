//! KL divergence between the posterior and prior goal distributions (GROOT).

use burn::tensor::Tensor;

use crate::latent::DiagGaussian;
use crate::objective::ObjectiveOutput;

/// KL(q || p) of two diagonal Gaussians per batch row, summed over dimensions: `[B, D] -> [B]`.
///
/// `KL = -0.5 * sum_D(1 + (q_lv - p_lv) - exp(q_lv - p_lv) - (q_mu - p_mu)^2 / exp(p_lv))`.
pub fn diag_gaussian_kl(q: &DiagGaussian, p: &DiagGaussian) -> Tensor<1> {
    let log_ratio = q.log_var.clone() - p.log_var.clone();
    let diff = q.mu.clone() - p.mu.clone();
    let inner = log_ratio.clone().add_scalar(1.0)
        - log_ratio.exp()
        - diff.powi_scalar(2) / p.log_var.clone().exp();
    inner.sum_dim(1).squeeze_dim::<1>(1).mul_scalar(-0.5)
}

/// MineStudio's `KLDivergenceCallback`: the mean over the batch of KL(posterior || prior),
/// times `weight`. Logs `kl_div` (unweighted) and `kl_weight`.
#[crate::objective]
pub fn kl_divergence(
    #[latent] posterior_dist: &DiagGaussian,
    #[latent] prior_dist: &DiagGaussian,
    #[hparam(default = 1.0)] weight: f64,
) -> ObjectiveOutput {
    let kl = diag_gaussian_kl(posterior_dist, prior_dist).mean();
    ObjectiveOutput::new(kl.clone().mul_scalar(weight))
        .metric("kl_div", kl)
        .scalar("kl_weight", weight)
}
