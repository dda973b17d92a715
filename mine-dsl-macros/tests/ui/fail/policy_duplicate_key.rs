// The same key twice in `produces(..)`.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produces(pi_logits, vpred, pi_logits))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
