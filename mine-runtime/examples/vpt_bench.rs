//! Forward and training-step time and peak memory of the small VPT on the CPU default.
//!
//! `cargo run --release -p mine-runtime --example vpt_bench [-- B T STEPS]` (default 2 16 10):
//! 128x128 frames, hidden 256, 4 heads, 2 blocks, memory carried between steps, behaviour
//! cloning, backward, global-norm clipping and AdamW. Prints medians after 2 warm-up steps.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::metrics::peak_rss_mib;
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn batch(b: usize, t: usize, config: &VptConfig, device: &Device) -> Batch {
    let [h, w, c] = config.img_shape;
    Batch {
        image: Some(
            Tensor::random([b, t, h, w, c], Distribution::Uniform(0.0, 255.0), device).floor(),
        ),
        agent_action: Some(AgentAction {
            buttons: Tensor::<3, Int>::random(
                [b, t, 1],
                Distribution::Uniform(0.0, 8641.0),
                device,
            ),
            camera: Tensor::<3, Int>::random([b, t, 1], Distribution::Uniform(0.0, 121.0), device),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        ..Batch::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (b, t, steps) = (
        args.first().copied().unwrap_or(2),
        args.get(1).copied().unwrap_or(16),
        args.get(2).copied().unwrap_or(10),
    );
    let config = VptConfig::small_cpu();
    let (plain, device) = (Device::flex(), Device::flex().autodiff());
    let warmup = 2;

    // Forward only, on the plain device (inference / validation form).
    let policy = VptPolicy::new(&config, &plain)?;
    let mut memory = policy.initial_memory(b, &plain);
    let mut forward = Vec::new();
    for step in 0..warmup + steps {
        let input = batch(b, t, &config, &plain);
        let start = Instant::now();
        let (out, next) = policy.forward(&input, memory)?;
        let _ = out.vpred.into_data();
        if step >= warmup {
            forward.push(start.elapsed().as_secs_f64());
        }
        memory = next;
    }

    // Training steps: forward + BC + backward + clip + AdamW, memory carried and detached.
    let policy = VptPolicy::new(&config, &device)?;
    let (mut policy, objectives) = Experiment::new(policy)
        .objective(BehaviorClone { weight: 1.0 })
        .into_parts();
    let mut optim = OptimStep::new(
        OptimizerConfig {
            learning_rate: 1e-4,
            warmup_steps: 1,
            gradient_clip_val: Some(1.0),
            ..OptimizerConfig::default()
        },
        None,
    )?;
    let mut memory = policy.initial_memory(b, &device);
    let (mut fwd, mut step_times) = (Vec::new(), Vec::new());
    for step in 0..warmup + steps {
        let input = batch(b, t, &config, &device);
        let start = Instant::now();
        let (latents, next) = policy.forward(&input, memory)?;
        let losses =
            objectives.evaluate(&latents, &input, &StepContext::train(step, step as u64))?;
        let forward_done = start.elapsed().as_secs_f64();
        let (updated, _) = optim.backward_step(policy, losses.total)?;
        policy = updated;
        memory = mine_dsl::memory::Memory::detach(next);
        if step >= warmup {
            fwd.push(forward_done);
            step_times.push(start.elapsed().as_secs_f64());
        }
    }
    let step = median(step_times);
    println!(
        "small VPT, B={b} T={t}, {steps} steps after {warmup} warm-up, medians (burn flex, {} threads):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  forward (no autodiff)      {:8.1} ms",
        median(forward) * 1e3
    );
    println!(
        "  training step              {:8.1} ms  ({:.1} frames/s)",
        step * 1e3,
        (b * t) as f64 / step
    );
    println!("    of which forward+loss    {:8.1} ms", median(fwd) * 1e3);
    println!(
        "  peak RSS                   {:8.0} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
