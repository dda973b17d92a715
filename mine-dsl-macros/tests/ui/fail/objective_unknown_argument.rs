// Unknown `#[objective]` arguments are rejected, each with its own error.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective(nmae = "x", before = hook)]
pub fn my_loss(#[latent] vpred: &Tensor<3>) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
