//! Latent keys, the values they carry, and the sets policies return.
//!
//! A latent key is a type: `pi_logits`, `vpred`, `posterior_dist`, `prior_dist` are built in,
//! and [`latent_key!`](crate::latent_key) declares more in one line each.

mod builtin;
mod key;
mod set;
pub mod values;

pub use builtin::{pi_logits, posterior_dist, prior_dist, vpred};
pub use key::{KeyInfo, LatentKey};
pub use set::LatentSet;
pub use values::{DiagGaussian, PiLogits};
