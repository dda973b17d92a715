//! The names most experiments use: `use mine_dsl::prelude::*;`.

pub use crate::batch::{AgentAction, Batch, BatchInfo, EnvAction};
pub use crate::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec, Objectives, StepLosses};
pub use crate::latent::{
    DiagGaussian, LatentKey, LatentSet, PiLogits, pi_logits, posterior_dist, prior_dist, vpred,
};
pub use crate::memory::Memory;
pub use crate::objective::{
    Objective, ObjectiveDecl, ObjectiveError, ObjectiveOutput, StepContext, StepName,
};
pub use crate::policy::{Policy, PolicyDecl};
pub use crate::{latent_key, objective, policy};
