//! One training batch: hooks, memory, forward, objectives, loss checks, backward, optimizer.

use burn::tensor::Tensor;
use mine_dsl::batch::Batch;
use mine_dsl::experiment::{StepError, StepLosses};
use mine_dsl::objective::{MetricValue, StepContext};
use mine_dsl::policy::Policy;

use super::{TrainError, Trainer, batch_frames, batch_to_device, step_seed};
use crate::kernels::autocast;
use crate::optim::StepReport;

/// The host values of one batch's losses and metrics.
#[derive(Debug, Clone, Default)]
pub(super) struct LossValues {
    /// Each objective's loss, in wiring order.
    pub per_objective: Vec<(&'static str, f64)>,
    /// Every metric by name, `loss` (the total) included.
    pub metrics: Vec<(String, f64)>,
}

impl LossValues {
    /// The total loss.
    pub fn total(&self) -> f64 {
        self.metrics
            .iter()
            .find(|(name, _)| name == "loss")
            .map_or(f64::NAN, |(_, v)| *v)
    }

    /// The first objective whose loss is not finite, or `"total"` if only the sum is not.
    pub fn non_finite(&self) -> Option<(String, f64)> {
        if let Some((name, value)) = self.per_objective.iter().find(|(_, v)| !v.is_finite()) {
            return Some(((*name).to_owned(), *value));
        }
        let total = self.total();
        (!total.is_finite()).then(|| ("total".to_owned(), total))
    }
}

/// Reads every loss and tensor metric back from the device in one transfer.
pub(super) fn read_losses(losses: &StepLosses) -> LossValues {
    let mut tensors: Vec<Tensor<1>> = Vec::new();
    for (_, loss) in &losses.per_objective {
        tensors.push(loss.clone().detach().mean());
    }
    let mut scalars = Vec::new();
    for (name, value) in &losses.metrics {
        match value {
            MetricValue::Tensor(t) => tensors.push(t.clone().detach().mean()),
            MetricValue::Scalar(v) => scalars.push((name.clone(), *v)),
        }
    }
    let read: Vec<f64> = if tensors.is_empty() {
        Vec::new()
    } else {
        let device = tensors[0].device();
        let tensors = tensors.into_iter().map(|t| t.to_device(&device)).collect();
        Tensor::cat(tensors, 0)
            .into_data()
            .iter::<f32>()
            .map(f64::from)
            .collect()
    };
    let mut read = read.into_iter();
    let per_objective = losses
        .per_objective
        .iter()
        .map(|(name, _)| (*name, read.next().unwrap_or(f64::NAN)))
        .collect();
    let mut metrics: Vec<(String, f64)> = losses
        .metrics
        .iter()
        .filter(|(_, v)| matches!(v, MetricValue::Tensor(_)))
        .map(|(name, _)| (name.clone(), read.next().unwrap_or(f64::NAN)))
        .collect();
    metrics.extend(scalars);
    LossValues {
        per_objective,
        metrics,
    }
}

/// What one training batch did.
pub(super) struct BatchOutcome {
    /// The optimizer step it completed, if any.
    pub report: Option<StepReport>,
    /// Its losses and metrics.
    pub values: LossValues,
    /// Its frames (`B * T`).
    pub frames: u64,
}

impl<P: Policy> Trainer<P> {
    /// Trains on one batch; `epoch` and `batch_idx` locate it for the objectives and errors.
    pub(super) fn train_batch(
        &mut self,
        batch: Batch,
        epoch: usize,
        batch_idx: usize,
    ) -> Result<BatchOutcome, TrainError> {
        let step = self.state.step;
        let fail = |source: StepError| TrainError::Step {
            stream: "train",
            step,
            epoch,
            batch: batch_idx,
            source,
        };
        self.train_device
            .seed(step_seed(self.state.seed, self.state.batches_seen, 0));
        let ctx = StepContext::train(batch_idx, step);
        let batch = batch_to_device(batch, &self.train_device);
        let batch = self
            .objectives
            .before_step(batch, &ctx)
            .map_err(|e| fail(e.into()))?;
        let frames = batch_frames(&batch);
        let batch_size = batch.batch_size().ok_or(TrainError::EmptyBatch {
            stream: "train",
            epoch,
            batch: batch_idx,
        })?;

        let policy = self
            .policy
            .as_ref()
            .expect("the policy is only taken out during an optimizer step");
        let device = &self.train_device;
        let prepared = self.memory.prepare(&batch.info, batch_size, |rows| {
            policy.initial_memory(rows, device)
        });
        // bf16-mixed: autocast over the forward and the objectives; backward runs after it.
        let autocast = autocast::scope(self.config.precision.autocast());
        let (latents, memory_out) = policy.forward(&batch, prepared.memory).map_err(|source| {
            fail(StepError::Policy {
                policy: P::NAME,
                source,
            })
        })?;
        let losses = self
            .objectives
            .evaluate(&latents, &batch, &ctx)
            .map_err(|e| fail(e.into()))?;
        drop((latents, autocast));

        let values = read_losses(&losses);
        if let Some((objective, value)) = values.non_finite() {
            return Err(TrainError::NonFiniteLoss {
                step,
                epoch,
                batch: batch_idx,
                objective,
                value,
            });
        }
        if !losses.total.is_tracked() {
            return Err(TrainError::UntrackedLoss { step });
        }

        let optim = self
            .optim
            .as_mut()
            .expect("the optimizer is only taken out while loading a checkpoint");
        let grads = optim.scale_loss(losses.total).backward();
        let policy = self
            .policy
            .take()
            .expect("the policy is only taken out during an optimizer step");
        let (policy, report) = optim.step(policy, grads);
        self.policy = Some(policy);
        self.memory.store(memory_out);
        self.state.batches_seen += 1;
        self.state.frames_seen += frames;
        if let Some(report) = &report {
            self.step_taken(report)?;
        }
        Ok(BatchOutcome {
            report,
            values,
            frames,
        })
    }

    /// Applies the gradients of an incomplete accumulation window (end of an epoch).
    pub(super) fn flush_accumulation(&mut self) -> Result<Option<StepReport>, TrainError> {
        let optim = self
            .optim
            .as_mut()
            .expect("the optimizer is only taken out while loading a checkpoint");
        if optim.pending_batches() == 0 {
            return Ok(None);
        }
        let policy = self
            .policy
            .take()
            .expect("the policy is only taken out during an optimizer step");
        let (policy, report) = optim.flush(policy);
        self.policy = Some(policy);
        if let Some(report) = &report {
            self.step_taken(report)?;
        }
        Ok(report)
    }

    /// Counts an optimizer step, after checking that its gradients were finite.
    fn step_taken(&mut self, report: &StepReport) -> Result<(), TrainError> {
        if !report.grad_norm_before_clip.is_finite() {
            return Err(TrainError::NonFiniteGradient {
                step: report.step as u64,
                norm: report.grad_norm_before_clip,
            });
        }
        self.state.step += 1;
        if let Some(ema) = &mut self.ema {
            let policy = self
                .policy
                .as_ref()
                .expect("the policy is only taken out during an optimizer step");
            ema.update(policy, self.state.step as usize);
        }
        Ok(())
    }
}
