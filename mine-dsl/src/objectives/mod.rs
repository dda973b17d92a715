//! The built-in objectives, written with `#[objective]`.

mod kl;

pub use kl::{KlDivergence, kl_divergence};
