//! On wgpu (lavapipe in CI), the trainer reproduces the CPU's numbers: a batch's tensors reach
//! the device bit-exactly through the loader, a policy built on `TrainerConfig::init_device`
//! starts from the CPU's weights, and three training steps of the tiny VPT and of the tiny
//! GROOT (32x32 frames) through the data loader and the trainer log the losses and gradient
//! norms of the same runs on `flex`.
//!
//! `cargo test --release -p mine-runtime --features wgpu --test wgpu_trainer` (needs a Vulkan,
//! Metal or DirectX adapter; on Linux without a GPU, Mesa's lavapipe: `mesa-vulkan-drivers`).
#![cfg(feature = "wgpu")]

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, DeviceKind, Int, Tensor};
use mine_dsl::batch::Batch;
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_dsl::prelude::*;
use mine_runtime::data::synthetic::{GeneratedDataset, SyntheticConfig, generate};
use mine_runtime::data::{DataLoader, DatasetConfig, RawDataset, Split};
use mine_runtime::optim::OptimizerConfig;
use mine_runtime::policies::groot::{GrootPolicy, ScratchGrootConfig};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::backend::Backend;
use mine_runtime::trainer::config::{ProgressMode, TrainerConfig};
use mine_runtime::trainer::{LoaderSource, Trainer, batch_to_device};

/// Largest relative difference allowed between a logged value on wgpu and on flex: the same
/// float32 arithmetic in other summation orders (measured: at most 4e-6 over the three steps).
const TOLERANCE: f64 = 1e-4;

/// The learning rate of the compared runs, small so that AdamW does not amplify rounding:
/// its first update moves every parameter by about `lr` whatever the gradient's size, so a
/// parameter whose gradient is float32 rounding noise moves whichever way the summation order
/// picks. At 1e-3 that alone puts the second step's gradient norm 8e-4 apart (flex with our
/// kernels against flex with burn's ops as much as against wgpu); at 1e-5, 4e-6 apart. The
/// optimizer itself is checked on wgpu against MineStudio by the VPT parity tests.
const LEARNING_RATE: f64 = 1e-5;

fn wgpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

/// Serializes the tests that draw random numbers: burn's generators are per process, and a
/// test seeding them while another draws would change the other's weights.
fn random_numbers() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A `track` dataset of 32x32 frames (4 episodes of 64 frames): the camera turns towards a
/// target, so camera labels other than the null class occur.
fn dataset(dir: &Path) -> GeneratedDataset {
    let config = SyntheticConfig {
        episodes: 4,
        frames_per_episode: 64,
        width: 32,
        height: 32,
        seed: 3,
        ..SyntheticConfig::default()
    };
    generate(&config, dir).expect("the synthetic dataset is generated")
}

/// The loader configuration of the run: windows of 4 frames, 2 rows, episode-continuous.
fn data_config(data: &GeneratedDataset, split: Split) -> DatasetConfig {
    let mut config = data.dataset_config();
    config.win_len = 4;
    config.batch_size = 2;
    config.split_ratio = 0.75;
    config.episode_continuous_batch = true;
    config.split = split;
    config
}

/// The tiny VPT at 32x32 (hidden 32, 2 heads, 4 timesteps, memory 8).
fn vpt_config() -> VptConfig {
    VptConfig {
        img_shape: [32, 32, 3],
        ..VptConfig::tiny()
    }
}

fn trainer_config(backend: Backend, run_dir: &Path) -> TrainerConfig {
    TrainerConfig {
        backend,
        run_dir: run_dir.to_owned(),
        max_steps: Some(3),
        log_freq: 1,
        val_every_n_steps: Some(3),
        max_val_batches: Some(2),
        progress: ProgressMode::Off,
        tensorboard: false,
        plots: false,
        optimizer: OptimizerConfig {
            learning_rate: LEARNING_RATE,
            warmup_steps: 1,
            ..OptimizerConfig::default()
        },
        ..TrainerConfig::default()
    }
}

