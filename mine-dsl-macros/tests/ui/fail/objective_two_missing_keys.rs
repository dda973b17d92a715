// Two objectives, each consuming a key the policy does not produce: both are reported.
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use mine_dsl::prelude::*;

#[policy(produces(pi_logits))]
#[derive(Module, Debug)]
pub struct ActionPolicy {
    head: Linear,
}

impl Policy for ActionPolicy {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, _memory: ()) -> Forward<Self> {
        let _ = (&self.head, batch);
        Err(PolicyError::Invalid("not run".into()))
    }
}

#[objective]
pub fn value_loss(#[latent] vpred: &Tensor<3>) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean())
}

#[objective]
pub fn goal_loss(#[latent] posterior_dist: &DiagGaussian) -> ObjectiveOutput {
    ObjectiveOutput::new(posterior_dist.mu.clone().powi_scalar(2).mean())
}

fn main() {
    let device = Device::flex();
    let policy = ActionPolicy { head: burn::nn::LinearConfig::new(4, 4).init(&device) };
    let _ = Experiment::new(policy).objective(ValueLoss {}).objective(GoalLoss {});
}
