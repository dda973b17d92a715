// A type that exists but was not declared with `latent_key!`, consumed by an objective.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

pub struct Goal;

#[objective]
pub fn goal_norm(#[latent(key = Goal)] goal: &Tensor<2>) -> ObjectiveOutput {
    ObjectiveOutput::new(goal.clone().powi_scalar(2).mean())
}

fn main() {
    let _ = GoalNorm {};
}
