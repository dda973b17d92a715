//! Behaviour cloning and KL divergence against MineStudio's own callbacks
//! (`shared/golden/callbacks.json`, relative tolerance 1e-5).

mod common;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{assert_close, flat_f64, golden};
use mine_dsl::objectives::{BehaviorClone, KlDivergence, diag_gaussian_kl};
use mine_dsl::prelude::*;
use serde_json::Value;

/// A policy whose latents the test builds by hand from the golden inputs.
#[policy(produces(pi_logits, posterior_dist, prior_dist))]
#[derive(Module, Debug)]
pub struct Recorded {}

impl Policy for Recorded {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, _batch: &Batch, _memory: ()) -> (RecordedLatents, ()) {
        unreachable!("the test evaluates objectives on recorded latents")
    }
}

fn tensor<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = flat_f64(value).into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn int_tensor<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    let data: Vec<i64> = flat_f64(value).into_iter().map(|v| v as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn gaussian(mu: &Value, log_var: &Value, device: &Device) -> DiagGaussian {
    let mu = tensor(mu, [2, 8], device);
    DiagGaussian {
        z: mu.clone(),
        mu,
        log_var: tensor(log_var, [2, 8], device),
    }
}

struct Inputs {
    latents: RecordedLatents,
    batch: Batch,
}

fn inputs(g: &Value, device: &Device, with_mask: bool) -> Inputs {
    let i = &g["inputs"];
    let buttons = log_softmax(tensor(&i["raw_logits_buttons"], [2, 4, 1, 8641], device), 3);
    let camera = log_softmax(tensor(&i["raw_logits_camera"], [2, 4, 1, 121], device), 3);
    let kl = &g["kl_inputs"];
    let latents = RecordedLatents {
        pi_logits: PiLogits { buttons, camera },
        posterior_dist: gaussian(&kl["q_mu"], &kl["q_log_var"], device),
        prior_dist: gaussian(&kl["p_mu"], &kl["p_log_var"], device),
    };
    let batch = Batch {
        agent_action: Some(AgentAction {
            buttons: int_tensor(&i["agent_action_buttons"], [2, 4, 1], device),
            camera: int_tensor(&i["agent_action_camera"], [2, 4, 1], device),
        }),
        mask: with_mask.then(|| tensor(&i["mask"], [2, 4], device)),
        ..Batch::default()
    };
    Inputs { latents, batch }
}

fn check(losses: &StepLosses, expected: &Value, what: &str) {
    let metrics = losses.metric_values();
    let expected = expected.as_object().unwrap();
    assert_eq!(
        metrics.len(),
        expected.len(),
        "{what}: metric names {:?}",
        metrics.keys()
    );
    for (key, value) in expected {
        let actual = *metrics
            .get(key)
            .unwrap_or_else(|| panic!("{what}: no metric `{key}`"));
        assert_close(
            actual,
            value.as_f64().unwrap(),
            1e-5,
            &format!("{what}/{key}"),
        );
    }
}

fn run(objectives: Experiment<Recorded>, inputs: &Inputs) -> StepLosses {
    objectives
        .objectives()
        .evaluate(&inputs.latents, &inputs.batch, &StepContext::train(0, 0))
        .unwrap()
}

#[test]
fn behavior_clone_matches_minestudio_for_every_variant() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let cases = [
        ("bc_outputs_with_mask_weight1", true, 1.0),
        ("bc_outputs_no_mask_weight1", false, 1.0),
        ("bc_outputs_with_mask_weight0.5", true, 0.5),
    ];
    for (name, with_mask, weight) in cases {
        let inputs = inputs(&g, &device, with_mask);
        let experiment = Experiment::new(Recorded {}).objective(BehaviorClone { weight });
        check(&run(experiment, &inputs), &g[name], name);
    }
}

#[test]
fn kl_divergence_matches_minestudio_per_row_and_reduced() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let inputs = inputs(&g, &device, true);
    let rows: Vec<f32> =
        diag_gaussian_kl(&inputs.latents.posterior_dist, &inputs.latents.prior_dist)
            .into_data()
            .try_into_vec()
            .unwrap();
    for (b, expected) in flat_f64(&g["kl_per_row_B"]).into_iter().enumerate() {
        assert_close(rows[b] as f64, expected, 1e-5, &format!("kl row {b}"));
    }
    let experiment = Experiment::new(Recorded {}).objective(KlDivergence { weight: 0.01 });
    check(&run(experiment, &inputs), &g["kl_outputs_weight0.01"], "kl");
}

#[test]
fn both_objectives_in_one_step_sum_like_minelightning() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let inputs = inputs(&g, &device, true);
    let experiment = Experiment::new(Recorded {})
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence { weight: 0.01 });
    let losses = run(experiment, &inputs);
    check(
        &losses,
        &g["minelightning_combined_result_bc_mask_plus_kl"],
        "combined",
    );
    let names: Vec<_> = losses.per_objective.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["behavior_clone", "kl_divergence"]);
}

#[test]
fn behavior_clone_gradients_flow_to_the_logits() {
    let g = golden("callbacks.json");
    let device = Device::flex().autodiff();
    let raw =
        tensor::<4>(&g["inputs"]["raw_logits_camera"], [2, 4, 1, 121], &device).require_grad();
    let mut inputs = inputs(&g, &device, true);
    inputs.latents.pi_logits.camera = log_softmax(raw.clone(), 3);
    let experiment = Experiment::new(Recorded {}).objective(BehaviorClone { weight: 1.0 });
    let losses = run(experiment, &inputs);
    let grads = losses.total.backward();
    let grad: Vec<f32> = raw
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec()
        .unwrap();
    let frame = |t: usize| &grad[121 * t..121 * (t + 1)];
    let magnitude = |t: usize| frame(t).iter().map(|g| g.abs()).sum::<f32>();
    // Row 0: labels [60, 60, 0, 120], mask [1, 1, 1, 0]. The null camera class 60 and the
    // padded frame get no gradient; a counted frame's gradient sums to zero over classes.
    assert_eq!(magnitude(0), 0.0, "frame (0, 0) has the null camera label");
    assert_eq!(magnitude(3), 0.0, "frame (0, 3) is padding");
    assert!(magnitude(2) > 1e-3);
    assert!(frame(2).iter().sum::<f32>().abs() < 1e-5);
}
