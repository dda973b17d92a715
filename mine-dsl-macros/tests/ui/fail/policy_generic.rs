// Policies are concrete types (burn 0.22 modules have no backend parameter).
use burn::module::Module;
use mine_dsl::prelude::*;

#[policy(produces(vpred))]
#[derive(Module, Debug)]
pub struct P<M: Module> {
    inner: M,
}

fn main() {}
