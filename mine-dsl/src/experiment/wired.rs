//! Objectives wired to one policy type, behind one object-safe trait.

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

type Compute<O, P> = fn(
    &O,
    &<P as PolicyDecl>::Latents,
    &Batch,
    &StepContext,
) -> Result<ObjectiveOutput, ObjectiveError>;

/// An objective with the way it reads latents: by field access when the compiler checked the
/// wiring, by name when it was validated at startup against the policy's declared keys.
pub(crate) struct Wired<O, P: PolicyDecl> {
    objective: O,
    compute: Compute<O, P>,
}

impl<O: ObjectiveDecl, P: PolicyDecl> Wired<O, P> {
    /// Wiring checked by the compiler (`O: Objective<P>`): latents are fields.
    pub(crate) fn checked(objective: O) -> Self
    where
        O: Objective<P>,
    {
        Self {
            objective,
            compute: <O as Objective<P>>::compute,
        }
    }

    /// Wiring validated at startup: latents are looked up by name.
    pub(crate) fn validated(objective: O) -> Self {
        Self {
            objective,
            compute: |o, latents, batch, ctx| o.compute_by_name(latents, batch, ctx),
        }
    }
}

impl<O: ObjectiveDecl, P: PolicyDecl> WiredObjective<P> for Wired<O, P> {
    fn name(&self) -> &'static str {
        O::NAME
    }

    fn consumes(&self) -> Vec<KeyInfo> {
        O::consumes()
    }

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.objective).unwrap_or(serde_json::Value::Null)
    }

    fn before_step(&self, batch: Batch, ctx: &StepContext) -> Result<Batch, ObjectiveError> {
        self.objective.before_step(batch, ctx)
    }

    fn compute(
        &self,
        latents: &P::Latents,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<ObjectiveOutput, ObjectiveError> {
        (self.compute)(&self.objective, latents, batch, ctx)
    }
}
