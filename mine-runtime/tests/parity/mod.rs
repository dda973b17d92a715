//! What the parity tests against MineStudio's golden runs share (`vpt_parity`,
//! `groot_parity`, `rocket_parity`): golden JSON values as tensors and batches, MineLightning's episode resets,
//! and a report of relative errors over memories, outputs, losses, gradients and parameters.
#![allow(dead_code)]

mod json;
mod report;
pub mod vpt_memory;

pub use json::*;
pub use report::*;
