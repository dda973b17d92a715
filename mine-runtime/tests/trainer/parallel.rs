//! Data parallel (`devices`): two ranks of `B` rows train as one device with batches of `2B`
//! rows; checkpoints record the number of ranks; bad device lists and unsplittable sources are
//! refused before anything is written. Ranks share the one CPU device here (`devices = [0, 0]`)
//! and run one after the other, through the reduction that spans devices on CUDA.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::trainer::config::{ConfigError, TrainerConfig};
use mine_runtime::trainer::{InMemory, SourceError, TrainError, Trainer, from_fn};

use crate::support::*;

fn trainer(config: TrainerConfig, policy: &TinyRnn) -> Result<Trainer<TinyRnn>, TrainError> {
    let experiment = Experiment::new(policy.clone()).objective(BehaviorClone::default());
    Trainer::new(config, experiment)
}

/// The largest `|a - b| / max(1, |a|)` over paired values.
fn max_diff<'a>(pairs: impl Iterator<Item = (&'a f64, &'a f64)>) -> f64 {
    pairs
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0.0, f64::max)
}

#[test]
fn two_ranks_equal_one_device_with_the_combined_batch() {
    let device = Device::flex();
    let policy = TinyRnn::new(&device);
    let data = InMemory(trajectories_of(4, 3, 11, &device));
    let run = |name: &str, devices: Option<Vec<usize>>| {
        let dir = run_dir(name);
        let mut config = config(&dir, 3, 1e-2);
        config.optimizer.gradient_clip_val = Some(1.0);
        config.optimizer.weight_decay = 0.1;
        config.devices = devices;
        let mut trainer = trainer(config, &policy).unwrap();
        trainer.fit(&mut data.clone(), None).unwrap();
        (trainer, dir)
    };
    let (one, one_dir) = run("dp-one", None);
    let (two, two_dir) = run("dp-two", Some(vec![0, 0]));
    assert_eq!((one.world_size(), two.world_size()), (1, 2));

    let series = |dir, key| -> Vec<f64> { logged(dir, key).into_iter().map(|p| p.1).collect() };
    let mut worst = Vec::new();
    for key in [
        "train/loss",
        "train/button_loss",
        "train/camera_loss",
        "train/grad_norm",
    ] {
        let (a, b) = (series(&one_dir, key), series(&two_dir, key));
        assert_eq!((a.len(), b.len()), (3, 3), "{key}");
        worst.push((key, max_diff(a.iter().zip(&b))));
    }
    let norms = series(&one_dir, "train/grad_norm");
    assert!(
        norms.iter().all(|n| *n > 1.0),
        "every step clipped: {norms:?}"
    );
    let weights = |t: &Trainer<TinyRnn>| -> Vec<f64> {
        params(t.policy())
            .concat()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let (a, b) = (weights(&one), weights(&two));
    let start: Vec<f64> = params(&policy)
        .concat()
        .into_iter()
        .map(f64::from)
        .collect();
    assert!(max_diff(a.iter().zip(&start)) > 1e-3, "the weights moved");
    worst.push(("weights", max_diff(a.iter().zip(&b))));
    println!("2 ranks x 2 rows vs 1 rank x 4 rows, 3 steps: max relative differences {worst:?}");
    for (what, diff) in &worst {
        assert!(*diff <= 1e-5, "{what}: {diff}");
    }

    // Each rank carries the memory of its own rows.
    let combined = one.memory().memory().unwrap().hidden.clone();
    for rank in 0..2 {
        let rows = combined.clone().slice(2 * rank..2 * rank + 2);
        let own = two.rank_memory(rank).memory().unwrap().hidden.clone();
        let (a, b): (Vec<f32>, Vec<f32>) = (
            rows.into_data().try_to_vec().unwrap(),
            own.into_data().try_to_vec().unwrap(),
        );
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff <= 1e-5, "rank {rank} memory: {diff}");
    }
    std::fs::remove_dir_all(&one_dir).unwrap();
    std::fs::remove_dir_all(&two_dir).unwrap();
}

