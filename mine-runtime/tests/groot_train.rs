//! End-to-end GROOT training on a learnable synthetic task: behaviour cloning plus the KL
//! between posterior and prior, AdamW through `OptimStep`, memory carried across batches
//! (episode-continuous) and detached after every step; on the backend `MINE_TEST_BACKEND`
//! names (`flex` by default; see `common::test_backend`).

use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::memory::Memory;
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_dsl::prelude::*;
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::groot::{GrootPolicy, ScratchGrootConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

mod common;

/// The two situations of the task: a reddish frame asks for buttons class 1 and camera
/// class 50, a bluish one for buttons class 2 and camera class 70.
const ACTIONS: [(i64, i64); 2] = [(1, 50), (2, 70)];

/// A `[B, T]` window of frames, each reddish or bluish with pixel noise, and their actions.
fn window(
    b: usize,
    t: usize,
    config: &ScratchGrootConfig,
    rng: &mut StdRng,
    device: &Device,
) -> Batch {
    let [h, w, c] = config.img_shape;
    let mut pixels = Vec::with_capacity(b * t * h * w * c);
    let (mut buttons, mut camera) = (Vec::new(), Vec::new());
    for _ in 0..b * t {
        let kind = rng.random_range(0..2usize);
        let base: [f32; 3] = if kind == 0 {
            [200.0, 40.0, 40.0]
        } else {
            [40.0, 40.0, 200.0]
        };
        for _ in 0..h * w {
            for channel in base.iter().take(c) {
                pixels.push((channel + rng.random_range(-30.0..30.0f32)).clamp(0.0, 255.0));
            }
        }
        buttons.push(ACTIONS[kind].0);
        camera.push(ACTIONS[kind].1);
    }
    let classes = |v: Vec<i64>| Tensor::<3, Int>::from_data(TensorData::new(v, [b, t, 1]), device);
    Batch {
        image: Some(Tensor::from_data(
            TensorData::new(pixels, [b, t, h, w, c]),
            device,
        )),
        agent_action: Some(AgentAction {
            buttons: classes(buttons),
            camera: classes(camera),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        ..Batch::default()
    }
}

#[test]
fn groot_learns_a_synthetic_task_with_bc_and_kl() {
    let config = ScratchGrootConfig::tiny();
    let device = common::test_device().autodiff();
    device.seed(3);
    let groot = GrootPolicy::new(&config, &device).unwrap();
    let experiment = Experiment::new(groot)
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence { weight: 0.01 });
    assert_eq!(
        experiment.objective_names(),
        ["behavior_clone", "kl_divergence"]
    );
    let (mut policy, objectives) = experiment.into_parts();

    let optimizer = OptimizerConfig {
        learning_rate: 3e-3,
        weight_decay: 0.0,
        warmup_steps: 1,
        gradient_clip_val: Some(1.0),
        ..OptimizerConfig::default()
    };
    let mut optim = OptimStep::new(optimizer, None).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let (b, t) = (2, config.decoder.timesteps);
    let steps = 80;
    let mut memory = policy.initial_memory(b, &device);
    let mut losses = Vec::new();
    let start = Instant::now();
    for step in 0..steps {
        let batch = window(b, t, &config, &mut rng, &device);
        let ctx = StepContext::train(step, step as u64);
        let (step_losses, next) = objectives.forward(&policy, batch, memory, &ctx).unwrap();
        let metrics = step_losses.metric_values();
        assert!(metrics["kl_div"].is_finite() && metrics["kl_div"] >= 0.0);
        assert!(metrics["loss"].is_finite(), "step {step}: {metrics:?}");
        losses.push(metrics["loss"]);
        let (updated, report) = optim.backward_step(policy, step_losses.total).unwrap();
        policy = updated;
        assert!(report.is_some(), "every batch completes an optimizer step");
        // Episode-continuous: the memory goes on to the next batch, cut from this graph.
        memory = next.detach();
    }
    let elapsed = start.elapsed();
    let initial = losses[..3].iter().sum::<f64>() / 3.0;
    let last = losses[steps - 5..].iter().sum::<f64>() / 5.0;
    println!(
        "GROOT tiny: {steps} steps (B={b}, T={t}) in {elapsed:?}; loss {initial:.3} -> {last:.3}"
    );
    assert!(
        last < 0.6 * initial,
        "loss must fall clearly: first steps {initial:.3}, last steps {last:.3}: {losses:?}"
    );
    // Better than any policy blind to the frames (which at best predicts each head's two
    // classes with probability 1/2: 2 ln 2 per frame): the actions are read from the images.
    let blind = t as f64 * 2.0 * std::f64::consts::LN_2;
    assert!(
        last < blind,
        "loss {last:.3} must beat the image-blind {blind:.3}"
    );
    assert_eq!(optim.optimizer_steps(), steps);
    assert_eq!(memory.layers.len(), config.decoder.layers);
}

/// BC plus KL of one forward of `policy` on `batch` from the initial memory, under the
/// autocast dtype `autocast`; the latents' and the carried memory's dtypes.
fn groot_loss(
    policy: &GrootPolicy,
    batch: Batch,
    autocast: Option<burn::tensor::FloatDType>,
    device: &Device,
) -> (f64, Vec<burn::tensor::DType>) {
    use mine_runtime::kernels::autocast::scope;
    let experiment = Experiment::new(policy.clone())
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence { weight: 0.01 });
    let memory = experiment.policy().initial_memory(2, device);
    let _scope = scope(autocast);
    let (latents, memory) = experiment.policy().forward(&batch, memory).unwrap();
    let dtypes = vec![
        latents.pi_logits.buttons.dtype(),
        latents.vpred.dtype(),
        latents.posterior_dist.mu.dtype(),
        latents.prior_dist.log_var.dtype(),
        memory.layers[0].keys.dtype(),
    ];
    let (losses, _) = experiment
        .forward(
            batch,
            experiment.policy().initial_memory(2, device),
            &StepContext::train(0, 0),
        )
        .unwrap();
    (losses.metric_values()["loss"], dtypes)
}

#[test]
fn groot_under_bf16_autocast_keeps_f32_outputs_and_f32_losses_close() {
    use burn::tensor::{DType, FloatDType};
    let config = ScratchGrootConfig::tiny();
    // Plain device: the goal latent is its mean, so both forwards are deterministic.
    let device = Device::flex();
    device.seed(11);
    let groot = GrootPolicy::new(&config, &device).unwrap();
    let batch = window(
        2,
        config.decoder.timesteps,
        &config,
        &mut StdRng::seed_from_u64(1),
        &device,
    );
    let (f32_loss, f32_dtypes) = groot_loss(&groot, batch.clone(), None, &device);
    let (bf16_loss, bf16_dtypes) = groot_loss(&groot, batch, Some(FloatDType::BF16), &device);
    assert_eq!(f32_dtypes, vec![DType::F32; 5]);
    assert_eq!(
        bf16_dtypes,
        vec![DType::F32; 5],
        "outputs and memory leave autocast in f32"
    );
    let drift = (bf16_loss - f32_loss).abs() / f32_loss.abs();
    println!("GROOT loss f32 {f32_loss:.5}, bf16-mixed {bf16_loss:.5}: relative drift {drift:.1e}");
    // One bf16 rounding is up to 2^-9 relative; a forward's roundings mostly cancel.
    assert!(drift > 0.0 && drift < 0.01, "drift {drift}");
}