/// Every tensor of a batch, read back to the host: integers as `i64`, floats as their bits.
#[derive(Debug, PartialEq)]
struct HostValues {
    ints: Vec<(&'static str, Vec<i64>)>,
    float_bits: Vec<(&'static str, Vec<u32>)>,
}

fn host_values(batch: &Batch) -> HostValues {
    fn ints<const D: usize>(t: &Tensor<D, Int>) -> Vec<i64> {
        t.clone().into_data().convert::<i64>().try_to_vec().unwrap()
    }
    fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
        let values: Vec<f32> = t.clone().into_data().convert::<f32>().try_to_vec().unwrap();
        values.into_iter().map(f32::to_bits).collect()
    }
    let agent = batch.agent_action.as_ref().expect("agent actions");
    let env = batch.env_action.as_ref().expect("env actions");
    HostValues {
        ints: vec![
            ("agent_action.buttons", ints(&agent.buttons)),
            ("agent_action.camera", ints(&agent.camera)),
            ("env_action.buttons", ints(&env.buttons)),
        ],
        float_bits: vec![
            ("image", bits(batch.image.as_ref().expect("images"))),
            ("mask", bits(batch.mask.as_ref().expect("mask"))),
            ("env_action.camera", bits(&env.camera)),
        ],
    }
}

/// The batches of the training split reach wgpu exactly as the loader read them: created on
/// the plain or the autodiff device (as the trainer's validation and training loaders do), or
/// moved from one to the other (`batch_to_device`, as every step does), every label, mask and
/// pixel reads back bit for bit what the same batch holds on the CPU.
#[test]
fn wgpu_loader_batches_reach_the_device_bit_exact() {
    let _serial = random_numbers();
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let loader = DataLoader::new(RawDataset::open(data_config(&data, Split::Train)).unwrap());
    let (wgpu, train) = (wgpu(), wgpu().autodiff());
    let mut host = loader.host_epoch(0);
    let mut on_cpu = loader.epoch(0, &Device::flex());
    let mut on_wgpu = loader.epoch(0, &wgpu);
    let mut on_train = loader.epoch(0, &train);
    let mut batches = 0;
    let mut cameras = std::collections::BTreeSet::new();
    while let Some(host_batch) = host.next() {
        let host_batch = host_batch.unwrap();
        let want = host_values(&on_cpu.next().unwrap().unwrap());
        // The labels on the CPU are the host's frames.
        let frames = host_batch.agent_action.as_ref().unwrap().iter().flatten();
        let (buttons, camera): (Vec<i64>, Vec<i64>) = frames
            .map(|f| (i64::from(f.buttons), i64::from(f.camera)))
            .unzip();
        assert_eq!(
            want.ints[0].1, buttons,
            "batch {batches}: buttons on the CPU"
        );
        assert_eq!(want.ints[1].1, camera, "batch {batches}: camera on the CPU");
        cameras.extend(camera);

        let plain = on_wgpu.next().unwrap().unwrap();
        let autodiff = on_train.next().unwrap().unwrap();
        let moved = batch_to_device(plain.clone(), &train);
        let direct = host_batch.into_batch(&train).unwrap();
        for (path, batch) in [
            ("on the wgpu device", &plain),
            ("on the autodiff wgpu device", &autodiff),
            ("moved to the autodiff device", &moved),
            ("into_batch on the autodiff device", &direct),
        ] {
            assert_eq!(host_values(batch), want, "batch {batches} {path}");
        }
        batches += 1;
    }
    assert!(batches >= 4, "several batches ({batches})");
    assert!(
        cameras.len() > 2,
        "camera classes other than the null one occur: {cameras:?}"
    );
}

/// Every float parameter's values.
struct Values(Vec<Vec<u32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values: Vec<f32> = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap();
        self.0.push(values.into_iter().map(f32::to_bits).collect());
    }
}

fn parameters<M: Module>(module: &M) -> Vec<Vec<u32>> {
    let mut values = Values(Vec::new());
    module.visit(&mut values);
    values.0
}

/// A VPT trainer whose policy is built as the examples build it: on the configuration's
/// initialization device.
fn vpt_trainer(config: TrainerConfig) -> Trainer<VptPolicy> {
    let policy = VptPolicy::new(&vpt_config(), &config.init_device().unwrap()).unwrap();
    Trainer::new(
        config,
        Experiment::new(policy).objective(BehaviorClone::default()),
    )
    .unwrap()
}

