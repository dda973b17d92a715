// Objectives cannot be generic over types.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss<W: Into<f64>>(#[latent] vpred: &Tensor<3>, #[hparam] weight: W) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean() * weight.into())
}

fn main() {}
