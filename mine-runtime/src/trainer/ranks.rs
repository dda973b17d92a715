//! The trainer's data-parallel ranks and the replicas of the policy they train (see
//! [`crate::parallel`]); one rank and one replica without `trainer.devices`.

use burn::optim::GradientsParams;
use burn::tensor::Device;
use mine_dsl::memory::Memory;
use mine_dsl::policy::Policy;

use super::TrainError;
use crate::optim::{DeviceStepReport, OptimStep};
use crate::parallel::{RankLayout, mean_over_ranks};
use crate::trainer::config::{ConfigError, TrainerConfig};
use crate::trainer::memory_manager::MemoryManager;

/// One rank: where it trains and the memory carried between its batches.
pub(super) struct Rank<M: Memory> {
    /// The replica (and device) it trains.
    pub replica: usize,
    /// Its memory.
    pub memory: MemoryManager<M>,
}

/// A copy of the policy on one device, with its own optimizer state.
pub(super) struct Replica<P> {
    /// The device, without autodiff (validation runs on replica 0's).
    pub device: Device,
    /// The same device with autodiff (training).
    pub train_device: Device,
    policy: Option<P>,
    optim: Option<OptimStep>,
}

impl<P: Policy> Replica<P> {
    /// `policy` moved to `device`'s autodiff form, in training mode, with `optim`.
    pub fn new(device: Device, policy: &P, optim: OptimStep) -> Self {
        let train_device = device.clone().autodiff();
        Self {
            policy: Some(policy.clone().fork(&train_device).train()),
            device,
            train_device,
            optim: Some(optim),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        self.policy
            .as_ref()
            .expect("the policy is only taken out during an optimizer step")
    }

    /// The optimizer.
    pub fn optim(&self) -> &OptimStep {
        self.optim
            .as_ref()
            .expect("the optimizer is only taken out while loading a checkpoint")
    }

    /// Replaces the policy and the optimizer (a checkpoint loaded into them).
    pub fn replace(
        &mut self,
        load: impl FnOnce(P, OptimStep) -> Result<(P, OptimStep), TrainError>,
    ) -> Result<(), TrainError> {
        let policy = self.policy.take().expect("the policy is in place");
        let optim = self.optim.take().expect("the optimizer is in place");
        let (policy, optim) = load(policy, optim)?;
        self.policy = Some(policy);
        self.optim = Some(optim);
        Ok(())
    }

    /// Adds one round's mean gradients; applies them when the accumulation window is full.
    pub fn step(&mut self, grads: GradientsParams) -> Option<DeviceStepReport> {
        self.update(|optim, policy| optim.step_params_on_device(policy, grads))
    }

    /// Applies an incomplete accumulation window (end of an epoch).
    pub fn flush(&mut self) -> Option<DeviceStepReport> {
        self.update(OptimStep::flush_on_device)
    }

    fn update(
        &mut self,
        apply: impl FnOnce(&mut OptimStep, P) -> (P, Option<DeviceStepReport>),
    ) -> Option<DeviceStepReport> {
        let optim = self
            .optim
            .as_mut()
            .expect("the optimizer is only taken out while loading a checkpoint");
        let policy = self.policy.take().expect("the policy is in place");
        let (policy, report) = apply(optim, policy);
        self.policy = Some(policy);
        report
    }
}

/// The ranks and replicas of a trainer.
pub(super) struct Ranks<P: Policy> {
    /// How ranks map to devices.
    pub layout: RankLayout,
    /// One per rank.
    pub ranks: Vec<Rank<P::Memory>>,
    /// One per device; replica 0 is rank 0's.
    pub replicas: Vec<Replica<P>>,
}

impl<P: Policy> Ranks<P> {
    /// The ranks `config` asks for (its `devices`, checked against the backend, or one rank):
    /// a replica of `policy` on each of their devices, with its own optimizer, and a fresh
    /// memory per rank. Each device is seeded with `config.seed`.
    pub fn from_config(config: &TrainerConfig, policy: &P) -> Result<Self, TrainError> {
        let layout = config.rank_layout()?;
        let mut devices = vec![config.device()?];
        for &index in &layout.devices[1..] {
            let device = config
                .backend
                .device(index, config.precision)
                .map_err(ConfigError::from)?;
            device.seed(config.seed);
            devices.push(device);
        }
        let replicas = devices
            .into_iter()
            .map(|device| {
                let optim = OptimStep::new(config.optimizer.clone(), config.total_steps(None))?;
                Ok(Replica::new(device, policy, optim))
            })
            .collect::<Result<_, TrainError>>()?;
        let ranks: Vec<_> = layout
            .replica_of_rank
            .iter()
            .map(|&replica| Rank {
                replica,
                memory: MemoryManager::new().with_mode(config.memory),
            })
            .collect();
        if ranks.len() > 1 {
            tracing::info!(ranks = ranks.len(), devices = ?layout.devices, "data parallel");
        }
        Ok(Self {
            layout,
            ranks,
            replicas,
        })
    }

    /// The number of ranks.
    pub fn world_size(&self) -> usize {
        self.ranks.len()
    }

    /// Each rank's training device (with autodiff).
    pub fn train_devices(&self) -> Vec<Device> {
        self.ranks
            .iter()
            .map(|rank| self.replicas[rank.replica].train_device.clone())
            .collect()
    }

    /// Rank `rank`'s replica.
    pub fn replica_of(&self, rank: usize) -> &Replica<P> {
        &self.replicas[self.ranks[rank].replica]
    }

    /// Applies one round's gradients (`grads[r]`: rank `r`'s) on every replica: their mean
    /// over the ranks, or rank 0's as they are when it is the only rank. Returns replica 0's
    /// report (the replicas' are identical).
    pub fn step(&mut self, grads: Vec<GradientsParams>) -> Option<DeviceStepReport> {
        let mean = if grads.len() == 1 {
            grads
        } else {
            let devices: Vec<Device> = self.replicas.iter().map(|r| r.device.clone()).collect();
            mean_over_ranks(self.replicas[0].policy(), grads, &self.layout, &devices)
        };
        let mut reports: Vec<_> = self
            .replicas
            .iter_mut()
            .zip(mean)
            .map(|(replica, grads)| replica.step(grads))
            .collect();
        reports.swap_remove(0)
    }

    /// Applies an incomplete accumulation window on every replica; replica 0's report.
    pub fn flush(&mut self) -> Option<DeviceStepReport> {
        let mut reports: Vec<_> = self.replicas.iter_mut().map(Replica::flush).collect();
        reports.swap_remove(0)
    }
}
