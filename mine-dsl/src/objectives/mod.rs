//! The built-in objectives, written with `#[objective]`.

mod bc;
mod kl;

pub use bc::{BehaviorClone, behavior_clone};
pub use kl::{KlDivergence, diag_gaussian_kl, kl_divergence};
