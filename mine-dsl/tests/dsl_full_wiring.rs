//! A stateful policy with a user-declared key, wired at compile time to an objective that uses
//! every parameter source; the experiment runs hooks, forward and objectives.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::Memory;
use mine_dsl::prelude::*;

mine_dsl::latent_key!(pub goal: Tensor<2>);

/// The policy's memory: a hidden state and a nested tuple field.
#[derive(Clone, Debug, Memory)]
pub struct Recurrent {
    hidden: Tensor<2>,
    seen: (Tensor<2>, ()),
}

/// A policy producing the value and the user-declared `goal`.
#[policy(produces(vpred, goal), memory = Recurrent, latents = Out)]
#[derive(Module, Debug)]
pub struct GoalPolicy {
    value: Linear,
}

impl Policy for GoalPolicy {
    fn initial_memory(&self, batch_size: usize, device: &Device) -> Recurrent {
        Recurrent {
            hidden: Tensor::zeros([batch_size, 2], device),
            seen: (Tensor::zeros([batch_size, 1], device), ()),
        }
    }

    fn forward(&self, batch: &Batch, memory: Recurrent) -> Forward<Self> {
        let mask = batch.mask()?.clone();
        let [b, t] = mask.dims();
        let vpred = self.value.forward(mask.reshape([b, t, 1]));
        let goal = memory.hidden.clone().add_scalar(1.0);
        let seen = memory.seen.0.add_scalar(1.0);
        let latents = Out {
            vpred,
            goal: goal.clone(),
        };
        Ok((
            latents,
            Recurrent {
                hidden: goal,
                seen: (seen, ()),
            },
        ))
    }
}

fn scale_mask(
    objective: &GoalNorm,
    mut batch: Batch,
    _ctx: &StepContext,
) -> Result<Batch, ObjectiveError> {
    batch.mask = batch.mask.map(|m| m.mul_scalar(objective.scale));
    Ok(batch)
}

/// Squared goal plus the scaled value prediction; fails on an empty label. (The explicit
/// lifetime checks that objectives may name lifetimes; one parameter per source makes eight.)
#[allow(clippy::needless_lifetimes, clippy::too_many_arguments)]
#[objective(name = "goal_norm", before_step = scale_mask)]
pub fn goal_norm<'a>(
    #[latent] goal: &'a Tensor<2>,
    #[latent] vpred: &Tensor<3>,
    #[batch] mask: Option<&Tensor<2>>,
    #[batch] info: &BatchInfo,
    #[ctx] step_name: StepName,
    #[ctx] batch_idx: usize,
    #[hparam(default = 2.0)] scale: f64,
    #[hparam] label: String,
) -> Result<ObjectiveOutput, ObjectiveError> {
    if label.is_empty() {
        return Err("label must not be empty".into());
    }
    assert!(mask.is_some());
    assert_eq!(info.episode, ["a", "b"]);
    assert_eq!((step_name, batch_idx), (StepName::Train, 7));
    let loss = goal.clone().powi_scalar(2).mean() + vpred.clone().mean().mul_scalar(scale);
    Ok(ObjectiveOutput::new(loss).scalar("scale", scale))
}

fn policy(device: &Device) -> GoalPolicy {
    let value = LinearConfig::new(1, 1).init(device);
    let value = Linear {
        weight: value.weight.map(|w| w.zeros_like().add_scalar(1.0)),
        bias: value.bias.map(|b| b.map(|t| t.zeros_like())),
    };
    GoalPolicy { value }
}

fn batch(device: &Device) -> Batch {
    Batch {
        mask: Some(Tensor::from_data(
            TensorData::new(vec![1.0f32, 1.0, 1.0, 0.0], [2, 2]),
            device,
        )),
        info: BatchInfo {
            episode: vec!["a".into(), "b".into()],
            ..BatchInfo::default()
        },
        ..Batch::default()
    }
}

#[test]
fn typed_experiment_runs_hook_forward_and_objective() {
    let device = Device::flex();
    let objective = GoalNorm {
        scale: 1.0,
        label: "x".into(),
    }
    .with_scale(3.0);
    let experiment = Experiment::new(policy(&device)).objective(objective);
    assert_eq!(experiment.objective_names(), ["goal_norm"]);

    let memory = experiment.policy().initial_memory(2, &device);
    let ctx = StepContext::train(7, 0);
    let (losses, memory) = experiment.forward(batch(&device), memory, &ctx).unwrap();
    // The hook scaled the mask by 3: vpred = mask, mean = 3 * 3/4; goal = 1 everywhere.
    let expected = 1.0 + 3.0 * (3.0 * 0.75);
    let total: f32 = losses.total.clone().into_scalar();
    assert!(
        (total as f64 - expected).abs() < 1e-5,
        "{total} vs {expected}"
    );
    let metrics = losses.metric_values();
    assert_eq!(metrics["scale"], 3.0);
    assert!((metrics["loss"] - expected).abs() < 1e-5);
    assert_eq!(losses.per_objective[0].0, "goal_norm");

    // The memory advanced; resetting row 1 restores its initial value only there.
    let initial = experiment.policy().initial_memory(2, &device);
    let reset = memory.reset_rows(&[false, true], &initial).detach();
    let hidden: Vec<f32> = reset.hidden.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(hidden, [1.0, 1.0, 0.0, 0.0]);
    let seen: Vec<f32> = reset.seen.0.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(seen, [1.0, 0.0]);
}

#[test]
fn objective_errors_and_missing_batch_fields_are_reported() {
    let device = Device::flex();
    let experiment = Experiment::new(policy(&device)).objective(GoalNorm {
        scale: 1.0,
        label: String::new(),
    });
    let memory = experiment.policy().initial_memory(2, &device);
    let err = experiment
        .forward(batch(&device), memory, &StepContext::train(7, 0))
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "objective failed: label must not be empty");
}

#[test]
fn hyperparameters_deserialize_with_defaults_and_reject_unknown_fields() {
    let parsed: GoalNorm = serde_json::from_str(r#"{"label": "y"}"#).unwrap();
    assert_eq!(
        parsed,
        GoalNorm {
            scale: 2.0,
            label: "y".into()
        }
    );
    let err = serde_json::from_str::<GoalNorm>(r#"{"label": "y", "scael": 1.0}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `scael`"), "{err}");
    assert_eq!(<GoalNorm as ObjectiveDecl>::NAME, "goal_norm");
    let consumed: Vec<_> = <GoalNorm as ObjectiveDecl>::consumes()
        .iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(consumed, ["goal", "vpred"]);
    let produced: Vec<_> = GoalPolicy::produces().iter().map(|k| k.name).collect();
    assert_eq!(produced, ["vpred", "goal"]);
}
