// A key that is not declared anywhere.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produces(pi_logit))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
