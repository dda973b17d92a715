//! Our training step, as the trainer runs it: typed experiment forward (policy + its
//! objectives: behaviour cloning for VPT, plus the KL divergence for GROOT; inside the
//! precision's autocast scope), backward, global-norm clipping and AdamW, memory carried and
//! detached. On a GPU each part ends with a device
//! synchronization, as the reference's `torch.cuda.synchronize()`, so that the clock measures
//! the work and not its queueing.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};
use mine_dsl::experiment::{Experiment, Objectives};
use mine_dsl::memory::Memory;
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_dsl::prelude::*;
use mine_runtime::kernels::autocast;
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::groot::GrootPolicy;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::backend::Precision;

use super::setup::Setup;
use super::stats::{StepTimes, thread_cpu_seconds};

/// The flex benchmark's model: the small VPT with `timesteps` and `memory` set per
/// configuration.
pub fn config(t: usize, memory: usize) -> VptConfig {
    VptConfig {
        timesteps: t,
        attention_memory_size: memory,
        ..VptConfig::small_cpu()
    }
}

/// A random batch like the data pipeline's: integer-valued `[h, w, c]` frames in 0..=255,
/// random actions, mask of ones.
pub fn batch(b: usize, t: usize, [h, w, c]: [usize; 3], device: &Device) -> Batch {
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
pub struct TrainStep<P: Policy> {
    b: usize,
    t: usize,
    img_shape: [usize; 3],
    device: Device,
    precision: Precision,
    policy: Option<P>,
    objectives: Objectives<P>,
    optim: OptimStep,
    memory: Option<P::Memory>,
    steps: usize,
}

type Error = Box<dyn std::error::Error>;

/// The setup's autodiff device, seeded: the same weights and batches in every server, so
/// that with the same kernels they compute the same losses bit for bit (`--tune` tells a flip
/// that changes nothing from one that does).
fn seeded_device(setup: &Setup) -> Result<Device, Error> {
    // The heads' entropy on our kernel, as the trainer has it.
    mine_runtime::kernels::install_dsl_kernels();
    let device = setup.device()?;
    device.seed(0);
    Ok(device)
}

impl TrainStep<VptPolicy> {
    /// The setup's VPT at batch `b`, window `t`, attention memory `memory`: behaviour cloning.
    pub fn vpt(setup: &Setup, b: usize, t: usize, memory: usize) -> Result<Self, Error> {
        let device = seeded_device(setup)?;
        let config = setup.vpt_at(t, memory)?;
        let experiment = Experiment::new(VptPolicy::new(&config, &device)?)
            .objective(BehaviorClone { weight: 1.0 });
        Self::new(
            setup,
            experiment.into_parts(),
            config.img_shape,
            device,
            [b, t],
        )
    }
}

impl TrainStep<GrootPolicy> {
    /// The setup's GROOT at batch `b`, window `t`, decoder memory `memory`: behaviour cloning
    /// and the KL divergence (MineStudio's GROOT recipe, `kl_div_weight: 0.001`).
    pub fn groot(setup: &Setup, b: usize, t: usize, memory: usize) -> Result<Self, Error> {
        let device = seeded_device(setup)?;
        let config = setup.groot_at(t, memory);
        let experiment = Experiment::new(GrootPolicy::new(&config, &device)?)
            .objective(BehaviorClone { weight: 1.0 })
            .objective(KlDivergence::default().with_weight(0.001));
        Self::new(
            setup,
            experiment.into_parts(),
            config.img_shape(),
            device,
            [b, t],
        )
    }
}

impl<P: Policy> TrainStep<P> {
    fn new(
        setup: &Setup,
        (policy, objectives): (P, Objectives<P>),
        img_shape: [usize; 3],
        device: Device,
        [b, t]: [usize; 2],
    ) -> Result<Self, Error> {
        let memory = policy.initial_memory(b, &device);
        Ok(Self {
            b,
            t,
            img_shape,
            optim: OptimStep::new(optimizer(), None)?,
            device,
            precision: setup.precision,
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

    /// The number of parameters.
    pub fn parameters(&self) -> usize {
        self.policy.as_ref().map_or(0, |p| p.num_params())
    }

    /// Bytes the device's allocator holds (`None` where the backend does not say).
    pub fn device_bytes(&self) -> Option<u64> {
        self.device.memory_pool_usage().map(|u| u.bytes_reserved)
    }

    /// Waits for the device's queued work.
    fn sync(&self) -> Result<(), Box<dyn std::error::Error>> {
        self.device
            .sync()
            .map_err(|e| format!("device synchronization: {e:?}").into())
    }

    /// Runs one step (the batch is made and uploaded before the clock starts): its times and
    /// its loss (read after the clock stops).
    pub fn run(&mut self) -> Result<(StepTimes, f32), Box<dyn std::error::Error>> {
        let input = batch(self.b, self.t, self.img_shape, &self.device);
        let (policy, memory) = (self.policy.take(), self.memory.take());
        let (policy, memory) = (policy.ok_or("no policy")?, memory.ok_or("no memory")?);
        let ctx = StepContext::train(self.steps, self.steps as u64);
        self.sync()?;
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let scope = autocast::scope(self.precision.autocast());
        let (losses, next) = self.objectives.forward(&policy, input, memory, &ctx)?;
        drop(scope);
        self.sync()?;
        let forward = start.elapsed().as_secs_f64();
        let grads = losses.total.backward();
        self.sync()?;
        let backward = start.elapsed().as_secs_f64() - forward;
        // As the trainer steps: the gradient norm and the clipping stay on the device.
        let grads = GradientsParams::from_grads(grads, &policy);
        let (policy, report) = self.optim.step_params_on_device(policy, grads);
        self.sync()?;
        let total = start.elapsed().as_secs_f64();
        let calling_thread = thread_cpu_seconds() - cpu_start;
        report.ok_or("the optimizer did not step")?;
        self.policy = Some(policy);
        self.memory = Some(next.detach());
        self.steps += 1;
        let times = StepTimes {
            forward,
            backward,
            optimizer: total - forward - backward,
            total,
            calling_thread,
        };
        Ok((times, losses.total.inner().into_scalar::<f32>()))
    }
}
