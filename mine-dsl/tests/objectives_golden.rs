//! Behaviour cloning and KL divergence against MineStudio's own callbacks
//! (`shared/golden/callbacks.json`, relative tolerance 1e-5).

mod common;

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use common::callbacks::{Recorded, Replay, float, numbers, recorded};
use common::{assert_close, golden};
use mine_dsl::objectives::{BehaviorClone, KlDivergence, diag_gaussian_kl};
use mine_dsl::prelude::*;
use serde_json::Value;

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

fn run(experiment: Experiment<Replay>, inputs: &Recorded) -> StepLosses {
    experiment
        .objectives()
        .evaluate(&inputs.latents(), &inputs.batch, &StepContext::train(0, 0))
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
        let inputs = recorded(&g, &device, with_mask);
        let experiment = Experiment::new(Replay {}).objective(BehaviorClone { weight });
        check(&run(experiment, &inputs), &g[name], name);
    }
}

#[test]
fn kl_divergence_matches_minestudio_per_row_and_reduced() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let inputs = recorded(&g, &device, true);
    let rows: Vec<f32> = diag_gaussian_kl(&inputs.posterior, &inputs.prior)
        .into_data()
        .try_into_vec()
        .unwrap();
    for (b, expected) in numbers(&g["kl_per_row_B"]).into_iter().enumerate() {
        assert_close(rows[b] as f64, expected, 1e-5, &format!("kl row {b}"));
    }
    let experiment = Experiment::new(Replay {}).objective(KlDivergence { weight: 0.01 });
    check(&run(experiment, &inputs), &g["kl_outputs_weight0.01"], "kl");
}

#[test]
fn both_objectives_in_one_step_sum_like_minelightning() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let inputs = recorded(&g, &device, true);
    let experiment = Experiment::new(Replay {})
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
    let raw = float::<4>(&g["inputs"]["raw_logits_camera"], [2, 4, 1, 121], &device).require_grad();
    let mut inputs = recorded(&g, &device, true);
    inputs.pi_logits.camera = log_softmax(raw.clone(), 3);
    let experiment = Experiment::new(Replay {}).objective(BehaviorClone { weight: 1.0 });
    let grads = run(experiment, &inputs).total.backward();
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
