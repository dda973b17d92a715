// Parameters are plain names: a pattern is rejected; the other parameters and the config struct
// are still generated, so the code using the objective does not fail too.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

#[objective]
pub fn clipped_value(
    #[latent] vpred: &Tensor<3>,
    #[hparam] (low, high): (f64, f64),
    #[hparam(default = 1.0)] weight: f64,
) -> ObjectiveOutput {
    ObjectiveOutput::new(vpred.clone().clamp(low, high).mean() * weight)
}

fn main() {
    let _ = ClippedValue::default().with_weight(2.0);
}
