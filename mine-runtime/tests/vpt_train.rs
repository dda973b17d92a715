//! The tiny VPT learns a synthetic task through the trainer: reddish frames ask for one
//! (buttons, camera) class, bluish frames for another; episode-continuous rows carry memory.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::policies::freeze::{freeze, frozen_parameters};
use mine_runtime::policies::torch_names::torch_state_dict;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{InMemory, TrainSummary, Trainer};

mod common;

use common::vpt_task::{batch, train_losses, trainer_config};

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

    let losses = train_losses(dir.path());
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
    assert!(
        others
            .iter()
            .all(|n| n.starts_with("value_head.normalizer.")),
        "{others:?}"
    );
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

/// Trains the tiny VPT at 64x64 frames (its 3x3 convolutions take the Winograd kernels) for
/// `config` on two batches, from the same initial weights on every call; `resume` resumes from
/// the config's run directory.
fn train_winograd_vpt() -> impl Fn(TrainerConfig, bool) -> TrainSummary {
    let device = Device::flex();
    let vpt = VptConfig {
        img_shape: [64, 64, 3],
        ..VptConfig::tiny()
    };
    let policy = VptPolicy::new(&vpt, &device).unwrap();
    move |config: TrainerConfig, resume: bool| {
        let experiment = Experiment::new(policy.clone()).objective(BehaviorClone { weight: 1.0 });
        let mut trainer = Trainer::new(config.clone(), experiment).unwrap();
        if resume {
            trainer = trainer.resume_from(&config.run_dir).unwrap();
        }
        let mut data = InMemory((0..2).map(|i| batch(i, &vpt, &device)).collect());
        trainer.fit(&mut data, None).unwrap()
    }
}

/// `trainer.kernels` reaches the convolutions: with `winograd = false` a VPT whose 3x3
/// convolutions take the Winograd kernels (64x64 frames) trains on the direct ones, whose
/// roundings differ in the last digits, and the two runs' losses stay within 1e-4 of each
/// other.
#[test]
fn kernel_choices_reach_the_convolutions() {
    use mine_runtime::kernels::{self, KernelChoices, KernelOptions};
    let train = train_winograd_vpt();
    let losses = |choices: KernelChoices| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = trainer_config(dir.path(), 2);
        config.kernels = choices;
        train(config, false);
        assert_eq!(
            kernels::options(),
            KernelOptions::default(),
            "the scope ends"
        );
        train_losses(dir.path())
    };
    let winograd = losses(KernelChoices::default());
    let direct = losses(KernelChoices {
        winograd: Some(false),
        ..KernelChoices::default()
    });
    println!("losses: Winograd {winograd:?}, direct {direct:?}");
    assert_ne!(winograd, direct, "the choice changed nothing");
    for (w, d) in winograd.iter().zip(&direct) {
        assert!((w - d).abs() <= 1e-4 * d.abs(), "{w} vs {d}");
    }
}

/// `trainer.tune_kernels`: the trainer times the kernel flips on its first batch (64x64
/// frames, which the Winograd kernels take), keeps its choice in the checkpoints, and trains
/// as a run configured with that choice does, to the bit (the timed passes leave the weights,
/// the memory and the random numbers as they were). Resumed from its checkpoint on the same
/// machine, a run keeps the choice without tuning again; resumed without the setting, it
/// records none.
#[test]
fn tuned_kernels_train_as_the_choice_they_found() {
    use mine_runtime::checkpoint::read_state;
    use mine_runtime::kernels::KernelChoices;
    let run = train_winograd_vpt();
    let tuned_dir = tempfile::tempdir().unwrap();
    let mut config = trainer_config(tuned_dir.path(), 2);
    config.tune_kernels = true;
    let tuned = run(config.clone(), false);
    println!("{:?}", tuned.kernel_tuning);
    assert!(!tuned.kernel_tuning.is_empty());
    assert!(
        tuned
            .kernel_tuning
            .iter()
            .all(|t| t.speed > 0.0 && t.speed.is_finite())
    );
    let checkpoint = tuned.last_checkpoint.clone().unwrap();
    let tuned_state = read_state(&checkpoint).unwrap().kernels.unwrap();
    assert_eq!(tuned_state.machine, mine_runtime::kernels::tune::machine());
    let choices: KernelChoices = tuned_state.choices;
    assert!(choices.winograd.is_some() && choices.cpu_kernels == Some(true));

    let chosen_dir = tempfile::tempdir().unwrap();
    let mut chosen = trainer_config(chosen_dir.path(), 2);
    chosen.kernels = choices;
    run(chosen, false);
    let losses = train_losses(tuned_dir.path());
    assert_eq!(losses.len(), 2);
    assert_eq!(
        losses,
        train_losses(chosen_dir.path()),
        "choice {choices:?}"
    );

    config.max_steps = Some(3);
    let resumed = run(config.clone(), true);
    assert_eq!(resumed.steps, 3);
    assert!(resumed.kernel_tuning.is_empty(), "tuned again on resume");
    let kept = read_state(&resumed.last_checkpoint.unwrap())
        .unwrap()
        .kernels;
    assert_eq!(kept, Some(tuned_state));

    // Resumed without the setting: the process's kernels, and no tuned choice recorded.
    config.max_steps = Some(4);
    config.tune_kernels = false;
    let untuned = run(config, true);
    assert!(untuned.kernel_tuning.is_empty());
    let state = read_state(&untuned.last_checkpoint.unwrap()).unwrap();
    assert_eq!((state.step, state.kernels), (4, None));
}
