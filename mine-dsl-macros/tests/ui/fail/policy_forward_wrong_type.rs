// A forward that gives a key a value of the wrong type does not compile.
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Device;
use mine_dsl::prelude::*;

#[policy(produces(vpred))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

impl Policy for P {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
        let mask = batch.mask()?.clone();
        Ok((PLatents { vpred: mask }, memory))
    }
}

fn main() {}
