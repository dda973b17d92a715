// The same latent consumed twice.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &Tensor<3>, #[latent(key = vpred)] again: &Tensor<3>) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean() + again.clone().mean())
}

fn main() {}
