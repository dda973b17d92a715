//! Latent keys, the values they carry, and the sets policies return.
//!
//! A latent key is a type: the keys of [`builtin`] (`pi_logits`, `vpred`, ..) are built in, and
//! [`latent_key!`](crate::latent_key) declares more in one line each.

pub mod builtin;
mod key;
mod set;
pub mod values;

pub use builtin::*;
pub use key::{KeyInfo, LatentKey};
pub use set::LatentSet;
pub use values::{DiagGaussian, PiLogits};
