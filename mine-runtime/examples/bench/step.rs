//! Our small-VPT training step, as the trainer runs it: typed experiment forward (policy +
//! behaviour cloning), backward, global-norm clipping and AdamW, memory carried and detached.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use mine_dsl::experiment::{Experiment, Objectives};
use mine_dsl::memory::Memory;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::vpt::{VptConfig, VptMemory, VptPolicy};

use super::stats::StepTimes;

/// The benchmark's model: the small VPT with `timesteps` and `memory` set per configuration.
pub fn config(t: usize, memory: usize) -> VptConfig {
    VptConfig {
        timesteps: t,
        attention_memory_size: memory,
        ..VptConfig::small_cpu()
    }
}

/// A random batch like the data pipeline's: integer-valued frames in 0..=255, random actions,
/// mask of ones.
pub fn batch(b: usize, t: usize, config: &VptConfig, device: &Device) -> Batch {
    let [h, w, c] = config.img_shape;
    let classes =
        |n: f64| Tensor::<3, Int>::random([b, t, 1], Distribution::Uniform(0.0, n), device);
    Batch {
        image: Some(
            Tensor::random([b, t, h, w, c], Distribution::Uniform(0.0, 256.0), device).floor(),
        ),
        agent_action: Some(AgentAction {
            buttons: classes(8641.0),
            camera: classes(121.0),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        ..Batch::default()
    }
}

/// The AdamW settings of the reference (lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay
/// 0.01) with clipping to 1.0 and no warmup.
pub fn optimizer() -> OptimizerConfig {
    OptimizerConfig {
        learning_rate: 1e-4,
        warmup_steps: 1,
        gradient_clip_val: Some(1.0),
        ..OptimizerConfig::default()
    }
}

/// One configuration's model, optimizer and carried memory.
pub struct TrainStep {
    b: usize,
    t: usize,
    config: VptConfig,
    device: Device,
    policy: Option<VptPolicy>,
    objectives: Objectives<VptPolicy>,
    optim: OptimStep,
    memory: Option<VptMemory>,
    steps: usize,
}

impl TrainStep {
    /// Batch `b`, window `t`, attention memory `memory`, on the flex autodiff device.
    pub fn new(b: usize, t: usize, memory: usize) -> Result<Self, Box<dyn std::error::Error>> {
        let config = config(t, memory);
        let device = Device::flex().autodiff();
        let policy = VptPolicy::new(&config, &device)?;
        let (policy, objectives) = Experiment::new(policy)
            .objective(BehaviorClone { weight: 1.0 })
            .into_parts();
        let memory = policy.initial_memory(b, &device);
        Ok(Self {
            b,
            t,
            optim: OptimStep::new(optimizer(), None)?,
            config,
            device,
            policy: Some(policy),
            objectives,
            memory: Some(memory),
            steps: 0,
        })
    }

    /// Frames per step.
    pub fn frames(&self) -> usize {
        self.b * self.t
    }

    /// Runs one step (the batch is made before the clock starts).
    pub fn run(&mut self) -> Result<StepTimes, Box<dyn std::error::Error>> {
        let input = batch(self.b, self.t, &self.config, &self.device);
        let (policy, memory) = (self.policy.take(), self.memory.take());
        let (policy, memory) = (policy.ok_or("no policy")?, memory.ok_or("no memory")?);
        let ctx = StepContext::train(self.steps, self.steps as u64);
        let start = Instant::now();
        let (losses, next) = self.objectives.forward(&policy, input, memory, &ctx)?;
        let forward = start.elapsed().as_secs_f64();
        let grads = losses.total.backward();
        let backward = start.elapsed().as_secs_f64() - forward;
        let (policy, report) = self.optim.step(policy, grads);
        let total = start.elapsed().as_secs_f64();
        report.ok_or("the optimizer did not step")?;
        self.policy = Some(policy);
        self.memory = Some(next.detach());
        self.steps += 1;
        Ok(StepTimes {
            forward,
            backward,
            optimizer: total - forward - backward,
            total,
        })
    }
}
