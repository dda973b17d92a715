// Objectives are free functions: on a method, `self` is rejected and the method is left as
// written, so the rest of the impl block still compiles.
use burn::tensor::Tensor;
use mine_dsl::prelude::*;

pub struct Losses {
    pub weight: f64,
}

impl Losses {
    #[objective]
    pub fn value_loss(&self, #[latent] vpred: &Tensor<3>) -> ObjectiveOutput {
        ObjectiveOutput::new(vpred.clone().mean() * self.weight)
    }

    pub fn weight(&self) -> f64 {
        self.weight
    }
}

fn main() {
    let _ = Losses { weight: 1.0 }.weight();
}
