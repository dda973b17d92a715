//! Experiments assembled from a configuration file: objectives chosen by name at run time are
//! checked against the keys the policy declares before anything runs.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::prelude::*;

/// A policy producing only the value.
#[policy(produces(vpred))]
#[derive(Module, Debug)]
pub struct ValuePolicy {
    value: Linear,
}

impl Policy for ValuePolicy {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, batch: &Batch, memory: ()) -> Forward<Self> {
        let mask = batch.mask()?.clone();
        let [b, t] = mask.dims();
        Ok((
            ValuePolicyLatents {
                vpred: self.value.forward(mask.reshape([b, t, 1])),
            },
            memory,
        ))
    }
}

#[objective]
fn value_mean(
    #[latent] vpred: &Tensor<3>,
    #[hparam(default = 1.0)] weight: f64,
) -> ObjectiveOutput {
    let mean = vpred.clone().mean();
    ObjectiveOutput::new(mean.clone().mul_scalar(weight)).metric("value", mean)
}

#[objective]
fn value_square(#[latent] vpred: &Tensor<3>) -> ObjectiveOutput {
    let square = vpred.clone().powi_scalar(2).mean();
    ObjectiveOutput::new(square.clone()).metric("value", square)
}

#[derive(serde::Deserialize)]
struct ExperimentConfig {
    objectives: Vec<ObjectiveSpec>,
}

fn registry() -> ObjectiveRegistry<ValuePolicy> {
    let mut registry = ObjectiveRegistry::builtin();
    registry.register::<ValueMean>().register::<ValueSquare>();
    registry
}

fn policy(device: &Device) -> ValuePolicy {
    ValuePolicy {
        value: LinearConfig::new(1, 1).init(device),
    }
}

#[test]
fn config_naming_objectives_with_missing_keys_is_rejected_listing_every_key() {
    let config: ExperimentConfig = toml::from_str(
        r#"
        [[objectives]]
        name = "value_mean"

        [[objectives]]
        name = "kl_divergence"
        weight = 0.01
        "#,
    )
    .unwrap();
    let device = Device::flex();
    let err = Experiment::from_specs(policy(&device), &config.objectives, &registry())
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "policy `ValuePolicy` does not produce 2 latent(s) the configured objectives consume:"
        ),
        "{text}"
    );
    assert!(text.contains("objective `kl_divergence` consumes latent `posterior_dist` (mine_dsl::latent::values::DiagGaussian), which policy `ValuePolicy` does not produce"), "{text}");
    assert!(
        text.contains("objective `kl_divergence` consumes latent `prior_dist`"),
        "{text}"
    );
    assert!(
        text.contains("policy `ValuePolicy` produces: vpred."),
        "{text}"
    );
    assert!(
        text.contains("Fix: remove these objectives from the config"),
        "{text}"
    );
}

#[test]
fn unknown_objectives_and_bad_hyperparameters_are_named() {
    let device = Device::flex();
    let specs = [ObjectiveSpec::new("value_maen")];
    let err = Experiment::from_specs(policy(&device), &specs, &registry())
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("unknown objective `value_maen` in the experiment config; known objectives: behavior_clone, kl_divergence, value_mean, value_square"), "{err}");

    let specs = [ObjectiveSpec::new("value_mean").with("wieght", 2.0)];
    let err = Experiment::from_specs(policy(&device), &specs, &registry())
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with(
            "invalid hyperparameters for objective `value_mean`: unknown field `wieght`"
        ),
        "{err}"
    );

    let specs = [ObjectiveSpec::new("value_mean").with("weight", "heavy")];
    let err = Experiment::from_specs(policy(&device), &specs, &registry())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("invalid type: string \"heavy\", expected f64"),
        "{err}"
    );
}

#[test]
fn configured_objectives_run_and_same_named_metrics_are_summed() {
    let device = Device::flex();
    let specs = [
        ObjectiveSpec::new("value_mean").with("weight", 0.5),
        ObjectiveSpec::new("value_square"),
    ];
    let experiment = Experiment::from_specs(policy(&device), &specs, &registry()).unwrap();
    assert_eq!(experiment.objective_names(), ["value_mean", "value_square"]);
    let hyper = experiment.objectives().hyperparameters();
    assert_eq!(hyper[0].1["weight"], 0.5);

    let batch = Batch {
        mask: Some(Tensor::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 1.0], [2, 2]),
            &device,
        )),
        ..Batch::default()
    };
    let (latents, ()) = experiment.policy().forward(&batch, ()).unwrap();
    let vpred: Vec<f32> = latents
        .vpred
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let mean = vpred.iter().sum::<f32>() as f64 / 4.0;
    let square = vpred.iter().map(|v| v * v).sum::<f32>() as f64 / 4.0;
    let losses = experiment
        .objectives()
        .evaluate(&latents, &batch, &StepContext::val(0, 0))
        .unwrap();
    let metrics = losses.metric_values();
    assert!((metrics["loss"] - (0.5 * mean + square)).abs() < 1e-5);
    assert!((metrics["value"] - (mean + square)).abs() < 1e-5);
    assert_eq!(losses.per_objective.len(), 2);
}
