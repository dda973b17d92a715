//! Objectives wired to one policy type, behind one object-safe trait.

use std::marker::PhantomData;

use crate::batch::Batch;
use crate::latent::KeyInfo;
use crate::objective::{Objective, ObjectiveDecl, ObjectiveError, ObjectiveOutput, StepContext};
use crate::policy::PolicyDecl;

/// An objective bound to policy `P`, however its wiring was checked.
pub(crate) trait WiredObjective<P: PolicyDecl>: Send + Sync {
    fn name(&self) -> &'static str;
    fn consumes(&self) -> Vec<KeyInfo>;
    fn hyperparameters(&self) -> serde_json::Value;
    fn before_step(&self, batch: Batch, ctx: &StepContext) -> Result<Batch, ObjectiveError>;
    fn compute(
        &self,
        latents: &P::Latents,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<ObjectiveOutput, ObjectiveError>;
}

/// Wiring checked by the compiler: latents are read by field access.
pub(crate) struct Checked<O, P>(pub O, pub PhantomData<fn(&P)>);

/// Wiring validated at startup against the policy's declared keys: latents are looked up by name.
pub(crate) struct Validated<O, P>(pub O, pub PhantomData<fn(&P)>);

fn hyperparameters_of<O: ObjectiveDecl>(objective: &O) -> serde_json::Value {
    serde_json::to_value(objective).unwrap_or(serde_json::Value::Null)
}

impl<P: PolicyDecl, O: Objective<P>> WiredObjective<P> for Checked<O, P> {
    fn name(&self) -> &'static str {
        O::NAME
    }
    fn consumes(&self) -> Vec<KeyInfo> {
        O::consumes()
    }
    fn hyperparameters(&self) -> serde_json::Value {
        hyperparameters_of(&self.0)
    }
    fn before_step(&self, batch: Batch, ctx: &StepContext) -> Result<Batch, ObjectiveError> {
        self.0.before_step(batch, ctx)
    }
    fn compute(
        &self,
        latents: &P::Latents,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<ObjectiveOutput, ObjectiveError> {
        Objective::<P>::compute(&self.0, latents, batch, ctx)
    }
}

impl<P: PolicyDecl, O: ObjectiveDecl> WiredObjective<P> for Validated<O, P> {
    fn name(&self) -> &'static str {
        O::NAME
    }
    fn consumes(&self) -> Vec<KeyInfo> {
        O::consumes()
    }
    fn hyperparameters(&self) -> serde_json::Value {
        hyperparameters_of(&self.0)
    }
    fn before_step(&self, batch: Batch, ctx: &StepContext) -> Result<Batch, ObjectiveError> {
        self.0.before_step(batch, ctx)
    }
    fn compute(
        &self,
        latents: &P::Latents,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<ObjectiveOutput, ObjectiveError> {
        self.0.compute_by_name(latents, batch, ctx)
    }
}
