// A hyperparameter default of the wrong type is reported at the default.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &Tensor<3>, #[hparam(default = "one")] weight: f64) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean() * weight)
}

fn main() {}
