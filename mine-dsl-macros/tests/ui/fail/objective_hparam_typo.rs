// A misspelled `#[hparam]` argument is reported as a typo and read as meant: the config struct
// still gets its `Default`, so the code using it does not fail too.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn scaled_value(#[latent] vpred: &Tensor<3>, #[hparam(defualt = 1.0)] weight: f64) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().mean() * weight)
}

fn main() {
    let _ = ScaledValue::default();
}
