// Step-context fields are a known set.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &Tensor<3>, #[ctx] epoch: usize) -> ObjectiveOutput {
    let _ = epoch;
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
