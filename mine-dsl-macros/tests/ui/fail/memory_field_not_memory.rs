// Every field of a derived memory must itself be a memory.
use burn::tensor::Tensor;
use mine_dsl::Memory;

#[derive(Clone, Memory)]
pub struct State {
    keys: Tensor<3>,
    name: String,
}

fn main() {}
