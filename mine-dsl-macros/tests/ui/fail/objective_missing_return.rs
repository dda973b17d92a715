// An objective returns its loss and metrics.
use mine_dsl::prelude::*;

#[objective]
pub fn my_loss(#[latent] vpred: &burn::tensor::Tensor<3>) {
    let _ = vpred;
}

fn main() {}
