//! Latent keys and the values they carry.

pub mod values;

pub use values::{DiagGaussian, PiLogits};
