// A policy's declared memory type must implement `Memory`.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produces(vpred), memory = String)]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
