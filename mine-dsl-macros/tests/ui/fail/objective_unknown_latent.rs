// A misspelled built-in key in an objective.
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] pi_logit: &PiLogits) -> ObjectiveOutput {
    ObjectiveOutput::new(pi_logit.camera.clone().mean())
}

fn main() {}
