//! Parity of ROCKET-1 (and, for the training steps, the optimizer) with MineStudio 1.1.6 on
//! the tiny golden policy (`tests/golden/tiny_rocket_*`): EfficientNet in train mode
//! (BatchNorm batch statistics, running statistics updated), pooling, interaction FiLM,
//! TransformerXL memory with a reset in one row, behaviour cloning, AdamW.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::optim::GradientsParams;
use burn::store::bridge;
use burn::tensor::{Device, Tensor};
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;

use mine_runtime::policies::pretrained::{ExportDtype, StateDictFit, read_state_dict};
use mine_runtime::policies::rocket::{RocketConfig, RocketPolicy, RocketPolicyLatents};
use mine_runtime::policies::torch_names::{torch_parameters, torch_state_dict};
use serde_json::Value;

#[path = "../parity/mod.rs"]
mod parity;

mod golden;

use golden::*;
use parity::vpt_memory::*;
use parity::*;

/// The losses the ROCKET-1 golden records for each step.
const LOSSES: [&str; 4] = ["loss", "camera_loss", "button_loss", "entropy"];

/// Our `BehaviorClone` objective (MineStudio's `BehaviorCloneCallback`, weight 1).
fn behavior_clone(policy: RocketPolicy) -> (RocketPolicy, Objectives<RocketPolicy>) {
    Experiment::new(policy)
        .objective(BehaviorClone { weight: 1.0 })
        .into_parts()
}

#[test]
fn every_state_dict_key_has_a_parameter_of_its_shape() {
    let golden = golden();
    let policy = load_policy(&Device::flex());
    let params = torch_parameters(&policy);
    let mut names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    let want = golden["params_after_3_steps"].as_object().unwrap();
    assert_eq!(
        names.len(),
        308,
        "parameters and buffers of the tiny ROCKET-1"
    );
    assert_eq!(names, want.keys().map(String::as_str).collect::<Vec<_>>());
    for param in &params {
        // PyTorch's 0-dimensional buffers are [1] here.
        let shape: Vec<usize> = serde_json::from_value(want[&param.name]["shape"].clone()).unwrap();
        let shape = if shape.is_empty() { vec![1] } else { shape };
        assert_eq!(param.shape, shape, "{}", param.name);
    }
}

/// Step 0 of the golden run: backbone, `updim`, trunk and heads from the empty memory (train
/// mode), the BC losses, then the gradients.
#[test]
fn single_forward_and_gradients_match_minestudio() {
    let golden = golden();
    let device = Device::flex().autodiff();
    let (policy, objectives) = behavior_clone(load_policy(&device));
    let (step, inputs) = (&golden["steps"][0], &golden["inputs"][0]);
    let batch = segmented_batch(inputs, &device);
    let (image, segmentation) = (batch.image().unwrap(), batch.segmentation().unwrap());
    let mut forward = Report::new(1e-5);

    let [b, t, h, w, _] = image.dims();
    let x = Tensor::cat(
        vec![
            policy.pixel_norm.forward(image.clone()),
            segmentation.obj_mask.clone().reshape([b * t, 1, h, w]),
        ],
        1,
    );
    let features = policy.backbone.forward(x);
    let (want, _) = flatten(&step["backbone_last_feature"]);
    forward.check("backbone last feature", &values(features.clone()), &want);
    let updim = mine_runtime::kernels::ops::conv2d_layer(&policy.updim, features, false);
    let (want, _) = flatten(&step["updim_output"]);
    forward.check("updim output", &values(updim), &want);

    let memory = policy.initial_memory(2, &device);
    compare_memory(
        &mut forward,
        0,
        "memory_in",
        &blocks(&memory),
        &step["memory_in"],
    );
    let (latent, memory) = policy.forward_latent(image.clone(), segmentation, memory);
    compare_memory(
        &mut forward,
        0,
        "memory_out",
        &blocks(&memory),
        &step["memory_out"],
    );
    let (want, _) = flatten(&step["pi_head_input"]);
    forward.check(
        "pi_head input (trunk output)",
        &values(latent.clone()),
        &want,
    );
    let out = RocketPolicyLatents {
        pi_logits: policy.pi_head.forward(latent.clone()),
        vpred: policy.value_head.forward(latent),
    };
    compare_outputs(
        &mut forward,
        step,
        inputs,
        (&out.pi_logits, &out.vpred),
        &device,
    );
    let losses = objectives
        .evaluate(&out, &batch, &StepContext::train(0, 0))
        .unwrap();
    check_metrics(
        &mut forward,
        0,
        &losses.metric_values(),
        &step["result"],
        &LOSSES,
    );
    let loss = losses.total;
    forward.finish("single forward (step 0)");

    let grads = GradientsParams::from_grads(loss.backward(), &policy);
    let mut grads_report = Report::new(1e-4);
    compare_grad_norms(&mut grads_report, step, &policy, &grads, 1e-3);
    grads_report.finish("gradients (step 0)");
}

