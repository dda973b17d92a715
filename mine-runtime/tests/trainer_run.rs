//! End-to-end runs of the trainer on a learnable synthetic task: the loss falls, validation
//! runs with its own memory, checkpoints resume exactly, NaN losses stop the run, bad settings
//! are rejected.

mod trainer_support;

use std::path::Path;

use burn::tensor::Tensor;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::optim::OptimizerConfig;
use mine_runtime::trainer::{Backend, TrainError, Trainer, TrainerConfig, read_metrics};
use trainer_support::{ColourPolicy, source};

fn config(run_dir: &Path) -> TrainerConfig {
    TrainerConfig {
        optimizer: OptimizerConfig {
            learning_rate: 3e-2,
            warmup_steps: 2,
            gradient_clip_val: Some(1.0),
            ..OptimizerConfig::default()
        },
        max_epochs: 1,
        log_freq: 1,
        val_at_epoch_end: true,
        run_dir: run_dir.to_owned(),
        ..TrainerConfig::default()
    }
}

fn trainer(config: TrainerConfig) -> Trainer<ColourPolicy> {
    let device = config.device().unwrap().autodiff();
    let experiment =
        Experiment::new(ColourPolicy::new(&device)).objective(BehaviorClone { weight: 1.0 });
    Trainer::new(experiment, config, serde_json::json!({"task": "colour"})).unwrap()
}

/// `train/loss` of every logged window, in order.
fn losses(run_dir: &Path) -> Vec<f64> {
    read_metrics(&run_dir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|r| r.values.get("train/loss").copied())
        .collect()
}

#[test]
fn behaviour_cloning_loss_falls_below_half_on_a_learnable_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_epochs = 4;
    let mut trainer = trainer(config);
    let summary = trainer.fit(&mut source(12), Some(&mut source(3))).unwrap();
    let losses = losses(dir.path());
    let (first, last) = (losses[0], *losses.last().unwrap());
    println!(
        "colour task: {} steps in {:.2}s ({:.1} ms/step, {:.0} frames/s), loss {first:.2} -> {last:.3}",
        summary.steps,
        summary.seconds,
        summary.seconds * 1e3 / summary.batches as f64,
        summary.frames_per_second
    );
    assert_eq!(summary.steps, 48);
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    assert!(summary.last_val["val/loss"] < 0.5 * first);

    // The run directory: resolved config with the objective's hyperparameters, metrics with
    // lr every step and validation per epoch.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["policy"], "ColourPolicy");
    assert_eq!(config["objectives"][0]["name"], "behavior_clone");
    assert_eq!(config["objectives"][0]["hyperparameters"]["weight"], 1.0);
    assert_eq!(config["hyperparameters"]["task"], "colour");
    let records = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.values.contains_key("train/lr"))
            .count(),
        48
    );
    assert_eq!(records.iter().filter(|r| r.stage == "val").count(), 4);
    assert!(
        records
            .iter()
            .all(|r| r.values.values().all(|v| v.is_finite()))
    );
}

fn trainer_from(policy: ColourPolicy, config: TrainerConfig) -> Trainer<ColourPolicy> {
    let experiment = Experiment::new(policy).objective(BehaviorClone { weight: 1.0 });
    Trainer::new(experiment, config, serde_json::Value::Null).unwrap()
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    // Both runs start from the same initial weights.
    let initial = ColourPolicy::new(&config(Path::new(".")).device().unwrap().autodiff());

    let straight = tempfile::tempdir().unwrap();
    let mut cfg = config(straight.path());
    cfg.max_epochs = 2;
    trainer_from(initial.clone(), cfg)
        .fit(&mut source(5), None)
        .unwrap();

    let split = tempfile::tempdir().unwrap();
    let mut first = config(split.path());
    first.max_epochs = 2;
    first.max_steps = Some(7);
    first.checkpoint_freq = Some(7);
    trainer_from(initial.clone(), first)
        .fit(&mut source(5), None)
        .unwrap();
    let mut rest = config(split.path());
    rest.max_epochs = 2;
    // A freshly initialized policy: the checkpoint restores the trained weights.
    let device = rest.device().unwrap().autodiff();
    let experiment =
        Experiment::new(ColourPolicy::new(&device)).objective(BehaviorClone { weight: 1.0 });
    let mut resumed =
        Trainer::resume(experiment, rest, serde_json::Value::Null, split.path()).unwrap();
    assert_eq!(resumed.global_step(), 7);
    resumed.fit(&mut source(5), None).unwrap();

    let (a, b) = (losses(straight.path()), losses(split.path()));
    assert_eq!(a.len(), 10);
    assert_eq!(a.len(), b.len());
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-6 * x.abs().max(1.0),
            "step {step}: {x} vs {y}"
        );
    }
}

