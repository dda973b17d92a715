// Wiring the KL objective to a policy that produces no `posterior_dist` does not compile.
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use mine_dsl::objectives::KlDivergence;
use mine_dsl::prelude::*;

#[policy(produces(vpred))]
#[derive(Module, Debug)]
pub struct ValuePolicy {
    value: Linear,
}

impl Policy for ValuePolicy {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
        let image = batch.image()?.clone();
        let [b, t, h, w, c] = image.dims();
        Ok((ValuePolicyLatents { vpred: self.value.forward(image.reshape([b, t, h * w * c])) }, memory))
    }
}

fn main() {
    let device = Device::flex();
    let policy = ValuePolicy { value: LinearConfig::new(12, 1).init(&device) };
    let _experiment = Experiment::new(policy).objective(KlDivergence::default());
}
