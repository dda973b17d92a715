//! A run killed between checkpoints and resumed logs every step exactly once, in
//! `metrics.jsonl` and in the TensorBoard events, with the losses of an uninterrupted run.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::checkpoint::{MANIFEST_FILE, STATE_FILE};
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{InMemory, SourceError, Trainer, from_fn};

use crate::support::*;

fn trainer(config: TrainerConfig, policy: &TinyRnn) -> Trainer<TinyRnn> {
    let experiment = Experiment::new(policy.clone()).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

/// 10 steps, saving every 3, validating every `val_every` steps (and at each epoch end when
/// `val_every` is set).
fn config_for(dir: &Path, val_every: Option<usize>) -> TrainerConfig {
    let mut config = config(dir, 10, 1e-2);
    config.save_freq = Some(3);
    config.val_every_n_steps = val_every;
    config.val_at_epoch_end = val_every.is_some();
    config
}

/// Trains on `data` until it fails at batch `kill_at` of epoch 1, after step 8, two steps
/// after the last checkpoint: what a `kill -9` leaves, since the sinks had written those steps.
fn killed_run(
    dir: &Path,
    policy: &TinyRnn,
    data: &[Batch],
    val: &[Batch],
    config: TrainerConfig,
    kill_at: usize,
) {
    let data = data.to_vec();
    let mut killed = from_fn(move |epoch| {
        data.clone().into_iter().enumerate().map(move |(i, batch)| {
            if epoch == 1 && i == kill_at {
                Err::<Batch, SourceError>("killed".into())
            } else {
                Ok(batch)
            }
        })
    });
    let mut trainer = trainer(config, policy);
    let err = trainer
        .fit(&mut killed, Some(&mut InMemory(val.to_vec())))
        .unwrap_err();
    assert!(err.to_string().contains("killed"), "{err}");
    assert_eq!(trainer.step(), 8);
    let logged_steps: Vec<u64> = logged(dir, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(
        logged_steps,
        (1..=8).collect::<Vec<_>>(),
        "steps 7 and 8 were logged"
    );
}

/// `(step, key)` -> how many times it is logged.
fn counts<'a>(keys: impl Iterator<Item = (u64, &'a str)>) -> BTreeMap<(u64, String), usize> {
    let mut counts = BTreeMap::new();
    for (step, key) in keys {
        *counts.entry((step, key.to_owned())).or_default() += 1;
    }
    counts
}

fn assert_each_once(run: &Path, straight: &Path) {
    let jsonl = logged_all(run);
    let jsonl_counts = counts(jsonl.iter().map(|(s, k, _)| (*s, k.as_str())));
    let twice: Vec<_> = jsonl_counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "metrics.jsonl repeats {twice:?}");
    let expected = counts(
        logged_all(straight)
            .iter()
            .map(|(s, k, _)| (*s, k.as_str())),
    );
    assert_eq!(
        jsonl_counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same (step, key) pairs as the uninterrupted run"
    );

    let events = tensorboard_scalars(run);
    let event_counts = counts(events.iter().map(|(s, k, _)| (*s, k.as_str())));
    let twice: Vec<_> = event_counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "the event files repeat {twice:?}");
    assert_eq!(
        event_counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "TensorBoard holds what metrics.jsonl holds"
    );

    for key in ["train/loss", "val/loss", "train/lr"] {
        let (a, b) = (logged(straight, key), logged(run, key));
        assert_eq!(a.len(), b.len(), "{key}");
        for ((step, x), (_, y)) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-6, "{key} at step {step}: {x} vs {y}");
        }
    }
}

/// Trains straight, and killed then resumed; compares what both logged.
fn kill_and_resume(
    name: &str,
    batches: usize,
    val_every: usize,
    kill_at: usize,
    val_steps: &[u64],
) {
    let device = Device::flex();
    let data = trajectories(batches, 11, &device);
    let val = trajectories(2, 12, &device);
    let policy = TinyRnn::new(&device);

    let straight = run_dir(&format!("{name}-straight"));
    trainer(config_for(&straight, Some(val_every)), &policy)
        .fit(
            &mut InMemory(data.clone()),
            Some(&mut InMemory(val.clone())),
        )
        .unwrap();
    let logged_val: Vec<u64> = logged(&straight, "val/loss").iter().map(|p| p.0).collect();
    assert_eq!(logged_val, val_steps);

    let dir = run_dir(&format!("{name}-killed"));
    killed_run(
        &dir,
        &policy,
        &data,
        &val,
        config_for(&dir, Some(val_every)),
        kill_at,
    );
    assert_eq!(names(&dir.join("tensorboard")).len(), 1);

    let mut resumed = trainer(config_for(&dir, Some(val_every)), &TinyRnn::new(&device))
        .resume_from(&dir)
        .unwrap();
    assert_eq!(resumed.step(), 6);
    let summary = resumed
        .fit(&mut InMemory(data), Some(&mut InMemory(val)))
        .unwrap();
    assert_eq!((summary.steps, summary.steps_this_run), (10, 4));
    assert_each_once(&dir, &straight);
    assert_eq!(
        names(&dir.join("tensorboard")).len(),
        2,
        "the killed run's event file (cut back) and the resumed run's"
    );
    std::fs::remove_dir_all(&straight).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_killed_after_a_validated_save_logs_every_step_once() {
    // 7 batches per epoch: step 6 logs, validates, then saves; step 7 ends the epoch.
    kill_and_resume("rewind-validated", 7, 3, 1, &[3, 6, 7, 9]);
}

#[test]
fn a_run_killed_after_an_epoch_ending_on_a_save_logs_every_step_once() {
    // 6 batches per epoch: step 6 logs, saves, then validates at the epoch's end, which the
    // resumed run does again.
    kill_and_resume("rewind-epoch-end", 6, 4, 2, &[4, 6, 8]);
}

#[test]
fn a_checkpoint_from_before_marks_drops_the_steps_after_it() {
    let device = Device::flex();
    let data = trajectories(6, 13, &device);
    let val = trajectories(2, 14, &device);
    let policy = TinyRnn::new(&device);

    let straight = run_dir("rewind-old-straight");
    trainer(config_for(&straight, None), &policy)
        .fit(&mut InMemory(data.clone()), None)
        .unwrap();
    let dir = run_dir("rewind-old-killed");
    killed_run(&dir, &policy, &data, &val, config_for(&dir, None), 2);

    // Make the step-6 checkpoint look as the previous version wrote it: state format 1, no
    // record of the metric files, no SHA256SUMS.
    let checkpoint = dir.join("checkpoints/step-00000006");
    let path = checkpoint.join(STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let object = state.as_object_mut().unwrap();
    assert!(object.remove("metrics").is_some());
    object.insert("format".into(), 1.into());
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    std::fs::remove_file(checkpoint.join(MANIFEST_FILE)).unwrap();

    let mut resumed = trainer(config_for(&dir, None), &TinyRnn::new(&device))
        .resume_from(&checkpoint)
        .unwrap();
    assert_eq!(resumed.step(), 6);
    resumed.fit(&mut InMemory(data), None).unwrap();
    assert_each_once(&dir, &straight);
    std::fs::remove_dir_all(&straight).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
