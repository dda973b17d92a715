// A step-context parameter must have the field's type; the error points at the parameter.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn warmup_value(#[latent] vpred: &Tensor<3>, #[ctx] global_step: usize) -> ObjectiveOutput {
    let warmup = (global_step.min(100) as f64) / 100.0;
    ObjectiveOutput::new(vpred.clone().mean() * warmup)
}

fn main() {}