/// burn's generators differ per backend (the same seed draws other numbers on a GPU), so the
/// weights are drawn on the CPU and moved: a wgpu trainer starts from the flex trainer's
/// weights, bit for bit, eagerly and lazily initialized parameters alike.
#[test]
fn wgpu_trainer_starts_from_the_cpu_weights() {
    let _serial = random_numbers();
    let dir = tempfile::tempdir().unwrap();
    let flex = vpt_trainer(trainer_config(Backend::Flex, &dir.path().join("flex")));
    let wgpu = vpt_trainer(trainer_config(Backend::Wgpu, &dir.path().join("wgpu")));
    assert!(wgpu.policy().devices().iter().all(|d| *d == self::wgpu()));
    let (want, got) = (parameters(flex.policy()), parameters(wgpu.policy()));
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(w == g, "parameter {i} ({} values) differs", w.len());
    }
}

/// Trains three steps of `experiment(init_device)` through the loader and the trainer (as
/// `minestudio_rs::run` does: the training loader on the autodiff device, the validation loader
/// on the plain one) and returns the values of `metrics` logged at each step (NaN if absent).
fn train_three_steps<P: Policy>(
    backend: Backend,
    data: &GeneratedDataset,
    run_dir: &Path,
    experiment: impl Fn(&Device) -> Experiment<P>,
    metrics: &[&str],
) -> Vec<Vec<f64>> {
    let config = trainer_config(backend, run_dir);
    let experiment = experiment(&config.init_device().unwrap());
    let mut trainer = Trainer::new(config, experiment).unwrap();
    let source = |split, device: &Device| {
        let dataset = RawDataset::open(data_config(data, split)).unwrap();
        LoaderSource::new(DataLoader::new(dataset), device.clone())
    };
    let mut train = source(Split::Train, trainer.train_device());
    let mut val = source(Split::Val, trainer.device());
    let summary = trainer.fit(&mut train, Some(&mut val)).unwrap();
    assert_eq!(summary.steps, 3);
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let mut rows: Vec<Vec<f64>> = vec![vec![f64::NAN; metrics.len()]; 3];
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = record["step"].as_u64().unwrap() as usize;
        for (i, name) in metrics.iter().enumerate() {
            if let Some(value) = record.get(name).and_then(|v| v.as_f64()) {
                rows[step - 1][i] = value;
            }
        }
    }
    rows
}

/// Trains `experiment` for three steps on flex and on wgpu, from the same seed and data, and
/// asserts that every one of `metrics` agrees within `TOLERANCE` at every step (validation
/// metrics after the third step, when validation runs). Returns the flex run's values.
fn assert_wgpu_trains_like_flex<P: Policy>(
    experiment: impl Fn(&Device) -> Experiment<P>,
    metrics: &[&str],
) -> Vec<Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(&dir.path().join("data"));
    let run = |backend: Backend| {
        let run_dir = dir.path().join(backend.as_str());
        train_three_steps(backend, &data, &run_dir, &experiment, metrics)
    };
    let (flex, wgpu) = (run(Backend::Flex), run(Backend::Wgpu));
    let mut worst = vec![0.0f64; metrics.len()];
    for (step, (want, got)) in flex.iter().zip(&wgpu).enumerate() {
        for (i, name) in metrics.iter().enumerate() {
            if name.starts_with("val/") && step < 2 {
                continue;
            }
            let (w, g) = (want[i], got[i]);
            assert!(w.is_finite(), "step {}: {name} is {w} on flex", step + 1);
            let rel = (g - w).abs() / w.abs().max(1e-6);
            worst[i] = worst[i].max(rel);
            assert!(
                rel <= TOLERANCE,
                "step {}: {name} is {g} on wgpu and {w} on flex (relative difference {rel:e})",
                step + 1
            );
        }
    }
    for (name, rel) in metrics.iter().zip(&worst) {
        println!("{name:<20} largest relative difference wgpu vs flex {rel:.2e}");
    }
    flex
}

