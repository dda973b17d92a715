// A latent parameter must have the key's value type; the error points at the parameter.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &Tensor<2>) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
