//! The built-in objectives, written with `#[objective]`.

mod kl;

pub use kl::{KlDivergence, diag_gaussian_kl, kl_divergence};
