//! Policy networks that experiments can train: plain burn modules with a `forward` and a
//! recurrent memory, wrapped by the DSL's `#[policy]` where they are used.

pub mod groot;
pub mod inference;
pub mod vpt;
