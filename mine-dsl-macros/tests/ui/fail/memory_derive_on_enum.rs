// `#[derive(Memory)]` needs a struct.
use mine_dsl::Memory;

#[derive(Clone, Memory)]
pub enum State {
    Empty,
}

fn main() {}
