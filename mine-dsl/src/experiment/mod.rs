//! Experiments: a policy wired to its objectives, checked at compile time or at startup.

mod losses;
mod registry;
mod spec;
mod step_error;
mod wired;
mod wiring_error;

use std::collections::BTreeMap;

pub use losses::StepLosses;
pub use registry::ObjectiveRegistry;
pub use spec::ObjectiveSpec;
pub use step_error::StepError;
pub use wiring_error::{MissingLatent, WiringError};

use crate::batch::Batch;
use crate::latent::KeyInfo;
use crate::objective::{MetricValue, Objective, ObjectiveError, StepContext};
use crate::policy::{Policy, PolicyDecl};
use wired::{Wired, WiredObjective};

/// A policy and the objectives that train it.
///
/// [`Experiment::objective`] only accepts objectives whose consumed latents the policy
/// produces: a wrong wiring does not compile. [`Experiment::from_specs`] wires objectives named
/// in a configuration file and checks them against the policy's declared keys before any data
/// is read.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::objectives::KlDivergence;
/// use mine_dsl::prelude::*;
///
/// /// Encodes the mask into a posterior; the prior is a standard normal.
/// #[policy(produces(posterior_dist, prior_dist))]
/// #[derive(Module, Debug)]
/// pub struct Encoder {
///     mu: Linear,
/// }
///
/// impl Policy for Encoder {
///     fn initial_memory(&self, _batch_size: usize, _device: &Device) {}
///
///     fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
///         let mu = self.mu.forward(batch.mask()?.clone());
///         let zeros = mu.zeros_like();
///         let posterior_dist = DiagGaussian { mu: mu.clone(), log_var: zeros.clone(), z: mu };
///         let prior_dist = DiagGaussian { mu: zeros.clone(), log_var: zeros.clone(), z: zeros };
///         Ok((EncoderLatents { posterior_dist, prior_dist }, memory))
///     }
/// }
///
/// let device = Device::flex();
/// let policy = Encoder { mu: LinearConfig::new(4, 3).init(&device) };
/// let experiment = Experiment::new(policy).objective(KlDivergence::default());
/// assert_eq!(experiment.objective_names(), ["kl_divergence"]);
///
/// let batch = Batch { mask: Some(Tensor::ones([2, 4], &device)), ..Batch::default() };
/// let (losses, ()) = experiment.forward(batch, (), &StepContext::train(0, 0)).unwrap();
/// assert!(losses.metric_values()["kl_div"] >= 0.0);
/// ```
pub struct Experiment<P: Policy> {
    policy: P,
    objectives: Objectives<P>,
}

impl<P: Policy> Experiment<P> {
    /// An experiment with this policy and no objectives yet.
    pub fn new(policy: P) -> Self {
        Self {
            policy,
            objectives: Objectives { list: Vec::new() },
        }
    }

    /// Adds an objective. It must consume only latents the policy produces, with the same
    /// value types; otherwise this call does not compile.
    pub fn objective<O: Objective<P>>(mut self, objective: O) -> Self {
        self.objectives
            .list
            .push(Box::new(Wired::<O, P>::checked(objective)));
        self
    }

    /// Wires the objectives named in a configuration, after checking every consumed latent
    /// against the keys the policy declares. All missing latents are reported at once.
    pub fn from_specs(
        policy: P,
        specs: &[ObjectiveSpec],
        registry: &ObjectiveRegistry<P>,
    ) -> Result<Self, WiringError> {
        check_wiring::<P>(specs, registry)?;
        let list = specs
            .iter()
            .map(|spec| registry.build(&spec.name, serde_json::Value::Object(spec.params.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            policy,
            objectives: Objectives { list },
        })
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The wired objectives.
    pub fn objectives(&self) -> &Objectives<P> {
        &self.objectives
    }

    /// The objectives' names, in wiring order.
    pub fn objective_names(&self) -> Vec<&'static str> {
        self.objectives.names()
    }

    /// Splits into the policy (which the optimizer replaces at every step) and the objectives.
    pub fn into_parts(self) -> (P, Objectives<P>) {
        (self.policy, self.objectives)
    }

    /// Before-step hooks, policy forward and objectives for one batch: the differentiable part
    /// of a step. Returns the losses and the memory for the next batch.
    pub fn forward(
        &self,
        batch: Batch,
        memory: P::Memory,
        ctx: &StepContext,
    ) -> Result<(StepLosses, P::Memory), StepError> {
        self.objectives.forward(&self.policy, batch, memory, ctx)
    }
}

/// The objectives of an experiment, wired to policy type `P`.
pub struct Objectives<P: PolicyDecl> {
    list: Vec<Box<dyn WiredObjective<P>>>,
}

impl<P: PolicyDecl> Objectives<P> {
    /// The objectives' names, in wiring order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|o| o.name()).collect()
    }

