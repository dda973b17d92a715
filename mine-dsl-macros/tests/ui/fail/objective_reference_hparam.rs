// Hyperparameters are owned config fields; latents must be references.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: Tensor<3>, #[hparam] tag: &str) -> ObjectiveOutput {
    let _ = tag;
    ObjectiveOutput::new(vpred.mean())
}

fn main() {}
