// A key that is declared nowhere (and is no near miss of a built-in key).
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produces(vpred, goal_embedding))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
