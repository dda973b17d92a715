// A type that exists but was not declared with `latent_key!`.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[allow(non_camel_case_types)]
pub struct goal;

#[policy(produces(vpred, goal))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
