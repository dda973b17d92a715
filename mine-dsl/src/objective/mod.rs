//! Objectives: losses computed from a policy's latents and the batch.
//!
//! Write one as a function with `#[objective]`; see the crate documentation for an example.

mod context;
mod error;
mod output;
pub(crate) mod param;
mod traits;

pub use context::{StepContext, StepName};
pub use error::ObjectiveError;
pub use output::{IntoObjectiveResult, MetricValue, ObjectiveOutput};
pub use traits::{Objective, ObjectiveDecl};
