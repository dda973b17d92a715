//! # mine-dsl
//!
//! The backend-generic core of the toolkit: typed latent keys, the `Policy`, `Memory` and
//! `Objective` traits, the VPT action space and its action head, and the built-in objectives.

extern crate self as mine_dsl;

pub mod action;
pub mod batch;
pub mod latent;
