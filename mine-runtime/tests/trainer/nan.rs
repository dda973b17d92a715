//! A non-finite loss stops the run, naming the step and the objective; earlier checkpoints stay.
//! Losses are read back once per logged step and before every checkpoint, so the run stops at
//! the first such read after the bad step, and never checkpoints the weights trained since.

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

/// What a run with a loss poisoned from step 5 on should show.
struct Expect {
    /// Steps taken when the loss was read back.
    found: u64,
    /// The full checkpoints left.
    checkpoints: &'static [u64],
}

fn run(bad_value: f64, name: &str, log_freq: usize, save_freq: usize, expect: Expect) {
    let device = Device::flex();
    let dir = run_dir(name);
    let mut config = config(&dir, 20, 1e-2);
    config.log_freq = log_freq;
    config.save_freq = Some(save_freq);
    config.keep_last = 2;
    let experiment = Experiment::new(TinyRnn::new(&device))
        .objective(BehaviorClone::default())
        .objective(Poisoned {
            bad_step: 5,
            bad_value,
        });
    let mut trainer = Trainer::new(config.clone(), experiment).unwrap();
    let before = mine_runtime::sync::reads();
    let err = trainer
        .fit(&mut InMemory(trajectories(4, 3, &device)), None)
        .unwrap_err();
    match &err {
        TrainError::NonFiniteLoss {
            step,
            objective,
            found,
            rank,
            ..
        } => {
            assert_eq!(*step, 5);
            assert_eq!(objective, "poisoned");
            assert_eq!(*found, expect.found);
            assert_eq!(*rank, None);
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("step 5") && message.contains("`poisoned`"),
        "{message}"
    );
    assert!(
        message.contains(&format!("after step {}", expect.found)),
        "{message}"
    );
    // The bad step and those after it were applied before the read that found the loss.
    assert_eq!(trainer.step(), expect.found);
    let reads = mine_runtime::sync::reads().since(&before);
    let window_reads = (1..=expect.found)
        .filter(|s| s % log_freq as u64 == 0 || s % save_freq as u64 == 0)
        .count() as u64;
    assert_eq!(reads.window, window_reads, "{reads:?}");

    // The checkpoints before the bad step are intact, none was written after it, and the run
    // resumes from the last good one.
    let steps: Vec<u64> = list_checkpoints(&dir.join("checkpoints"))
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(steps, expect.checkpoints);
    if let Some(&last) = expect.checkpoints.last() {
        let experiment = Experiment::new(TinyRnn::new(&device)).objective(BehaviorClone::default());
        let resumed = Trainer::new(config, experiment)
            .unwrap()
            .resume_from(&dir)
            .unwrap();
        assert_eq!(resumed.step(), last);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Read every step: found right after the bad step, whose update was applied.
const EVERY_STEP: Expect = Expect {
    found: 6,
    checkpoints: &[2, 4],
};

#[test]
fn nan_loss_names_step_and_objective() {
    run(f64::NAN, "nan", 1, 2, EVERY_STEP);
}

#[test]
fn infinite_loss_names_step_and_objective() {
    run(f64::INFINITY, "inf", 1, 2, EVERY_STEP);
}

#[test]
fn a_loss_read_later_is_found_before_the_next_checkpoint() {
    // Logged every 10 steps, saved every 3: the losses are read at steps 3 and 6; the bad
    // step 5 (the sixth) is found at 6, before that step's checkpoint is written.
    let expect = Expect {
        found: 6,
        checkpoints: &[3],
    };
    run(f64::NAN, "nan-late", 10, 3, expect);
}

#[test]
fn a_loss_read_at_the_next_logged_step_is_found_there() {
    // Logged every 4 steps, saved every 7: the losses are read at 4, 7 and 8; the bad step 5
    // is found at 7, before the checkpoint of step 7.
    let expect = Expect {
        found: 7,
        checkpoints: &[],
    };
    run(f64::INFINITY, "inf-late", 4, 7, expect);
}
