//! One training round (one batch per rank): hooks, memory, forward, objectives, backward, the
//! gradient mean over the ranks, optimizer. Nothing is read back from the device: the losses,
//! metrics and gradient norm wait in the logging window ([`Pending`]).

use burn::optim::GradientsParams;
use mine_dsl::batch::Batch;
use mine_dsl::experiment::{StepError, StepLosses};
use mine_dsl::objective::StepContext;
use mine_dsl::policy::Policy;

use super::ranks::Ranks;
use super::readback::{Origin, Pending};
use super::{TrainError, Trainer, batch_frames, step_seed};
use crate::kernels::{self, autocast};
use crate::optim::DeviceStepReport;

/// What one training round did.
pub(super) struct RoundOutcome {
    /// The optimizer step it completed, if any.
    pub report: Option<DeviceStepReport>,
    /// Its batches (one per rank).
    pub batches: u64,
    /// Its frames (`B * T`, summed over the ranks).
    pub frames: u64,
}

/// The seed of rank `rank`'s random numbers for the batch after `batches_seen` rounds; rank 0
/// draws what a single-device run draws (salt 0; validation uses salt 1).
fn rank_seed(seed: u64, batches_seen: u64, rank: usize) -> u64 {
    let salt = if rank == 0 { 0 } else { 1 + rank as u64 };
    step_seed(seed, batches_seen, salt)
}

impl<P: Policy> Trainer<P> {
    /// Trains on one round (`batches[r]` for rank `r`, already on its device); `epoch` and
    /// `batch_idx` locate it for the objectives and errors. Its values go to `pending`.
    pub(super) fn train_round(
        &mut self,
        batches: Vec<Batch>,
        epoch: usize,
        batch_idx: usize,
        pending: &mut Pending,
    ) -> Result<RoundOutcome, TrainError> {
        let step = self.state.step;
        let world = self.ranks.world_size();
        let mut grads = Vec::with_capacity(world);
        let mut frames = 0;
        // Forward and backward passes run on this thread with the run's kernel choices.
        let _kernels = kernels::scope(self.config.kernel_options());
        for (rank, batch) in batches.into_iter().enumerate() {
            let (losses, batch_frames) = self.forward_rank(rank, batch, epoch, batch_idx)?;
            let origin = Origin {
                step,
                epoch,
                batch: batch_idx,
                rank: (world > 1).then_some(rank),
            };
            pending.push_batch(origin, &losses);
            if !losses.total.is_tracked() {
                return Err(TrainError::UntrackedLoss { step });
            }
            let replica = self.ranks.replica_of(rank);
            let loss = replica.optim().scale_loss(losses.total);
            grads.push(GradientsParams::from_grads(
                loss.backward(),
                replica.policy(),
            ));
            frames += batch_frames;
        }
        let report = self.ranks.step(grads);
        self.state.batches_seen += 1;
        self.state.frames_seen += frames;
        if let Some(report) = &report {
            self.step_taken(report, pending);
        }
        Ok(RoundOutcome {
            report,
            batches: world as u64,
            frames,
        })
    }

    /// Rank `rank`'s forward and objectives on `batch`, its memory kept for its next batch.
    /// Returns the losses and the batch's frames.
    pub(super) fn forward_rank(
        &mut self,
        rank: usize,
        batch: Batch,
        epoch: usize,
        batch_idx: usize,
    ) -> Result<(StepLosses, u64), TrainError> {
        let step = self.state.step;
        let fail = |cause: StepError| TrainError::Step {
            stream: "train",
            step,
            epoch,
            batch: batch_idx,
            cause,
        };
        let Ranks {
            ranks, replicas, ..
        } = &mut self.ranks;
        let rank_state = &mut ranks[rank];
        let replica = &replicas[rank_state.replica];
        let device = &replica.train_device;
        device.seed(rank_seed(self.state.seed, self.state.batches_seen, rank));
        let ctx = StepContext::train(batch_idx, step);
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
        let policy = replica.policy();
        let memory = &mut rank_state.memory;
        let prepared = memory.prepare(&batch.info, batch_size, |rows| {
            policy.initial_memory(rows, device)
        });
        // bf16-mixed: autocast over the forward and the objectives; backward runs after it.
        let autocast = autocast::scope(self.config.precision.autocast());
        let (latents, memory_out) = policy.forward(&batch, prepared.memory).map_err(|cause| {
            fail(StepError::Policy {
                policy: P::NAME,
                cause,
            })
        })?;
        let losses = self
            .objectives
            .evaluate(&latents, &batch, &ctx)
            .map_err(|e| fail(e.into()))?;
        drop((latents, autocast));
        memory.store(memory_out);
        Ok((losses, frames))
    }

    /// Applies the gradients of an incomplete accumulation window (end of an epoch).
    pub(super) fn flush_accumulation(&mut self, pending: &mut Pending) -> Option<DeviceStepReport> {
        let report = self.ranks.flush();
        if let Some(report) = &report {
            self.step_taken(report, pending);
        }
        report
    }

    /// Counts an optimizer step; its gradient norm waits in `pending` (a non-finite norm is
    /// reported when the window is read).
    fn step_taken(&mut self, report: &DeviceStepReport, pending: &mut Pending) {
        pending.push_grad_norm(report.step as u64, report.grad_norm.clone());
        self.state.step += 1;
        if let Some(ema) = &mut self.ema {
            ema.update(self.ranks.replicas[0].policy(), self.state.step as usize);
        }
    }
}
