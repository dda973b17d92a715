//! MineStudio's recorded callback inputs (`shared/golden/callbacks.json`) as our types: the
//! action-head log-probs and goal distributions a real VPT/GROOT produced, and the batch.
//! Shared by the golden tests and the `objectives` example, which includes this file.

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::prelude::*;
use serde_json::Value;

/// A policy that only replays recorded latents: objectives are evaluated on them directly.
#[policy(produces(pi_logits, posterior_dist, prior_dist))]
#[derive(Module, Debug)]
pub struct Replay {}

impl Policy for Replay {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, _batch: &Batch, _memory: ()) -> Forward<Self> {
        unreachable!("Replay's latents come from `Recorded::latents`, not from a forward")
    }
}

/// The recorded latents and the batch of `callbacks.json`.
pub struct Recorded {
    /// `log_softmax(raw logits)` of both heads, `[2, 4, 1, C]`.
    pub pi_logits: PiLogits,
    /// The posterior of the KL inputs, `[2, 8]`.
    pub posterior: DiagGaussian,
    /// The prior of the KL inputs, `[2, 8]`.
    pub prior: DiagGaussian,
    /// Agent actions and (optionally) the mask.
    pub batch: Batch,
}

impl Recorded {
    /// The recorded latents as the replay policy's latents.
    pub fn latents(&self) -> ReplayLatents {
        ReplayLatents {
            pi_logits: self.pi_logits.clone(),
            posterior_dist: self.posterior.clone(),
            prior_dist: self.prior.clone(),
        }
    }
}

/// Every number of a (nested) JSON array, in order.
pub fn numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

/// A float tensor of `shape` from a nested JSON array.
pub fn float<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = numbers(value).into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn int<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    let data: Vec<i64> = numbers(value).into_iter().map(|v| v as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn gaussian(mu: &Value, log_var: &Value, device: &Device) -> DiagGaussian {
    let mu = float(mu, [2, 8], device);
    DiagGaussian {
        z: mu.clone(),
        mu,
        log_var: float(log_var, [2, 8], device),
    }
}

/// Builds the recorded inputs; `with_mask` chooses between the masked and unmasked variants.
pub fn recorded(golden: &Value, device: &Device, with_mask: bool) -> Recorded {
    let (inputs, kl) = (&golden["inputs"], &golden["kl_inputs"]);
    Recorded {
        pi_logits: PiLogits {
            buttons: log_softmax(
                float(&inputs["raw_logits_buttons"], [2, 4, 1, 8641], device),
                3,
            ),
            camera: log_softmax(
                float(&inputs["raw_logits_camera"], [2, 4, 1, 121], device),
                3,
            ),
        },
        posterior: gaussian(&kl["q_mu"], &kl["q_log_var"], device),
        prior: gaussian(&kl["p_mu"], &kl["p_log_var"], device),
        batch: Batch {
            agent_action: Some(AgentAction {
                buttons: int(&inputs["agent_action_buttons"], [2, 4, 1], device),
                camera: int(&inputs["agent_action_camera"], [2, 4, 1], device),
            }),
            mask: with_mask.then(|| float(&inputs["mask"], [2, 4], device)),
            ..Batch::default()
        },
    }
}