    /// Every latent key some objective consumes, with the objective's name.
    pub fn consumes(&self) -> Vec<(&'static str, KeyInfo)> {
        self.list
            .iter()
            .flat_map(|o| o.consumes().into_iter().map(move |k| (o.name(), k)))
            .collect()
    }

    /// Each objective's name and hyperparameters, for the run directory.
    pub fn hyperparameters(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.list
            .iter()
            .map(|o| (o.name(), o.hyperparameters()))
            .collect()
    }

    /// Runs every objective's `before_step` hook, in wiring order.
    pub fn before_step(
        &self,
        mut batch: Batch,
        ctx: &StepContext,
    ) -> Result<Batch, ObjectiveError> {
        for objective in &self.list {
            batch = objective.before_step(batch, ctx)?;
        }
        Ok(batch)
    }

    /// Evaluates every objective on the policy's latents and combines their results.
    ///
    /// Fails if no objective is wired (there would be nothing to train).
    pub fn evaluate(
        &self,
        latents: &P::Latents,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepLosses, ObjectiveError> {
        let mut per_objective = Vec::with_capacity(self.list.len());
        let mut metrics: BTreeMap<String, MetricValue> = BTreeMap::new();
        for objective in &self.list {
            let output = objective.compute(latents, batch, ctx)?;
            for (name, value) in output.metrics {
                let name = name.into_owned();
                let merged = match metrics.remove(&name) {
                    Some(previous) => previous + value,
                    None => value,
                };
                metrics.insert(name, merged);
            }
            per_objective.push((objective.name(), output.loss));
        }
        let mut losses = per_objective.iter().map(|(_, loss)| loss.clone());
        let first = losses.next().ok_or_else(|| {
            ObjectiveError::Custom(
                "the experiment has no objectives: add one with `.objective(..)`".into(),
            )
        })?;
        let total = losses.fold(first, |acc, loss| acc + loss);
        metrics.insert(
            "loss".to_owned(),
            MetricValue::Tensor(total.clone().detach()),
        );
        Ok(StepLosses {
            total,
            per_objective,
            metrics,
        })
    }

    /// Before-step hooks, policy forward and objectives for one batch.
    pub fn forward(
        &self,
        policy: &P,
        batch: Batch,
        memory: P::Memory,
        ctx: &StepContext,
    ) -> Result<(StepLosses, P::Memory), StepError>
    where
        P: Policy,
    {
        let batch = self.before_step(batch, ctx)?;
        let (latents, memory) =
            policy
                .forward(&batch, memory)
                .map_err(|cause| StepError::Policy {
                    policy: P::NAME,
                    cause,
                })?;
        let losses = self.evaluate(&latents, &batch, ctx)?;
        Ok((losses, memory))
    }
}

/// Checks every latent the named objectives consume against the keys policy `P` declares.
pub fn check_wiring<P: PolicyDecl>(
    specs: &[ObjectiveSpec],
    registry: &ObjectiveRegistry<P>,
) -> Result<(), WiringError> {
    let produces = P::produces();
    let mut missing = Vec::new();
    for spec in specs {
        let objective = registry.canonical_name(&spec.name)?;
        let consumes = registry.consumes(&spec.name)?;
        for key in consumes {
            if produces.contains(&key) {
                continue;
            }
            let produced_as: Option<KeyInfo> =
                produces.iter().find(|p| p.name == key.name).copied();
            missing.push(MissingLatent {
                objective,
                key,
                produced_as,
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WiringError::MissingLatents {
            policy: P::NAME,
            produces,
            missing,
        })
    }
}
