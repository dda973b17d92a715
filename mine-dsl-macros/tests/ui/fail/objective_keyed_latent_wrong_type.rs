// A latent named by `key = ..` must have the key's value type too.
use mine_dsl::prelude::*;

#[objective]
pub fn goal_entropy(#[latent(key = prior_dist)] prior: &PiLogits) -> ObjectiveOutput {
    ObjectiveOutput::new(prior.camera.clone().mean())
}

fn main() {}
