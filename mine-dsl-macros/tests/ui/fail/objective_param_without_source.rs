// Every parameter says where its value comes from; all bad parameters are reported together.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(vpred: &Tensor<3>, #[latent] #[batch] mask: &Tensor<2>, #[hparam] weight: f64) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean() * weight + mask.clone().mean())
}

fn main() {}
