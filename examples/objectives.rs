//! Evaluates the built-in objectives (behaviour cloning, KL divergence) on the reference inputs
//! MineStudio's own callbacks were run on (`../shared/golden/callbacks.json`), through a typed
//! experiment, and prints our values next to MineStudio's.
//!
//! `cargo run --release --example objectives [-- path/to/callbacks.json]`

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use minestudio_rs::dsl::objectives::{BehaviorClone, KlDivergence};
use minestudio_rs::prelude::*;
use serde_json::Value;

/// Replays latents recorded from a real VPT action head.
#[policy(produces(pi_logits, posterior_dist, prior_dist))]
#[derive(Module, Debug)]
pub struct Recorded {}

impl Policy for Recorded {
    fn initial_memory(&self, _batch_size: usize, _device: &Device) {}

    fn forward(&self, _batch: &Batch, _memory: ()) -> (RecordedLatents, ()) {
        unreachable!("this example evaluates objectives on recorded latents")
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

fn float<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = numbers(value).into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn int<const D: usize>(value: &Value, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    let data: Vec<i64> = numbers(value).into_iter().map(|v| v as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn gaussian(mu: &Value, log_var: &Value, device: &Device) -> DiagGaussian {
    let mu = float(mu, [2, 8], device);
    DiagGaussian {
        z: mu.clone(),
        mu,
        log_var: float(log_var, [2, 8], device),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shared = std::env::var_os("MINE_SHARED_DIR").map(PathBuf::from);
            shared
                .unwrap_or_else(|| PathBuf::from("../shared"))
                .join("golden/callbacks.json")
        });
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("cannot read the reference inputs {}: {e}; pass the path to callbacks.json as the first argument", path.display())
    })?;
    let golden: Value = serde_json::from_str(&text)?;
    let device = Device::flex();
    let (inputs, kl) = (&golden["inputs"], &golden["kl_inputs"]);

    let latents = RecordedLatents {
        pi_logits: PiLogits {
            buttons: log_softmax(
                float(&inputs["raw_logits_buttons"], [2, 4, 1, 8641], &device),
                3,
            ),
            camera: log_softmax(
                float(&inputs["raw_logits_camera"], [2, 4, 1, 121], &device),
                3,
            ),
        },
        posterior_dist: gaussian(&kl["q_mu"], &kl["q_log_var"], &device),
        prior_dist: gaussian(&kl["p_mu"], &kl["p_log_var"], &device),
    };
    let batch = Batch {
        agent_action: Some(AgentAction {
            buttons: int(&inputs["agent_action_buttons"], [2, 4, 1], &device),
            camera: int(&inputs["agent_action_camera"], [2, 4, 1], &device),
        }),
        mask: Some(float(&inputs["mask"], [2, 4], &device)),
        ..Batch::default()
    };

    // The compiler checked that `Recorded` produces every latent both objectives consume.
    let experiment = Experiment::new(Recorded {})
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence { weight: 0.01 });
    let losses = experiment
        .objectives()
        .evaluate(&latents, &batch, &StepContext::train(0, 0))?;

    let reference = &golden["minelightning_combined_result_bc_mask_plus_kl"];
    println!(
        "{:<14} {:>14} {:>14} {:>10}",
        "metric", "ours", "MineStudio", "rel. err"
    );
    let mut worst: f64 = 0.0;
    for (name, ours) in losses.metric_values() {
        let theirs = reference[&name]
            .as_f64()
            .ok_or_else(|| format!("no reference for `{name}`"))?;
        let rel = (ours - theirs).abs() / theirs.abs().max(1e-12);
        worst = worst.max(rel);
        println!("{name:<14} {ours:>14.6} {theirs:>14.6} {rel:>10.1e}");
    }
    println!("worst relative error {worst:.1e} (tolerance 1e-5)");
    if worst > 1e-5 {
        return Err("objectives differ from MineStudio's reference".into());
    }
    Ok(())
}
