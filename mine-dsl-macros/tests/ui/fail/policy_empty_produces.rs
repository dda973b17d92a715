// A policy produces at least one latent key.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produces())]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
