//! The names most experiments use: `use mine_dsl::prelude::*;`.

pub use crate::batch::{AgentAction, Batch, BatchInfo, EnvAction, MissingField, Segmentation};
pub use crate::experiment::{
    Experiment, ObjectiveRegistry, ObjectiveSpec, Objectives, StepError, StepLosses,
};
pub use crate::latent::builtin::*;
pub use crate::latent::{DiagGaussian, LatentKey, LatentSet, PiLogits};
pub use crate::memory::Memory;
pub use crate::objective::{
    Objective, ObjectiveDecl, ObjectiveError, ObjectiveOutput, StepContext, StepName,
};
pub use crate::policy::{Forward, Policy, PolicyDecl, PolicyError};
pub use crate::{latent_key, objective, policy};