#[test]
fn checkpoints_keep_the_newest_and_weights_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_freq = Some(2);
    cfg.keep_last = 2;
    cfg.save_freq = Some(3);
    trainer(cfg).fit(&mut source(7), None).unwrap();
    let names = |sub: &str| {
        let mut n: Vec<String> = std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names("checkpoints"), ["step-000000004", "step-000000006"]);
    assert_eq!(
        names("weights"),
        ["step-000000003.bpk", "step-000000006.bpk"]
    );
}

/// An objective that explodes at one step.
#[objective]
fn explode_at(
    #[latent] pi_logits: &PiLogits,
    #[ctx] global_step: u64,
    #[hparam] at: u64,
) -> ObjectiveOutput {
    let loss = pi_logits.camera.clone().mean().mul_scalar(0.0);
    let poison = if global_step == at { f64::NAN } else { 0.0 };
    ObjectiveOutput::new(loss.add_scalar(poison))
}

#[test]
fn a_nan_loss_stops_the_run_naming_step_and_objective_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_freq = Some(1);
    cfg.keep_last = 1;
    let device = cfg.device().unwrap().autodiff();
    let experiment = Experiment::new(ColourPolicy::new(&device))
        .objective(BehaviorClone { weight: 1.0 })
        .objective(ExplodeAt { at: 3 });
    let mut trainer = Trainer::new(experiment, cfg, serde_json::Value::Null).unwrap();
    let err = trainer.fit(&mut source(8), None).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteLoss {
                step: 3,
                objective: "explode_at",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("step 3: objective `explode_at` returned a non-finite loss (NaN)")
    );
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(
        dir.path()
            .join("checkpoints/step-000000003/state.json")
            .is_file()
    );
}

#[test]
fn invalid_settings_are_rejected_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let check = |edit: &dyn Fn(&mut TrainerConfig), expected: &str| {
        let mut cfg = config(dir.path());
        edit(&mut cfg);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    };
    check(&|c| c.optimizer.warmup_steps = 0, "warmup_steps");
    check(&|c| c.optimizer.learning_rate = -1.0, "learning_rate");
    check(&|c| c.log_freq = 0, "log_freq");
    check(
        &|c| c.backend = Backend::Cuda,
        "rebuild with `--features cuda`",
    );
    let err = toml::from_str::<TrainerConfig>("backend = \"tpu\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `tpu`"), "{err}");
    let err = toml::from_str::<TrainerConfig>("log_frequency = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `log_frequency`"), "{err}");
}

#[test]
fn a_batch_without_frames_is_an_error_naming_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = trainer(config(dir.path()));
    let mut empty =
        mine_runtime::trainer::GeneratedBatches::new(1, |_, _, _: &burn::tensor::Device| Batch {
            mask: Some(Tensor::zeros([1, 1], &burn::tensor::Device::flex())),
            info: BatchInfo {
                timestamp: vec![vec![0]],
                ..BatchInfo::default()
            },
            ..Batch::default()
        });
    let err = trainer.fit(&mut empty, None).unwrap_err().to_string();
    assert!(
        err.starts_with("step 0: policy `ColourPolicy` failed: the batch has no `image`"),
        "{err}"
    );
}
