//! Run directories: a second run is refused, `--overwrite` removes only what the trainer wrote,
//! a resume continues only the run in its own directory, and a program's claim lets it write
//! its own log first.

use std::path::Path;

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{
    InMemory, RunDir, RunDirError, RunDirMode, SourceError, TrainError, Trainer, from_fn,
};

use crate::support::*;

fn trainer(config: TrainerConfig) -> Trainer<TinyRnn> {
    let policy = TinyRnn::new(&Device::flex());
    let experiment = Experiment::new(policy).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

fn data() -> InMemory {
    InMemory(trajectories(3, 41, &Device::flex()))
}

/// A finished run of `steps` steps in `dir`, with a `train.log` as a program writes.
fn finished_run(dir: &Path, steps: usize) {
    let mut config = config(dir, steps, 1e-2);
    config.save_freq = Some(2);
    trainer(config).fit(&mut data(), None).unwrap();
    std::fs::write(dir.join("train.log"), "the program's log\n").unwrap();
}

fn claim_error(result: Result<RunDir, RunDirError>) -> RunDirError {
    result.expect_err("the claim is refused")
}

#[test]
fn a_second_run_into_a_used_directory_is_refused_and_changes_nothing() {
    let dir = run_dir("second-run");
    finished_run(&dir, 2);
    let metrics = std::fs::read(dir.join("metrics.jsonl")).unwrap();
    let before = names(&dir);

    let err = trainer(config(&dir, 2, 1e-2))
        .fit(&mut data(), None)
        .unwrap_err();
    assert!(
        matches!(err, TrainError::RunDirClaim(RunDirError::InUse { .. })),
        "{err}"
    );
    let message = err.to_string();
    for expected in [
        dir.display().to_string(),
        "checkpoints/".into(),
        "metrics.jsonl".into(),
        format!("--resume {}", dir.display()),
        "--overwrite".into(),
    ] {
        assert!(message.contains(&expected), "{expected}: {message}");
    }
    assert_eq!(std::fs::read(dir.join("metrics.jsonl")).unwrap(), metrics);
    assert_eq!(names(&dir), before);
    assert_eq!(names(&dir.join("tensorboard")).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overwrite_removes_only_what_the_trainer_wrote() {
    let dir = run_dir("overwrite");
    finished_run(&dir, 2);
    let before = names(&dir);
    assert_eq!(
        before,
        [
            "checkpoints",
            "config.toml",
            "hparams.json",
            "metrics.jsonl",
            "plots",
            "tensorboard",
            "train.log",
            "weights"
        ]
    );

    // Files of the user's, beside the run or inside a directory the trainer writes: refused,
    // naming them, and nothing is removed.
    for foreign in ["notes.txt", "plots/holiday.png", "weights/finetuned.bpk"] {
        std::fs::write(dir.join(foreign), "mine").unwrap();
        let err = claim_error(RunDir::claim(&dir, RunDirMode::Overwrite));
        assert!(matches!(err, RunDirError::Foreign { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(foreign) && message.contains("nothing was removed"),
            "{message}"
        );
        assert_eq!(
            names(&dir).len(),
            before.len() + usize::from(foreign == "notes.txt")
        );
        assert!(dir.join("checkpoints/step-00000002").is_dir());
        std::fs::remove_file(dir.join(foreign)).unwrap();
    }

    let claimed = RunDir::claim(&dir, RunDirMode::Overwrite).unwrap();
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    std::fs::write(dir.join("train.log"), "the new run's log\n").unwrap();
    let summary = trainer(config(&dir, 1, 1e-2))
        .with_run_dir(claimed)
        .unwrap()
        .fit(&mut data(), None)
        .unwrap();
    assert_eq!(summary.steps, 1);
    let steps: Vec<u64> = logged(&dir, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(steps, [1], "only the new run's steps");
    assert_eq!(names(&dir.join("checkpoints")), ["step-00000001"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("train.log")).unwrap(),
        "the new run's log\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resume_continues_only_the_run_in_its_own_directory() {
    let a = run_dir("resume-a");
    let b = run_dir("resume-b");
    let c = run_dir("resume-c");
    finished_run(&a, 2);
    finished_run(&b, 2);
    let a_metrics = std::fs::read(a.join("metrics.jsonl")).unwrap();

    // Another run's checkpoint into a directory holding a run: refused, by the trainer's own
    // claim and by an early one.
    let err = trainer(config(&b, 3, 1e-2))
        .resume_from(&a)
        .unwrap()
        .fit(&mut data(), None)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            TrainError::RunDirClaim(RunDirError::ResumeElsewhere { .. })
        ),
        "{message}"
    );
    assert!(
        message.contains(&a.display().to_string()) && message.contains(&b.display().to_string()),
        "{message}"
    );
    let err = claim_error(RunDir::claim(&b, RunDirMode::Resume(a.clone())));
    assert!(matches!(err, RunDirError::ResumeElsewhere { .. }), "{err}");
    let err = claim_error(RunDir::claim(&b, RunDirMode::Resume(a.join("nothing"))));
    assert!(matches!(err, RunDirError::NothingToResume { .. }), "{err}");

    // Into an empty directory: a new run starting from that checkpoint, which leaves the
    // original run's files alone.
    let summary = trainer(config(&c, 3, 1e-2))
        .resume_from(&a)
        .unwrap()
        .fit(&mut data(), None)
        .unwrap();
    assert_eq!(summary.steps, 3);
    let steps: Vec<u64> = logged(&c, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(steps, [3]);
    assert_eq!(std::fs::read(a.join("metrics.jsonl")).unwrap(), a_metrics);

    // In its own directory, claimed early (the claim loads the checkpoint).
    let claimed = RunDir::claim(&a, RunDirMode::Resume(a.clone())).unwrap();
    let mut resumed = trainer(config(&a, 3, 1e-2)).with_run_dir(claimed).unwrap();
    assert_eq!(resumed.step(), 2);
    resumed.fit(&mut data(), None).unwrap();
    let steps: Vec<u64> = logged(&a, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(steps, [1, 2, 3]);
    for dir in [a, b, c] {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_claimed_directory_takes_the_programs_log_and_a_second_fit() {
    let dir = run_dir("claimed");
    // A log file alone does not make a directory hold a run.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.log"), "an earlier attempt\n").unwrap();
    let claimed = RunDir::claim(&dir, RunDirMode::Fresh).unwrap();
    std::fs::write(dir.join("train.log"), "starting\n").unwrap();

    let mut trainer = trainer(config(&dir, 5, 1e-2))
        .with_run_dir(claimed)
        .unwrap();
    // The first `fit` fails at the third batch; the same trainer continues from there.
    let batches = trajectories(3, 41, &Device::flex());
    let mut failing = from_fn(move |_epoch| {
        batches.clone().into_iter().enumerate().map(|(i, batch)| {
            if i == 2 {
                Err::<Batch, SourceError>("the disk went away".into())
            } else {
                Ok(batch)
            }
        })
    });
    trainer.fit(&mut failing, None).unwrap_err();
    assert_eq!(trainer.step(), 2);
    let summary = trainer.fit(&mut data(), None).unwrap();
    assert_eq!(summary.steps, 5);
    let steps: Vec<u64> = logged(&dir, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(steps, [1, 2, 3, 4, 5]);
    assert_eq!(
        std::fs::read_to_string(dir.join("train.log")).unwrap(),
        "starting\n"
    );

    // A claim is for the config's run directory.
    let other = run_dir("claimed-other");
    let claimed = RunDir::claim(&other, RunDirMode::Fresh).unwrap();
    let err = crate::run_dir::trainer(config(&dir, 5, 1e-2))
        .with_run_dir(claimed)
        .err()
        .unwrap();
    assert!(
        matches!(err, TrainError::RunDirClaim(RunDirError::Mismatch { .. })),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}
