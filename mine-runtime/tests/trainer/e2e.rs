//! A tiny recurrent policy learns a synthetic behaviour-cloning task end to end.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::trainer::config::EmaConfig;
use mine_runtime::trainer::{InMemory, Trainer};

use crate::support::*;

#[test]
fn behaviour_cloning_loss_falls_and_everything_is_logged() {
    let device = Device::flex();
    let dir = run_dir("e2e");
    let mut config = config(&dir, 60, 2e-2);
    config.log_freq = 5;
    config.val_every_n_steps = Some(30);
    config.save_freq = Some(30);
    config.keep_last = 1;
    config.ema = Some(EmaConfig {
        decay: 0.9,
        every_n_steps: 2,
        use_for_validation: false,
    });
    let experiment = Experiment::new(TinyRnn::new(&device)).objective(BehaviorClone::default());
    let mut trainer = Trainer::new(config, experiment)
        .unwrap()
        .with_hyperparameters(serde_json::json!({"note": "e2e"}));
    let mut train = InMemory(trajectories(20, 1, &device));
    let mut val = InMemory(trajectories(4, 99, &device));

    let before = trainer.validate(&mut val).unwrap()["loss"];
    let summary = trainer.fit(&mut train, Some(&mut val)).unwrap();
    let after = summary.final_val.as_ref().unwrap()["loss"];
    println!(
        "e2e: val loss {before:.3} -> {after:.3}; {} steps, {:.2} ms/step, {:.0} frames/s",
        summary.steps,
        summary.step_time.as_secs_f64() * 1e3,
        summary.frames_per_sec
    );
    assert!(after < 0.5 * before, "validation loss {before} -> {after}");
    let losses = logged(&dir, "train/loss");
    let (first, last) = (losses[0].1, losses.last().unwrap().1);
    assert!(last < 0.5 * first, "train loss {first} -> {last}");

    assert_eq!(summary.steps, 60);
    // 20 batches per epoch: the run stops at step 60, on the last batch of the third epoch,
    // before that epoch's end-of-epoch work.
    assert_eq!(summary.epochs, 2);
    assert_eq!(summary.batches, 60);
    assert_eq!(summary.frames, 60 * (B * T) as u64);
    assert!(summary.frames_per_sec > 0.0);
    // Every step logs the learning rate; every 5th the metrics and the speed.
    assert_eq!(logged(&dir, "train/lr").len(), 60);
    assert_eq!(losses.len(), 12);
    for key in [
        "train/camera_loss",
        "train/button_loss",
        "train/entropy",
        "train/bc_weight",
        "train/grad_norm",
        "train/batches_per_sec",
        "train/frames_per_sec",
    ] {
        assert_eq!(logged(&dir, key).len(), 12, "{key}");
    }
    // Validation every 30 steps and at the end of the first two epochs.
    let val_steps: Vec<u64> = logged(&dir, "val/loss").iter().map(|(s, _)| *s).collect();
    assert_eq!(val_steps, [20, 30, 40, 60]);

    // The run directory: resolved config, hyperparameters, weights with their checksums, one
    // full checkpoint.
    let config_text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config_text.contains("max_steps = 60"), "{config_text}");
    let hparams: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hparams.json")).unwrap()).unwrap();
    assert_eq!(hparams["objectives"]["behavior_clone"]["weight"], 1.0);
    assert_eq!(hparams["user"]["note"], "e2e");
    assert_eq!(hparams["policy"], "TinyRnn");
    let mut weights: Vec<String> = std::fs::read_dir(dir.join("weights"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    weights.sort();
    assert_eq!(
        weights,
        [
            "step-00000030.bpk",
            "step-00000030.bpk.sha256",
            "step-00000030.ema.bpk",
            "step-00000030.ema.bpk.sha256",
            "step-00000060.bpk",
            "step-00000060.bpk.sha256",
            "step-00000060.ema.bpk",
            "step-00000060.ema.bpk.sha256"
        ]
    );
    let checkpoints: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(checkpoints, ["step-00000060"], "keep_last = 1");
    assert!(summary.last_checkpoint.unwrap().ends_with("step-00000060"));
    let tb: Vec<_> = std::fs::read_dir(dir.join("tensorboard"))
        .unwrap()
        .collect();
    assert_eq!(tb.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
