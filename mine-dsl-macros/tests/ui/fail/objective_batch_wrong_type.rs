// A batch parameter must have the field's type; the error points at the parameter.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn masked_value(#[latent] vpred: &Tensor<3>, #[batch] mask: Option<&Tensor<3>>) -> ObjectiveOutput {
    let _ = mask;
    ObjectiveOutput::new(vpred.clone().mean())
}

fn main() {}
