// A misspelled `#[policy]` argument is rejected, and every bad argument is reported at once.
use burn::module::Module;
use burn::nn::Linear;
use mine_dsl::prelude::*;

#[policy(produce(vpred), memroy = ())]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

fn main() {}
