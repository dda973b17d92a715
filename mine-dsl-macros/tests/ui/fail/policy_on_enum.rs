// `#[policy]` goes on a struct.
use mine_dsl::prelude::*;

#[policy(produces(vpred))]
pub enum P {
    A,
}

fn main() {}
