// A policy must say which latents it produces.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
