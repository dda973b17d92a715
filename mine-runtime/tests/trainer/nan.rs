//! A non-finite loss stops the run, naming the step and the objective; earlier checkpoints stay.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::checkpoint::list_checkpoints;
use mine_runtime::trainer::{InMemory, TrainError, Trainer};

use crate::support::*;

/// The mean camera log-probability, scaled by NaN (or infinity) from step `bad_step` on.
#[objective]
pub fn poisoned(
    #[latent] pi_logits: &PiLogits,
    #[ctx] global_step: u64,
    #[hparam] bad_step: u64,
    #[hparam] bad_value: f64,
) -> ObjectiveOutput {
    let scale = if global_step >= bad_step {
        bad_value
    } else {
        0.0
    };
    ObjectiveOutput::new(pi_logits.camera.clone().mean().mul_scalar(scale))
}

fn run(bad_value: f64, name: &str) {
    let device = Device::flex();
    let dir = run_dir(name);
    let mut config = config(&dir, 20, 1e-2);
    config.save_freq = Some(2);
    config.keep_last = 2;
    let experiment = Experiment::new(TinyRnn::new(&device))
        .objective(BehaviorClone::default())
        .objective(Poisoned {
            bad_step: 5,
            bad_value,
        });
    let mut trainer = Trainer::new(config.clone(), experiment).unwrap();
    let err = trainer
        .fit(&mut InMemory(trajectories(4, 3, &device)), None)
        .unwrap_err();
    match &err {
        TrainError::NonFiniteLoss {
            step, objective, ..
        } => {
            assert_eq!(*step, 5);
            assert_eq!(objective, "poisoned");
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("step 5") && message.contains("`poisoned`"),
        "{message}"
    );
    assert_eq!(trainer.step(), 5, "the bad step was not applied");

    // The checkpoints of steps 2 and 4 are intact, none was written after the failure, and
    // the run resumes from the last good one.
    let steps: Vec<u64> = list_checkpoints(&dir.join("checkpoints"))
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(steps, [2, 4]);
    let experiment = Experiment::new(TinyRnn::new(&device)).objective(BehaviorClone::default());
    let resumed = Trainer::new(config, experiment)
        .unwrap()
        .resume_from(&dir)
        .unwrap();
    assert_eq!(resumed.step(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nan_loss_names_step_and_objective() {
    run(f64::NAN, "nan");
}

#[test]
fn infinite_loss_names_step_and_objective() {
    run(f64::INFINITY, "inf");
}