/// The run, small: the tiny VPT at 32x32, behaviour cloning, three steps on flex and on
/// wgpu log the same losses, entropies, gradient norms and validation loss.
#[test]
fn wgpu_vpt_training_matches_flex() {
    let _serial = random_numbers();
    let metrics = [
        "train/loss",
        "train/button_loss",
        "train/camera_loss",
        "train/entropy",
        "train/grad_norm",
        "val/loss",
    ];
    let vpt = |device: &Device| {
        let policy = VptPolicy::new(&vpt_config(), device).unwrap();
        Experiment::new(policy).objective(BehaviorClone::default())
    };
    let flex = assert_wgpu_trains_like_flex(vpt, &metrics);
    assert!(
        flex.iter().any(|row| row[2] > 0.0),
        "some camera labels are not the null class, so the camera loss is exercised"
    );
}

/// GROOT (tiny, 32x32): behaviour cloning plus the KL between posterior and prior, the latent
/// sampled from host noise, the decoder's memory carried; three steps on flex and on wgpu log the
/// same losses, KL and gradient norms.
#[test]
fn wgpu_groot_training_matches_flex() {
    let _serial = random_numbers();
    let metrics = [
        "train/loss",
        "train/button_loss",
        "train/camera_loss",
        "train/kl_div",
        "train/grad_norm",
        "val/loss",
    ];
    let groot = |device: &Device| {
        let config = ScratchGrootConfig {
            img_shape: [32, 32, 3],
            ..ScratchGrootConfig::tiny()
        };
        Experiment::new(GrootPolicy::new(&config, device).unwrap())
            .objective(BehaviorClone::default())
            .objective(KlDivergence::default())
    };
    assert_wgpu_trains_like_flex(groot, &metrics);
}

/// Settings this machine's wgpu cannot honour stop the run at startup, before anything is
/// written, with an error naming the setting and the fix: a device index past the adapters
/// burn finds, more devices than there are, bf16 (WGSL has no bf16).
#[test]
fn wgpu_settings_the_machine_cannot_honour_are_refused_at_startup() {
    // Devices are seeded when a configuration is checked: not while another test draws.
    let _serial = random_numbers();
    // The adapters burn enumerates are the kinds `Device::wgpu` names, which is what
    // `Backend::device_count` counts the discrete GPUs by.
    let kinds = (0..8)
        .flat_map(|i| {
            [
                DeviceKind::DiscreteGpu(i),
                DeviceKind::IntegratedGpu(i),
                DeviceKind::VirtualGpu(i),
            ]
        })
        .chain([DeviceKind::Cpu]);
    let named: Vec<Device> = kinds.map(Device::wgpu).collect();
    let adapters = Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec();
    assert!(
        !adapters.is_empty(),
        "no wgpu adapter: install mesa-vulkan-drivers"
    );
    assert!(adapters.iter().all(|a| named.contains(a)), "{adapters:?}");
    let available = Backend::Wgpu.device_count().unwrap();
    assert!(available >= 1);

    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let base = trainer_config(Backend::Wgpu, &run_dir);
    let policy = || VptPolicy::new(&vpt_config(), &Device::flex()).unwrap();
    let refused = |config: TrainerConfig, expected: &[String]| {
        let experiment = Experiment::new(policy()).objective(BehaviorClone::default());
        let message = Trainer::new(config, experiment).err().unwrap().to_string();
        for part in expected {
            assert!(message.contains(part.as_str()), "{message}");
        }
        assert!(!run_dir.exists(), "nothing is written: {message}");
    };
    refused(
        TrainerConfig {
            device_index: available,
            ..base.clone()
        },
        &[
            format!("`device_index` = {available}"),
            format!("device index {available} does not exist"),
            "0 the default adapter, i > 0 the discrete GPU i - 1".into(),
            format!("use indices below {available}"),
        ],
    );
    let too_many: Vec<usize> = (0..=available).collect();
    refused(
        TrainerConfig {
            devices: Some(too_many.clone()),
            ..base.clone()
        },
        &[
            format!("`devices` = {too_many:?}"),
            format!("asks for {} devices", available + 1),
            "`devices = [0, 0]`".into(),
        ],
    );
    for precision in ["bf16", "bf16-pure"] {
        refused(
            TrainerConfig {
                precision: precision.to_owned().try_into().unwrap(),
                ..base.clone()
            },
            &[
                "`trainer.precision` = \"bf16".into(),
                "wgpu device".into(),
                "`trainer.precision = \"f32\"`".into(),
            ],
        );
    }
    // Index 0, the default adapter, is there.
    assert!(base.device().is_ok());
}
