//! Why the differentiable part of a step failed.

use crate::objective::ObjectiveError;
use crate::policy::PolicyError;

/// The policy's forward or an objective failed on a batch.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The policy's forward failed.
    #[error("policy `{policy}` failed: {cause}")]
    Policy {
        /// The policy's name.
        policy: &'static str,
        /// What it reported.
        cause: PolicyError,
    },
    /// A before-step hook or an objective failed.
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
}
