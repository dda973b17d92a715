//! A run interrupted by a checkpoint and resumed continues exactly as the uninterrupted run.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::checkpoint::list_checkpoints;
use mine_runtime::trainer::config::{EmaConfig, TrainerConfig};
use mine_runtime::trainer::{InMemory, Trainer};

use crate::support::*;

fn trainer(config: TrainerConfig, policy: &TinyRnn) -> Trainer<TinyRnn> {
    let experiment = Experiment::new(policy.clone()).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

/// Trains `2n` steps straight, and `n` + `n` with a new trainer resumed from the checkpoint in
/// between, on batches of `rows` rows; the losses of the second half, the final weights and
/// every rank's memory must agree.
fn straight_and_resumed(
    name: &str,
    n: usize,
    batches: usize,
    rows: usize,
    adjust: impl Fn(&mut TrainerConfig),
) {
    let device = Device::flex();
    let data = trajectories_of(rows, batches, 5, &device);
    let val = trajectories(2, 6, &device);

    // One initial policy for both runs (tests share the process's random numbers).
    let policy = TinyRnn::new(&device);
    let straight_dir = run_dir(&format!("{name}-straight"));
    let mut config = config(&straight_dir, 2 * n, 1e-2);
    config.val_every_n_steps = Some(3);
    config.ema = Some(EmaConfig {
        decay: 0.8,
        every_n_steps: 1,
        use_for_validation: true,
    });
    adjust(&mut config);
    let mut straight = trainer(config.clone(), &policy);
    straight
        .fit(
            &mut InMemory(data.clone()),
            Some(&mut InMemory(val.clone())),
        )
        .unwrap();

    let dir = run_dir(&format!("{name}-resumed"));
    let first_half = TrainerConfig {
        max_steps: Some(n),
        run_dir: dir.clone(),
        ..config.clone()
    };
    let summary = trainer(first_half, &policy)
        .fit(
            &mut InMemory(data.clone()),
            Some(&mut InMemory(val.clone())),
        )
        .unwrap();
    assert_eq!(summary.steps, n as u64);
    assert!(list_checkpoints(&dir.join("checkpoints")).len() == 1);

    // A new process would build a fresh policy (other initial weights) and resume.
    let second_half = TrainerConfig {
        run_dir: dir.clone(),
        ..config
    };
    let mut resumed = trainer(second_half, &TinyRnn::new(&device))
        .resume_from(&dir)
        .unwrap();
    assert_eq!(resumed.step(), n as u64);
    let summary = resumed
        .fit(&mut InMemory(data.clone()), Some(&mut InMemory(val)))
        .unwrap();
    assert_eq!(summary.steps, 2 * n as u64);
    assert_eq!(summary.steps_this_run, n as u64);

    let expected = logged(&straight_dir, "train/loss");
    let actual = logged(&dir, "train/loss");
    assert_eq!(expected.len(), 2 * n);
    assert_eq!(
        actual.len(),
        2 * n,
        "first half and resumed half append to one file"
    );
    for ((step, a), (step_b, b)) in expected.iter().zip(&actual) {
        assert_eq!(step, step_b);
        assert!(
            (a - b).abs() <= 1e-6,
            "step {step}: straight {a} vs resumed {b}"
        );
    }
    let val_expected = logged(&straight_dir, "val/loss");
    assert_eq!(
        val_expected,
        logged(&dir, "val/loss"),
        "validation (EMA weights) agrees too"
    );
    assert_eq!(
        params(straight.policy()),
        params(resumed.policy()),
        "final weights"
    );
    assert_eq!(
        params(straight.ema().unwrap()),
        params(resumed.ema().unwrap()),
        "final EMA"
    );
    assert_eq!(straight.world_size(), resumed.world_size());
    for rank in 0..straight.world_size() {
        let (a, b) = (
            straight.rank_memory(rank).memory().unwrap(),
            resumed.rank_memory(rank).memory().unwrap(),
        );
        assert_eq!(a.hidden.to_data(), b.hidden.to_data(), "rank {rank} memory");
        assert_eq!(
            straight.rank_memory(rank).last_timestamp(),
            resumed.rank_memory(rank).last_timestamp()
        );
    }
    std::fs::remove_dir_all(&straight_dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_continues_exactly() {
    // 6 batches per epoch: the restart falls in the middle of the second epoch.
    straight_and_resumed("exact", 8, 6, B, |_| {});
}

#[test]
fn resume_continues_exactly_with_accumulation() {
    // 7 batches per epoch, 2 per step: each epoch ends with a 1-batch step.
    straight_and_resumed("accumulate", 5, 7, B, |c| {
        c.optimizer.accumulate_grad_batches = 2
    });
}

#[test]
fn resume_continues_exactly_with_two_ranks() {
    // Two ranks of two rows on one device, with accumulation: each rank's memory, its shard's
    // position and the shared optimizer state come back from the checkpoint.
    straight_and_resumed("two-ranks", 5, 7, 4, |c| {
        c.devices = Some(vec![0, 0]);
        c.optimizer.accumulate_grad_batches = 2;
    });
}

#[test]
fn resume_from_a_directory_without_checkpoint_is_an_error() {
    let device = Device::flex();
    let dir = run_dir("no-checkpoint");
    std::fs::create_dir_all(&dir).unwrap();
    let err = trainer(config(&dir, 2, 1e-3), &TinyRnn::new(&device))
        .resume_from(&dir)
        .err()
        .unwrap();
    assert!(err.to_string().contains("no checkpoint at"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn leftovers_of_a_crash_are_never_resumed_from() {
    let device = Device::flex();
    let dir = run_dir("crash");
    let policy = TinyRnn::new(&device);
    let mut config = config(&dir, 2, 1e-3);
    config.save_freq = Some(2);
    trainer(config.clone(), &policy)
        .fit(&mut InMemory(trajectories(3, 1, &device)), None)
        .unwrap();
    // What a crash while writing step 4 could leave: a temporary directory with a truncated
    // file; and a step directory without its state file.
    let checkpoints = dir.join("checkpoints");
    let tmp = checkpoints.join(".tmp-step-00000004-12345");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("model.bpk"), b"trunc").unwrap();
    std::fs::create_dir_all(checkpoints.join("step-00000004")).unwrap();
    let steps: Vec<u64> = list_checkpoints(&checkpoints).iter().map(|c| c.0).collect();
    assert_eq!(steps, [2]);

    config.max_steps = Some(3);
    let mut resumed = trainer(config, &TinyRnn::new(&device))
        .resume_from(&dir)
        .unwrap();
    assert_eq!(resumed.step(), 2);
    resumed
        .fit(&mut InMemory(trajectories(3, 1, &device)), None)
        .unwrap();
    assert!(!tmp.exists(), "temporary directories are cleaned at start");
    let steps: Vec<u64> = list_checkpoints(&checkpoints).iter().map(|c| c.0).collect();
    assert_eq!(steps, [2, 3], "keep_last = 2");
    std::fs::remove_dir_all(&dir).unwrap();
}
