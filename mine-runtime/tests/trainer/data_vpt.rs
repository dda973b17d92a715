//! The VPT policy trained on the real MineStudio fixture through the data loader, with an
//! exact resume in the middle of an epoch (the loader starts at the checkpoint's batch).

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::config::TrainerConfig;
use mine_runtime::data::{DataLoader, DatasetConfig, RawDataset};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::{BatchSource, LoaderSource, Trainer};

use crate::common;
use crate::support::{config, logged, run_dir};

fn source(device: &Device) -> LoaderSource {
    let mut cfg = DatasetConfig::new(vec![common::tiny()]);
    cfg.split_ratio = 1.0;
    cfg.win_len = 4;
    cfg.frame_width = 16;
    cfg.frame_height = 16;
    cfg.batch_size = 2;
    cfg.episode_continuous_batch = true;
    LoaderSource::new(
        DataLoader::new(RawDataset::open(cfg).unwrap()),
        device.clone(),
    )
}

fn trainer(config: TrainerConfig, policy: &VptPolicy) -> Trainer<VptPolicy> {
    let experiment = Experiment::new(policy.clone()).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

#[test]
fn vpt_on_the_fixture_resumes_exactly_mid_epoch() {
    let device = Device::flex();
    let mut data = source(&device);
    assert!(data.len_hint(0).unwrap() > 8, "several batches per epoch");
    let skipped = data.epoch(0, 3).unwrap().next().unwrap().unwrap();
    let fourth = data.epoch(0, 0).unwrap().nth(3).unwrap().unwrap();
    assert_eq!(
        skipped.info, fourth.info,
        "the loader starts at the requested batch"
    );

    // One initial policy for both runs (tests share the process's random numbers).
    let policy = VptPolicy::new(&VptConfig::tiny(), &device).unwrap();
    let straight_dir = run_dir("vpt-straight");
    let straight_config = config(&straight_dir, 6, 1e-3);
    trainer(straight_config.clone(), &policy)
        .fit(&mut data, None)
        .unwrap();

    let dir = run_dir("vpt-resumed");
    let half = TrainerConfig {
        max_steps: Some(3),
        run_dir: dir.clone(),
        ..straight_config.clone()
    };
    trainer(half, &policy).fit(&mut data, None).unwrap();
    let rest = TrainerConfig {
        run_dir: dir.clone(),
        ..straight_config
    };
    // A new process would start from other initial weights: the checkpoint overrides them.
    let other = VptPolicy::new(&VptConfig::tiny(), &device).unwrap();
    let summary = trainer(rest, &other)
        .resume_from(&dir)
        .unwrap()
        .fit(&mut data, None)
        .unwrap();
    assert_eq!((summary.steps, summary.batches), (6, 3));

    let (expected, actual) = (
        logged(&straight_dir, "train/loss"),
        logged(&dir, "train/loss"),
    );
    assert_eq!(expected.len(), 6);
    assert_eq!(actual.len(), 6);
    for ((step, a), (_, b)) in expected.iter().zip(&actual) {
        assert!(
            (a - b).abs() <= 1e-6,
            "step {step}: straight {a} vs resumed {b}"
        );
    }
    std::fs::remove_dir_all(&straight_dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
