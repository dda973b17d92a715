//! # mine-dsl
//!
//! The backend-generic core of the toolkit: typed latent keys, the [`Policy`](policy::Policy),
//! [`Memory`](memory::Memory) and [`Objective`](objective::Objective) traits, the VPT action
//! space and its action head, and the built-in objectives.
//!
//! A policy declares the latents it produces with `#[policy]`, an objective declares what it
//! consumes with `#[objective]`, and [`Experiment`](experiment::Experiment) only compiles when
//! the two agree.

extern crate self as mine_dsl;

pub mod action;
pub mod batch;
pub mod experiment;
pub mod latent;
pub mod memory;
pub mod objective;
pub mod objectives;
pub mod policy;
pub mod prelude;

pub use mine_dsl_macros::{Memory, objective, policy};

/// Items the macros' generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use burn;
    pub use serde;
    pub use serde_json;

    pub use crate::objective::param::{
        BatchParam, BatchValue, CtxParam, KeyedLatentParam, LatentParam,
    };
}
