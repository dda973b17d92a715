//! Behaviour cloning with the VPT action head.

use burn::tensor::Tensor;

use crate::action::{ActionSpace, entropy, log_prob};
use crate::batch::AgentAction;
use crate::latent::PiLogits;
use crate::objective::ObjectiveOutput;

/// MineStudio's `BehaviorCloneCallback`: the negative log-likelihood of the recorded agent
/// actions under the policy's action head.
///
/// Per row: `camera_loss = -sum_T(logp_camera * mask * camera_mask)` (frames whose camera label
/// is the null class 60 do not count), `button_loss = -sum_T(logp_buttons * mask)`;
/// `loss = mean_B(camera_loss + button_loss) * weight`. `mask` (padding) defaults to all ones.
/// Logs `camera_loss`, `button_loss`, `entropy` (of both heads, masked the same way) and
/// `bc_weight`.
#[crate::objective]
pub fn behavior_clone(
    #[latent] pi_logits: &PiLogits,
    #[batch] agent_action: &AgentAction,
    #[batch] mask: Option<&Tensor<2>>,
    #[hparam(default = 1.0)] weight: f64,
) -> ObjectiveOutput {
    let null_camera = ActionSpace::vpt().null_camera() as i64;
    let camera_mask: Tensor<2> = agent_action
        .camera
        .clone()
        .not_equal_elem(null_camera)
        .float()
        .squeeze_dim(2);
    let global_mask = mask.cloned().unwrap_or_else(|| camera_mask.ones_like());
    let camera_weight = global_mask.clone() * camera_mask;

    let log_prob = log_prob(pi_logits, agent_action);
    let entropy = entropy(pi_logits);
    let camera_loss = (log_prob.camera * camera_weight.clone()).sum_dim(1).neg();
    let button_loss = (log_prob.buttons * global_mask.clone()).sum_dim(1).neg();
    let entropy =
        (entropy.camera * camera_weight).sum_dim(1) + (entropy.buttons * global_mask).sum_dim(1);

    let loss = (camera_loss.clone() + button_loss.clone())
        .mean()
        .mul_scalar(weight);
    ObjectiveOutput::new(loss)
        .metric("camera_loss", camera_loss.mean())
        .metric("button_loss", button_loss.mean())
        .metric("entropy", entropy.mean())
        .scalar("bc_weight", weight)
}