/// Golden step 2 starts a new episode in row 1: its memory_in is step 1's memory_out with
/// that row reset.
#[test]
fn memory_reset_matches_minestudio() {
    let golden = golden();
    let device = Device::flex();
    let resets = episode_resets(&golden);
    assert_eq!(resets, [[true, true], [false, false], [false, true]]);
    let policy = RocketPolicy::new(&RocketConfig::tiny(), &device).unwrap();
    let previous = memory_from_golden(&golden["steps"][1]["memory_out"], &device);
    let reset = previous.reset_rows(&resets[2], &policy.initial_memory(2, &device));
    let mut report = Report::new(0.0);
    compare_memory(
        &mut report,
        2,
        "memory_in",
        &blocks(&reset),
        &golden["steps"][2]["memory_in"],
    );
    report.finish("memory reset");
}

/// The three golden training steps through `Policy::forward`: memory carried (detached) and
/// reset for row 1 at its episode start, BC loss, backward, clipping to 1, AdamW with
/// warmup; every step's memory, outputs, losses and gradient norms, then the whole state
/// dict after the third step (BatchNorm running statistics and counters included).
#[test]
fn three_training_steps_match_minestudio() {
    let golden = golden();
    let device = Device::flex().autodiff();
    let (mut policy, objectives) = behavior_clone(load_policy(&device));
    let mut optim = golden_optimizer(&golden);
    let resets = episode_resets(&golden);
    let mut report = Report::new(1e-4);
    let mut memory = policy.initial_memory(2, &device);
    let steps = golden["steps"].as_array().unwrap();
    let inputs = golden["inputs"].as_array().unwrap();
    for (s, (step, inputs)) in steps.iter().zip(inputs).enumerate() {
        memory = memory.reset_rows(&resets[s], &policy.initial_memory(2, &device));
        compare_memory(
            &mut report,
            s,
            "memory_in",
            &blocks(&memory),
            &step["memory_in"],
        );
        let batch = segmented_batch(inputs, &device);
        let (out, next) = policy.forward(&batch, memory).unwrap();
        compare_memory(
            &mut report,
            s,
            "memory_out",
            &blocks(&next),
            &step["memory_out"],
        );
        compare_outputs(
            &mut report,
            step,
            inputs,
            (&out.pi_logits, &out.vpred),
            &device,
        );
        let ctx = StepContext::train(s, s as u64);
        let losses = objectives.evaluate(&out, &batch, &ctx).unwrap();
        check_metrics(
            &mut report,
            s,
            &losses.metric_values(),
            &step["result"],
            &LOSSES,
        );
        let loss = losses.total;
        let grads = GradientsParams::from_grads(loss.backward(), &policy);
        compare_grad_norms(&mut report, step, &policy, &grads, 1e-3);
        let (updated, stepped) = optim.step_params(policy, grads);
        policy = updated;
        let stepped = stepped.expect("one batch per optimizer step");
        report.check(
            &format!("step {s} lr"),
            &[stepped.lr],
            &[step["lr"].as_f64().unwrap()],
        );
        memory = Memory::detach(next);
    }

    let want = after_three_steps();
    let got = state_dict(&policy);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same state-dict keys"
    );
    let undetermined = undetermined_shifts(&golden);
    assert_eq!(undetermined.len(), 9, "{undetermined:?}");
    let reach = 4.0 * steps.iter().map(|s| s["lr"].as_f64().unwrap()).sum::<f64>();
    let e = RocketConfig::tiny().hiddim;
    for (name, want) in &want {
        let (got, label) = (&got[name], format!("after 3 steps {name}"));
        if undetermined.contains(name) {
            assert_within_reach(&label, got, reach);
        } else if name.ends_with("self_attn.in_proj_bias") {
            check_sum_and_norm(
                &mut report,
                &format!("{label} (query)"),
                &got[..e],
                &want[..e],
            );
            assert_within_reach(&format!("{label} (key)"), &got[e..2 * e], reach);
            let (v, w) = (&got[2 * e..], &want[2 * e..]);
            check_sum_and_norm(&mut report, &format!("{label} (value)"), v, w);
        } else if name.ends_with(".bn1.running_mean") && name.starts_with("backbone.blocks.") {
            // Shifted by the undetermined biases upstream; the running variance is not.
        } else {
            check_sum_and_norm(&mut report, &label, got, want);
        }
    }
    report.finish("three training steps");
}

