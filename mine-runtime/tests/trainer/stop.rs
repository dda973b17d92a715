//! A stop flag (what a Ctrl-C handler sets) ends the run after the current optimizer step,
//! with weights, a full checkpoint and flushed metrics, and the run resumes exactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::checkpoint::list_checkpoints;
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{InMemory, SourceError, Trainer, from_fn};

use crate::support::*;

fn trainer(config: TrainerConfig, policy: &TinyRnn) -> Trainer<TinyRnn> {
    let experiment = Experiment::new(policy.clone()).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

#[test]
fn a_stop_flag_ends_the_run_after_the_current_step_with_a_checkpoint() {
    let device = Device::flex();
    let data = trajectories(8, 21, &device);
    let policy = TinyRnn::new(&device);
    let config = |dir: &std::path::Path| {
        let mut config = config(dir, 6, 1e-2);
        // Two batches per step: the flag comes in the middle of step 3.
        config.optimizer.accumulate_grad_batches = 2;
        config
    };

    let straight = run_dir("stop-straight");
    trainer(config(&straight), &policy)
        .fit(&mut InMemory(data.clone()), None)
        .unwrap();

    let dir = run_dir("stop");
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, batches) = (stop.clone(), data.clone());
    // The flag is set as the sixth batch (the second of step 3) is handed out: the trainer
    // draws each batch while the one before it trains, so this happens during the fifth
    // batch (the first of step 3), in the middle of step 3.
    let mut source = from_fn(move |_epoch| {
        let flag = flag.clone();
        batches
            .clone()
            .into_iter()
            .enumerate()
            .map(move |(i, batch)| {
                if i == 5 {
                    flag.store(true, Ordering::SeqCst);
                }
                Ok::<_, SourceError>(batch)
            })
    });
    let mut stopped = trainer(config(&dir), &policy).with_stop_flag(stop.clone());
    let summary = stopped.fit(&mut source, None).unwrap();
    assert!(summary.interrupted, "{summary}");
    assert!(summary.to_string().contains("interrupted"), "{summary}");
    assert_eq!(
        (summary.steps, summary.batches),
        (3, 6),
        "step 3 was finished, with both its batches"
    );
    let checkpoints: Vec<u64> = list_checkpoints(&dir.join("checkpoints"))
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(checkpoints, [3]);
    assert!(summary.last_checkpoint.unwrap().ends_with("step-00000003"));
    assert!(dir.join("weights/step-00000003.bpk").is_file());
    let steps: Vec<u64> = logged(&dir, "train/lr").iter().map(|p| p.0).collect();
    assert_eq!(steps, [1, 2, 3], "the metrics are flushed");

    // Still set: a new `fit` stops before its first step, writing nothing.
    let again = stopped.fit(&mut InMemory(data.clone()), None).unwrap();
    assert!(again.interrupted);
    assert_eq!((again.steps_this_run, again.last_checkpoint), (0, None));

    let summary = trainer(config(&dir), &TinyRnn::new(&device))
        .resume_from(&dir)
        .unwrap()
        .fit(&mut InMemory(data), None)
        .unwrap();
    assert!(!summary.interrupted);
    assert_eq!(summary.steps, 6);
    let (expected, actual) = (logged(&straight, "train/loss"), logged(&dir, "train/loss"));
    assert_eq!(expected.len(), 6);
    assert_eq!(actual.len(), 6);
    for ((step, a), (_, b)) in expected.iter().zip(&actual) {
        assert!(
            (a - b).abs() <= 1e-6,
            "step {step}: straight {a} vs stopped and resumed {b}"
        );
    }
    std::fs::remove_dir_all(&straight).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
