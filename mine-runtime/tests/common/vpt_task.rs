//! The tiny VPT's synthetic behaviour-cloning task: reddish frames ask for one (buttons,
//! camera) class, bluish frames for another; episode-continuous rows carry memory.

use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::prelude::*;
use mine_runtime::optim::OptimizerConfig;
use mine_runtime::policies::vpt::VptConfig;
use mine_runtime::trainer::config::{ProgressMode, TrainerConfig};

/// The (buttons, camera) classes of the two kinds of frames.
pub const ACTIONS: [(i64, i64); 2] = [(3, 40), (9, 80)];

/// Batch `index` of the task: rows continue their episode from batch to batch (timestamps go on).
pub fn batch(index: usize, config: &VptConfig, device: &Device) -> Batch {
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

/// The trainer settings of the task's runs: `steps` steps at learning rate 3e-3 (warmup 2,
/// clipping at 1), every step logged, into `run_dir`.
pub fn trainer_config(run_dir: &std::path::Path, steps: usize) -> TrainerConfig {
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

/// The `train/loss` of every logged step in a run directory's `metrics.jsonl`.
pub fn train_losses(run_dir: &std::path::Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("train/loss")?
                .as_f64()
        })
        .collect()
}
