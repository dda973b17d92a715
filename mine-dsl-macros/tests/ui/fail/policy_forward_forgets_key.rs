// A forward that forgets a declared key does not compile.
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Device;
use mine_dsl::prelude::*;

#[policy(produces(pi_logits, vpred))]
#[derive(Module, Debug)]
pub struct P {
    value: Linear,
}

impl Policy for P {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
        let image = batch.image()?.clone();
        let [b, t, h, w, c] = image.dims();
        Ok((PLatents { vpred: self.value.forward(image.reshape([b, t, h * w * c])) }, memory))
    }
}

fn main() {}
