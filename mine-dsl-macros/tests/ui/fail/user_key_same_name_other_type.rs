// Two user keys of the same name but different value types are different keys: an objective
// consuming one cannot be wired to a policy producing the other.
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use mine_dsl::prelude::*;

mod policy_keys {
    mine_dsl::latent_key!(pub goal: burn::tensor::Tensor<2>);
}
mod objective_keys {
    mine_dsl::latent_key!(pub goal: burn::tensor::Tensor<3>);
}

#[policy(produces(policy_keys::goal))]
#[derive(Module, Debug)]
pub struct GoalPolicy {
    value: Linear,
}

impl Policy for GoalPolicy {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
        let mask = batch.mask()?.clone();
        Ok((GoalPolicyLatents { goal: self.value.forward(mask) }, memory))
    }
}

#[objective]
pub fn goal_norm(#[latent(key = objective_keys::goal)] goal: &Tensor<3>) -> ObjectiveOutput {
    ObjectiveOutput::new(goal.clone().powi_scalar(2).mean())
}

fn main() {
    let device = Device::flex();
    let policy = GoalPolicy { value: burn::nn::LinearConfig::new(4, 4).init(&device) };
    let _ = Experiment::new(policy).objective(GoalNorm {});
}