#[test]
fn resuming_with_another_number_of_ranks_is_refused() {
    let device = Device::flex();
    let policy = TinyRnn::new(&device);
    let dir = run_dir("dp-world");
    let mut config = config(&dir, 2, 1e-2);
    config.devices = Some(vec![0, 0]);
    trainer(config.clone(), &policy)
        .unwrap()
        .fit(&mut InMemory(trajectories_of(4, 3, 2, &device)), None)
        .unwrap();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("checkpoints/step-00000002/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["world_size"], 2);
    assert!(
        dir.join("checkpoints/step-00000002/memory-rank-1.bpk")
            .is_file()
    );

    for devices in [None, Some(vec![0, 0, 0])] {
        let mut other = config.clone();
        other.devices = devices;
        let err = trainer(other, &policy)
            .unwrap()
            .resume_from(&dir)
            .err()
            .unwrap();
        let message = err.to_string();
        assert!(
            matches!(err, TrainError::WorldSize { written: 2, .. }),
            "{message}"
        );
        assert!(
            message.contains("2 data-parallel rank") && message.contains("`trainer.devices`"),
            "{message}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn devices_the_backend_does_not_have_are_refused_at_startup() {
    let device = Device::flex();
    let policy = TinyRnn::new(&device);
    let cases: [(Vec<usize>, &[&str]); 3] = [
        (
            vec![0, 1],
            &[
                "`devices` = [0, 1]",
                "asks for 2 devices, but the flex backend has 1 device",
                "`devices = [0, 0]`",
            ],
        ),
        (
            vec![2],
            &[
                "device index 2 does not exist",
                "the flex backend has 1 device here (indices 0 to 0)",
                "use indices below 1",
            ],
        ),
        (
            vec![],
            &["`devices` = [] is invalid", "at least one device index"],
        ),
    ];
    for (devices, expected) in cases {
        let dir = run_dir("dp-bad-devices");
        let mut config = config(&dir, 2, 1e-2);
        config.devices = Some(devices.clone());
        let err = config.device().unwrap_err();
        let message = err.to_string();
        for part in expected {
            assert!(message.contains(part), "{devices:?}: {message}");
        }
        let err = trainer(config, &policy).err().unwrap();
        assert!(matches!(err, TrainError::Config(_)), "{err}");
        assert!(!dir.exists(), "nothing is written");
    }
    let config = TrainerConfig::from_toml_str("max_steps = 1\ndevices = [0, 0]").unwrap();
    assert_eq!(config.rank_layout().unwrap().world_size(), 2);
    let err = TrainerConfig::from_toml_str("max_steps = 1\ndevices = []").unwrap_err();
    assert!(matches!(
        err,
        ConfigError::InvalidField {
            field: "devices",
            ..
        }
    ));
}

#[test]
fn sources_that_cannot_be_split_are_refused_before_anything_is_written() {
    let device = Device::flex();
    let policy = TinyRnn::new(&device);
    let dir = run_dir("dp-split");
    let mut config = config(&dir, 2, 1e-2);
    config.devices = Some(vec![0, 0]);
    let mut trainer = trainer(config, &policy).unwrap();

    // Three rows do not split in two.
    let err = trainer
        .fit(&mut InMemory(trajectories(2, 1, &device)), None)
        .unwrap_err();
    assert!(matches!(err, TrainError::Shard { world: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("a batch of 3 rows cannot be shared equally by 2"),
        "{err}"
    );
    // A closure's batches cannot be split at all.
    let data = trajectories_of(4, 2, 1, &device);
    let mut closure = from_fn(move |_| data.clone().into_iter().map(Ok::<_, SourceError>));
    let err = trainer.fit(&mut closure, None).unwrap_err();
    assert!(
        err.to_string().contains("implement `BatchSource::shard`"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing is written");
}

#[test]
fn burns_collectives_do_not_run_on_flex() {
    // What `mine_runtime::parallel` documents: burn 0.22 has no collectives on its CPU
    // backend, so ranks cannot be spread over flex devices (there is one anyway). When burn
    // gains them, this test fails and the ranks can run on separate CPU "devices".
    use burn::tensor::Tensor;
    use burn::tensor::distributed::{ReduceOperation, all_reduce};

    let device = Device::flex();
    let reduced = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_floats([1.0], &device);
        all_reduce(
            t,
            ReduceOperation::Mean,
            vec![device.clone(), device.clone()],
        )
        .resolve()
    });
    assert!(reduced.is_err(), "burn all-reduced on flex");
}
