//! The loader yields `Batch`es in sampler order, deterministic for a seed, whatever the threads.

mod common;

use burn::tensor::Device;
use mine_runtime::data::{Bias, DataLoader, DatasetConfig, Modality, RawDataset};

fn config() -> DatasetConfig {
    let mut cfg = DatasetConfig::new(vec![common::tiny()]);
    cfg.split_ratio = 1.0;
    cfg.win_len = 32;
    cfg.batch_size = 2;
    cfg
}

#[test]
fn continuous_batches_carry_the_samples_of_their_indices() {
    let mut cfg = config();
    cfg.episode_continuous_batch = true;
    cfg.enable_prev_action = true;
    cfg.biases.insert(
        Modality::Action,
        Bias {
            read_bias: -1,
            win_bias: 1,
        },
    );
    let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
    let device = Device::flex();
    let indices = loader.index_batches(0);
    assert_eq!(
        indices,
        vec![vec![0, 1], vec![3, 2], vec![4, 6], vec![5, 7], vec![8, 9]]
    );
    let batches: Vec<_> = loader.epoch(0, &device).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 5);
    for (batch, idx) in batches.iter().zip(&indices) {
        assert_eq!(batch.batch_size(), Some(2));
        let image = batch.image.clone().unwrap();
        assert_eq!(image.dims(), [2, 32, 224, 224, 3]);
        let agent = batch.agent_action.clone().unwrap();
        assert_eq!(agent.buttons.dims(), [2, 32, 1]);
        assert_eq!(
            batch.env_action.clone().unwrap().buttons.dims(),
            [2, 32, 20]
        );
        assert_eq!(
            batch.env_prev_action.clone().unwrap().camera.dims(),
            [2, 32, 2]
        );
        assert_eq!(batch.mask.clone().unwrap().dims(), [2, 32]);
        for (row, &i) in idx.iter().enumerate() {
            let s = loader.dataset().get(i).unwrap();
            assert_eq!(batch.info.episode[row], s.episode);
            assert_eq!(batch.info.timestamp[row], s.timestamp);
            assert_eq!(batch.info.progress[row], s.progress);
            let got: Vec<i64> = agent
                .buttons
                .clone()
                .slice(row..row + 1)
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap();
            let want: Vec<i64> = s
                .action
                .as_ref()
                .unwrap()
                .agent
                .iter()
                .map(|a| i64::from(a.buttons))
                .collect();
            assert_eq!(got, want);
            let frame: Vec<f32> = image
                .clone()
                .slice([row..row + 1, 5..6])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let want: Vec<f32> = s
                .image
                .as_ref()
                .unwrap()
                .frame(5)
                .iter()
                .map(|&v| v as f32)
                .collect();
            assert_eq!(frame, want);
        }
    }
}

#[test]
fn shuffled_epochs_are_deterministic_for_a_seed_and_independent_of_threads() {
    let run = |workers: usize, prefetch: usize, seed: u64, epoch: u64| {
        let mut cfg = config();
        cfg.modalities = vec![Modality::Action];
        cfg.win_len = 8;
        cfg.shuffle = true;
        cfg.seed = seed;
        cfg.num_workers = workers;
        cfg.prefetch = prefetch;
        let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
        loader
            .host_epoch(epoch)
            .map(|b| {
                let b = b.unwrap();
                b.info
                    .episode
                    .iter()
                    .zip(&b.info.timestamp)
                    .map(|(e, t)| (e.clone(), t[0]))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let a = run(1, 1, 3, 0);
    assert_eq!(a.len(), 20, "40 items of 8 frames in batches of 2");
    assert_eq!(a, run(3, 2, 3, 0));
    assert_eq!(a, run(2, 8, 3, 0));
    assert_ne!(a, run(2, 2, 3, 1), "a new epoch reshuffles");
    assert_ne!(a, run(2, 2, 4, 0), "another seed, another order");
}

/// A loader of the tiny dataset reading with `workers` threads, `prefetch` batches ahead.
fn loader(workers: usize, prefetch: usize) -> DataLoader {
    let mut cfg = config();
    cfg.num_workers = workers;
    cfg.prefetch = prefetch;
    DataLoader::new(RawDataset::open(cfg).unwrap())
}

#[test]
fn dropping_an_epoch_early_stops_the_workers() {
    let loader = loader(2, 1);
    let mut epoch = loader.host_epoch(0);
    assert!(epoch.next().unwrap().is_ok());
    drop(epoch);
    assert_eq!(loader.host_epoch(1).count(), 5);
}

#[test]
fn dropping_an_epoch_with_a_full_prefetch_window_returns_promptly() {
    let loader = loader(2, 2);
    let epoch = loader.host_epoch(0);
    // Time for the workers to read the window's two batches and wait for the consumer.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let start = std::time::Instant::now();
    drop(epoch);
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "drop took {took:?}"
    );
    assert_eq!(loader.host_epoch(1).count(), 5);
}
