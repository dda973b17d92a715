//! Host synchronisations per step: a step reads nothing back, the losses, metrics and gradient
//! norms of a logging window come back in one read, validation reads once per pass, and the
//! next batch is drawn while the current step runs.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::sync::{self, HostReads};
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{InMemory, SourceError, Trainer, from_fn};

use crate::support::*;

fn trainer(config: TrainerConfig, device: &Device) -> Trainer<TinyRnn> {
    let experiment = Experiment::new(TinyRnn::new(device)).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

/// Trains `config` on 12 batches (and `val` every `val_every` steps); returns what the run
/// counted, after checking that the summary counts what the thread counted.
fn reads_of(config: TrainerConfig, val_every: Option<usize>) -> HostReads {
    let device = Device::flex();
    let dir = config.run_dir.clone();
    let mut config = config;
    config.val_every_n_steps = val_every;
    config.val_at_epoch_end = false;
    let mut trainer = trainer(config, &device);
    let before = sync::reads();
    let mut val = InMemory(trajectories(3, 8, &device));
    let summary = trainer
        .fit(
            &mut InMemory(trajectories(12, 7, &device)),
            val_every.map(|_| &mut val as &mut dyn mine_runtime::trainer::BatchSource),
        )
        .unwrap();
    assert_eq!(summary.host_reads, sync::reads().since(&before));
    std::fs::remove_dir_all(&dir).unwrap();
    summary.host_reads
}

#[test]
fn ten_steps_logged_every_five_read_back_twice() {
    let dir = run_dir("sync-log");
    let mut config = config(&dir, 10, 1e-2);
    config.log_freq = 5;
    let reads = reads_of(config, None);
    assert_eq!(
        reads,
        HostReads {
            window: 2,
            validation: 0,
            optimizer: 0,
            // The weights file and the full checkpoint written at the end.
            checkpoint: 2,
        }
    );
}

#[test]
fn a_checkpoint_between_logged_steps_reads_the_window_first() {
    let dir = run_dir("sync-save");
    let mut config = config(&dir, 10, 1e-2);
    config.log_freq = 5;
    config.save_freq = Some(3);
    let reads = reads_of(config, None);
    // Read at steps 3, 5, 6, 9 and 10; weights and a checkpoint at 3, 6, 9 and 10.
    assert_eq!((reads.window, reads.checkpoint), (5, 8), "{reads:?}");
    assert_eq!(reads.optimizer, 0);
}

#[test]
fn validation_reads_once_per_pass() {
    let dir = run_dir("sync-val");
    let mut logged_every_5 = config(&dir, 10, 1e-2);
    logged_every_5.log_freq = 5;
    let reads = reads_of(logged_every_5, Some(5));
    // Two passes of three batches each.
    assert_eq!((reads.window, reads.validation), (2, 2), "{reads:?}");

    let device = Device::flex();
    let mut trainer = trainer(config(&run_dir("sync-validate"), 1, 1e-2), &device);
    let before = sync::reads();
    trainer
        .validate(&mut InMemory(trajectories(3, 8, &device)))
        .unwrap();
    assert_eq!(sync::reads().since(&before).validation, 1);
}

#[test]
fn the_next_batch_is_drawn_before_the_step_is_read_back() {
    let device = Device::flex();
    let dir = run_dir("sync-prefetch");
    let config = config(&dir, 4, 1e-2); // logged (read back) every step
    let data = trajectories(6, 9, &device);
    // The window reads made so far, as each batch is drawn.
    let drawn = Rc::new(RefCell::new(Vec::new()));
    let seen = drawn.clone();
    let mut source = from_fn(move |_epoch| {
        let seen = seen.clone();
        data.clone().into_iter().map(move |batch| {
            seen.borrow_mut().push(sync::reads().window);
            Ok::<_, SourceError>(batch)
        })
    });
    trainer(config, &device).fit(&mut source, None).unwrap();
    // Batch i (i >= 1) is drawn while step i runs, before step i's read; nothing is drawn
    // after the last step.
    assert_eq!(*drawn.borrow(), [0, 0, 1, 2]);
    std::fs::remove_dir_all(&dir).unwrap();
}
