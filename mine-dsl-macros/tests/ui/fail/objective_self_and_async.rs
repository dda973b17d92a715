// Objectives are plain synchronous functions.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub async fn my_loss(#[latent] vpred: &Tensor<3>) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