/// Parameters that no loss depends on in exact arithmetic: a BatchNorm shift whose output
/// reaches the loss only through another BatchNorm in training mode (which removes any
/// per-channel constant), found as the golden's step-0 gradient norms below 1e-4 of the
/// global norm (float32 rounding noise, around 1e-6). AdamW moves them by sign-like steps
/// of that noise in MineStudio and here alike, so their values after three steps are
/// undetermined, and so are the running means of the BatchNorms they shift (the inputs of
/// the inverted-residual blocks); the key bias of attention (softmax removes it) is another
/// such parameter. They are checked against AdamW's reach instead.
fn undetermined_shifts(golden: &Value) -> Vec<String> {
    let step = &golden["steps"][0];
    let global = step["grad_global_norm_before_clip"].as_f64().unwrap();
    step["param_grad_norms_before_clip"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, norm)| norm.as_f64().unwrap() < 1e-4 * global)
        .map(|(name, _)| name.clone())
        .collect()
}

/// Every value within what AdamW can move a parameter from 0 in the run (`reach`).
fn assert_within_reach(label: &str, values: &[f64], reach: f64) {
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        largest <= reach,
        "{label}: {largest} beyond AdamW's reach {reach}"
    );
}

/// bf16-mixed: under the trainer's autocast scope ROCKET-1's forward runs (BatchNorm, the
/// pooling encoder's softmax and LayerNorms, FiLM and the heads in f32, matrix products in
/// bf16), gives f32 outputs, and stays near the f32 forward on the golden input.
#[test]
fn forward_under_bf16_autocast_gives_f32_outputs_near_f32() {
    use burn::tensor::{DType, FloatDType};
    use mine_runtime::kernels::autocast;
    let golden = golden();
    let device = Device::flex().autodiff();
    let policy = load_policy(&device);
    let batch = segmented_batch(&golden["inputs"][0], &device);
    let run = |dtype: Option<FloatDType>| {
        let _scope = autocast::scope(dtype);
        let (out, _) = policy
            .forward(&batch, policy.initial_memory(2, &device))
            .unwrap();
        out
    };
    let (full, mixed) = (run(None), run(Some(FloatDType::BF16)));
    assert_eq!(mixed.pi_logits.camera.dtype(), DType::F32);
    assert_eq!(mixed.vpred.dtype(), DType::F32);
    let (want, got) = (
        values(full.pi_logits.camera),
        values(mixed.pi_logits.camera),
    );
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = want
        .iter()
        .zip(&got)
        .fold(0.0f64, |m, (w, g)| m.max((w - g).abs()));
    assert!(
        worst <= 0.05 * scale,
        "camera logits: bf16 off by {worst} (scale {scale})"
    );
}
