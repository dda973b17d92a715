// `#[objective]` goes on a function.
use mine_dsl::prelude::*;

#[objective]
pub struct MyLoss {
    weight: f64,
}

fn main() {}
