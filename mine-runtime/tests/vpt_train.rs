//! The tiny VPT learns a synthetic task through the trainer: reddish frames ask for one
//! (buttons, camera) class, bluish frames for another; episode-continuous rows carry memory.

use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::config::{ProgressMode, TrainerConfig};
use mine_runtime::optim::OptimizerConfig;
use mine_runtime::policies::freeze::{freeze, frozen_parameters};
use mine_runtime::policies::torch_names::torch_state_dict;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::{InMemory, Trainer};

const ACTIONS: [(i64, i64); 2] = [(3, 40), (9, 80)];

/// Batch `index`: rows continue their episode from batch to batch (timestamps go on).
fn batch(index: usize, config: &VptConfig, device: &Device) -> Batch {
    let [h, w, c] = config.img_shape;
    let (b, t) = (2, config.timesteps);
    let mut pixels = Vec::with_capacity(b * t * h * w * c);
    let (mut buttons, mut camera) = (Vec::new(), Vec::new());
    for row in 0..b {
        for step in 0..t {
            let kind = (index * 7 + row * 3 + step * 5) % 2;
            let colour = if kind == 0 {
                [210.0f32, 40.0, 40.0]
            } else {
                [40.0, 40.0, 210.0]
            };
            (0..h * w).for_each(|_| pixels.extend_from_slice(&colour[..c]));
            buttons.push(ACTIONS[kind].0);
            camera.push(ACTIONS[kind].1);
        }
    }
    let classes = |v: Vec<i64>| Tensor::<3, Int>::from_data(TensorData::new(v, [b, t, 1]), device);
    let start = (index * t) as i64;
    Batch {
        image: Some(Tensor::from_data(
            TensorData::new(pixels, [b, t, h, w, c]),
            device,
        )),
        agent_action: Some(AgentAction {
            buttons: classes(buttons),
            camera: classes(camera),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        info: BatchInfo {
            episode: vec!["a".into(), "b".into()],
            timestamp: vec![(start..start + t as i64).collect(); b],
            progress: vec![String::new(); b],
        },
        ..Batch::default()
    }
}

fn trainer_config(run_dir: &std::path::Path, steps: usize) -> TrainerConfig {
    TrainerConfig {
        optimizer: OptimizerConfig {
            learning_rate: 3e-3,
            warmup_steps: 2,
            gradient_clip_val: Some(1.0),
            ..OptimizerConfig::default()
        },
        log_freq: 1,
        max_steps: Some(steps),
        val_at_epoch_end: false,
        run_dir: run_dir.to_owned(),
        progress: ProgressMode::Off,
        ..TrainerConfig::default()
    }
}

#[test]
fn tiny_vpt_behaviour_cloning_loss_falls_through_the_trainer() {
    let device = Device::flex();
    let vpt = VptConfig::tiny();
    let dir = tempfile::tempdir().unwrap();
    let config = trainer_config(dir.path(), 30);
    let policy = VptPolicy::new(&vpt, &device).unwrap();
    let experiment = Experiment::new(policy).objective(BehaviorClone { weight: 1.0 });
    let mut trainer = Trainer::new(config, experiment).unwrap();
    let mut data = InMemory((0..10).map(|i| batch(i, &vpt, &device)).collect());
    let summary = trainer.fit(&mut data, None).unwrap();

    let text = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("train/loss")?
                .as_f64()
        })
        .collect();
    let (first, last) = (losses[0], *losses.last().unwrap());
    println!(
        "tiny VPT: {} steps, {:.1} ms/step, loss {first:.2} -> {last:.3}",
        summary.steps,
        summary.step_time.as_secs_f64() * 1e3
    );
    assert_eq!(summary.steps, 30);
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}

/// Weights by PyTorch name.
fn weights(policy: &VptPolicy) -> std::collections::BTreeMap<String, Vec<u8>> {
    torch_state_dict(policy, &[])
        .into_iter()
        .map(|t| (t.name, t.bytes))
        .collect()
}

#[test]
fn frozen_modules_stay_fixed_while_the_rest_trains() {
    let device = Device::flex();
    let vpt = VptConfig::tiny();
    let dir = tempfile::tempdir().unwrap();
    let policy = VptPolicy::new(&vpt, &device).unwrap();
    let (policy, report) = freeze(policy, &["img_process".to_owned()]).unwrap();
    assert!(report.parameters > 0);
    let before = weights(&policy);
    let experiment = Experiment::new(policy).objective(BehaviorClone { weight: 1.0 });
    let mut trainer = Trainer::new(trainer_config(dir.path(), 3), experiment).unwrap();
    let mut data = InMemory((0..3).map(|i| batch(i, &vpt, &device)).collect());
    trainer.fit(&mut data, None).unwrap();
    // The freeze survives the trainer; the value normalizer's statistics never train.
    let frozen = frozen_parameters(trainer.policy());
    let (image, others): (Vec<_>, Vec<_>) = frozen
        .iter()
        .partition(|name| name.starts_with("net.img_process."));
    assert_eq!(image.len(), report.parameters, "{frozen:?}");
    assert!(others.iter().all(|n| n.starts_with("value_head.normalizer.")), "{others:?}");
    let policy = trainer.into_policy();
    let after = weights(&policy);
    for (name, value) in &after {
        let changed = value != &before[name];
        if name.starts_with("net.img_process.") {
            assert!(!changed, "{name} is frozen but changed");
        } else if name.starts_with("net.") || name.starts_with("pi_head.") {
            assert!(changed, "{name} should train");
        }
    }
}
