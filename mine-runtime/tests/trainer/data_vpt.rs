//! The VPT policy trained on the real MineStudio fixture through the data loader, with an
//! exact resume in the middle of an epoch (the loader starts at the checkpoint's batch), on
//! one rank and on two (each reading its replica of the episode-continuous sampler).

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::data::{DataLoader, DatasetConfig, RawDataset};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::config::TrainerConfig;
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
    straight_and_resumed("vpt", None);
}

#[test]
fn two_ranks_read_the_samplers_shards_and_resume_exactly() {
    let device = Device::flex();
    let data = source(&device);
    for rank in 0..2 {
        let mut cfg = data.loader.dataset().config().clone();
        cfg.num_replicas = 2;
        cfg.rank = rank;
        let replica = DataLoader::new(RawDataset::open(cfg).unwrap());
        let mut shard = data.shard(rank, 2).unwrap();
        let infos: Vec<_> = shard
            .epoch(0, 0)
            .unwrap()
            .map(|b| b.unwrap().info)
            .collect();
        let expected: Vec<_> = replica.epoch(0, &device).map(|b| b.unwrap().info).collect();
        assert!(infos.len() >= 4, "rank {rank}: {} batches", infos.len());
        assert_eq!(
            infos, expected,
            "rank {rank} reads the sampler's replica {rank}"
        );
        // A loader already split by its own config is not split again.
        let Err(err) = LoaderSource::new(replica, device.clone()).shard(rank, 2) else {
            panic!("a replica's loader was split again");
        };
        assert!(err.to_string().contains("`num_replicas` = 2"), "{err}");
    }
    straight_and_resumed("vpt-2-ranks", Some(vec![0, 0]));
}

/// Trains the tiny VPT 6 steps straight, and 3 + 3 with a new trainer resumed from the
/// checkpoint in between (the loader starting mid-epoch); the losses must agree.
fn straight_and_resumed(name: &str, devices: Option<Vec<usize>>) {
    let device = Device::flex();
    let mut data = source(&device);
    // One initial policy for both runs (tests share the process's random numbers).
    let policy = VptPolicy::new(&VptConfig::tiny(), &device).unwrap();
    let straight_dir = run_dir(&format!("{name}-straight"));
    let mut straight_config = config(&straight_dir, 6, 1e-3);
    straight_config.devices = devices;
    let ranks = straight_config.rank_layout().unwrap().world_size() as u64;
    trainer(straight_config.clone(), &policy)
        .fit(&mut data, None)
        .unwrap();

    let dir = run_dir(&format!("{name}-resumed"));
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
    assert_eq!((summary.steps, summary.batches), (6, 3 * ranks));

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
