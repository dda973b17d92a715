//! What the training-parity tests against MineStudio share (`vpt_parity`, `rocket_parity`):
//! golden JSON values as tensors, memories and episode resets ([`golden`]), and the
//! comparisons collected into reports of the worst relative errors ([`report`]).
//!
//! Included with `#[path = "../common/parity/mod.rs"] mod parity;`.
#![allow(dead_code)]

pub mod golden;
pub mod report;
