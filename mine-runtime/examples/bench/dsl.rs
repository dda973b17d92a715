//! The cost of the typed DSL: the small VPT's forward and behaviour-cloning loss through a
//! wired [`Experiment`] against the same policy forward and loss function called directly.

use std::time::Instant;

use burn::tensor::Device;
use mine_dsl::experiment::Experiment;
use mine_dsl::objectives::{BehaviorClone, behavior_clone};
use mine_dsl::prelude::*;
use mine_runtime::policies::vpt::VptPolicy;

use super::stats::median;
use super::step::{batch, config};

type Error = Box<dyn std::error::Error>;

/// Medians (seconds) of `(through the DSL, direct)` forward + loss, alternating `rounds`
/// rounds of `steps` steps at batch `b`, window `t`, memory `m`, on the plain flex device.
pub fn overhead(
    b: usize,
    t: usize,
    m: usize,
    rounds: usize,
    steps: usize,
) -> Result<(f64, f64), Error> {
    let config = config(t, m);
    let device = Device::flex();
    let experiment =
        Experiment::new(VptPolicy::new(&config, &device)?).objective(BehaviorClone { weight: 1.0 });
    let policy = experiment.policy();
    let ctx = StepContext::train(0, 0);
    let (mut wired, mut direct) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        for _ in 0..steps {
            let input = batch(b, t, config.img_shape, &device);
            let memory = policy.initial_memory(b, &device);
            let start = Instant::now();
            let (losses, _) = experiment.forward(input, memory, &ctx)?;
            let _ = losses.total.into_scalar::<f32>();
            if round > 0 {
                wired.push(start.elapsed().as_secs_f64());
            }

            let input = batch(b, t, config.img_shape, &device);
            let memory = policy.initial_memory(b, &device);
            let start = Instant::now();
            let (latents, _) = policy.forward(&input, memory)?;
            let actions = input.agent_action.as_ref().ok_or("no actions")?;
            let out = behavior_clone(&latents.pi_logits, actions, input.mask.as_ref(), 1.0);
            let _ = out.loss.into_scalar::<f32>();
            if round > 0 {
                direct.push(start.elapsed().as_secs_f64());
            }
        }
    }
    Ok((median(wired), median(direct)))
}
