//! The built-in latent keys every MineStudio policy and objective knows.
//!
//! `#[policy(produces(..))]` and `#[objective]` resolve these names without an import; declare
//! more keys with [`latent_key!`](crate::latent_key).

use burn::tensor::Tensor;

use super::values::{DiagGaussian, PiLogits};

macro_rules! builtin_keys {
    ($($(#[$doc:meta])* $name:ident: $value:ty;)+) => {
        crate::latent_key! { $($(#[$doc])* pub $name: $value;)+ }
    };
}

include!("builtin_keys.rs");
