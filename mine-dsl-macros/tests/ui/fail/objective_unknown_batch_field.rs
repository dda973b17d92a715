// Batch fields are a known set.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &Tensor<3>, #[batch] masks: Option<&Tensor<2>>) -> ObjectiveOutput {
    let _ = masks;
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
